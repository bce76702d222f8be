package telemetry

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Protocols of OTEL_EXPORTER_OTLP_PROTOCOL that backseal supports.
const (
	protocolHTTP = "http/protobuf"
	protocolGRPC = "grpc"
)

// config is what Setup takes from the environment. The zero value is not
// meaningful: parseEnv fills every field.
type config struct {
	sdkDisabled bool
	serviceName string
	resource    []attribute.KeyValue // OTEL_RESOURCE_ATTRIBUTES, service.name excluded
	exporters   []string             // "otlp", "console"; empty: none

	// OTLP, traces-specific values taking precedence over general ones.
	protocol    string
	endpoint    string // http: the full traces URL; grpc: scheme://host:port
	insecure    bool   // grpc endpoint given without a scheme: OTEL_EXPORTER_OTLP_INSECURE
	headers     map[string]string
	compression string // "gzip" or "none"
	timeout     time.Duration

	samplerName string
	samplerArg  string
	sampler     sdktrace.Sampler
	propagators []string // "tracecontext", "baggage"; empty: none

	bspDelay, bspExportTimeout time.Duration
	bspQueue, bspBatch         int
}

// envLookup reads an environ slice: the last entry for a name wins, as with
// os/exec, and an empty value counts as unset, as the OpenTelemetry
// specification says.
type envLookup map[string]string

func newEnvLookup(environ []string) envLookup {
	m := make(envLookup)
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "OTEL_") {
			continue
		}
		m[k] = strings.TrimSpace(v)
	}
	return m
}

// first returns the first set name's value.
func (e envLookup) first(names ...string) (string, string) {
	for _, n := range names {
		if v := e[n]; v != "" {
			return n, v
		}
	}
	return "", ""
}

func (e envLookup) get(names ...string) string { _, v := e.first(names...); return v }

// millis reads a duration in milliseconds, or def.
func (e envLookup) millis(def time.Duration, names ...string) (time.Duration, error) {
	n, v := e.first(names...)
	if v == "" {
		return def, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms < 0 {
		return 0, fmt.Errorf("telemetry: %s=%q: want milliseconds", n, v)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

func (e envLookup) positive(def int, name string) (int, error) {
	v := e[name]
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("telemetry: %s=%q: want a positive integer", name, v)
	}
	return n, nil
}

func (e envLookup) boolean(name string) (bool, error) {
	v := e[name]
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("telemetry: %s=%q: want true or false", name, v)
	}
	return b, nil
}

// parseEnv reads the OTEL_* variables backseal honours; a malformed value is
// an error, so that a typo fails at start and not silently.
func parseEnv(environ []string) (config, error) {
	e := newEnvLookup(environ)
	var cfg config
	var err error
	if cfg.sdkDisabled, err = e.boolean("OTEL_SDK_DISABLED"); err != nil {
		return cfg, err
	}

	// Resource.
	attrs, err := parseKeyValues(e["OTEL_RESOURCE_ATTRIBUTES"])
	if err != nil {
		return cfg, fmt.Errorf("telemetry: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	cfg.serviceName = "backseal"
	for _, kv := range attrs {
		if kv.k == "service.name" {
			cfg.serviceName = kv.v
			continue
		}
		cfg.resource = append(cfg.resource, attribute.String(kv.k, kv.v))
	}
	if v := e["OTEL_SERVICE_NAME"]; v != "" {
		cfg.serviceName = v
	}

	// Exporter.
	endpointSet := e.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT") != ""
	names := e["OTEL_TRACES_EXPORTER"]
	if names == "" {
		names = "none"
		if endpointSet {
			names = "otlp"
		}
	}
	if cfg.exporters, err = parseList("OTEL_TRACES_EXPORTER", names, "otlp", "console"); err != nil {
		return cfg, err
	}
	if strings.Contains(names, "none") && len(cfg.exporters) > 0 {
		return cfg, fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER=%q: none excludes the others", names)
	}

	// OTLP.
	cfg.protocol = protocolHTTP
	if v := e.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"); v != "" {
		switch v {
		case protocolHTTP, protocolGRPC:
			cfg.protocol = v
		default:
			return cfg, fmt.Errorf("telemetry: OTLP protocol %q: backseal supports http/protobuf and grpc", v)
		}
	}
	if cfg.endpoint, cfg.insecure, err = otlpEndpoint(e, cfg.protocol); err != nil {
		return cfg, err
	}
	if n, v := e.first("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"); v != "" {
		kvs, err := parseKeyValues(v)
		if err != nil {
			return cfg, fmt.Errorf("telemetry: %s: %w", n, err)
		}
		cfg.headers = make(map[string]string, len(kvs))
		for _, kv := range kvs {
			cfg.headers[kv.k] = kv.v
		}
	}
	cfg.compression = "none"
	if n, v := e.first("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION"); v != "" {
		if v != "gzip" && v != "none" {
			return cfg, fmt.Errorf("telemetry: %s=%q: want gzip or none", n, v)
		}
		cfg.compression = v
	}
	if cfg.timeout, err = e.millis(10*time.Second, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"); err != nil {
		return cfg, err
	}

	// Sampler and propagators.
	if cfg.sampler, err = parseSampler(e, &cfg); err != nil {
		return cfg, err
	}
	props := e["OTEL_PROPAGATORS"]
	if props == "" {
		props = "tracecontext,baggage"
	}
	if cfg.propagators, err = parseList("OTEL_PROPAGATORS", props, "tracecontext", "baggage"); err != nil {
		return cfg, err
	}

	// Batch span processor.
	if cfg.bspDelay, err = e.millis(sdktrace.DefaultScheduleDelay*time.Millisecond, "OTEL_BSP_SCHEDULE_DELAY"); err != nil {
		return cfg, err
	}
	if cfg.bspExportTimeout, err = e.millis(sdktrace.DefaultExportTimeout*time.Millisecond, "OTEL_BSP_EXPORT_TIMEOUT"); err != nil {
		return cfg, err
	}
	if cfg.bspQueue, err = e.positive(sdktrace.DefaultMaxQueueSize, "OTEL_BSP_MAX_QUEUE_SIZE"); err != nil {
		return cfg, err
	}
	if cfg.bspBatch, err = e.positive(sdktrace.DefaultMaxExportBatchSize, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"); err != nil {
		return cfg, err
	}
	cfg.bspBatch = min(cfg.bspBatch, cfg.bspQueue)
	return cfg, nil
}

// otlpEndpoint resolves the traces endpoint as the specification says: the
// signal-specific variable is used as is; the general one is a base URL to
// which http/protobuf appends /v1/traces. gRPC takes scheme://host:port, or
// host:port with OTEL_EXPORTER_OTLP_INSECURE deciding on TLS.
func otlpEndpoint(e envLookup, protocol string) (endpoint string, insecure bool, err error) {
	name, v := e.first("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
	if v == "" {
		if protocol == protocolGRPC {
			return "http://localhost:4317", true, nil
		}
		return "http://localhost:4318/v1/traces", true, nil
	}
	if protocol == protocolGRPC && !strings.Contains(v, "://") {
		insecure, err := e.boolean("OTEL_EXPORTER_OTLP_TRACES_INSECURE")
		if err == nil && !insecure {
			insecure, err = e.boolean("OTEL_EXPORTER_OTLP_INSECURE")
		}
		if err != nil {
			return "", false, err
		}
		scheme := "https://"
		if insecure {
			scheme = "http://"
		}
		v = scheme + v
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", false, fmt.Errorf("telemetry: %s=%q: want an http:// or https:// URL", name, v)
	}
	if protocol == protocolHTTP && name == "OTEL_EXPORTER_OTLP_ENDPOINT" {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	return u.String(), u.Scheme == "http", nil
}

func parseSampler(e envLookup, cfg *config) (sdktrace.Sampler, error) {
	cfg.samplerName = e["OTEL_TRACES_SAMPLER"]
	cfg.samplerArg = e["OTEL_TRACES_SAMPLER_ARG"]
	if cfg.samplerName == "" {
		cfg.samplerName = "parentbased_always_on"
	}
	ratio := func() (float64, error) {
		if cfg.samplerArg == "" {
			return 1, nil
		}
		r, err := strconv.ParseFloat(cfg.samplerArg, 64)
		if err != nil || r < 0 || r > 1 {
			return 0, fmt.Errorf("telemetry: OTEL_TRACES_SAMPLER_ARG=%q: want a ratio from 0 to 1", cfg.samplerArg)
		}
		return r, nil
	}
	switch cfg.samplerName {
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		r, err := ratio()
		return sdktrace.TraceIDRatioBased(r), err
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		r, err := ratio()
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), err
	}
	return nil, fmt.Errorf("telemetry: OTEL_TRACES_SAMPLER=%q: want always_on, always_off, traceidratio or parentbased_ of one of them", cfg.samplerName)
}

type keyValue struct{ k, v string }

// parseKeyValues reads the "k1=v1,k2=v2" lists of OTEL_RESOURCE_ATTRIBUTES
// and OTEL_EXPORTER_OTLP_HEADERS, values percent-decoded.
func parseKeyValues(s string) ([]keyValue, error) {
	var out []keyValue
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", item)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", item, err)
		}
		out = append(out, keyValue{k, dv})
	}
	return out, nil
}

// parseList parses a comma-separated OTEL_* list of names from supported,
// plus "none", which names nothing.
func parseList(key, list string, supported ...string) ([]string, error) {
	var names []string
	for name := range strings.SplitSeq(list, ",") {
		switch name = strings.TrimSpace(name); {
		case name == "none":
		case slices.Contains(supported, name):
			names = append(names, name)
		default:
			return nil, fmt.Errorf("telemetry: %s=%q: backseal supports %s and none", key, list, strings.Join(supported, ", "))
		}
	}
	return names, nil
}
