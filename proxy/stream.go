package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/backseal/backseal/content"
	"github.com/backseal/backseal/framing"
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
	// content checks the records against the chain's commitments
	// (verify_content); nil when off. verified is what a complete stream
	// matched.
	content  *content.Stream
	verified *content.Verified

	scanner   *upstream.RecordScanner
	digest    xxhash.Digest // passthrough with trailers: of the payload sent
	overlap   overlap       // a resumed response's bytes already sent, checked
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
	// byte again: all of it must fit in resume_window from its start.
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
	s.overlap.reset()
	// The stream's context ends with the stream (or the drain deadline) and
	// carries the server span and the client's baggage to every upstream call.
	base, cancel := context.WithCancelCause(p.streams)
	s.ctx = baggage.ContextWithBaggage(trace.ContextWithSpan(base, span), baggage.FromContext(spanCtx))
	s.cancel = cancel
	p.live.add(s)
	p.tel.Metrics.StreamStarted(req.Endpoint.String(), s.mode)
	return s
}

// open starts the count lookups and sends the first upstream request, once
// an upstream slot is free.
func (s *stream) open() error {
	s.counts = s.p.lookupCounts(s.ctx, s.req)
	s.startContent()
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
		s.p.live.remove(s)
	})
}
