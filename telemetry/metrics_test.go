package telemetry_test

import (
	"errors"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/backseal/backseal/internal/promtest"
	"github.com/backseal/backseal/telemetry"
)

func scrape(t *testing.T, tel *telemetry.Telemetry) promtest.Families {
	t.Helper()
	srv := httptest.NewServer(tel.MetricsHandler())
	defer srv.Close()
	fams, err := promtest.Scrape(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// TestMetricsExposition records one of everything and checks the names,
// types, labels, units and values a Prometheus scrape sees.
func TestMetricsExposition(t *testing.T) {
	tel := telemetry.Disabled()
	m := tel.Metrics
	m.StreamStarted("transactions", "framed")
	m.StreamStarted("transactions", "framed")
	m.FirstByte("transactions", "framed", 3*time.Millisecond)
	m.UpstreamAttempt("transactions", telemetry.AttemptStream, nil)
	m.UpstreamAttempt("db_state", telemetry.AttemptCount, nil)
	m.FailureCaught("transactions", "truncated")
	m.Resumed("transactions", "truncated")
	m.UpstreamAttempt("transactions", telemetry.AttemptResume, errors.New("refused"))
	m.CountLookup("db_state", false)
	m.CountLookup("db_state", true)
	m.CountLookup("db_state", true)
	m.StreamFinished("transactions", "framed", "ok", 200, 100, 12345, 1500*time.Millisecond)
	m.Rejected(404)
	m.Rejected(404)

	fams := scrape(t, tel)
	for _, tt := range []struct {
		name, typ string
		labels    []string // label names, sorted
	}{
		{"backseal_requests_total", "counter", []string{"endpoint", "mode", "outcome", "status"}},
		{"backseal_payload_bytes_total", "counter", []string{"endpoint", "mode"}},
		{"backseal_records_total", "counter", []string{"endpoint"}},
		{"backseal_active_streams", "gauge", []string{"endpoint", "mode"}},
		{"backseal_upstream_attempts_total", "counter", []string{"endpoint", "kind", "result"}},
		{"backseal_resumes_total", "counter", []string{"cause", "endpoint"}},
		{"backseal_failures_caught_total", "counter", []string{"code", "endpoint"}},
		{"backseal_stream_duration_seconds", "histogram", []string{"endpoint", "mode"}},
		{"backseal_time_to_first_byte_seconds", "histogram", []string{"endpoint", "mode"}},
		{"backseal_count_lookups_total", "counter", []string{"cache", "kind"}},
	} {
		if got := fams.Type(tt.name); got != tt.typ {
			t.Errorf("%s: type %q, want %q (families: %v)", tt.name, got, tt.typ, fams.Names())
			continue
		}
		if got := fams.LabelNames(tt.name); !slices.Equal(got, tt.labels) {
			t.Errorf("%s: labels %v, want %v", tt.name, got, tt.labels)
		}
		if fams[tt.name].GetHelp() == "" {
			t.Errorf("%s: no HELP", tt.name)
		}
	}
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"backseal_requests_total", []string{"endpoint", "transactions", "mode", "framed", "outcome", "ok", "status", "200"}, 1},
		{"backseal_requests_total", []string{"endpoint", "-", "mode", "-", "outcome", "rejected", "status", "404"}, 2},
		{"backseal_payload_bytes_total", []string{"endpoint", "transactions"}, 12345},
		{"backseal_records_total", []string{"endpoint", "transactions"}, 100},
		{"backseal_active_streams", []string{"endpoint", "transactions", "mode", "framed"}, 1},
		{"backseal_upstream_attempts_total", []string{"kind", "stream", "result", "ok"}, 1},
		{"backseal_upstream_attempts_total", []string{"endpoint", "db_state", "kind", "count"}, 1},
		{"backseal_upstream_attempts_total", []string{"kind", "resume", "result", "error"}, 1},
		{"backseal_resumes_total", []string{"cause", "truncated"}, 1},
		{"backseal_failures_caught_total", []string{"endpoint", "transactions", "code", "truncated"}, 1},
		{"backseal_count_lookups_total", []string{"kind", "db_state", "cache", "hit"}, 2},
		{"backseal_count_lookups_total", []string{"kind", "db_state", "cache", "miss"}, 1},
		{"backseal_stream_duration_seconds", nil, 1},
		{"backseal_time_to_first_byte_seconds", nil, 1},
	} {
		if got, ok := fams.Sum(tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}

	// Buckets in seconds: 1 ms to 10 min, and 100 µs to 10 s.
	dur, err := fams.Histogram("backseal_stream_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	bounds := upperBounds(dur.GetBucket())
	if bounds[0] != 0.001 || bounds[len(bounds)-1] != 600 {
		t.Errorf("duration buckets %v, want 0.001 … 600", bounds)
	}
	if dur.GetSampleSum() != 1.5 {
		t.Errorf("duration sum %v, want 1.5 (seconds)", dur.GetSampleSum())
	}
	if le1 := cumulativeAt(dur.GetBucket(), 1); le1 != 0 {
		t.Errorf("duration le=1: %d, want 0 (1.5 s)", le1)
	}
	ttfb, err := fams.Histogram("backseal_time_to_first_byte_seconds")
	if err != nil {
		t.Fatal(err)
	}
	bounds = upperBounds(ttfb.GetBucket())
	if bounds[0] != 0.0001 || bounds[len(bounds)-1] != 10 {
		t.Errorf("ttfb buckets %v, want 0.0001 … 10", bounds)
	}
	if got := cumulativeAt(ttfb.GetBucket(), 0.005); got != 1 {
		t.Errorf("ttfb le=0.005: %d, want 1 (3 ms)", got)
	}

	// No per-series scope labels; the resource as target_info; the runtime's
	// standard metrics.
	for _, name := range fams.Names() {
		for _, l := range fams.LabelNames(name) {
			if strings.HasPrefix(l, "otel_scope_") && name != "target_info" {
				t.Errorf("%s carries %s", name, l)
			}
		}
	}
	if _, ok := fams.Sum("target_info", "service_name", "backseal"); !ok {
		t.Errorf("no target_info{service_name=\"backseal\"}: %v", fams.Names())
	}
	if fams.Type("go_goroutines") != "gauge" || fams.Type("process_cpu_seconds_total") != "counter" {
		t.Errorf("missing go_* or process_* metrics: %v", fams.Names())
	}
}

// TestMetricsOwnRegistry: two Telemetry values count apart, and nothing goes
// to the global Prometheus registry.
func TestMetricsOwnRegistry(t *testing.T) {
	a, b := telemetry.Disabled(), telemetry.Disabled()
	a.Metrics.Rejected(400)
	if _, ok := scrape(t, b).Sum("backseal_requests_total"); ok {
		t.Error("b sees a's request")
	}
	if got, _ := scrape(t, a).Sum("backseal_requests_total"); got != 1 {
		t.Errorf("a: %v requests, want 1", got)
	}
	global, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range global {
		if strings.HasPrefix(f.GetName(), "backseal_") || f.GetName() == "target_info" {
			t.Errorf("global registry has %s", f.GetName())
		}
	}
}

// TestMetricsNil: a nil *Metrics records nothing and does not panic.
func TestMetricsNil(t *testing.T) {
	var m *telemetry.Metrics
	m.StreamStarted("a", "b")
	m.StreamFinished("a", "b", "ok", 200, 1, 1, time.Second)
	m.Rejected(400)
	m.FirstByte("a", "b", time.Millisecond)
	m.UpstreamAttempt("a", "stream", nil)
	m.Resumed("a", "truncated")
	m.FailureCaught("a", "truncated")
	m.CountLookup("db_state", true)
}

// TestMetricsNoAllocs guards the hot path: once a label combination has
// been seen, recording allocates nothing.
func TestMetricsNoAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage counters allocate")
	}
	m := telemetry.Disabled().Metrics
	record := func() {
		m.StreamStarted("transactions", "passthrough")
		m.FirstByte("transactions", "passthrough", time.Millisecond)
		m.UpstreamAttempt("transactions", telemetry.AttemptStream, nil)
		m.CountLookup("db_state", true)
		m.FailureCaught("transactions", "truncated")
		m.Resumed("transactions", "truncated")
		m.StreamFinished("transactions", "passthrough", "ok", 200, 10, 1000, 20*time.Millisecond)
		m.Rejected(404)
	}
	record()
	if n := testing.AllocsPerRun(100, record); n != 0 {
		t.Errorf("%v allocations per stream, want 0", n)
	}
}

func BenchmarkMetricsStream(b *testing.B) {
	m := telemetry.Disabled().Metrics
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.StreamStarted("transactions", "framed")
			m.FirstByte("transactions", "framed", time.Millisecond)
			m.UpstreamAttempt("transactions", telemetry.AttemptStream, nil)
			m.StreamFinished("transactions", "framed", "ok", 200, 10, 1000, 20*time.Millisecond)
		}
	})
}

func upperBounds(bs []*dto.Bucket) []float64 {
	var out []float64
	for _, b := range bs {
		if !math.IsInf(b.GetUpperBound(), 1) {
			out = append(out, b.GetUpperBound())
		}
	}
	return out
}

func cumulativeAt(bs []*dto.Bucket, le float64) uint64 {
	for _, b := range bs {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	return math.MaxUint64
}
