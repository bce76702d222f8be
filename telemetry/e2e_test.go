package telemetry_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backseal/backseal/internal/otlptest"
	"github.com/backseal/backseal/internal/promtest"
	"github.com/backseal/backseal/internal/testkit"
	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/sim"
	"github.com/backseal/backseal/telemetry"
)

// The caller's trace context, as a traced backup tool would send it.
const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
	routeTxns     = "/transactions/{start_version}/{num_transactions}"
)

// rig is a sidecar exporting to an OTLP receiver, in front of the simulator
// through a recording reverse proxy (to see the headers of each upstream
// request), logging JSON to a buffer.
type rig struct {
	sim      *sim.Server
	rcv      *otlptest.Receiver
	sidecar  *proxy.Server
	upstream *recorder
	logs     *testkit.SyncBuffer
}

func newRig(t *testing.T) *rig {
	t.Helper()
	up := testkit.StartSim(t, testkit.Chain())
	rec := newRecorder(t, "http://"+up.Addr())

	rcv := otlptest.NewReceiver()
	t.Cleanup(rcv.Close)
	tel, err := telemetry.Setup(context.Background(), append(rcv.Environ(),
		"OTEL_SERVICE_NAME=backseal-e2e",
		"OTEL_RESOURCE_ATTRIBUTES=aptos.node=sim-0"), nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() { // after the sidecar's own cleanup: flush its last spans
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tel.Shutdown(ctx)
	})
	cfg := testkit.ProxyConfig(rec.URL)
	cfg.StallTimeout = time.Second
	logs := &testkit.SyncBuffer{}
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(logs, nil)))
	srv := testkit.StartProxy(t, cfg, log, proxy.WithTelemetry(tel))
	return &rig{sim: up, rcv: rcv, sidecar: srv, upstream: rec, logs: logs}
}

// get fetches path through the sidecar and reads the whole body.
func (r *rig) get(t *testing.T, path string, header http.Header) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+r.sidecar.Addr()+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// serverSpan waits for the server span of path and returns it with every
// span received so far.
func (r *rig) serverSpan(t *testing.T, path string) (otlptest.Span, otlptest.Spans) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		spans := r.rcv.Spans()
		for _, s := range spans.ByKind("server") {
			if s.Attr("url.path") == path {
				// The children end before their parent; one more batch may be in flight.
				time.Sleep(100 * time.Millisecond)
				return s, r.rcv.Spans()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no server span for %s; received:\n%v%v", path, spans, r.rcv.Errors())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndToEndTruncationHealed: a silent truncation (the simulator's
// producer dropped after 23 records, the body ended cleanly) healed by a
// resume, seen through the real OTLP/HTTP exporter as protobuf, through
// /metrics as Prometheus text, and in the log line.
func TestEndToEndTruncationHealed(t *testing.T) {
	r := newRig(t)
	r.sim.SetFaults(sim.Fault{Kind: sim.Drop, After: 23, Count: 1})

	const path = "/transactions/100/200"
	resp, body, err := r.get(t, path, http.Header{
		"Traceparent": {"00-" + callerTraceID + "-" + callerSpanID + "-01"},
		"Baggage":     {"backup.job=nightly"},
	})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %v", path, resp.Status, err)
	}
	offsets := recordEnds(t, body)
	if len(offsets) != 200 {
		t.Fatalf("%d records, want 200", len(offsets))
	}

	server, spans := r.serverSpan(t, path)
	trace := spans.Trace(callerTraceID)

	// The server span continues the caller's trace.
	if server.TraceID != callerTraceID || server.ParentSpanID != callerSpanID {
		t.Errorf("server span is not the caller's child: %v", server)
	}
	if server.Name != "GET "+routeTxns || server.Kind != "server" {
		t.Errorf("server span %v", server)
	}
	if server.StatusCode == "error" {
		t.Errorf("a healed stream's span has status error: %v", server)
	}
	wantAttrs(t, "server span", server.Attributes, map[string]any{
		"http.request.method":       "GET",
		"http.route":                routeTxns,
		"url.path":                  path,
		"http.response.status_code": int64(200),
		"server.address":            r.sidecar.Addr(),
		"client.address":            "127.0.0.1",
		"network.protocol.version":  "1.1",
		telemetry.AttrEndpoint:      "transactions",
		telemetry.AttrMode:          "passthrough",
		telemetry.AttrRecords:       int64(200),
		telemetry.AttrBytes:         int64(len(body)),
		telemetry.AttrFrames:        int64(0),
		telemetry.AttrResumes:       int64(1),
		telemetry.AttrOutcome:       "ok",
	})
	if got := server.Resource["service.name"]; got != "backseal-e2e" || server.Resource["aptos.node"] != "sim-0" {
		t.Errorf("resource %v", server.Resource)
	}

	// Events, in order: first byte, the truncation where it happened, the resume.
	if got, want := strings.Join(server.EventNames(), ","), "first_byte,failure_detected,resume_start,resume_success"; got != want {
		t.Errorf("server span events %s, want %s", got, want)
	}
	failure, _ := server.Event(telemetry.EventFailureDetected)
	k, _ := failure.Attr(telemetry.AttrRecordIndex).(int64)
	if k < 1 || k > 23 {
		t.Fatalf("failure at record %v, want 1..23 (the producer drops after 23, losing its partial batch)", failure.Attributes)
	}
	wantAttrs(t, "failure_detected", failure.Attributes, map[string]any{
		telemetry.AttrOutcome:    "truncated",
		telemetry.AttrByteOffset: int64(offsets[k-1]), // the end of the last whole record sent
	})
	continuation := fmt.Sprintf("/transactions/%d/%d", 100+k, 200-k)
	start, _ := server.Event(telemetry.EventResumeStart)
	wantAttrs(t, "resume_start", start.Attributes, map[string]any{
		telemetry.AttrCause:        "truncated",
		telemetry.AttrContinuation: continuation,
		telemetry.AttrRecordIndex:  k,
	})

	// Children: the first attempt (failed: truncated), the count lookup, the resume.
	children := spans.Children(server)
	byAttempt := map[string]otlptest.Spans{}
	for _, c := range children {
		if c.Kind != "client" {
			t.Errorf("child %v is not a client span", c)
		}
		byAttempt[fmt.Sprint(c.Attr(telemetry.AttrAttempt))] = append(byAttempt[fmt.Sprint(c.Attr(telemetry.AttrAttempt))], c)
	}
	if len(byAttempt["stream"]) != 1 || len(byAttempt["resume"]) != 1 || len(byAttempt["count"]) < 1 || len(children) != 2+len(byAttempt["count"]) {
		t.Fatalf("children of the server span:\n%v", children)
	}
	first, resume := byAttempt["stream"][0], byAttempt["resume"][0]
	if first.Name != "upstream GET "+routeTxns || resume.Name != "upstream GET "+routeTxns {
		t.Errorf("attempt names %q, %q", first.Name, resume.Name)
	}
	wantAttrs(t, "first attempt", first.Attributes, map[string]any{
		"http.request.method": "GET", "url.path": path, "http.response.status_code": int64(200),
	})
	if first.StatusCode != "error" || !strings.HasPrefix(first.StatusMessage, "truncated") {
		t.Errorf("first attempt status %s %q, want error truncated…", first.StatusCode, first.StatusMessage)
	}
	wantAttrs(t, "resume attempt", resume.Attributes, map[string]any{
		"url.path": continuation, "http.response.status_code": int64(200),
	})
	if resume.StatusCode == "error" || !resume.Start.After(first.Start) {
		t.Errorf("resume attempt %v", resume)
	}
	for _, c := range byAttempt["count"] {
		if c.Name != "upstream GET /db_state" || c.Attr("url.path") != "/db_state" {
			t.Errorf("count lookup %v %v", c, c.Attributes)
		}
	}
	if len(trace) != 1+len(children) {
		t.Errorf("the trace has %d spans, want the server span and its %d children:\n%v", len(trace), len(children), trace)
	}

	// Every upstream request carried its own span's context and the baggage.
	for _, c := range children {
		tp := "00-" + callerTraceID + "-" + c.SpanID + "-01"
		h, ok := r.upstream.find(tp)
		if !ok {
			t.Errorf("no upstream request carried %s (%s); saw %v", tp, c.Attr("url.path"), r.upstream.traceparents())
			continue
		}
		if h.Get("Baggage") != "backup.job=nightly" {
			t.Errorf("upstream %s: baggage %q", c.Attr("url.path"), h.Get("Baggage"))
		}
	}

	// The log line of the request names the trace and the server span.
	line := r.logLine(t, "request", path)
	if line["trace_id"] != callerTraceID || line["span_id"] != server.SpanID {
		t.Errorf("log line %v, want trace_id %s span_id %s", line, callerTraceID, server.SpanID)
	}

	// /metrics on the admin listener, parsed as Prometheus parses it.
	r.get(t, "/nope", nil)
	fams, err := promtest.Scrape("http://" + r.sidecar.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"backseal_requests_total", []string{"endpoint", "transactions", "mode", "passthrough", "outcome", "ok", "status", "200"}, 1},
		{"backseal_requests_total", []string{"endpoint", "-", "outcome", "rejected", "status", "404"}, 1},
		{"backseal_failures_caught_total", []string{"endpoint", "transactions", "code", "truncated"}, 1},
		{"backseal_resumes_total", []string{"endpoint", "transactions", "cause", "truncated"}, 1},
		{"backseal_upstream_attempts_total", []string{"endpoint", "transactions", "kind", "stream", "result", "ok"}, 1},
		{"backseal_upstream_attempts_total", []string{"endpoint", "transactions", "kind", "resume", "result", "ok"}, 1},
		{"backseal_upstream_attempts_total", []string{"kind", "count", "result", "ok"}, float64(len(byAttempt["count"]))},
		{"backseal_records_total", []string{"endpoint", "transactions"}, 200},
		{"backseal_payload_bytes_total", []string{"endpoint", "transactions", "mode", "passthrough"}, float64(len(body))},
		{"backseal_active_streams", nil, 0},
		{"backseal_stream_duration_seconds", []string{"endpoint", "transactions", "mode", "passthrough"}, 1},
		{"backseal_time_to_first_byte_seconds", []string{"endpoint", "transactions", "mode", "passthrough"}, 1},
		{"backseal_count_lookups_total", []string{"kind", "db_state", "cache", "miss"}, float64(len(byAttempt["count"]))},
	} {
		if got, ok := fams.Sum(tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	if fams.Type("backseal_stream_duration_seconds") != "histogram" || fams.Type("backseal_active_streams") != "gauge" {
		t.Errorf("types: %s, %s", fams.Type("backseal_stream_duration_seconds"), fams.Type("backseal_active_streams"))
	}
}

// TestEndToEndFailureNotHealed: a failure no resume can heal (one record
// too many) ends the server span with status error and the outcome code.
func TestEndToEndFailureNotHealed(t *testing.T) {
	r := newRig(t)
	r.sim.SetFaults(sim.Fault{Kind: sim.Excess, Count: 1})
	const path = "/transactions/500/40"
	resp, _, err := r.get(t, path, http.Header{"Te": {"trailers"}})
	if err != nil || resp.Trailer.Get(proxy.TrailerStatus) != "error" {
		t.Fatalf("GET %s: %v, trailers %v", path, err, resp.Trailer)
	}
	server, spans := r.serverSpan(t, path)
	if server.StatusCode != "error" || !strings.HasPrefix(server.StatusMessage, "excess-records") {
		t.Errorf("server span status %s %q, want error excess-records", server.StatusCode, server.StatusMessage)
	}
	wantAttrs(t, "server span", server.Attributes, map[string]any{
		telemetry.AttrOutcome: "excess-records", telemetry.AttrResumes: int64(0), "http.response.status_code": int64(200),
	})
	failure, ok := server.Event(telemetry.EventFailureDetected)
	if !ok || failure.Attr(telemetry.AttrOutcome) != "excess-records" || failure.Attr(telemetry.AttrRecordIndex) != int64(41) {
		t.Errorf("failure_detected %v", failure.Attributes)
	}
	if _, ok := server.Event(telemetry.EventResumeStart); ok {
		t.Error("a resume was tried for excess records")
	}
	for _, c := range spans.Children(server) {
		if c.Attr(telemetry.AttrAttempt) == "resume" {
			t.Errorf("resume attempt %v", c)
		}
	}
	if line := r.logLine(t, "request", path); line["trace_id"] != server.TraceID {
		t.Errorf("log line %v, want trace_id %s", line, server.TraceID)
	}
	fams, err := promtest.Scrape("http://" + r.sidecar.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := fams.Sum("backseal_requests_total", "outcome", "excess-records"); got != 1 {
		t.Errorf("requests with outcome excess-records: %v", got)
	}
	if got, _ := fams.Sum("backseal_failures_caught_total", "code", "excess-records"); got != 1 {
		t.Errorf("failures caught excess-records: %v", got)
	}
	if _, ok := fams.Sum("backseal_resumes_total"); ok {
		t.Error("resumes counted")
	}
}

// logLine returns the JSON log line with the given msg and path.
func (r *rig) logLine(t *testing.T, msg, path string) map[string]any {
	t.Helper()
	for line := range bytes.SplitSeq(r.logs.Bytes(), []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil && m["msg"] == msg && m["path"] == path {
			return m
		}
	}
	t.Fatalf("no %q log line for %s:\n%s", msg, path, r.logs.Bytes())
	return nil
}

// recordEnds returns the offset just past each record of a legacy body.
func recordEnds(t *testing.T, body []byte) []uint64 {
	t.Helper()
	var ends []uint64
	for off := uint64(0); off < uint64(len(body)); {
		if uint64(len(body))-off < 4 {
			t.Fatalf("body ends inside a length prefix at %d", off)
		}
		off += 4 + uint64(binary.BigEndian.Uint32(body[off:]))
		ends = append(ends, off)
	}
	return ends
}

func wantAttrs(t *testing.T, what string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %#v, want %#v", what, k, got[k], v)
		}
	}
}

// recorder is a reverse proxy that keeps the headers of every request.
type recorder struct {
	*httptest.Server
	mu      sync.Mutex
	headers []http.Header
}

func newRecorder(t *testing.T, target string) *recorder {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec.mu.Lock()
		rec.headers = append(rec.headers, req.Header.Clone())
		rec.mu.Unlock()
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) find(traceparent string) (http.Header, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.headers {
		if h.Get("Traceparent") == traceparent {
			return h, true
		}
	}
	return nil, false
}

func (r *recorder) traceparents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, h := range r.headers {
		out = append(out, h.Get("Traceparent"))
	}
	return out
}
