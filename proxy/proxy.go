// Package proxy is the sidecar itself: a fasthttp adapter that validates
// requests as the legacy service does, streams the upstream's records while
// checking their framing and count, resumes broken streams, and reports the
// outcome in-band (framed mode), in HTTP trailers, or by cutting the body.
package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/backseal/backseal/content"
	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/telemetry"
	"github.com/backseal/backseal/upstream"
)

// Trailer names, declared up front in a Trailer header when the client sends
// TE: trailers.
const (
	TrailerStatus  = "Backseal-Status"
	TrailerError   = "Backseal-Error"
	TrailerRecords = "Backseal-Records"
	TrailerBytes   = "Backseal-Bytes"
	TrailerXxh64   = "Backseal-Xxh64"

	// HeaderExpectedRecords carries the record count a complete response has,
	// when the sidecar knows it before the first byte (fetch shows progress).
	HeaderExpectedRecords = "Backseal-Expected-Records"
	// HeaderStreamID carries the framed stream's id, for matching logs.
	HeaderStreamID = "Backseal-Stream-Id"
)

var trailerNames = strings.Join([]string{TrailerStatus, TrailerError, TrailerRecords, TrailerBytes, TrailerXxh64}, ", ")

// Proxy handles requests on the public listener. Create it with New.
type Proxy struct {
	cfg     Config
	up      *upstream.Client
	log     *slog.Logger
	tel     *telemetry.Telemetry
	trusted []netip.Prefix
	access  *access
	limits  *limiter
	trust   *content.Trust // verify_content's: nil when off

	// streams is canceled, with errShutdown as cause, when the drain
	// deadline passes: every stream still running then ends as a failure.
	streams  context.Context
	stopAll  context.CancelCauseFunc
	draining atomic.Bool
	live     liveStreams
	buffers  *copyBuffers

	// handoffs holds the streams whose connection fasthttp is to hand over
	// (Hijack), by connection, until it does. If it cannot, the handler
	// never runs and connState releases the stream.
	handoffs sync.Map

	metricsOnce    sync.Once
	metricsHandler fasthttp.RequestHandler
}

// Upstream reads land at readOffset in a stream's copy buffer (buffers.go),
// leaving room for a chunk size line and a frame header before them and a
// check after, so framed mode needs no second buffer; and room for a
// carried partial length prefix just before them.
const (
	readOffset  = chunkRoom + framing.FrameHeaderSize + prefixCarry
	prefixCarry = upstream.PrefixSize - 1 // the most of a length prefix a read can end inside
)

// legacyClientReadTimeout is how long backup-cli waits for headers and
// between body reads before it gives up on a stream (and fetches it again).
const legacyClientReadTimeout = 60 * time.Second

// New validates cfg and returns a Proxy.
func New(cfg Config, log *slog.Logger, opts ...Option) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	acc, err := newAccess(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.StallTimeout+cfg.ResumeWindow >= legacyClientReadTimeout {
		log.Warn("stall_timeout + resume_window is not below backup-cli's 60 s read timeout: a heal may end after the client gave up on the stream",
			"stall_timeout", cfg.StallTimeout.String(), "resume_window", cfg.ResumeWindow.String())
	}
	p := &Proxy{cfg: cfg, log: log, access: acc, limits: newLimiter(cfg)}
	for _, o := range opts {
		o(p)
	}
	if p.tel == nil {
		p.tel = telemetry.Disabled()
	}
	up, err := upstream.NewClient(upstream.ClientConfig{
		BaseURL:       cfg.Upstream,
		HeaderTimeout: cfg.UpstreamHeaderTimeout,
		Retries:       cfg.UpstreamRetries,
		// Streams never outnumber their slots, so neither do idle ones.
		MaxStreamConns: cfg.MaxUpstreamStreams,
		UserAgent:      "backseal",
		Logger:         log,
		Inject: func(ctx context.Context, h http.Header) {
			p.tel.Propagator.Inject(ctx, propagation.HeaderCarrier(h))
		},
	})
	if err != nil {
		return nil, err
	}
	p.up = up
	if cfg.VerifyContent {
		p.trust = newTrust(cfg, up)
	}
	for _, cidr := range cfg.TrustedProxies {
		p.trusted = append(p.trusted, netip.MustParsePrefix(cidr))
	}
	p.streams, p.stopAll = context.WithCancelCause(context.Background())
	p.buffers = newCopyBuffers(int64(cfg.BufferBudget))
	return p, nil
}

// CloseIdleConnections closes idle keep-alive connections to the upstream.
func (p *Proxy) CloseIdleConnections() { p.up.Close() }

// ActiveStreams is the number of responses whose upstream exchange is open.
func (p *Proxy) ActiveStreams() int64 { return p.live.count() }

// Handler serves the public listener.
func (p *Proxy) Handler(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	spanCtx, span := p.startServerSpan(ctx)
	// The raw request target: fasthttp's Path() is decoded and normalized,
	// the legacy service matches raw segments.
	target := upstream.TargetPath(string(ctx.Request.Header.RequestURI()))
	if peer, ok := netip.AddrFromSlice(ctx.RemoteIP()); !ok || !p.access.allowed(peer) {
		p.reject(ctx, span, fasthttp.StatusForbidden, start)
		return
	}
	if !p.access.authorized(ctx.Request.Header.Peek("Authorization")) {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="backseal"`)
		p.reject(ctx, span, fasthttp.StatusUnauthorized, start)
		return
	}
	// warp's GET filter is outermost: any other method is 405, even on an
	// unknown path, with warp's own body.
	if !ctx.IsGet() {
		ctx.Response.Header.Set("Allow", "GET")
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("HTTP method not allowed")
		p.reject(ctx, span, fasthttp.StatusMethodNotAllowed, start)
		return
	}
	req, err := upstream.ParsePath(target)
	switch {
	case errors.Is(err, upstream.ErrNotFound):
		p.reject(ctx, span, fasthttp.StatusNotFound, start)
		return
	case err != nil:
		p.reject(ctx, span, fasthttp.StatusBadRequest, start)
		return
	}
	nameRoute(span, "GET", req)
	framed := accepts(&ctx.Request.Header, framing.ContentType)
	// Trailers need a chunked body, which HTTP/1.0 does not have.
	trailers := ctx.Request.Header.IsHTTP11() && headerHasToken(&ctx.Request.Header, "TE", "trailers")
	if !ctx.Request.Header.IsHTTP11() && (framed || req.Endpoint.Streaming()) {
		// HTTP/1.0 has no chunked bodies, so a cut would look like a clean
		// end (close-delimited): refuse rather than risk a silent truncation.
		p.refuse(ctx, span, fasthttp.StatusHTTPVersionNotSupported,
			"streams need HTTP/1.1: over HTTP/1.0 an incomplete stream cannot be told from a complete one", start)
		return
	}
	if p.draining.Load() {
		ctx.Response.Header.Set("Retry-After", "5")
		ctx.Response.Header.Set("Connection", "close")
		p.refuse(ctx, span, fasthttp.StatusServiceUnavailable, "backseal is draining; retry on another instance", start)
		return
	}

	client := p.clientAddr(ctx)
	if !p.limits.admit(client) {
		ctx.Response.Header.Set("Retry-After", "1")
		p.refuse(ctx, span, fasthttp.StatusServiceUnavailable, "too many concurrent requests; retry shortly", start)
		return
	}
	s := p.newStream(ctx, spanCtx, span, req, framed, trailers, client, start)
	if err := s.open(); err != nil {
		s.respondUnavailable(err)
		return
	}
	s.respond()
}

// refuse rejects with a short text body saying why.
func (p *Proxy) refuse(ctx *fasthttp.RequestCtx, span trace.Span, status int, why string, start time.Time) {
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(why + "\n")
	p.reject(ctx, span, status, start)
}

// reject answers a request without asking the upstream: the legacy
// service's own refusals (400, 404, 405, with their bodies) and 503 while
// draining.
func (p *Proxy) reject(ctx *fasthttp.RequestCtx, span trace.Span, status int, start time.Time) {
	ctx.SetStatusCode(status)
	p.tel.Metrics.Rejected(status)
	endServerSpan(span, status, outcomeRejected)
	p.log.InfoContext(trace.ContextWithSpan(context.Background(), span), "request", "path", string(ctx.Request.Header.RequestURI()), "method", string(ctx.Method()),
		"status", status, "outcome", outcomeRejected, "client", p.clientAddr(ctx), "duration_ms", msSince(start))
}

// accepts reports whether any Accept header lists mediaType with a
// positive weight (RFC 9110 §12.4.2: q=0 is "not acceptable"). A weight
// that is not a valid qvalue counts as not listed: framed mode changes the
// body, so only a clear request selects it. Wildcards never do.
func accepts(h *fasthttp.RequestHeader, mediaType string) bool {
	for k, v := range h.All() {
		if !strings.EqualFold(string(k), "Accept") {
			continue
		}
		for elem := range strings.SplitSeq(string(v), ",") {
			typ, params, _ := strings.Cut(elem, ";")
			if strings.EqualFold(strings.TrimSpace(typ), mediaType) && positiveWeight(params) {
				return true
			}
		}
	}
	return false
}

// positiveWeight reports whether an Accept element's parameters carry no
// weight (q=1) or a valid non-zero one. Spaces around ';' and '=' and the
// case of "q" are tolerated.
func positiveWeight(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		q, ok := parseQValue(strings.TrimSpace(value))
		return ok && q > 0
	}
	return true
}

// parseQValue parses an RFC 9110 qvalue, "0" ["." 0*3DIGIT] or
// "1" ["." 0*3"0"], in thousandths.
func parseQValue(s string) (int, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if (whole != "0" && whole != "1") || len(frac) > 3 {
		return 0, false
	}
	q := int(whole[0]-'0') * 1000
	for i, scale := 0, 100; i < len(frac); i, scale = i+1, scale/10 {
		if frac[i] < '0' || frac[i] > '9' {
			return 0, false
		}
		q += int(frac[i]-'0') * scale
	}
	return q, q <= 1000
}

// headerHasToken reports whether any instance of the named header lists
// token among its comma-separated values (parameters ignored), so duplicate
// headers and lists like "TE: gzip, trailers" both work.
func headerHasToken(h *fasthttp.RequestHeader, name, token string) bool {
	for k, v := range h.All() {
		if !strings.EqualFold(string(k), name) {
			continue
		}
		for part := range strings.SplitSeq(string(v), ",") {
			part, _, _ = strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// clientAddr is the client's address for logs: the connection's peer, or
// the last X-Forwarded-For hop added by a trusted proxy.
func (p *Proxy) clientAddr(ctx *fasthttp.RequestCtx) string {
	peer := ctx.RemoteIP().String()
	if len(p.trusted) == 0 {
		return peer
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil || !p.isTrusted(addr) {
		return peer
	}
	xff := string(ctx.Request.Header.Peek("X-Forwarded-For"))
	hops := strings.Split(xff, ",")
	// Walk from the nearest hop back while hops are our own proxies.
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr.String()
		}
		addr = hop
		if !p.isTrusted(hop) {
			break
		}
	}
	return addr.String()
}

func (p *Proxy) isTrusted(a netip.Addr) bool {
	for _, pre := range p.trusted {
		if pre.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// upstreamStatusText names an upstream status for messages.
func upstreamStatusText(code int) string {
	return strconv.Itoa(code) + " " + http.StatusText(code)
}
