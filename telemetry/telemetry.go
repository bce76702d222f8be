// Package telemetry sets up OpenTelemetry for backseal: a tracer configured
// from the standard OTEL_* environment variables (OTLP over http/protobuf or
// gRPC, the console, or nothing), the propagators OTEL_PROPAGATORS names (W3C
// trace context and baggage by default), metrics exported as
// Prometheus text from a registry of its own, and a slog handler that stamps
// log lines with the current trace and span ids.
//
// It knows nothing of HTTP serving or of the legacy service: the proxy
// creates the spans and records the measurements, with the attribute and
// event names declared here so that the proxy, the tests and the operator
// guide (docs/TELEMETRY.md) agree.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	promexporter "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Telemetry is backseal's tracing and metrics. Create it with Setup or
// Disabled; every field is set, and safe for concurrent use.
type Telemetry struct {
	// Tracer starts backseal's spans; a no-op tracer when tracing is off.
	Tracer trace.Tracer
	// Propagator extracts the W3C trace context and baggage from incoming
	// requests and injects them into upstream requests.
	Propagator propagation.TextMapPropagator
	// Metrics records backseal's measurements; always live.
	Metrics *Metrics

	tp       *sdktrace.TracerProvider // nil when tracing is off
	mp       *sdkmetric.MeterProvider
	metricsH http.Handler

	shutdownOnce sync.Once
	shutdownErr  error
}

// Setup reads the OTEL_* variables from environ (os.Environ() in production;
// the last entry for a name wins, an empty value counts as unset) and builds
// the tracer, propagator and metrics they describe:
//
//   - OTEL_SDK_DISABLED=true: as Disabled.
//   - OTEL_SERVICE_NAME (default "backseal"), OTEL_RESOURCE_ATTRIBUTES.
//   - OTEL_TRACES_EXPORTER: otlp, console (JSON lines to consoleOut, or
//     stdout if nil), both comma-separated, or none. Unset: otlp when an OTLP
//     endpoint variable is set, none otherwise.
//   - OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL (http/protobuf, grpc),
//     _ENDPOINT, _HEADERS, _COMPRESSION (gzip, none), _TIMEOUT, _INSECURE,
//     and the TLS files _CERTIFICATE, _CLIENT_CERTIFICATE, _CLIENT_KEY.
//   - OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG (default
//     parentbased_always_on).
//   - OTEL_PROPAGATORS: tracecontext, baggage, b3, b3multi, jaeger, xray,
//     ottrace, none (default tracecontext,baggage).
//   - OTEL_BSP_SCHEDULE_DELAY, _EXPORT_TIMEOUT, _MAX_QUEUE_SIZE,
//     _MAX_EXPORT_BATCH_SIZE, and the SDK's other variables (span limits).
//
// The OpenTelemetry SDK, the OTLP exporters and autoprop interpret them (env.go
// says what backseal adds). They read the process environment, so Setup
// lends environ's OTEL_* variables to it while they are built, and puts back
// the process's own before it returns. A malformed or unsupported value is an
// error. Call Shutdown to flush spans.
func Setup(ctx context.Context, environ []string, consoleOut io.Writer) (*Telemetry, error) {
	env := newOTELEnv(environ)
	if err := env.check(); err != nil {
		return nil, err
	}
	exporters, err := env.exporters()
	if err != nil {
		return nil, err
	}
	prop, err := env.propagator()
	if err != nil {
		return nil, err
	}
	if env.sdkDisabled() {
		return Disabled(), nil
	}

	processEnvMu.Lock()
	defer processEnvMu.Unlock()
	restore := env.forLibraries().lendToProcess()
	defer restore()
	res, err := newResource(ctx)
	if err != nil {
		return nil, err
	}
	t, err := newTelemetry(res)
	if err != nil {
		return nil, err
	}
	t.Propagator = prop
	if len(exporters) == 0 {
		return t, nil
	}
	// The sampler, and each batcher's delays and sizes, come from the environment.
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	for _, name := range exporters {
		exp, err := newExporter(ctx, name, env.protocol(), consoleOut)
		if err != nil {
			return nil, errors.Join(err, t.Shutdown(ctx))
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	t.tp = sdktrace.NewTracerProvider(opts...)
	t.Tracer = t.tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL))
	return t, nil
}

// Disabled returns a Telemetry that does not trace (a no-op tracer and
// propagator: nothing is extracted, injected or exported) but whose metrics
// are live, so that /metrics works without any OTEL_* variable.
func Disabled() *Telemetry {
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("backseal"))
	t, err := newTelemetry(res)
	if err != nil {
		// Only a failure to register the exporter in a fresh registry
		// could bring us here: a programming error.
		panic(err)
	}
	return t
}

// newTelemetry builds the metrics side, which every Telemetry has, and a
// no-op tracer and propagator.
func newTelemetry(res *resource.Resource) (*Telemetry, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	exp, err := promexporter.New(
		promexporter.WithRegisterer(reg),
		// otel_scope_name, _version and _schema_url on every series say
		// nothing here: all of backseal's metrics have one scope.
		promexporter.WithoutScopeInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(exp))
	m, err := newMetrics(mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL)))
	if err != nil {
		return nil, err
	}
	return &Telemetry{
		Tracer:     noop.NewTracerProvider().Tracer(ScopeName),
		Propagator: propagation.NewCompositeTextMapPropagator(),
		Metrics:    m,
		mp:         mp,
		metricsH:   promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}),
	}, nil
}

func newResource(ctx context.Context) (*resource.Resource, error) {
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithAttributes(semconv.ServiceName("backseal")),
		// Last, so that the operator's values win over the detected ones.
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME): %w", err)
	}
	return res, nil
}

// newExporter builds the span exporter name ("otlp" or "console"); the OTLP
// exporters read their OTEL_EXPORTER_OTLP_* variables themselves.
func newExporter(ctx context.Context, name, protocol string, consoleOut io.Writer) (sdktrace.SpanExporter, error) {
	if name == "console" {
		if consoleOut == nil {
			consoleOut = os.Stdout
		}
		return stdouttrace.New(stdouttrace.WithWriter(consoleOut))
	}
	var exp sdktrace.SpanExporter
	var err error
	if protocol == protocolGRPC {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: otlp %s exporter: %w", protocol, err)
	}
	return exp, nil
}

// TracingEnabled reports whether spans are recorded and exported. When it
// is false, starting a span costs a no-op call and instrumentation that
// builds attributes can skip that work.
func (t *Telemetry) TracingEnabled() bool { return t.tp != nil }

// Shutdown flushes the spans still queued, then stops the exporters and the
// metrics. Call it after the servers have stopped; later calls return the
// first call's result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		if t.tp != nil {
			t.shutdownErr = t.tp.Shutdown(ctx)
		}
		if t.mp != nil {
			t.shutdownErr = errors.Join(t.shutdownErr, t.mp.Shutdown(ctx))
		}
	})
	return t.shutdownErr
}

// MetricsHandler serves the metrics in the Prometheus text format, from a
// registry of this Telemetry's own (never the global one): backseal's
// metrics, target_info with the resource attributes, and the Go runtime's
// and process's standard go_* and process_* metrics.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metricsH }
