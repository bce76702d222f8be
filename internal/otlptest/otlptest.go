// Package otlptest is an in-process OTLP/HTTP trace receiver for tests: an
// httptest-like server on 127.0.0.1 that accepts what a real exporter sends
// (POST /v1/traces, application/x-protobuf, optionally gzip), decodes it with
// the OTLP protobuf definitions, and keeps the spans for a test to query.
//
//	rcv := otlptest.NewReceiver()
//	defer rcv.Close()
//	tel, _ := telemetry.Setup(ctx, rcv.Environ(), nil)
//	...
//	spans, err := rcv.WaitFor(2, 5*time.Second)
package otlptest

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TracesPath is where OTLP/HTTP exporters send spans.
const TracesPath = "/v1/traces"

// maxBody bounds one export request, decompressed.
const maxBody = 64 << 20

// Receiver is a running OTLP/HTTP trace receiver. Its methods are safe for
// concurrent use.
type Receiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever spans arrive
	spans    []Span
	requests []Request
	errs     []error
}

// Request describes one export request as it arrived.
type Request struct {
	ContentType     string
	ContentEncoding string
	Header          http.Header
	Spans           int
}

// NewReceiver starts a receiver on 127.0.0.1 on a free port.
func NewReceiver() *Receiver {
	r := &Receiver{changed: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// URL is the receiver's base URL, e.g. "http://127.0.0.1:43567": the value
// for OTEL_EXPORTER_OTLP_ENDPOINT.
func (r *Receiver) URL() string { return r.srv.URL }

// TracesURL is the full traces URL: the value for
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.
func (r *Receiver) TracesURL() string { return r.srv.URL + TracesPath }

// Environ returns OTEL_* variables that point an OTLP/HTTP exporter at the
// receiver and export spans after 50 ms instead of 5 s.
func (r *Receiver) Environ() []string {
	return []string{
		"OTEL_TRACES_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + r.URL(),
		"OTEL_BSP_SCHEDULE_DELAY=50",
	}
}

// Close shuts the receiver down.
func (r *Receiver) Close() { r.srv.Close() }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != TracesPath {
		http.NotFound(w, req)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		r.fail(w, http.StatusUnsupportedMediaType, fmt.Errorf("otlptest: content type %q; only application/x-protobuf is supported", ct))
		return
	}
	var body io.Reader = req.Body
	switch enc := req.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			r.fail(w, http.StatusBadRequest, fmt.Errorf("otlptest: gzip: %w", err))
			return
		}
		defer zr.Close()
		body = zr
	default:
		r.fail(w, http.StatusUnsupportedMediaType, fmt.Errorf("otlptest: content encoding %q", enc))
		return
	}
	b, err := io.ReadAll(io.LimitReader(body, maxBody+1))
	if err == nil && len(b) > maxBody {
		err = fmt.Errorf("request over %d bytes", maxBody)
	}
	if err != nil {
		r.fail(w, http.StatusBadRequest, fmt.Errorf("otlptest: reading request: %w", err))
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &msg); err != nil {
		r.fail(w, http.StatusBadRequest, fmt.Errorf("otlptest: decoding ExportTraceServiceRequest: %w", err))
		return
	}
	spans := flatten(&msg)

	r.mu.Lock()
	r.spans = append(r.spans, spans...)
	r.requests = append(r.requests, Request{
		ContentType:     req.Header.Get("Content-Type"),
		ContentEncoding: req.Header.Get("Content-Encoding"),
		Header:          req.Header.Clone(),
		Spans:           len(spans),
	})
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()

	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func (r *Receiver) fail(w http.ResponseWriter, status int, err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
	http.Error(w, err.Error(), status)
}

// Spans returns every span received so far, in arrival order.
func (r *Receiver) Spans() Spans {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.spans)
}

// ByName returns the received spans with the given name.
func (r *Receiver) ByName(name string) Spans { return r.Spans().ByName(name) }

// Requests returns the export requests received so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// Errors returns the requests the receiver refused, as errors (a wrong
// content type, undecodable protobuf).
func (r *Receiver) Errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// WaitFor waits until at least n spans have arrived and returns them all, or
// returns those there are and an error after timeout.
func (r *Receiver) WaitFor(n int, timeout time.Duration) (Spans, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got, changed := slices.Clone(r.spans), r.changed
		r.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return got, fmt.Errorf("otlptest: %d spans after %v, want %d", len(got), timeout, n)
		}
	}
}

// Span is one received span, flattened for assertions: ids in lowercase hex,
// attribute values as Go values (string, bool, int64, float64, []byte,
// []any, map[string]any).
type Span struct {
	TraceID, SpanID, ParentSpanID string // ParentSpanID "" for a root span
	TraceState                    string
	Name                          string
	Kind                          string // "server", "client", "internal", "producer", "consumer"
	Start, End                    time.Time
	Attributes                    map[string]any
	Events                        []Event
	Links                         int
	StatusCode                    string // "unset", "ok", "error"
	StatusMessage                 string
	Resource                      map[string]any
	Scope                         string
	ScopeVersion                  string

	// Raw is the span as decoded.
	Raw *tracepb.Span
}

// Event is one span event.
type Event struct {
	Name       string
	Time       time.Time
	Attributes map[string]any
}

// Attr returns an attribute's value, or nil.
func (s Span) Attr(key string) any { return s.Attributes[key] }

// Event returns the first event with the given name.
func (s Span) Event(name string) (Event, bool) {
	for _, e := range s.Events {
		if e.Name == name {
			return e, true
		}
	}
	return Event{}, false
}

// EventNames lists the span's event names in order.
func (s Span) EventNames() []string {
	names := make([]string, len(s.Events))
	for i, e := range s.Events {
		names[i] = e.Name
	}
	return names
}

// Attr returns an event attribute's value, or nil.
func (e Event) Attr(key string) any { return e.Attributes[key] }

// String summarizes the span for failure messages.
func (s Span) String() string {
	return fmt.Sprintf("%s %q (%s, span %s, parent %s, status %s %q, events %v)",
		s.Kind, s.Name, s.TraceID, s.SpanID, orDash(s.ParentSpanID), s.StatusCode, s.StatusMessage, s.EventNames())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Spans is a list of received spans with small queries.
type Spans []Span

// ByName returns the spans with the given name.
func (ss Spans) ByName(name string) Spans {
	return ss.Filter(func(s Span) bool { return s.Name == name })
}

// ByKind returns the spans of a kind ("server", "client", …).
func (ss Spans) ByKind(kind string) Spans {
	return ss.Filter(func(s Span) bool { return s.Kind == kind })
}

// Trace returns the spans of one trace.
func (ss Spans) Trace(traceID string) Spans {
	return ss.Filter(func(s Span) bool { return s.TraceID == traceID })
}

// Children returns parent's direct children, by start time.
func (ss Spans) Children(parent Span) Spans {
	out := ss.Filter(func(s Span) bool { return s.TraceID == parent.TraceID && s.ParentSpanID == parent.SpanID })
	slices.SortStableFunc(out, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return out
}

// Filter returns the spans keep accepts.
func (ss Spans) Filter(keep func(Span) bool) Spans {
	var out Spans
	for _, s := range ss {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

// Names lists the spans' names.
func (ss Spans) Names() []string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.Name
	}
	return names
}

// String lists the spans, one a line.
func (ss Spans) String() string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(s.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func flatten(msg *coltracepb.ExportTraceServiceRequest) []Span {
	var out []Span
	for _, rs := range msg.GetResourceSpans() {
		res := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				s := Span{
					TraceID:       hex.EncodeToString(sp.GetTraceId()),
					SpanID:        hex.EncodeToString(sp.GetSpanId()),
					ParentSpanID:  hex.EncodeToString(sp.GetParentSpanId()),
					TraceState:    sp.GetTraceState(),
					Name:          sp.GetName(),
					Kind:          kindName(sp.GetKind()),
					Start:         time.Unix(0, int64(sp.GetStartTimeUnixNano())),
					End:           time.Unix(0, int64(sp.GetEndTimeUnixNano())),
					Attributes:    attrMap(sp.GetAttributes()),
					Links:         len(sp.GetLinks()),
					StatusCode:    statusName(sp.GetStatus().GetCode()),
					StatusMessage: sp.GetStatus().GetMessage(),
					Resource:      res,
					Scope:         ss.GetScope().GetName(),
					ScopeVersion:  ss.GetScope().GetVersion(),
					Raw:           sp,
				}
				for _, ev := range sp.GetEvents() {
					s.Events = append(s.Events, Event{
						Name:       ev.GetName(),
						Time:       time.Unix(0, int64(ev.GetTimeUnixNano())),
						Attributes: attrMap(ev.GetAttributes()),
					})
				}
				out = append(out, s)
			}
		}
	}
	return out
}

func kindName(k tracepb.Span_SpanKind) string {
	switch k {
	case tracepb.Span_SPAN_KIND_SERVER:
		return "server"
	case tracepb.Span_SPAN_KIND_CLIENT:
		return "client"
	case tracepb.Span_SPAN_KIND_INTERNAL:
		return "internal"
	case tracepb.Span_SPAN_KIND_PRODUCER:
		return "producer"
	case tracepb.Span_SPAN_KIND_CONSUMER:
		return "consumer"
	}
	return "unspecified"
}

func statusName(c tracepb.Status_StatusCode) string {
	switch c {
	case tracepb.Status_STATUS_CODE_OK:
		return "ok"
	case tracepb.Status_STATUS_CODE_ERROR:
		return "error"
	}
	return "unset"
}

func attrMap(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = anyValue(kv.GetValue())
	}
	return m
}

func anyValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return x.BytesValue
	case *commonpb.AnyValue_ArrayValue:
		var out []any
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, anyValue(e))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		return attrMap(x.KvlistValue.GetValues())
	}
	return nil
}
