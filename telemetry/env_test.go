package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/backseal/backseal/internal/otlptest"
)

// TestSetupEnv: the variables reach the exporter, the batcher and the
// resource of the real libraries, seen from the receiver's side.
func TestSetupEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ func(rcv *otlptest.Receiver) []string
		spans   int // spans to record; 1 if zero
		check   func(t *testing.T, rcv *otlptest.Receiver, console []byte)
	}{
		{
			name:    "otlp over http/protobuf to the general endpoint, /v1/traces appended",
			environ: (*otlptest.Receiver).Environ,
			check: func(t *testing.T, rcv *otlptest.Receiver, _ []byte) {
				want(t, "spans", len(rcv.Spans()), 1)
				want(t, "content type", rcv.Requests()[0].ContentType, "application/x-protobuf")
				want(t, "service", rcv.Spans()[0].Resource["service.name"], any("backseal"))
			},
		},
		{
			name: "the traces endpoint is used as is, wins, and turns otlp on",
			environ: func(rcv *otlptest.Receiver) []string {
				return []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=" + rcv.TracesURL()}
			},
			check: func(t *testing.T, rcv *otlptest.Receiver, _ []byte) { want(t, "spans", len(rcv.Spans()), 1) },
		},
		{
			name: "headers percent-decoded; the traces headers replace the general ones",
			environ: func(rcv *otlptest.Receiver) []string {
				return append(rcv.Environ(), "OTEL_EXPORTER_OTLP_HEADERS=a=1",
					"OTEL_EXPORTER_OTLP_TRACES_HEADERS=Authorization=Bearer%20t0k%3D, x-tenant = ops")
			},
			check: func(t *testing.T, rcv *otlptest.Receiver, _ []byte) {
				h := rcv.Requests()[0].Header
				want(t, "authorization", h.Get("Authorization"), "Bearer t0k=")
				want(t, "x-tenant", h.Get("X-Tenant"), "ops")
				want(t, "a", h.Get("A"), "")
			},
		},
		{
			name: "the traces compression wins",
			environ: func(rcv *otlptest.Receiver) []string {
				return append(rcv.Environ(), "OTEL_EXPORTER_OTLP_COMPRESSION=none", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=gzip")
			},
			check: func(t *testing.T, rcv *otlptest.Receiver, _ []byte) {
				want(t, "content encoding", rcv.Requests()[0].ContentEncoding, "gzip")
			},
		},
		{
			name: "batch size",
			environ: func(rcv *otlptest.Receiver) []string {
				return append(rcv.Environ(), "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=1")
			},
			spans: 3,
			check: func(t *testing.T, rcv *otlptest.Receiver, _ []byte) {
				want(t, "requests", len(rcv.Requests()), 3)
				for _, r := range rcv.Requests() {
					want(t, "spans in a request", r.Spans, 1)
				}
			},
		},
		{
			name: "service name: OTEL_SERVICE_NAME over service.name in the resource attributes",
			environ: func(rcv *otlptest.Receiver) []string {
				return append(rcv.Environ(),
					"OTEL_RESOURCE_ATTRIBUTES=service.name=from-attrs,deployment.environment.name=prod,node=aptos%2C1",
					"OTEL_SERVICE_NAME=backseal-eu1")
			},
			check: func(t *testing.T, rcv *otlptest.Receiver, _ []byte) {
				res := rcv.Spans()[0].Resource
				want(t, "service", res["service.name"], any("backseal-eu1"))
				want(t, "environment", res["deployment.environment.name"], any("prod"))
				want(t, "node", res["node"], any("aptos,1"))
			},
		},
		{
			name: "service.name from the resource attributes",
			environ: func(rcv *otlptest.Receiver) []string {
				return append(rcv.Environ(), "OTEL_RESOURCE_ATTRIBUTES=service.name=from-attrs")
			},
			check: func(t *testing.T, rcv *otlptest.Receiver, _ []byte) {
				want(t, "service", rcv.Spans()[0].Resource["service.name"], any("from-attrs"))
			},
		},
		{
			name: "the last entry wins and an empty value is unset",
			environ: func(rcv *otlptest.Receiver) []string {
				return append(rcv.Environ(), "OTEL_SERVICE_NAME=first", "OTEL_SERVICE_NAME=second", "OTEL_TRACES_SAMPLER=")
			},
			check: func(t *testing.T, rcv *otlptest.Receiver, _ []byte) {
				want(t, "spans (sampled by the default sampler)", len(rcv.Spans()), 1)
				want(t, "service", rcv.Spans()[0].Resource["service.name"], any("second"))
			},
		},
		{
			name: "console and otlp together",
			environ: func(rcv *otlptest.Receiver) []string {
				return append(rcv.Environ(), "OTEL_TRACES_EXPORTER=console, otlp")
			},
			check: func(t *testing.T, rcv *otlptest.Receiver, console []byte) {
				want(t, "otlp spans", len(rcv.Spans()), 1)
				var got struct{ Name string }
				if err := json.Unmarshal(console, &got); err != nil || got.Name != "span-0" {
					t.Errorf("console output %q: %v", console, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := otlptest.NewReceiver()
			defer rcv.Close()
			console := export(t, rcv, append([]string{"PATH=/bin", "NOT_OTEL=1"}, tt.environ(rcv)...), max(tt.spans, 1))
			tt.check(t, rcv, console)
		})
	}
}

// export sets up telemetry from environ, records n spans named span-0, span-1
// ..., shuts down (which flushes) and returns what the console exporter wrote.
// Something must have reached rcv, without errors.
func export(t *testing.T, rcv *otlptest.Receiver, environ []string, n int) (console []byte) {
	t.Helper()
	var out bytes.Buffer // written by the batcher, read after Shutdown
	tel, err := Setup(context.Background(), environ, &out)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		_, span := tel.Tracer.Start(context.Background(), "span-"+string(rune('0'+i)))
		span.End()
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if errs := rcv.Errors(); len(errs) > 0 || len(rcv.Requests()) == 0 {
		t.Fatalf("received %d requests, errors %v", len(rcv.Requests()), errs)
	}
	return out.Bytes()
}

// TestSetupLendsEnviron: environ governs, not the process environment, and
// the process environment is as it was once Setup returns.
func TestSetupLendsEnviron(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "zipkin")
	t.Setenv("OTEL_SERVICE_NAME", "from-the-process")
	rcv := otlptest.NewReceiver()
	defer rcv.Close()
	export(t, rcv, rcv.Environ(), 1)
	if got := rcv.Spans(); len(got) != 1 || got[0].Resource["service.name"] != "backseal" {
		t.Fatalf("spans %v", got)
	}
	want(t, "OTEL_TRACES_EXPORTER after Setup", os.Getenv("OTEL_TRACES_EXPORTER"), "zipkin")
	want(t, "OTEL_SERVICE_NAME after Setup", os.Getenv("OTEL_SERVICE_NAME"), "from-the-process")
	if v, ok := os.LookupEnv("OTEL_EXPORTER_OTLP_ENDPOINT"); ok {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT=%q left in the process environment", v)
	}
}

// TestForLibraries: the OTLP endpoint backseal gives the exporters where
// they differ from the specification.
func TestForLibraries(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		key     string
		want    string
	}{
		{"no endpoint: plain http on 4318", nil, "OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"},
		{"no endpoint, grpc: plain http on 4317", []string{"OTEL_EXPORTER_OTLP_PROTOCOL=grpc"}, "OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317"},
		{
			"grpc endpoint without a scheme, insecure; the traces protocol and insecure win",
			[]string{
				"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc",
				"OTEL_EXPORTER_OTLP_ENDPOINT=10.0.0.5:4317", "OTEL_EXPORTER_OTLP_INSECURE=false", "OTEL_EXPORTER_OTLP_TRACES_INSECURE=true",
			},
			"OTEL_EXPORTER_OTLP_ENDPOINT", "http://10.0.0.5:4317",
		},
		{
			"grpc endpoint without a scheme: TLS",
			[]string{"OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector:4317"},
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://collector:4317",
		},
		{
			"an endpoint with a scheme is left as is",
			[]string{"OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317"},
			"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newOTELEnv(tt.environ)
			if err := env.check(); err != nil {
				t.Fatal(err)
			}
			want(t, tt.key, env.forLibraries()[tt.key], tt.want)
		})
	}
}

// TestSetupErrors: a malformed or unsupported value stops Setup, naming the
// variable, where the libraries would log it and use their default.
func TestSetupErrors(t *testing.T) {
	// Each environ, entries separated by NUL, with the variable the error names.
	for environ, wantErr := range map[string]string{
		"OTEL_TRACES_EXPORTER=zipkin":                                                 "OTEL_TRACES_EXPORTER",
		"OTEL_TRACES_EXPORTER=none,otlp":                                              "none excludes",
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/json":                                       "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318":                                  "OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=ftp://x":                                  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_TRACES_SAMPLER=jaeger_remote":                                           "OTEL_TRACES_SAMPLER",
		"OTEL_TRACES_SAMPLER=parentbased_traceidratio\x00OTEL_TRACES_SAMPLER_ARG=1.5": "OTEL_TRACES_SAMPLER_ARG",
		"OTEL_PROPAGATORS=tracecontext,b4":                                            "OTEL_PROPAGATORS",
		"OTEL_RESOURCE_ATTRIBUTES=a=1,b":                                              "OTEL_RESOURCE_ATTRIBUTES",
		"OTEL_EXPORTER_OTLP_HEADERS=a=%zz":                                            "OTEL_EXPORTER_OTLP_HEADERS",
		"OTEL_EXPORTER_OTLP_TIMEOUT=10s":                                              "OTEL_EXPORTER_OTLP_TIMEOUT",
		"OTEL_BSP_MAX_QUEUE_SIZE=0":                                                   "OTEL_BSP_MAX_QUEUE_SIZE",
		"OTEL_BSP_SCHEDULE_DELAY=-1":                                                  "OTEL_BSP_SCHEDULE_DELAY",
		"OTEL_EXPORTER_OTLP_COMPRESSION=zstd":                                         "OTEL_EXPORTER_OTLP_COMPRESSION",
		"OTEL_EXPORTER_OTLP_TRACES_INSECURE=yes":                                      "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
		"OTEL_SDK_DISABLED=yes":                                                       "OTEL_SDK_DISABLED",
	} {
		t.Run(environ, func(t *testing.T) {
			_, err := Setup(context.Background(), strings.Split(environ, "\x00"), nil)
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("err = %v, want one naming %s", err, wantErr)
			}
			if !strings.HasPrefix(err.Error(), "telemetry: ") {
				t.Errorf("err = %q, want the package prefix", err)
			}
		})
	}
}

// TestSetupAccepts: values that are not errors.
func TestSetupAccepts(t *testing.T) {
	for _, env := range []string{
		"OTEL_PROPAGATORS=b3,tracecontext",                           // autoprop knows b3
		"OTEL_TRACES_SAMPLER=always_on\x00OTEL_TRACES_SAMPLER_ARG=x", // read only by the ratio samplers
		"OTEL_EXPORTER_OTLP_INSECURE=TRUE",
		"OTEL_SDK_DISABLED=1",
	} {
		tel, err := Setup(context.Background(), strings.Split(env, "\x00"), nil)
		if err != nil {
			t.Errorf("%q: %v", env, err)
			continue
		}
		tel.Shutdown(context.Background())
	}
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
