package telemetry

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/propagation"
)

// The OpenTelemetry libraries read the OTEL_* variables themselves: the OTLP
// exporters OTEL_EXPORTER_OTLP_*, the SDK OTEL_BSP_*, OTEL_TRACES_SAMPLER[_ARG],
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, and autoprop the names of
// OTEL_PROPAGATORS. What backseal still does itself:
//
//   - OTEL_SDK_DISABLED, which the Go SDK does not implement.
//   - OTEL_TRACES_EXPORTER: a comma-separated list of otlp and console (the
//     console to the writer Setup is given), or none; unset, otlp when an OTLP
//     endpoint variable is set and none otherwise. contrib's autoexport takes a
//     single name, writes the console to stdout and defaults to otlp.
//   - The OTLP endpoint the specification gives when none is set, plain
//     http://localhost:4318 (4317 for gRPC); the Go exporters use https.
//   - A gRPC endpoint without a scheme (host:port, which the Go exporter cannot
//     parse when the host is an IP address) gets http:// or https:// from
//     OTEL_EXPORTER_OTLP_[TRACES_]INSECURE.
//   - Strict values: the libraries log a malformed value (some not even that)
//     and use their default; backseal stops at start, naming the variable.

// Protocols of OTEL_EXPORTER_OTLP_PROTOCOL that backseal supports.
const (
	protocolHTTP = "http/protobuf"
	protocolGRPC = "grpc"
)

// otelEnv is the OTEL_* part of an environ slice: the last entry for a name
// wins, as with os/exec, and an empty value counts as unset, as the
// OpenTelemetry specification says.
type otelEnv map[string]string

func newOTELEnv(environ []string) otelEnv {
	e := make(otelEnv)
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, "OTEL_") {
			continue
		}
		if v = strings.TrimSpace(v); v == "" {
			delete(e, k)
			continue
		}
		e[k] = v
	}
	return e
}

// first returns the first set name and its value.
func (e otelEnv) first(names ...string) (string, string) {
	for _, n := range names {
		if v := e[n]; v != "" {
			return n, v
		}
	}
	return "", ""
}

// otlpVars returns the traces-specific and the general name of an
// OTEL_EXPORTER_OTLP_ variable, in the order of precedence.
func otlpVars(suffix string) []string {
	return []string{"OTEL_EXPORTER_OTLP_TRACES_" + suffix, "OTEL_EXPORTER_OTLP_" + suffix}
}

var samplers = []string{
	"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
}

// check refuses the malformed values that the libraries would replace by
// their default, so that a typo stops backseal at start instead of silently
// changing what it exports.
func (e otelEnv) check() error {
	var errs []error
	bad := func(name, want string) {
		errs = append(errs, fmt.Errorf("telemetry: %s=%q: want %s", name, e[name], want))
	}
	for _, c := range []struct {
		names []string
		ok    func(string) bool
		want  string
	}{
		{[]string{"OTEL_SDK_DISABLED"}, isBool, "true or false"},
		{otlpVars("PROTOCOL"), oneOf(protocolHTTP, protocolGRPC), "http/protobuf or grpc"},
		{otlpVars("INSECURE"), isTrueFalse, "true or false"},
		{otlpVars("COMPRESSION"), oneOf("gzip", "none"), "gzip or none"},
		{append(otlpVars("TIMEOUT"), "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_EXPORT_TIMEOUT"), isMillis, "milliseconds"},
		{[]string{"OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"}, isPositive, "a positive integer"},
		{append(otlpVars("HEADERS"), "OTEL_RESOURCE_ATTRIBUTES"), isKeyValues, "key=value pairs, values percent-encoded"},
		{otlpVars("ENDPOINT"), e.isEndpoint, "an http:// or https:// URL"},
		{[]string{"OTEL_TRACES_SAMPLER"}, oneOf(samplers...), "always_on, always_off, traceidratio or parentbased_ of one of them"},
	} {
		for _, n := range c.names {
			if v := e[n]; v != "" && !c.ok(v) {
				bad(n, c.want)
			}
		}
	}
	// The argument is read only by the ratio samplers.
	if arg := e["OTEL_TRACES_SAMPLER_ARG"]; arg != "" && strings.HasSuffix(e["OTEL_TRACES_SAMPLER"], "traceidratio") && !isRatio(arg) {
		bad("OTEL_TRACES_SAMPLER_ARG", "a ratio from 0 to 1")
	}
	return errors.Join(errs...)
}

func oneOf(values ...string) func(string) bool {
	return func(v string) bool { return slices.Contains(values, v) }
}

func isBool(v string) bool { _, err := strconv.ParseBool(v); return err == nil }

// isTrueFalse accepts what the OTLP exporters read as the operator meant:
// they take "true" in any case as true and anything else as false.
func isTrueFalse(v string) bool { return strings.EqualFold(v, "true") || strings.EqualFold(v, "false") }

func isMillis(v string) bool { ms, err := strconv.ParseInt(v, 10, 64); return err == nil && ms >= 0 }

func isPositive(v string) bool { n, err := strconv.Atoi(v); return err == nil && n > 0 }

func isRatio(v string) bool {
	r, err := strconv.ParseFloat(v, 64)
	return err == nil && r >= 0 && r <= 1
}

// isKeyValues accepts the "k1=v1,k2=v2" lists of OTEL_RESOURCE_ATTRIBUTES and
// OTEL_EXPORTER_OTLP_HEADERS: keys not empty, values percent-decodable.
func isKeyValues(s string) bool {
	for item := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if _, err := url.PathUnescape(v); !ok || strings.TrimSpace(k) == "" || err != nil {
			return false
		}
	}
	return true
}

// isEndpoint accepts an http:// or https:// URL with a host, and for gRPC
// also host:port.
func (e otelEnv) isEndpoint(v string) bool {
	if e.protocol() == protocolGRPC && !strings.Contains(v, "://") {
		v = "http://" + v
	}
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (e otelEnv) sdkDisabled() bool { b, _ := strconv.ParseBool(e["OTEL_SDK_DISABLED"]); return b }

func (e otelEnv) protocol() string {
	if _, v := e.first(otlpVars("PROTOCOL")...); v != "" {
		return v
	}
	return protocolHTTP
}

// exporters resolves OTEL_TRACES_EXPORTER to the exporters to run: "otlp",
// "console", both, or none (an empty list).
func (e otelEnv) exporters() ([]string, error) {
	list := e["OTEL_TRACES_EXPORTER"]
	if list == "" {
		if _, v := e.first(otlpVars("ENDPOINT")...); v != "" {
			return []string{"otlp"}, nil
		}
		return nil, nil
	}
	var names []string
	for name := range strings.SplitSeq(list, ",") {
		switch name = strings.TrimSpace(name); name {
		case "otlp", "console":
			names = append(names, name)
		case "none":
		default:
			return nil, fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER=%q: backseal supports otlp, console and none", list)
		}
	}
	if len(names) > 0 && strings.Contains(list, "none") {
		return nil, fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER=%q: none excludes the others", list)
	}
	return names, nil
}

// propagator is the composite of the OTEL_PROPAGATORS names (default
// tracecontext,baggage), as autoprop knows them: tracecontext, baggage, b3,
// b3multi, jaeger, xray, ottrace, and none.
func (e otelEnv) propagator() (propagation.TextMapPropagator, error) {
	list := e["OTEL_PROPAGATORS"]
	if list == "" {
		list = "tracecontext,baggage"
	}
	var names []string
	for name := range strings.SplitSeq(list, ",") {
		names = append(names, strings.TrimSpace(name))
	}
	p, err := autoprop.TextMapPropagator(names...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTEL_PROPAGATORS=%q: %w", list, err)
	}
	return p, nil
}

// forLibraries returns e as the libraries are to read it, with the OTLP
// endpoint backseal gives where the Go exporters differ from the
// specification (see the top of this file).
func (e otelEnv) forLibraries() otelEnv {
	out := maps.Clone(e)
	grpc := e.protocol() == protocolGRPC
	switch name, v := e.first(otlpVars("ENDPOINT")...); {
	case v == "" && grpc:
		out["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://localhost:4317"
	case v == "":
		out["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://localhost:4318"
	case grpc && !strings.Contains(v, "://"):
		scheme := "https://"
		if _, insecure := e.first(otlpVars("INSECURE")...); strings.EqualFold(insecure, "true") {
			scheme = "http://"
		}
		out[name] = scheme + v
	}
	return out
}

// processEnvMu serialises the Setups that lend their environ to the process.
var processEnvMu sync.Mutex

// lendToProcess makes the process environment's OTEL_* variables exactly
// e's, for the libraries that read them from there (all of them do, when
// their constructors run), and returns the function that puts back the ones
// the process had. Hold processEnvMu from before the call until after the
// restore. In production environ is os.Environ(), so the process sees the
// same values with the endpoint defaults added, and only while Setup runs.
func (e otelEnv) lendToProcess() (restore func()) {
	saved := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") {
			saved[k] = v
		}
	}
	set := func(vars map[string]string) {
		for k := range saved {
			os.Unsetenv(k)
		}
		for k, v := range vars {
			os.Setenv(k, v)
		}
	}
	set(e)
	return func() {
		for k := range e {
			os.Unsetenv(k)
		}
		set(saved)
	}
}
