package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/telemetry"
	"github.com/backseal/backseal/upstream"
)

// stream is one proxied response. fasthttp drives it as the response body
// (WriteTo); it reads the upstream, checks the record framing and count,
// resumes where it can, and ends the response in the way the client's mode
// asks for.
type stream struct {
	p        *Proxy
	req      upstream.Request
	framed   bool
	trailers bool
	mode     string // "framed" or "passthrough", for logs and metrics
	start    time.Time
	client   string
	conn     net.Conn
	reqCtx   *fasthttp.RequestCtx     // valid in the handler only: respond and respondStatus
	header   *fasthttp.ResponseHeader // where trailer values go; valid while WriteTo runs
	span     trace.Span

	ctx    context.Context // the whole stream; canceled when the client goes or on shutdown
	cancel context.CancelCauseFunc
	cur    atomic.Pointer[attempt] // the upstream exchange being read
	counts *countLookup

	scanner   *upstream.RecordScanner
	digest    xxhash.Digest // passthrough with trailers: of the payload sent
	tail      xxhash.Digest // of the bytes sent since the last record boundary
	overlap   xxhash.Digest // of a resumed response's bytes that were already sent
	skip      uint64        // resumed bytes still to compare instead of send
	tailSum   uint64        // tail's sum when the resume began
	sent      uint64
	frames    uint64
	resumes   int
	firstByte bool
	streamID  framing.StreamID
	// carry holds the bytes of a length prefix that a read ended inside:
	// scanned, not yet sent, so that a record refused at its prefix leaves
	// none of its bytes in the payload.
	carry    [prefixCarry]byte
	carryLen int

	// A heal is the resumes after one failure, until the client is sent a
	// byte again: all of it must fit in resume_window from healStart.
	healStart    time.Time
	healCause    *framing.StreamError // the failure that began the heal
	healDeadline atomic.Int64         // unix nanos; 0 when not healing (read by watch)
	// emptyAbortAt is the record index an attempt last aborted at before
	// sending any byte; -1 if none. A node that does so twice at the same
	// start refuses it (a pruned range), it did not crash.
	emptyAbortAt int64

	upstreamSlot bool // holds one of the limiter's upstream slots

	readingSince atomic.Int64 // unix nanos when the pending upstream Read began; 0 when not reading
	done         chan struct{}
	releaseOnce  sync.Once
	finishOnce   sync.Once
}

// attempt is one upstream request of a stream: the first, or a resume.
type attempt struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	resp   *http.Response
	span   trace.Span
	read   uint64 // body bytes read
	closed sync.Once
}

func (p *Proxy) newStream(ctx *fasthttp.RequestCtx, spanCtx context.Context, span trace.Span, req upstream.Request, framed, trailers bool, client string, start time.Time) *stream {
	s := &stream{
		p: p, req: req, framed: framed, trailers: trailers, start: start,
		mode:    "passthrough",
		client:  client,
		conn:    ctx.Conn(),
		reqCtx:  ctx,
		header:  &ctx.Response.Header,
		span:    span,
		scanner: upstream.NewRecordScanner(p.cfg.MaxRecordSize),
		done:    make(chan struct{}),

		emptyAbortAt: -1,
	}
	if framed {
		s.mode = "framed"
	}
	// A zero xxhash.Digest is not a valid state: Reset sets the seed lanes.
	s.digest.Reset()
	s.tail.Reset()
	s.overlap.Reset()
	// The stream's context ends with the stream (or the drain deadline) and
	// carries the server span and the client's baggage to every upstream call.
	base, cancel := context.WithCancelCause(p.streams)
	s.ctx = baggage.ContextWithBaggage(trace.ContextWithSpan(base, span), baggage.FromContext(spanCtx))
	s.cancel = cancel
	p.active.Add(1)
	p.inflight.Add(1)
	p.liveMu.Lock()
	p.live[s] = struct{}{}
	p.liveMu.Unlock()
	p.tel.Metrics.StreamStarted(req.Endpoint.String(), s.mode)
	return s
}

// open starts the count lookups and sends the first upstream request, once
// an upstream slot is free.
func (s *stream) open() error {
	s.counts = s.p.lookupCounts(s.ctx, s.req)
	if !s.p.limits.acquireUpstream(s.ctx) {
		return errUpstreamBusy
	}
	s.upstreamSlot = true
	// The client hears nothing until the node answers (the legacy one
	// waits 60 s at most): like a heal, the first request, retries
	// included, has resume_window.
	a, err := s.p.openAttempt(s.ctx, s.req, "stream", time.Now().Add(s.p.cfg.ResumeWindow))
	if err != nil {
		return err
	}
	s.cur.Store(a)
	return nil
}

// openAttempt sends one upstream request under its own cancelable context,
// so that a stall can end the attempt without ending the stream. Getting
// the response head, the client's retries included, must end by deadline;
// the body is not bound by it.
func (p *Proxy) openAttempt(parent context.Context, req upstream.Request, kind string, deadline time.Time) (*attempt, error) {
	spanCtx, span := p.startAttempt(parent, kind, req)
	ctx, cancel := context.WithCancelCause(spanCtx)
	late := time.AfterFunc(time.Until(deadline), func() { cancel(errDeadline) })
	resp, err := p.up.Open(ctx, req, nil)
	if !late.Stop() && err == nil {
		resp.Body.Close() // the head came, but too late to be used
		err = fmt.Errorf("upstream: GET %s: %w", req.Path(), errDeadline)
	}
	p.tel.Metrics.UpstreamAttempt(req.Endpoint.String(), kind, err)
	if err != nil {
		cancel(err)
		endAttempt(span, 0, err)
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	return &attempt{ctx: ctx, cancel: cancel, resp: resp, span: span}, nil
}

// close ends the attempt; failure, if not nil, is why it ended early.
func (a *attempt) close(failure error) {
	a.closed.Do(func() {
		a.cancel(context.Canceled)
		a.resp.Body.Close()
		endAttempt(a.span, 0, failure)
	})
}

// respond sets the response head and hands the body to fasthttp.
func (s *stream) respond() {
	resp := s.cur.Load().resp
	if resp.StatusCode != http.StatusOK {
		s.respondStatus(resp.StatusCode)
		return
	}
	if !s.req.Endpoint.Streaming() && resp.ContentLength >= 0 && resp.ContentLength <= maxSmallValue {
		s.respondSmall(resp)
		return
	}
	if !s.reqCtx.Request.Header.IsHTTP11() && resp.ContentLength < 0 {
		// An HTTP/1.0 body without a length is close-delimited: a cut
		// would look like its end. (Streams were refused before asking.)
		s.respondRefusal(fasthttp.StatusHTTPVersionNotSupported, framing.Errorf(framing.CodeUpstreamProtocol,
			"the node sent %s without a Content-Length; over HTTP/1.0 an incomplete value cannot be told from a complete one: use HTTP/1.1", s.req.Path()))
		return
	}
	h := s.header
	h.SetStatusCode(fasthttp.StatusOK)
	h.SetNoDefaultContentType(true)
	length := -1
	if s.framed {
		h.SetContentType(framing.ContentType)
		s.streamID = framing.NewStreamID()
		h.Set(HeaderStreamID, s.streamID.String())
	} else {
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			h.SetContentType(ct)
		}
		if resp.ContentLength >= 0 && !s.trailers {
			length = int(resp.ContentLength)
		}
	}
	if s.trailers {
		h.Set("Trailer", trailerNames)
	}
	if b, ok := s.counts.boundsNow(); ok && b.Min == b.Max && s.req.Endpoint.Streaming() {
		h.Set(HeaderExpectedRecords, strconv.FormatUint(b.Min, 10))
	}
	if s.req.Endpoint.Streaming() {
		// Take the connection over: the body is ours to frame and write.
		head := appendResponseHead(nil, h)
		s.p.handoffs.Store(s.conn, s) // released by connClosed if the handler never runs
		s.reqCtx.HijackSetNoResponse(true)
		s.reqCtx.Hijack(func(net.Conn) {
			if _, ok := s.p.handoffs.LoadAndDelete(s.conn); ok {
				s.serveConn(head)
			}
		})
		s.reqCtx = nil
		return
	}
	s.reqCtx.Response.ImmediateHeaderFlush = true
	s.reqCtx.Response.SetBodyStream(&streamBody{s: s}, length)
	s.reqCtx = nil
}

// maxSmallValue bounds the small values read whole before answering, and so
// the memory such a request holds. The node's are 8 bytes to a few KiB
// (proofs: 32 bytes a sibling); a larger one streams, bounded like a stream.
const maxSmallValue = 64 << 10

// respondSmall answers a small value whose length the node declared: it is
// read whole (bounded) and sent, head and body, in one write, like the node
// does. A value cut short gets 502 (framed: an end frame saying why):
// nothing was sent yet, so no client can mistake it for the value.
func (s *stream) respondSmall(resp *http.Response) {
	defer s.release()
	fctx := s.reqCtx
	s.reqCtx = nil
	fctx.Response.Header.SetNoDefaultContentType(true)
	go s.watch() // a node that stalls inside a small value is cut too
	// Nothing is sent before the whole value is in: a value cut short is
	// asked for again, within the resume budget.
	body, outcome := s.readSmall(resp)
	for outcome != nil {
		failureEvent(s.span, outcome, 0, 0)
		s.p.tel.Metrics.FailureCaught(s.req.Endpoint.String(), outcome.Code.String())
		if outcome = s.resume(outcome); outcome != nil {
			break
		}
		if resp = s.cur.Load().resp; resp.ContentLength < 0 || resp.ContentLength > maxSmallValue {
			outcome = framing.Errorf(framing.CodeUpstreamProtocol, "asked again, the node answered without a Content-Length up to %d bytes", maxSmallValue)
			continue
		}
		body, outcome = s.readSmall(resp)
	}
	status := http.StatusOK
	if outcome != nil {
		status, body = http.StatusBadGateway, nil
	} else {
		s.span.AddEvent(telemetry.EventFirstByte)
		s.p.tel.Metrics.FirstByte(s.req.Endpoint.String(), s.mode, time.Since(s.start))
		s.sent = uint64(len(body))
	}
	fctx.SetStatusCode(status)
	switch {
	case s.framed:
		var buf bytesWriter
		fw, ferr := framing.NewWriter(&buf, framing.Header{Meta: []framing.Meta{{Key: "path", Value: s.req.Path()}}})
		if ferr == nil && len(body) > 0 {
			_, ferr = fw.Write(body)
		}
		if ferr == nil {
			var endErr error // not a typed nil
			if outcome != nil {
				endErr = outcome
			}
			ferr = fw.End(0, endErr)
		}
		if ferr != nil {
			status, outcome = http.StatusInternalServerError, framing.Errorf(framing.CodeInternal, "framing a small value: %v", ferr)
			fctx.SetStatusCode(status)
			break
		}
		s.frames = fw.Frames()
		fctx.SetContentType(framing.ContentType)
		s.setSmallBody(fctx, buf, fw)
	case outcome != nil:
		fctx.SetContentType("text/plain; charset=utf-8")
		fctx.SetBodyString(outcome.Error() + "\n")
	default:
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			fctx.SetContentType(ct)
		}
		s.setSmallBody(fctx, body, nil)
	}
	s.finish(status, outcome, nil)
}

// setSmallBody sets the body of a value answered whole. With TE: trailers it
// goes out chunked, so that the trailers follow it as they follow a stream.
func (s *stream) setSmallBody(fctx *fasthttp.RequestCtx, body []byte, fw *framing.Writer) {
	if !s.trailers {
		fctx.SetBody(body)
		return
	}
	fctx.Response.Header.Set("Trailer", trailerNames)
	if fw == nil {
		s.digest.Write(body)
	}
	s.setTrailers(fasthttpSink{header: &fctx.Response.Header}, nil, fw)
	fctx.SetBodyStream(bytes.NewReader(body), -1)
}

// readSmall reads a value of declared length whole.
func (s *stream) readSmall(resp *http.Response) ([]byte, *framing.StreamError) {
	body := make([]byte, resp.ContentLength)
	s.readingSince.Store(time.Now().UnixNano())
	_, err := io.ReadFull(resp.Body, body)
	s.readingSince.Store(0)
	if err == nil {
		return body, nil
	}
	if a := s.cur.Load(); a.ctx.Err() != nil {
		err = context.Cause(a.ctx)
	}
	outcome := classify(err)
	if outcome.Code == framing.CodeUpstreamAborted {
		outcome.Message = fmt.Sprintf("upstream closed before the %d bytes its Content-Length declared", resp.ContentLength)
	}
	return nil, outcome
}

// respondStatus passes on a non-200 upstream answer (a small endpoint's 500):
// the same status, with the node's empty body, and in framed mode a framed
// body whose end frame says so.
func (s *stream) respondStatus(status int) {
	s.respondRefusal(status, framing.Errorf(framing.CodeUpstreamStatus, "upstream answered %s", upstreamStatusText(status)))
}

// respondRefusal answers status without passing on any of the node's body:
// framed, an end frame saying why; otherwise the reason as text, except for
// the node's own status, passed on as it sent it (empty).
func (s *stream) respondRefusal(status int, outcome *framing.StreamError) {
	defer s.release()
	fctx := s.reqCtx
	fctx.SetStatusCode(status)
	fctx.Response.Header.SetNoDefaultContentType(true)
	switch {
	case s.framed:
		var buf bytesWriter
		fw, err := framing.NewWriter(&buf, framing.Header{Meta: []framing.Meta{{Key: "path", Value: s.req.Path()}}})
		if err == nil {
			err = fw.End(0, outcome)
		}
		if err != nil {
			fctx.SetStatusCode(fasthttp.StatusInternalServerError)
			status = fasthttp.StatusInternalServerError
		} else {
			fctx.SetContentType(framing.ContentType)
			fctx.SetBody(buf)
		}
	case outcome.Code != framing.CodeUpstreamStatus:
		fctx.SetContentType("text/plain; charset=utf-8")
		fctx.SetBodyString(outcome.Message + "\n")
	}
	s.finish(status, outcome, nil)
}

type bytesWriter []byte

func (b *bytesWriter) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

// streamBody is what fasthttp sees: an io.Reader for its interface, and a
// BodyWriterTo so that it lets WriteTo drive large writes.
type streamBody struct{ s *stream }

func (b *streamBody) Read([]byte) (int, error) {
	return 0, errors.New("proxy: stream body must be written with WriteTo")
}
func (b *streamBody) SupportsBodyWriteTo() bool          { return true }
func (b *streamBody) WriteTo(w io.Writer) (int64, error) { return b.s.writeTo(w) }

// Close is called by fasthttp when the response is done, written or not.
func (b *streamBody) Close() error {
	b.s.finish(http.StatusOK, nil, errors.New("response abandoned before its body was written"))
	b.s.release()
	return nil
}

// writeTo streams a small value's body through fasthttp (see respond).
func (s *stream) writeTo(w io.Writer) (int64, error) {
	return s.writeBody(fasthttpSink{w: w, header: s.header})
}

// serveConn streams a record stream on the connection taken over from
// fasthttp: the head, then the chunked body.
func (s *stream) serveConn(head []byte) {
	out := &connSink{c: s.conn, timeout: s.p.cfg.ClientWriteTimeout}
	if err := out.write(head); err != nil {
		s.finish(http.StatusOK, nil, err)
		s.release()
		return
	}
	s.writeBody(out)
}

// writeBody streams the whole response body to out and decides how it ends.
func (s *stream) writeBody(out sink) (int64, error) {
	defer s.release()
	go s.watch()

	var data emitter = out
	var fw *framing.Writer
	var bw *bufio.Writer
	if s.framed {
		// The header and end frames are small writes gathered here; data
		// frames are sealed in the copy buffer and sent from there.
		bw = s.p.getFrameBuffer(out)
		defer s.p.putFrameBuffer(bw)
		var err error
		fw, err = framing.NewWriter(bw, framing.Header{StreamID: s.streamID, Meta: []framing.Meta{{Key: "path", Value: s.req.Path()}}})
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			s.finish(http.StatusOK, nil, err)
			return 0, err
		}
		data = sealedFrames{fw: fw, sink: out}
	}

	outcome, clientErr := s.pump(data)
	if fw != nil {
		s.frames = fw.Frames()
	}
	if clientErr != nil {
		s.span.AddEvent(telemetry.EventClientGone)
		s.finish(http.StatusOK, outcome, clientErr)
		return int64(s.sent), clientErr
	}
	if s.trailers {
		s.setTrailers(out, outcome, fw)
	}
	defer s.finish(http.StatusOK, outcome, nil)
	if s.framed {
		var endErr error // not a typed nil: End must see nil for success
		if outcome != nil {
			endErr = outcome
		}
		if err := fw.End(s.scanner.Records(), endErr); err != nil {
			return int64(s.sent), err
		}
		if err := bw.Flush(); err != nil {
			return int64(s.sent), err
		}
		return int64(s.sent), out.terminate()
	}
	if outcome != nil && !s.trailers {
		// The legacy client ignores trailers: only a body without its
		// terminating chunk makes it see the failure.
		return int64(s.sent), outcome
	}
	return int64(s.sent), out.terminate()
}

// emitter sends payload bytes to the client. The payload is buf[lo:hi] of
// the copy buffer, which has room for a chunk size line and a frame header
// before lo and a frame check and a CRLF after hi.
type emitter interface {
	emit(buf []byte, lo, hi int) error
}

// pump copies upstream bytes to out until the response is complete or has
// failed for good. It returns the stream's outcome (nil: complete) and,
// separately, an error writing to the client, which ends everything.
func (s *stream) pump(out emitter) (outcome *framing.StreamError, clientErr error) {
	bufp := s.p.copyBuffer.Get().(*[]byte)
	defer s.p.copyBuffer.Put(bufp)
	buf := *bufp
	for {
		a := s.cur.Load()
		failure, clientErr := s.copyAttempt(a, buf, out)
		if clientErr != nil {
			return nil, clientErr
		}
		if failure == nil {
			failure = s.checkComplete()
		}
		if failure == nil {
			return nil, nil
		}
		failureEvent(s.span, failure, s.scanner.Records(), s.scanner.Offset())
		s.p.tel.Metrics.FailureCaught(s.req.Endpoint.String(), failure.Code.String())
		if refused := s.refusedStart(a, failure); refused != nil {
			return refused, nil
		}
		if err := s.resume(failure); err != nil {
			return err, nil
		}
	}
}

// refusedStart recognises a node that refuses a stream's start: 200, then
// an abort before the first byte, twice at the same record. That is what
// a pruned range (or a tree it no longer has) looks like; a crash does not
// repeat itself, and re-asking cannot help.
func (s *stream) refusedStart(a *attempt, failure *framing.StreamError) *framing.StreamError {
	if failure.Code != framing.CodeUpstreamAborted || a.read > 0 || !s.req.Endpoint.Streaming() {
		return nil
	}
	k := int64(s.scanner.Records())
	if s.emptyAbortAt != k {
		s.emptyAbortAt = k
		return nil
	}
	return framing.Errorf(framing.CodeUpstreamAborted, "pruned: the node refuses to serve %s from record %d: it answered 200 and aborted before the first byte, twice (pruned, or no longer kept)", s.req.Path(), k)
}

// copyAttempt copies one upstream response body until it ends.
func (s *stream) copyAttempt(a *attempt, buf []byte, out emitter) (failure *framing.StreamError, clientErr error) {
	body := a.resp.Body
	for {
		s.readingSince.Store(time.Now().UnixNano())
		n, rerr := body.Read(buf[readOffset : readOffset+copyBufferSize])
		s.readingSince.Store(0)
		if n > 0 {
			a.read += uint64(n)
			if !s.firstByte {
				s.firstByte = true
				s.span.AddEvent(telemetry.EventFirstByte)
				s.p.tel.Metrics.FirstByte(s.req.Endpoint.String(), s.mode, time.Since(s.start))
			}
			if err := s.forward(buf, readOffset, readOffset+n, out); err != nil {
				var se *framing.StreamError
				if errors.As(err, &se) {
					return se, nil
				}
				return nil, err
			}
		}
		if rerr == io.EOF {
			if s.skip > 0 {
				return framing.Errorf(framing.CodeIncompleteRecord, "resumed response ended inside the bytes already sent"), nil
			}
			return nil, nil
		}
		if rerr != nil {
			if a.ctx.Err() != nil {
				rerr = context.Cause(a.ctx)
			}
			if errors.Is(rerr, errClientGone) {
				return nil, rerr
			}
			failure := classify(rerr)
			if failure.Code == framing.CodeUpstreamAborted && a.resp.ContentLength >= 0 {
				failure.Message = fmt.Sprintf("upstream closed after %d of the %d bytes its Content-Length declared", a.read, a.resp.ContentLength)
			}
			return failure, nil
		}
	}
}

// forward validates one read of upstream bytes, buf[lo:hi], and sends what
// is new. A *framing.StreamError means the upstream failed; any other error
// is the client's.
func (s *stream) forward(buf []byte, lo, hi int, out emitter) error {
	if s.skip > 0 {
		m := min(s.skip, uint64(hi-lo))
		s.overlap.Write(buf[lo : lo+int(m)])
		s.skip -= m
		lo += int(m)
		if s.skip == 0 && s.overlap.Sum64() != s.tailSum {
			return framing.Errorf(framing.CodeResumeMismatch, "the resumed response differs from the %d bytes of record %d already sent",
				s.scanner.Offset()-s.scanner.Boundary(), s.scanner.Records())
		}
		if lo == hi {
			return nil
		}
	}
	// What is sent starts with the carried prefix bytes, laid just before
	// the read (the copy buffer keeps room for them).
	send := lo
	var tooLarge error
	if s.req.Endpoint.Streaming() {
		send -= copy(buf[lo-s.carryLen:lo], s.carry[:s.carryLen])
		s.carryLen = 0
		sendFrom := s.scanner.Offset() - uint64(lo-send) // the stream offset of buf[send]
		if _, err := s.scanner.Write(buf[lo:hi]); err != nil {
			tooLarge = classify(err)
		}
		// Keep a hash of the partial record at the end, for a resume's overlap check.
		if partial := s.scanner.Offset() - s.scanner.Boundary(); partial < uint64(hi-lo) {
			s.tail.Reset()
			s.tail.Write(buf[hi-int(partial) : hi])
		} else {
			s.tail.Write(buf[lo:hi])
		}
		// A length prefix the read ends inside waits for the next read, and
		// one that claims too much is never sent: the payload then ends
		// with the last record the client is told of.
		end := hi
		if tooLarge != nil || s.scanner.InPrefix() {
			end = send + int(s.scanner.Boundary()-sendFrom)
		}
		if tooLarge == nil {
			s.carryLen = copy(s.carry[:], buf[end:hi])
		}
		hi = end
	}
	if hi > send {
		if s.trailers && !s.framed {
			s.digest.Write(buf[send:hi]) // for Backseal-Xxh64; the framed writer keeps its own
		}
		if err := out.emit(buf, send, hi); err != nil {
			return fmt.Errorf("writing client: %w", err)
		}
		s.sent += uint64(hi - send)
		s.endHeal()
	}
	return tooLarge
}

// checkComplete decides whether a body that ended cleanly is complete.
func (s *stream) checkComplete() *framing.StreamError {
	if !s.req.Endpoint.Streaming() {
		return nil // Content-Length or the terminating chunk already vouched
	}
	if !s.scanner.AtBoundary() {
		where := "payload"
		if s.scanner.InPrefix() {
			where = "length prefix"
		}
		return framing.Errorf(framing.CodeIncompleteRecord, "upstream ended cleanly inside the %s of record %d", where, s.scanner.Records())
	}
	timeout := s.p.cfg.CountTimeout
	bounds, err := s.counts.bounds(s.ctx, timeout)
	n := s.scanner.Records()
	if err == nil && n < bounds.Max && s.counts.needDB {
		// Short of the range: only the C of now says whether it may be.
		var db upstream.DBStateValue
		db, _, err = s.counts.refresh(s.ctx, timeout)
		bounds = s.req.ExpectedRecords(db, 0)
		if err != nil && n < bounds.Min {
			err = nil // short even of the stale C: truncated whatever C is now
		}
	}
	if err != nil {
		return framing.Errorf(framing.CodeCountUnavailable, "cannot tell whether the stream is complete: %v", err)
	}
	switch {
	case n < bounds.Min:
		return framing.Errorf(framing.CodeTruncated, "upstream ended cleanly after %d records; a complete response has %s", n, boundsText(bounds))
	case n > bounds.Max:
		return framing.Errorf(framing.CodeExcessRecords, "upstream sent %d records; a complete response has %s", n, boundsText(bounds))
	}
	return nil
}

func boundsText(b upstream.Bounds) string {
	if b.Min == b.Max {
		return strconv.FormatUint(b.Min, 10)
	}
	return fmt.Sprintf("%d to %d", b.Min, b.Max)
}

// endHeal notes that the client was sent a byte: a later failure starts a
// heal of its own, with a whole resume_window.
func (s *stream) endHeal() {
	if !s.healStart.IsZero() {
		s.healStart = time.Time{}
		s.healDeadline.Store(0)
	}
}

// resume re-requests the exact continuation after the last complete record,
// or returns the failure when the protocol, the budget or the clock forbid.
// The clock is resume_window from the failure that began the heal: the
// client hears nothing while it lasts, and the legacy one gives up after
// 60 s of silence. Every wait, retry and response head of the heal, and the
// first byte after it, must come within it.
func (s *stream) resume(failure *framing.StreamError) *framing.StreamError {
	cfg := s.p.cfg
	s.cur.Load().close(failure)
	if s.healStart.IsZero() {
		s.healStart, s.healCause = time.Now(), failure
		s.healDeadline.Store(s.healStart.Add(cfg.ResumeWindow).UnixNano())
	}
	deadline := s.healStart.Add(cfg.ResumeWindow)
	spent := errors.Is(failure, errDeadline)
	for {
		// A small value has no records to resume after: it is asked for
		// again whole, and only while none of it was sent.
		if !resumable(failure.Code) || (!s.req.Endpoint.Streaming() && s.sent > 0) {
			return failure
		}
		if s.resumes >= cfg.ResumeAttempts {
			return withNote(failure, fmt.Sprintf("gave up after %d resumes", s.resumes))
		}
		wait := upstream.Backoff(s.resumes, cfg.ResumeBackoff, 5*time.Second)
		if spent || time.Now().Add(wait).After(deadline) {
			note := fmt.Sprintf("gave up after %d resumes: resume_window (%v) spent", s.resumes, cfg.ResumeWindow)
			if failure != s.healCause {
				note += "; last: " + failure.Message
			}
			return withNote(s.healCause, note)
		}
		k, next := s.scanner.Records(), s.req
		if s.req.Endpoint.Streaming() {
			// C may have grown since the stream opened (Continuation needs
			// the committed version now, not then).
			db, items, err := s.counts.refresh(s.ctx, min(cfg.CountTimeout, time.Until(deadline)))
			if err != nil && s.req.Endpoint != upstream.EpochEndingLedgerInfos {
				return withNote(failure, "cannot resume without the record count: "+err.Error())
			}
			var ok bool
			if next, ok = s.req.Continuation(k, db, items); !ok {
				return failure
			}
		}
		s.resumes++
		s.span.AddEvent(telemetry.EventResumeStart, trace.WithAttributes(
			attribute.String(telemetry.AttrContinuation, next.Path()),
			attribute.Int64(telemetry.AttrRecordIndex, int64(k)),
			attribute.Int(telemetry.AttrResumes, s.resumes),
			attribute.String(telemetry.AttrCause, failure.Code.String())))
		select {
		case <-time.After(wait):
		case <-s.ctx.Done():
			return classify(context.Cause(s.ctx))
		}
		a, err := s.p.openAttempt(s.ctx, next, "resume", deadline)
		if err != nil {
			if s.ctx.Err() != nil {
				return classify(context.Cause(s.ctx))
			}
			failure, spent = withNote(failure, "resume failed: "+err.Error()), errors.Is(err, errDeadline)
			continue
		}
		if a.resp.StatusCode != http.StatusOK {
			failure = withNote(failure, "resume answered "+upstreamStatusText(a.resp.StatusCode))
			a.close(failure)
			continue
		}
		s.cur.Store(a)
		s.skip = s.scanner.Offset() - s.scanner.Boundary()
		s.tailSum = s.tail.Sum64()
		s.overlap.Reset()
		s.span.AddEvent(telemetry.EventResumeSuccess, trace.WithAttributes(
			attribute.String(telemetry.AttrContinuation, next.Path()),
			attribute.String(telemetry.AttrCause, failure.Code.String())))
		s.p.tel.Metrics.Resumed(s.req.Endpoint.String(), failure.Code.String())
		s.p.log.InfoContext(s.ctx, "resuming stream", "path", s.req.Path(), "continuation", next.Path(), "after_records", k,
			"overlap_bytes", s.skip, "cause", failure.Code.String(), "resumes", s.resumes)
		return nil
	}
}

func withNote(e *framing.StreamError, note string) *framing.StreamError {
	return &framing.StreamError{Code: e.Code, Message: e.Message + "; " + note, Err: e.Err}
}

// setTrailers fills the declared trailer values just before the body ends.
func (s *stream) setTrailers(out sink, outcome *framing.StreamError, fw *framing.Writer) {
	digest := s.digest.Sum64()
	if fw != nil {
		digest = fw.Digest()
	}
	if outcome == nil {
		out.trailer(TrailerStatus, "ok")
	} else {
		out.trailer(TrailerStatus, "error")
		out.trailer(TrailerError, outcome.Code.String()+": "+sanitizeHeaderValue(outcome.Message))
	}
	out.trailer(TrailerRecords, strconv.FormatUint(s.scanner.Records(), 10))
	out.trailer(TrailerBytes, strconv.FormatUint(s.sent, 10))
	out.trailer(TrailerXxh64, fmt.Sprintf("%016x", digest))
}

// sanitizeHeaderValue keeps a message safe for a header line.
func sanitizeHeaderValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = ' '
		}
	}
	if len(b) > 512 {
		b = b[:512]
	}
	return string(b)
}

// release ends the stream's upstream exchange and bookkeeping, once.
func (s *stream) release() {
	s.releaseOnce.Do(func() {
		close(s.done)
		if a := s.cur.Load(); a != nil {
			a.close(nil)
		}
		s.cancel(context.Canceled)
		if s.upstreamSlot {
			s.p.limits.releaseUpstream()
		}
		s.p.limits.leave(s.client)
		s.p.liveMu.Lock()
		delete(s.p.live, s)
		s.p.liveMu.Unlock()
		s.p.active.Add(-1)
		s.p.inflight.Done()
	})
}

// finish reports the stream's end once: the log line, the metrics and the
// server span.
func (s *stream) finish(status int, outcome *framing.StreamError, clientErr error) {
	s.finishOnce.Do(func() {
		code := "ok"
		level := s.p.log.InfoContext
		attrs := []any{"endpoint", s.req.Endpoint.String(), "path", s.req.Path(), "mode", s.mode, "status", status}
		switch {
		case clientErr != nil:
			code, level = "client-gone", s.p.log.WarnContext
			attrs = append(attrs, "error", clientErr.Error())
		case outcome != nil:
			code, level = outcome.Code.String(), s.p.log.WarnContext
			attrs = append(attrs, "error", outcome.Message)
		}
		d := time.Since(s.start)
		records := s.scanner.Records()
		attrs = append(attrs, "outcome", code, "records", records, "bytes", s.sent, "resumes", s.resumes,
			"duration_ms", float64(d.Microseconds())/1000, "client", s.client)
		if s.framed && s.streamID != (framing.StreamID{}) {
			attrs = append(attrs, "stream_id", s.streamID.String())
		}
		level(s.ctx, "request", attrs...)
		s.p.tel.Metrics.StreamFinished(s.req.Endpoint.String(), s.mode, code, status, records, s.sent, d)
		s.span.SetAttributes(
			attribute.String(telemetry.AttrMode, s.mode),
			attribute.Int64(telemetry.AttrRecords, int64(records)),
			attribute.Int64(telemetry.AttrBytes, int64(s.sent)),
			attribute.Int64(telemetry.AttrFrames, int64(s.frames)),
			attribute.Int(telemetry.AttrResumes, s.resumes))
		if outcome != nil {
			s.span.SetAttributes(attribute.String("error.type", outcome.Code.String()))
		}
		endServerSpan(s.span, status, code)
	})
}
