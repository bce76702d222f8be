package telemetry

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

func TestParseEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		check   func(t *testing.T, c config)
	}{
		{
			name: "defaults: no exporter, parent-based always-on, W3C propagators",
			check: func(t *testing.T, c config) {
				want(t, "exporters", len(c.exporters), 0)
				want(t, "service", c.serviceName, "backseal")
				want(t, "protocol", c.protocol, "http/protobuf")
				want(t, "endpoint", c.endpoint, "http://localhost:4318/v1/traces")
				want(t, "sampler", c.sampler.Description(), "ParentBased{root:AlwaysOnSampler,remoteParentSampled:AlwaysOnSampler,remoteParentNotSampled:AlwaysOffSampler,localParentSampled:AlwaysOnSampler,localParentNotSampled:AlwaysOffSampler}")
				want(t, "propagators", strings.Join(c.propagators, ","), "tracecontext,baggage")
				want(t, "bsp delay", c.bspDelay, 5*time.Second)
				want(t, "timeout", c.timeout, 10*time.Second)
				want(t, "compression", c.compression, "none")
			},
		},
		{
			name:    "a general endpoint turns otlp on and gets /v1/traces appended",
			environ: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318/base/"},
			check: func(t *testing.T, c config) {
				want(t, "exporters", strings.Join(c.exporters, ","), "otlp")
				want(t, "endpoint", c.endpoint, "http://collector:4318/base/v1/traces")
			},
		},
		{
			name: "the traces endpoint is used as is and wins",
			environ: []string{
				"OTEL_EXPORTER_OTLP_ENDPOINT=http://general:4318",
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=https://traces:443/custom",
			},
			check: func(t *testing.T, c config) {
				want(t, "endpoint", c.endpoint, "https://traces:443/custom")
				want(t, "insecure", c.insecure, false)
			},
		},
		{
			name:    "grpc default endpoint",
			environ: []string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"},
			check: func(t *testing.T, c config) {
				want(t, "protocol", c.protocol, "grpc")
				want(t, "endpoint", c.endpoint, "http://localhost:4317")
			},
		},
		{
			name: "grpc endpoint without a scheme follows OTEL_EXPORTER_OTLP_INSECURE; the traces protocol wins",
			environ: []string{
				"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
				"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc",
				"OTEL_EXPORTER_OTLP_ENDPOINT=collector:4317",
				"OTEL_EXPORTER_OTLP_INSECURE=true",
			},
			check: func(t *testing.T, c config) {
				want(t, "endpoint", c.endpoint, "http://collector:4317")
				want(t, "insecure", c.insecure, true)
			},
		},
		{
			name: "headers percent-decoded; the traces headers replace the general ones",
			environ: []string{
				"OTEL_EXPORTER_OTLP_HEADERS=a=1",
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS=Authorization=Bearer%20t0k%3D, x-tenant = ops",
			},
			check: func(t *testing.T, c config) {
				want(t, "headers", mapString(c.headers), "Authorization=Bearer t0k=;x-tenant=ops")
			},
		},
		{
			name: "service name: OTEL_SERVICE_NAME over service.name in the resource attributes",
			environ: []string{
				"OTEL_RESOURCE_ATTRIBUTES=service.name=from-attrs,deployment.environment.name=prod,node=aptos%2C1",
				"OTEL_SERVICE_NAME=backseal-eu1",
			},
			check: func(t *testing.T, c config) {
				want(t, "service", c.serviceName, "backseal-eu1")
				want(t, "resource", attrString(c.resource), "deployment.environment.name=prod;node=aptos,1")
			},
		},
		{
			name:    "service.name from the resource attributes",
			environ: []string{"OTEL_RESOURCE_ATTRIBUTES=service.name=from-attrs"},
			check:   func(t *testing.T, c config) { want(t, "service", c.serviceName, "from-attrs") },
		},
		{
			name:    "the last entry wins and an empty value is unset",
			environ: []string{"OTEL_SERVICE_NAME=first", "OTEL_SERVICE_NAME=second", "OTEL_TRACES_SAMPLER="},
			check: func(t *testing.T, c config) {
				want(t, "service", c.serviceName, "second")
				want(t, "sampler", c.samplerName, "parentbased_always_on")
			},
		},
		{
			name:    "console and otlp together",
			environ: []string{"OTEL_TRACES_EXPORTER=console, otlp"},
			check:   func(t *testing.T, c config) { want(t, "exporters", strings.Join(c.exporters, ","), "console,otlp") },
		},
		{
			name:    "none wins over an endpoint",
			environ: []string{"OTEL_TRACES_EXPORTER=none", "OTEL_EXPORTER_OTLP_ENDPOINT=http://x:4318"},
			check:   func(t *testing.T, c config) { want(t, "exporters", len(c.exporters), 0) },
		},
		{
			name:    "ratio sampler",
			environ: []string{"OTEL_TRACES_SAMPLER=traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.25"},
			check:   func(t *testing.T, c config) { want(t, "sampler", c.sampler.Description(), "TraceIDRatioBased{0.25}") },
		},
		{
			name:    "always off, no propagators",
			environ: []string{"OTEL_TRACES_SAMPLER=always_off", "OTEL_PROPAGATORS=none"},
			check: func(t *testing.T, c config) {
				want(t, "sampler", c.sampler.Description(), "AlwaysOffSampler")
				want(t, "propagators", len(c.propagators), 0)
			},
		},
		{
			name: "batch processor, timeout and compression",
			environ: []string{
				"OTEL_BSP_SCHEDULE_DELAY=50", "OTEL_BSP_EXPORT_TIMEOUT=1000", "OTEL_BSP_MAX_QUEUE_SIZE=100",
				"OTEL_BSP_MAX_EXPORT_BATCH_SIZE=512", "OTEL_EXPORTER_OTLP_TIMEOUT=2500", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=gzip",
			},
			check: func(t *testing.T, c config) {
				want(t, "delay", c.bspDelay, 50*time.Millisecond)
				want(t, "export timeout", c.bspExportTimeout, time.Second)
				want(t, "queue", c.bspQueue, 100)
				want(t, "batch (capped by the queue)", c.bspBatch, 100)
				want(t, "timeout", c.timeout, 2500*time.Millisecond)
				want(t, "compression", c.compression, "gzip")
			},
		},
		{
			name:    "sdk disabled",
			environ: []string{"OTEL_SDK_DISABLED=true"},
			check:   func(t *testing.T, c config) { want(t, "disabled", c.sdkDisabled, true) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseEnv(append([]string{"PATH=/bin", "NOT_OTEL=1"}, tt.environ...))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseEnvErrors(t *testing.T) {
	tests := []struct {
		name, env, wantErr string
	}{
		{"unsupported exporter", "OTEL_TRACES_EXPORTER=zipkin", "OTEL_TRACES_EXPORTER"},
		{"none with another", "OTEL_TRACES_EXPORTER=none,otlp", "none excludes"},
		{"http/json", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json", "http/json"},
		{"endpoint without scheme for http", "OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318", "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint with another scheme", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=ftp://x", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{"unknown sampler", "OTEL_TRACES_SAMPLER=jaeger_remote", "OTEL_TRACES_SAMPLER"},
		{"ratio out of range", "OTEL_TRACES_SAMPLER=parentbased_traceidratio\x00OTEL_TRACES_SAMPLER_ARG=1.5", "OTEL_TRACES_SAMPLER_ARG"},
		{"b3 propagator", "OTEL_PROPAGATORS=tracecontext,b3", "OTEL_PROPAGATORS"},
		{"resource attribute without =", "OTEL_RESOURCE_ATTRIBUTES=a=1,b", "OTEL_RESOURCE_ATTRIBUTES"},
		{"bad percent-encoding", "OTEL_EXPORTER_OTLP_HEADERS=a=%zz", "OTEL_EXPORTER_OTLP_HEADERS"},
		{"timeout not a number", "OTEL_EXPORTER_OTLP_TIMEOUT=10s", "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{"queue size zero", "OTEL_BSP_MAX_QUEUE_SIZE=0", "OTEL_BSP_MAX_QUEUE_SIZE"},
		{"compression", "OTEL_EXPORTER_OTLP_COMPRESSION=zstd", "OTEL_EXPORTER_OTLP_COMPRESSION"},
		{"sdk disabled not a bool", "OTEL_SDK_DISABLED=yes", "OTEL_SDK_DISABLED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseEnv(strings.Split(tt.env, "\x00"))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "telemetry: ") {
				t.Errorf("err = %q, want the package prefix", err)
			}
		})
	}
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func mapString(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ";")
}

func attrString(kvs []attribute.KeyValue) string {
	var parts []string
	for _, kv := range kvs {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	return strings.Join(parts, ";")
}
