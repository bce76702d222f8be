// Command tracing-demo is `make tracing-demo`: it runs Jaeger all-in-one (built from
// the Go module proxy), the simulator with faults, and the sidecar exporting
// OTLP/HTTP to Jaeger; sends requests that get truncated and healed, reset
// and healed, refused for excess records, and plain ones; then queries
// Jaeger's HTTP API, checks that the traces hold the spans, events and
// attributes docs/TELEMETRY.md describes, and prints them as trees. With
// -screenshot it also renders the healed trace from Jaeger's JSON and
// captures it with headless Chromium.
//
//	go run ./cmd/tracing-demo -backseal bin/backseal [-screenshot docs/tracing-trace.png] [-keep]
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

//go:embed jaeger.yaml
var jaegerConfig []byte

const (
	jaegerQuery  = "http://127.0.0.1:16686"
	jaegerOTLP   = "http://127.0.0.1:4318"
	jaegerHealth = "http://127.0.0.1:13133/status"
	service      = "backseal-demo"
	framedType   = "application/vnd.backseal.frames.v1"
	// The caller's trace context for the propagation check.
	callerTraceID     = "0af7651916cd43dd8448eb211c80319c"
	callerTraceparent = "00-" + callerTraceID + "-b7ad6b7169203331-01"
)

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "tracing-demo: "+format+"\n", args...) }

func main() {
	backseal := flag.String("backseal", "bin/backseal", "the backseal binary")
	version := flag.String("jaeger-version", "v1.76.0", "version of "+jaegerModule+" to build")
	jaegerBin := flag.String("jaeger", "", "a jaeger binary to use (default: bin/jaeger-VERSION, built when missing)")
	screenshot := flag.String("screenshot", "", "write a PNG of the healed trace here (needs chromium)")
	chromium := flag.String("chromium", "chromium", "the Chromium binary for -screenshot")
	keep := flag.Bool("keep", false, "keep Jaeger running at the end until Ctrl-C")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *backseal, *version, *jaegerBin, *screenshot, *chromium, *keep); err != nil {
		logf("FAILED: %v", err)
		os.Exit(1)
	}
}

// procs are the processes the demo started; stopped in reverse order.
type procs []*exec.Cmd

func (ps *procs) start(ctx context.Context, name string, env []string, out io.Writer, bin string, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	*ps = append(*ps, cmd)
	return nil
}

func (ps procs) stop() {
	for i := len(ps) - 1; i >= 0; i-- {
		stopProc(ps[i])
	}
}

// stopProc sends SIGTERM (the sidecar drains and flushes its spans) and
// waits, killing after 10 s.
func stopProc(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func run(ctx context.Context, backseal, version, jaegerBin, screenshot, chromium string, keep bool) error {
	if _, err := os.Stat(backseal); err != nil {
		return fmt.Errorf("%s: %w (make build)", backseal, err)
	}
	if jaegerBin == "" {
		jaegerBin = filepath.Join(filepath.Dir(backseal), "jaeger-"+version)
		if err := buildJaeger(ctx, version, jaegerBin); err != nil {
			return err
		}
	}
	for _, addr := range []string{"127.0.0.1:4317", "127.0.0.1:4318", "127.0.0.1:16686", "127.0.0.1:13133"} {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return fmt.Errorf("%s is taken: is another Jaeger or collector running?", addr)
		}
	}
	work, err := os.MkdirTemp("", "backseal-tracing-demo")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	logs, err := os.Create(filepath.Join(work, "processes.log"))
	if err != nil {
		return err
	}
	defer logs.Close()
	var ps procs
	defer func() { ps.stop() }() // ps grows below

	// Jaeger.
	cfgPath := filepath.Join(work, "jaeger.yaml")
	if err := os.WriteFile(cfgPath, jaegerConfig, 0o644); err != nil {
		return err
	}
	if err := ps.start(ctx, "jaeger", nil, logs, jaegerBin, "--config", cfgPath); err != nil {
		return err
	}
	if err := waitHTTP(ctx, jaegerHealth, 30*time.Second); err != nil {
		return fmt.Errorf("jaeger did not come up: %w (log: %s)", err, logs.Name())
	}
	if err := waitHTTP(ctx, jaegerQuery+"/api/services", 10*time.Second); err != nil {
		return fmt.Errorf("jaeger query API: %w", err)
	}
	logf("jaeger %s up: OTLP on :4317/:4318, query API on %s", version, jaegerQuery)

	// Simulator and sidecar.
	simAddr, ctlAddr, pubAddr, adminAddr := freeAddr(), freeAddr(), freeAddr(), freeAddr()
	if err := ps.start(ctx, "sim", nil, logs, backseal, "sim", "-listen", simAddr, "-control-listen", ctlAddr); err != nil {
		return err
	}
	if err := waitHTTP(ctx, "http://"+ctlAddr+"/chain", 10*time.Second); err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	sidecarEnv := []string{
		"OTEL_SERVICE_NAME=" + service,
		"OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=demo,aptos.node=sim-0",
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + jaegerOTLP,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=200",
	}
	sidecar := len(ps)
	if err := ps.start(ctx, "sidecar", sidecarEnv, logs, backseal, "serve",
		"-listen", pubAddr, "-admin-listen", adminAddr, "-upstream", "http://"+simAddr,
		"-stall-timeout", "1s", "-resume-backoff", "5ms"); err != nil {
		return err
	}
	if err := waitHTTP(ctx, "http://"+adminAddr+"/readyz", 10*time.Second); err != nil {
		return fmt.Errorf("sidecar: %w (log: %s)", err, logs.Name())
	}
	logf("simulator on %s, sidecar on %s (admin %s) exporting to Jaeger", simAddr, pubAddr, adminAddr)

	// The requests, each with the fault it meets.
	base := "http://" + pubAddr
	type request struct {
		what, path, fault string
		header            map[string]string
		wantErr           bool
	}
	reqs := []request{
		{what: "silent truncation after 400 records, healed by a resume", path: "/transactions/1000/1000",
			fault: `{"kind":"drop","after":400,"count":1,"endpoint":"transactions"}`},
		{what: "connection reset mid-stream (framed), healed", path: "/transactions/5000/300",
			fault: `{"kind":"reset","after":120,"count":1,"endpoint":"transactions"}`, header: map[string]string{"Accept": framedType}},
		{what: "one record too many: not healable, reported in trailers", path: "/transactions/9000/50",
			fault: `{"kind":"excess","count":1,"endpoint":"transactions"}`, header: map[string]string{"TE": "trailers"}},
		{what: "a small endpoint", path: "/db_state"},
		{what: "an unknown path, refused locally", path: "/nope"},
		{what: "a caller's traceparent, continued", path: "/epoch_ending_ledger_infos/0/10",
			header: map[string]string{"traceparent": callerTraceparent, "baggage": "backup.job=nightly"}},
	}
	for _, r := range reqs {
		if err := setFault(ctx, ctlAddr, r.fault); err != nil {
			return err
		}
		status, n, trailer, err := fetch(ctx, base+r.path, r.header)
		switch {
		case err != nil && !r.wantErr:
			logf("GET %-32s %s: %v", r.path, r.what, err)
		default:
			logf("GET %-32s %d, %d bytes %s (%s)", r.path, status, n, trailer, r.what)
		}
	}
	if err := setFault(ctx, ctlAddr, ""); err != nil {
		return err
	}
	if m, err := metricsSummary(ctx, "http://"+adminAddr+"/metrics"); err == nil {
		logf("/metrics:\n%s", m)
	} else {
		logf("/metrics: %v", err)
	}

	// Stop the sidecar so it flushes its spans, then read them back.
	stopProc(ps[sidecar])
	jc := jaegerClient{jaegerQuery}
	traces, err := jc.waitTraces(ctx, service, len(reqs))
	if err != nil {
		return err
	}
	svcs, _ := jc.services(ctx)
	logf("jaeger services: %v; %d traces of %s", svcs, len(traces), service)
	healed, err := checkTraces(ctx, jc, traces)
	if err != nil {
		return err
	}
	logf("all checks passed; the healed trace: %s/trace/%s (API: %s/api/traces/%s)", jaegerQuery, healed.TraceID, jaegerQuery, healed.TraceID)

	if screenshot != "" {
		if err := capture(ctx, healed, jaegerQuery, version, work, screenshot, chromium); err != nil {
			return err
		}
		logf("screenshot written to %s", screenshot)
	}
	if keep {
		logf("Jaeger keeps running; query %s/api/traces?service=%s — Ctrl-C to stop", jaegerQuery, service)
		<-ctx.Done()
	}
	return nil
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// setFault replaces the simulator's armed faults (none for "").
func setFault(ctx context.Context, ctl, fault string) error {
	method, body := http.MethodPut, fault
	if fault == "" {
		method = http.MethodDelete
	}
	req, _ := http.NewRequestWithContext(ctx, method, "http://"+ctl+"/faults", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("arming fault: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("arming fault %s: %s %s", fault, resp.Status, b)
	}
	return nil
}

// fetch GETs url and reads the whole body.
func fetch(ctx context.Context, url string, header map[string]string) (status int, n int64, trailer string, err error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	defer resp.Body.Close()
	n, err = io.Copy(io.Discard, resp.Body)
	if s := resp.Trailer.Get("Backseal-Status"); s != "" {
		trailer = "trailer Backseal-Status: " + s + " " + resp.Trailer.Get("Backseal-Error")
	}
	return resp.StatusCode, n, trailer, err
}
