package telemetry_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/backseal/backseal/internal/otlptest"
	"github.com/backseal/backseal/internal/testkit"
	"github.com/backseal/backseal/telemetry"
)

const incomingTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func setup(t *testing.T, environ ...string) *telemetry.Telemetry {
	t.Helper()
	tel, err := telemetry.Setup(context.Background(), environ, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	return tel
}

// recordTrace makes a small trace the way the proxy does: a server span
// continuing an incoming traceparent, a client child with an injected
// header, events, and an error status.
func recordTrace(t *testing.T, tel *telemetry.Telemetry) (injected http.Header) {
	t.Helper()
	in := propagation.HeaderCarrier{"Traceparent": {incomingTraceparent}, "Baggage": {"tenant=ops"}}
	ctx := tel.Propagator.Extract(context.Background(), in)
	ctx, server := tel.Tracer.Start(ctx, "GET /transactions/{start_version}/{num_transactions}",
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String(telemetry.AttrEndpoint, "transactions")))
	cctx, client := tel.Tracer.Start(ctx, "upstream GET /transactions/{start_version}/{num_transactions}",
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String(telemetry.AttrAttempt, telemetry.AttemptStream)))
	injected = http.Header{}
	tel.Propagator.Inject(cctx, propagation.HeaderCarrier(injected))
	client.AddEvent(telemetry.EventFailureDetected, trace.WithAttributes(
		attribute.String(telemetry.AttrOutcome, "truncated"),
		attribute.Int64(telemetry.AttrRecordIndex, 23),
		attribute.Int64(telemetry.AttrByteOffset, 4096)))
	client.End()
	server.SetStatus(codes.Error, "truncated")
	server.End()
	return injected
}

// TestSetupOTLPHTTP: the real exporter, configured only by environ, sends
// real OTLP protobuf to the receiver; trace context comes in and goes out.
func TestSetupOTLPHTTP(t *testing.T) {
	for _, compression := range []string{"none", "gzip"} {
		t.Run(compression, func(t *testing.T) {
			rcv := otlptest.NewReceiver()
			defer rcv.Close()
			tel := setup(t, append(rcv.Environ(),
				"OTEL_SERVICE_NAME=backseal-test",
				"OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=ci,aptos.node=val%2C0",
				"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20secret",
				"OTEL_EXPORTER_OTLP_COMPRESSION="+compression)...)
			if !tel.TracingEnabled() {
				t.Fatal("tracing off with an OTLP endpoint")
			}
			injected := recordTrace(t, tel)

			spans, err := rcv.WaitFor(2, 5*time.Second)
			if err != nil {
				t.Fatal(err, rcv.Errors())
			}
			server := spans.ByKind("server")
			if len(server) != 1 {
				t.Fatalf("spans:\n%v", spans)
			}
			s := server[0]
			if s.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || s.ParentSpanID != "00f067aa0ba902b7" {
				t.Errorf("server span does not continue the incoming trace: %v", s)
			}
			if s.StatusCode != "error" || s.StatusMessage != "truncated" || s.Attr(telemetry.AttrEndpoint) != "transactions" {
				t.Errorf("server span: %v %v", s, s.Attributes)
			}
			children := spans.Children(s)
			if len(children) != 1 || children[0].Kind != "client" {
				t.Fatalf("children of the server span: %v", children)
			}
			ev, ok := children[0].Event(telemetry.EventFailureDetected)
			if !ok || ev.Attr(telemetry.AttrRecordIndex) != int64(23) || ev.Attr(telemetry.AttrByteOffset) != int64(4096) || ev.Attr(telemetry.AttrOutcome) != "truncated" {
				t.Errorf("failure event: %+v", ev)
			}
			for k, want := range map[string]any{
				"service.name": "backseal-test", "deployment.environment.name": "ci", "aptos.node": "val,0",
				"telemetry.sdk.language": "go",
			} {
				if got := s.Resource[k]; got != want {
					t.Errorf("resource %s = %v, want %v", k, got, want)
				}
			}
			if s.Scope != telemetry.ScopeName {
				t.Errorf("scope %q", s.Scope)
			}

			// The upstream request carries the client span's context and the baggage.
			wantTP := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + children[0].SpanID + "-01"
			if got := injected.Get("Traceparent"); got != wantTP {
				t.Errorf("injected traceparent %q, want %q", got, wantTP)
			}
			if got := injected.Get("Baggage"); got != "tenant=ops" {
				t.Errorf("injected baggage %q", got)
			}

			reqs := rcv.Requests()
			if reqs[0].ContentType != "application/x-protobuf" || reqs[0].Header.Get("Authorization") != "Bearer secret" {
				t.Errorf("export request: %+v", reqs[0])
			}
			wantEnc := ""
			if compression == "gzip" {
				wantEnc = "gzip"
			}
			if reqs[0].ContentEncoding != wantEnc {
				t.Errorf("content encoding %q, want %q", reqs[0].ContentEncoding, wantEnc)
			}
		})
	}
}

// TestShutdownFlushes: spans still queued when Shutdown is called are sent.
func TestShutdownFlushes(t *testing.T) {
	rcv := otlptest.NewReceiver()
	defer rcv.Close()
	tel, err := telemetry.Setup(context.Background(), []string{
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + rcv.TracesURL(),
		"OTEL_BSP_SCHEDULE_DELAY=3600000",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.Tracer.Start(context.Background(), "queued")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rcv.ByName("queued"); len(got) != 1 {
		t.Fatalf("after Shutdown: %v", rcv.Spans())
	}
}

// TestSetupOTLPGRPC: OTEL_EXPORTER_OTLP_PROTOCOL=grpc reaches a gRPC
// trace service, headers as metadata, with the endpoint as a URL or as
// host:port with OTEL_EXPORTER_OTLP_INSECURE.
func TestSetupOTLPGRPC(t *testing.T) {
	for _, tt := range []struct {
		name     string
		endpoint func(addr string) []string
	}{
		{"http URL", func(addr string) []string { return []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + addr} }},
		{"host:port, insecure", func(addr string) []string {
			return []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + addr, "OTEL_EXPORTER_OTLP_INSECURE=true"}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			svc := &grpcTraces{got: make(chan *coltracepb.ExportTraceServiceRequest, 4)}
			srv := grpc.NewServer()
			coltracepb.RegisterTraceServiceServer(srv, svc)
			go srv.Serve(ln)
			defer srv.Stop()

			tel := setup(t, append(tt.endpoint(ln.Addr().String()),
				"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
				"OTEL_EXPORTER_OTLP_HEADERS=x-tenant=ops",
				"OTEL_BSP_SCHEDULE_DELAY=20")...)
			_, span := tel.Tracer.Start(context.Background(), "over-grpc")
			span.End()
			select {
			case req := <-svc.got:
				name := req.GetResourceSpans()[0].GetScopeSpans()[0].GetSpans()[0].GetName()
				if name != "over-grpc" {
					t.Errorf("span %q", name)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no export over gRPC")
			}
			if err := tel.Shutdown(context.Background()); err != nil { // before the server stops
				t.Error(err)
			}
			svc.mu.Lock()
			defer svc.mu.Unlock()
			if got := svc.md.Get("x-tenant"); len(got) != 1 || got[0] != "ops" {
				t.Errorf("metadata x-tenant = %v", got)
			}
		})
	}
}

type grpcTraces struct {
	coltracepb.UnimplementedTraceServiceServer
	got chan *coltracepb.ExportTraceServiceRequest
	mu  sync.Mutex
	md  metadata.MD
}

func (g *grpcTraces) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	g.mu.Lock()
	g.md = md
	g.mu.Unlock()
	g.got <- req
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// TestSetupConsole: the console exporter writes one JSON object per span.
func TestSetupConsole(t *testing.T) {
	var out testkit.SyncBuffer
	tel, err := telemetry.Setup(context.Background(), []string{"OTEL_TRACES_EXPORTER=console"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.Tracer.Start(context.Background(), "to-console")
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got struct{ Name string }
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Name != "to-console" {
		t.Fatalf("console output %q: %v", out.Bytes(), err)
	}
}

// TestTracingOff: with no exporter, spans are no-ops; Setup still
// propagates the caller's context (so logs and the node see it), while
// Disabled propagates nothing.
func TestTracingOff(t *testing.T) {
	in := propagation.HeaderCarrier{"Traceparent": {incomingTraceparent}}
	for _, tt := range []struct {
		name          string
		tel           *telemetry.Telemetry
		wantPropagate bool
	}{
		{"Setup with nothing set", setup(t), true},
		{"Setup with none", setup(t, "OTEL_TRACES_EXPORTER=none", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1"), true},
		{"OTEL_SDK_DISABLED", setup(t, "OTEL_SDK_DISABLED=true", "OTEL_TRACES_EXPORTER=otlp"), false},
		{"Disabled", telemetry.Disabled(), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.tel.TracingEnabled() {
				t.Fatal("tracing on")
			}
			ctx := tt.tel.Propagator.Extract(context.Background(), in)
			ctx, span := tt.tel.Tracer.Start(ctx, "x")
			defer span.End()
			if span.IsRecording() {
				t.Error("span records")
			}
			out := http.Header{}
			tt.tel.Propagator.Inject(ctx, propagation.HeaderCarrier(out))
			if got := out.Get("Traceparent") == incomingTraceparent; got != tt.wantPropagate {
				t.Errorf("traceparent passed on: %v (%q), want %v", got, out.Get("Traceparent"), tt.wantPropagate)
			}
		})
	}
}

// TestSampling: always_off records nothing; parent-based follows an
// unsampled caller.
func TestSampling(t *testing.T) {
	for _, tt := range []struct {
		name, sampler, traceparent string
		wantSampled                bool
	}{
		{"always_off", "always_off", "", false},
		{"always_on ignores an unsampled parent", "always_on", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
		{"parent-based follows an unsampled parent", "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", false},
		{"parent-based samples a root", "", "", true},
		{"ratio 0", "traceidratio\x00OTEL_TRACES_SAMPLER_ARG=0", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := []string{"OTEL_TRACES_EXPORTER=console"}
			if tt.sampler != "" {
				env = append(env, strings.Split("OTEL_TRACES_SAMPLER="+tt.sampler, "\x00")...)
			}
			tel, err := telemetry.Setup(context.Background(), env, &testkit.SyncBuffer{})
			if err != nil {
				t.Fatal(err)
			}
			defer tel.Shutdown(context.Background())
			ctx := context.Background()
			if tt.traceparent != "" {
				ctx = tel.Propagator.Extract(ctx, propagation.HeaderCarrier{"Traceparent": {tt.traceparent}})
			}
			_, span := tel.Tracer.Start(ctx, "x")
			span.End()
			if got := span.SpanContext().IsSampled(); got != tt.wantSampled {
				t.Errorf("sampled %v, want %v", got, tt.wantSampled)
			}
		})
	}
}

// TestPropagatorsChosen: OTEL_PROPAGATORS=tracecontext drops baggage; the
// names autoprop knows, spaces trimmed, give their headers.
func TestPropagatorsChosen(t *testing.T) {
	tel := setup(t, "OTEL_PROPAGATORS=tracecontext")
	m, _ := baggage.NewMember("tenant", "ops")
	b, _ := baggage.New(m)
	ctx := baggage.ContextWithBaggage(context.Background(), b)
	ctx = tel.Propagator.Extract(ctx, propagation.HeaderCarrier{"Traceparent": {incomingTraceparent}})
	out := http.Header{}
	tel.Propagator.Inject(ctx, propagation.HeaderCarrier(out))
	if out.Get("Baggage") != "" || out.Get("Traceparent") == "" {
		t.Errorf("injected %v", out)
	}
	for list, want := range map[string]string{
		"":                   "baggage,traceparent,tracestate",
		"tracecontext":       "traceparent,tracestate",
		" tracecontext , b3": "b3,traceparent,tracestate",
		"none":               "",
		"baggage,b3multi":    "baggage,x-b3-flags,x-b3-sampled,x-b3-spanid,x-b3-traceid",
	} {
		tel := setup(t, "OTEL_PROPAGATORS="+list)
		if got := slices.Sorted(slices.Values(tel.Propagator.Fields())); strings.Join(got, ",") != want {
			t.Errorf("OTEL_PROPAGATORS=%q: fields %v, want %s", list, got, want)
		}
	}
}

func TestSetupErrors(t *testing.T) {
	for _, env := range []string{"OTEL_TRACES_EXPORTER=jaeger", "OTEL_TRACES_SAMPLER=sometimes"} {
		if _, err := telemetry.Setup(context.Background(), []string{env}, nil); err == nil {
			t.Errorf("%s: no error", env)
		}
	}
}

// BenchmarkTracingOff is what a request pays for tracing when it is off:
// extract, start, an event, attributes, end, inject.
func BenchmarkTracingOff(b *testing.B) {
	tel := telemetry.Disabled()
	in := propagation.HeaderCarrier{"Traceparent": {incomingTraceparent}}
	out := propagation.HeaderCarrier{}
	b.ReportAllocs()
	for b.Loop() {
		ctx := tel.Propagator.Extract(context.Background(), in)
		ctx, span := tel.Tracer.Start(ctx, "GET /transactions/{start_version}/{num_transactions}")
		if tel.TracingEnabled() {
			span.SetAttributes(attribute.String(telemetry.AttrEndpoint, "transactions"))
		}
		span.AddEvent(telemetry.EventFirstByte)
		tel.Propagator.Inject(ctx, out)
		span.End()
	}
}
