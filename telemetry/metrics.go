package telemetry

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Histogram bucket boundaries, in seconds. The SDK's default boundaries
// (0, 5, 10, 25 … 10000) suit milliseconds.
var (
	// A stream lasts from a millisecond (a small endpoint from a warm
	// node) to minutes (a large snapshot chunk).
	durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
	// The first byte comes after the upstream's header and first batch:
	// from 100µs on loopback to seconds from a busy node.
	ttfbBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

// Metrics records backseal's measurements. Its methods are safe for
// concurrent use, do nothing on a nil *Metrics, and do not allocate once a
// label combination has been seen: the attribute sets are built once and
// cached.
//
// The instruments and their Prometheus names (the exporter adds the unit
// and _total suffixes) are listed in docs/TELEMETRY.md.
type Metrics struct {
	requests     metric.Int64Counter       // backseal_requests_total
	payload      metric.Int64Counter       // backseal_payload_bytes_total
	records      metric.Int64Counter       // backseal_records_total
	active       metric.Int64UpDownCounter // backseal_active_streams
	attempts     metric.Int64Counter       // backseal_upstream_attempts_total
	resumes      metric.Int64Counter       // backseal_resumes_total
	failures     metric.Int64Counter       // backseal_failures_caught_total
	duration     metric.Float64Histogram   // backseal_stream_duration_seconds
	ttfb         metric.Float64Histogram   // backseal_time_to_first_byte_seconds
	countLookups metric.Int64Counter       // backseal_count_lookups_total

	mu   sync.RWMutex
	sets map[setKey]opts
}

// opts holds one attribute set as the option slices Add and Record take:
// passing a stored slice does not allocate, a fresh variadic argument to an
// interface method does.
type opts struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

// maxCachedSets bounds the cache should a caller pass unbounded label
// values; past it, sets are built per call (and the SDK's own cardinality
// limit applies).
const maxCachedSets = 4096

func newMetrics(m metric.Meter) (*Metrics, error) {
	ms := &Metrics{sets: make(map[setKey]opts)}
	var err error
	counter := func(name, unit, desc string) metric.Int64Counter {
		if err != nil {
			return nil
		}
		var c metric.Int64Counter
		c, err = m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		return c
	}
	ms.requests = counter("backseal.requests", "{request}",
		"Requests answered, by endpoint, mode (framed or passthrough), outcome (ok, a failure code, client-gone, rejected) and HTTP status.")
	ms.payload = counter("backseal.payload", "By", "Payload bytes forwarded to clients (frames and headers excluded).")
	ms.records = counter("backseal.records", "{record}", "Records forwarded to clients.")
	ms.attempts = counter("backseal.upstream.attempts", "{attempt}",
		"Upstream requests, by kind (stream: a response's first request; resume: a continuation; count: a count lookup) and result (ok, error).")
	ms.resumes = counter("backseal.resumes", "{resume}", "Resumes started, by the failure code they heal.")
	ms.failures = counter("backseal.failures_caught", "{failure}",
		"Upstream failures detected, healed or not, by code (truncated, upstream-aborted, upstream-reset, upstream-stalled, …).")
	ms.countLookups = counter("backseal.count_lookups", "{lookup}",
		"Record-count lookups (db_state, state_item_count), by whether the cache answered (hit) or the upstream was asked (miss).")
	if err != nil {
		return nil, err
	}
	if ms.active, err = m.Int64UpDownCounter("backseal.active_streams", metric.WithUnit("{stream}"),
		metric.WithDescription("Responses whose upstream exchange is open.")); err != nil {
		return nil, err
	}
	if ms.duration, err = m.Float64Histogram("backseal.stream.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from a request's arrival to its response's end."),
		metric.WithExplicitBucketBoundaries(durationBuckets...)); err != nil {
		return nil, err
	}
	if ms.ttfb, err = m.Float64Histogram("backseal.time_to_first_byte", metric.WithUnit("s"),
		metric.WithDescription("Time from a request's arrival to the first payload byte sent to the client."),
		metric.WithExplicitBucketBoundaries(ttfbBuckets...)); err != nil {
		return nil, err
	}
	return ms, nil
}

// setKind tells apart the label sets of the cache.
type setKind uint8

const (
	setEndpointMode setKind = iota // endpoint, mode
	setEndpoint                    // endpoint
	setRequest                     // endpoint, mode, outcome, status
	setAttempt                     // endpoint, kind, result
	setResume                      // endpoint, cause
	setFailure                     // endpoint, code
	setCountLookup                 // kind, cache
)

type setKey struct {
	kind    setKind
	a, b, c string
	n       int
}

// opt returns the cached options for k, building them once.
func (m *Metrics) opt(k setKey) opts {
	m.mu.RLock()
	o, ok := m.sets[k]
	m.mu.RUnlock()
	if ok {
		return o
	}
	mo := metric.WithAttributeSet(k.set())
	o = opts{add: []metric.AddOption{mo}, rec: []metric.RecordOption{mo}}
	m.mu.Lock()
	if len(m.sets) < maxCachedSets {
		m.sets[k] = o
	}
	m.mu.Unlock()
	return o
}

func (k setKey) set() attribute.Set {
	switch k.kind {
	case setEndpointMode:
		return attribute.NewSet(attribute.String("endpoint", k.a), attribute.String("mode", k.b))
	case setEndpoint:
		return attribute.NewSet(attribute.String("endpoint", k.a))
	case setRequest:
		return attribute.NewSet(attribute.String("endpoint", k.a), attribute.String("mode", k.b),
			attribute.String("outcome", k.c), attribute.Int("status", k.n))
	case setAttempt:
		return attribute.NewSet(attribute.String("endpoint", k.a), attribute.String("kind", k.b), attribute.String("result", k.c))
	case setResume:
		return attribute.NewSet(attribute.String("endpoint", k.a), attribute.String("cause", k.b))
	case setFailure:
		return attribute.NewSet(attribute.String("endpoint", k.a), attribute.String("code", k.b))
	case setCountLookup:
		return attribute.NewSet(attribute.String("kind", k.a), attribute.String("cache", k.b))
	}
	panic("telemetry: unknown label set")
}

// bg is the context of every measurement: none carries a span, so no
// exemplar is taken.
var bg = context.Background()

// StreamStarted counts a response whose upstream exchange opened
// (backseal_active_streams +1). Pair it with StreamFinished.
func (m *Metrics) StreamStarted(endpoint, mode string) {
	if m == nil {
		return
	}
	m.active.Add(bg, 1, m.opt(setKey{kind: setEndpointMode, a: endpoint, b: mode}).add...)
}

// StreamFinished records a response's end: backseal_requests_total,
// backseal_payload_bytes_total, backseal_records_total,
// backseal_stream_duration_seconds, and backseal_active_streams -1. outcome
// is "ok", a framing code name, "client-gone" or "rejected"; d is the time
// since the request arrived.
func (m *Metrics) StreamFinished(endpoint, mode, outcome string, status int, records, bytes uint64, d time.Duration) {
	if m == nil {
		return
	}
	em := m.opt(setKey{kind: setEndpointMode, a: endpoint, b: mode})
	m.requests.Add(bg, 1, m.opt(setKey{kind: setRequest, a: endpoint, b: mode, c: outcome, n: status}).add...)
	m.payload.Add(bg, int64(bytes), em.add...)
	m.records.Add(bg, int64(records), m.opt(setKey{kind: setEndpoint, a: endpoint}).add...)
	m.duration.Record(bg, d.Seconds(), em.rec...)
	m.active.Add(bg, -1, em.add...)
}

// Rejected counts a request answered locally without a stream (400, 404,
// 405, 503 while draining, 502 when the upstream cannot be reached…):
// backseal_requests_total with endpoint="-", mode="-", outcome="rejected".
func (m *Metrics) Rejected(status int) {
	if m == nil {
		return
	}
	m.requests.Add(bg, 1, m.opt(setKey{kind: setRequest, a: "-", b: "-", c: "rejected", n: status}).add...)
}

// FirstByte records the time from a request's arrival to its first payload
// byte (backseal_time_to_first_byte_seconds).
func (m *Metrics) FirstByte(endpoint, mode string, d time.Duration) {
	if m == nil {
		return
	}
	m.ttfb.Record(bg, d.Seconds(), m.opt(setKey{kind: setEndpointMode, a: endpoint, b: mode}).rec...)
}

// UpstreamAttempt counts one upstream request (backseal_upstream_attempts_total);
// kind is "stream", "resume" or "count", and err the request's error (nil: ok).
func (m *Metrics) UpstreamAttempt(endpoint, kind string, err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.attempts.Add(bg, 1, m.opt(setKey{kind: setAttempt, a: endpoint, b: kind, c: result}).add...)
}

// Resumed counts a resume started to heal a failure of code cause
// (backseal_resumes_total).
func (m *Metrics) Resumed(endpoint, cause string) {
	if m == nil {
		return
	}
	m.resumes.Add(bg, 1, m.opt(setKey{kind: setResume, a: endpoint, b: cause}).add...)
}

// FailureCaught counts an upstream failure detected, whether a resume heals
// it or not (backseal_failures_caught_total).
func (m *Metrics) FailureCaught(endpoint, code string) {
	if m == nil {
		return
	}
	m.failures.Add(bg, 1, m.opt(setKey{kind: setFailure, a: endpoint, b: code}).add...)
}

// CountLookup counts a record-count lookup (backseal_count_lookups_total);
// kind is "db_state" or "state_item_count".
func (m *Metrics) CountLookup(kind string, cacheHit bool) {
	if m == nil {
		return
	}
	cache := "miss"
	if cacheHit {
		cache = "hit"
	}
	m.countLookups.Add(bg, 1, m.opt(setKey{kind: setCountLookup, a: kind, b: cache}).add...)
}
