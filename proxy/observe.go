package proxy

import (
	"context"
	"strings"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/telemetry"
	"github.com/backseal/backseal/upstream"
)

// Option configures a Proxy beyond its Config.
type Option func(*Proxy)

// WithTelemetry makes the proxy trace requests and record metrics through
// t. Without it, tracing is off and metrics are kept but not exported.
func WithTelemetry(t *telemetry.Telemetry) Option {
	return func(p *Proxy) { p.tel = t }
}

// headerCarrier adapts fasthttp's request header to the propagators.
type headerCarrier struct{ h *fasthttp.RequestHeader }

func (c headerCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c headerCarrier) Set(key, val string)   { c.h.Set(key, val) }
func (c headerCarrier) Keys() []string {
	var keys []string
	for k := range c.h.All() {
		keys = append(keys, strings.ToLower(string(k)))
	}
	return keys
}

// startServerSpan opens the request's server span, continuing the trace the
// load balancer or client sent.
func (p *Proxy) startServerSpan(ctx *fasthttp.RequestCtx) (context.Context, trace.Span) {
	parent := p.tel.Propagator.Extract(context.Background(), headerCarrier{&ctx.Request.Header})
	method := string(ctx.Method())
	return p.tel.Tracer.Start(parent, method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(ctx.Time()),
		trace.WithAttributes(
			attribute.String("http.request.method", method),
			attribute.String("url.path", string(ctx.Request.Header.RequestURI())),
			attribute.String("client.address", ctx.RemoteIP().String()),
			attribute.String("server.address", string(ctx.Host())),
			attribute.String("network.protocol.version", protocolVersion(ctx)),
		))
}

func protocolVersion(ctx *fasthttp.RequestCtx) string {
	if ctx.Request.Header.IsHTTP11() {
		return "1.1"
	}
	return "1.0"
}

// nameRoute gives the server span its route once the path has parsed.
func nameRoute(span trace.Span, method string, req upstream.Request) {
	route := req.Endpoint.Route()
	span.SetName(method + " " + route)
	span.SetAttributes(attribute.String("http.route", route), attribute.String(telemetry.AttrEndpoint, req.Endpoint.String()))
}

// endServerSpan records the outcome on a span and ends it.
func endServerSpan(span trace.Span, status int, outcome string) {
	span.SetAttributes(attribute.Int("http.response.status_code", status), attribute.String(telemetry.AttrOutcome, outcome))
	if outcome != outcomeOK && outcome != outcomeRejected {
		span.SetStatus(codes.Error, outcome)
	}
	span.End()
}

// startAttempt opens the child span of one upstream request.
func (p *Proxy) startAttempt(ctx context.Context, kind string, req upstream.Request) (context.Context, trace.Span) {
	return p.tel.Tracer.Start(ctx, "upstream GET "+req.Endpoint.Route(), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String(telemetry.AttrAttempt, kind),
			attribute.String("http.request.method", "GET"),
			attribute.String("url.path", req.Path()),
		))
}

// endAttempt ends an attempt's span with its result.
func endAttempt(span trace.Span, status int, err error) {
	if status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// failureEvent marks where a stream failed: the record and byte it reached.
func failureEvent(span trace.Span, failure *framing.StreamError, records, offset uint64) {
	span.AddEvent(telemetry.EventFailureDetected, trace.WithAttributes(
		attribute.String(telemetry.AttrOutcome, failure.Code.String()),
		attribute.Int64(telemetry.AttrRecordIndex, int64(records)),
		attribute.Int64(telemetry.AttrByteOffset, int64(offset)),
		attribute.String("message", failure.Message),
	))
}
