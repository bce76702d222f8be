package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/telemetry"
)

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
		h.Set("Trailer", s.trailerList())
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
	n, err := io.ReadFull(resp.Body, body)
	s.readingSince.Store(0)
	if err == nil {
		return body, nil
	}
	if a := s.cur.Load(); a.ctx.Err() != nil {
		err = context.Cause(a.ctx)
	}
	return nil, classifyRead(err, resp.ContentLength, uint64(n))
}

// respondUnavailable answers a stream whose first request got no usable
// answer, before anything was sent.
func (s *stream) respondUnavailable(err error) {
	defer s.release()
	fctx := s.reqCtx
	status := openFailureStatus(err, s.p.draining.Load())
	if status == http.StatusServiceUnavailable {
		fctx.Response.Header.Set("Retry-After", "5")
	}
	fctx.SetStatusCode(status)
	fctx.SetContentType("text/plain; charset=utf-8")
	fctx.SetBodyString("upstream unavailable: " + err.Error() + "\n")
	s.finish(status, classify(err), nil)
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

func (b *streamBody) SupportsBodyWriteTo() bool { return true }

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
