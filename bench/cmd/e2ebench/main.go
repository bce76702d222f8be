// Command e2ebench is the end-to-end benchmark behind `make bench`.
//
// It starts the simulator (`backseal sim`, 1 MiB batches) as the upstream,
// backseal (`backseal serve`), nginx, HAProxy and two bare Go TCP relays
// (relay.go: the floor for a proxy in Go) in front of it, each as a separate
// process on a loopback port, and measures with a Go client on the
// same machine: a large chunked /transactions stream per path, in rounds
// whose path order rotates (interleaved), with the proxy's CPU, syscalls and
// peak RSS read from /proc; time to first byte over one-record streams; 256
// concurrent streams through backseal; and paced small requests. It prints a
// markdown report and rewrites the "End to end" section of
// docs/BENCHMARKS.md and the chart docs/bench-throughput.svg.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/backseal/backseal/internal/procstat"
)

type options struct {
	backseal       string
	baseline       string
	size           int64
	rounds         int
	ttfb           int
	conc           int
	concBytes      int64
	concModes      string
	latRate        int
	latDur         time.Duration
	latRounds      int
	batch          int
	haproxyBufsize int
	install        bool
	out            string
	chart          string
	only           string
	keep           bool
	perf           bool
	contentSize    int64
}

func main() {
	runRelayIfAsked()
	var o options
	size, concBytes, contentSize := sizeFlag(2<<30), sizeFlag(8<<20), sizeFlag(256<<20)
	flag.StringVar(&o.backseal, "backseal", "bin/backseal", "backseal binary (built with `go build` if missing)")
	flag.StringVar(&o.baseline, "baseline", "", "a second backseal binary (an earlier build) whose passthrough and framed rows run interleaved with -backseal's, for a lever's gain as a ratio in the same run")
	flag.Var(&size, "size", "bytes per measured stream (KiB/MiB/GiB suffixes)")
	flag.IntVar(&o.rounds, "rounds", 5, "interleaved rounds; every path runs once per round")
	flag.IntVar(&o.ttfb, "ttfb", 200, "one-record requests per path for time to first byte (spread over the rounds)")
	flag.IntVar(&o.conc, "conc", 256, "concurrent streams through backseal (0 skips)")
	flag.Var(&concBytes, "conc-size", "bytes per concurrent stream")
	flag.StringVar(&o.concModes, "conc-modes", "framed,passthrough", "modes of the concurrent test")
	flag.IntVar(&o.latRate, "lat-rate", 1000, "small requests (/db_state) per second (0 skips)")
	flag.DurationVar(&o.latDur, "lat-dur", time.Second, "duration of a paced run per path per round")
	flag.IntVar(&o.latRounds, "lat-rounds", 10, "interleaved rounds of paced runs")
	flag.IntVar(&o.batch, "batch-size", 1<<20, "simulator batch (chunk) size for the single-stream runs")
	flag.IntVar(&o.haproxyBufsize, "haproxy-bufsize", 65536, "HAProxy tune.bufsize (0: its default, 16384)")
	flag.BoolVar(&o.install, "install", true, "apt-get install nginx and haproxy when missing (needs root)")
	flag.StringVar(&o.out, "out", "docs/BENCHMARKS.md", "markdown file whose e2e section is replaced ('' to skip)")
	flag.StringVar(&o.chart, "chart", "docs/bench-throughput.svg", "SVG chart to write ('' to skip)")
	flag.StringVar(&o.only, "paths", "", "comma-separated subset of paths: "+strings.Join(allKeys, ","))
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs)")
	flag.BoolVar(&o.perf, "perf", false, "also profile an unstripped backseal with perf during one framed stream")
	flag.Var(&contentSize, "content-size", "bytes per content verification stream (genuine chain; 0 skips)")
	flag.Parse()
	o.size, o.concBytes, o.contentSize = int64(size), int64(concBytes), int64(contentSize)
	if flag.NArg() > 0 || o.rounds < 1 || o.size < 1<<20 {
		fmt.Fprintln(os.Stderr, "usage: e2ebench [flags] (-size at least 1MiB, -rounds at least 1)")
		flag.PrintDefaults()
		os.Exit(2)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "e2ebench: interrupted; stopping services")
		stopAll()
		os.Exit(130)
	}()
	rep, err := run(o)
	stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2ebench:", err)
		os.Exit(1)
	}
	md := rep.markdown()
	fmt.Println(md)
	if o.out != "" {
		if err := writeSection(o.out, md); err != nil {
			fmt.Fprintln(os.Stderr, "e2ebench:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "e2ebench: wrote", o.out)
	}
	if o.chart != "" {
		if err := rep.chart(o.chart); err != nil {
			fmt.Fprintln(os.Stderr, "e2ebench:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "e2ebench: wrote", o.chart)
	}
}

// Path keys, in the report's order.
const (
	keyDirect       = "direct"
	keyNginx        = "nginx"
	keyHAProxy      = "haproxy"
	keyRelay        = "relay"
	keyRelaySplice  = "relay-splice"
	keyPass         = "passthrough"
	keyFramed       = "framed"
	keyFramedVerify = "framed-verify"
	// With -baseline: the same modes through the baseline binary.
	keyBasePass   = "baseline-passthrough"
	keyBaseFramed = "baseline-framed"
)

var allKeys = []string{keyDirect, keyNginx, keyHAProxy, keyRelay, keyRelaySplice, keyPass, keyFramed, keyFramedVerify}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s e2ebench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(o options) (*report, error) {
	rep := &report{opts: o, started: time.Now(), args: os.Args[1:]}
	rep.machine = describeMachine()
	rep.loadStart = loadAvg()
	bin, err := ensureBinary(o.backseal)
	if err != nil {
		return nil, err
	}
	rep.backsealVersion = versionOf(bin, "version")
	dir, err := os.MkdirTemp("", "e2ebench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		logf("configs and logs in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	want := map[string]bool{}
	for _, k := range strings.Split(o.only, ",") {
		if k = strings.TrimSpace(k); k != "" {
			want[k] = true
		}
	}
	use := func(k string) bool { return len(want) == 0 || want[k] || k == keyDirect }

	nginxBin, haproxyBin, notes := "", "", []string(nil)
	if use(keyNginx) || use(keyHAProxy) {
		nginxBin, haproxyBin, notes = findOrInstall(o.install)
	}
	rep.notes = append(rep.notes, notes...)
	if nginxBin != "" {
		rep.nginxVersion = strings.TrimPrefix(versionOf(nginxBin, "-v"), "nginx version: ")
	}
	if haproxyBin != "" {
		rep.haproxyVersion = versionOf(haproxyBin, "-v")
	}

	// A chain long enough for -size: transactions average ≈ 1.7 KiB.
	committed := uint64(max(o.size, o.concBytes, 64<<20)/1000 + 100_000)
	rep.committed = committed
	sim, err := startSim(dir, "sim", bin, simConfig{committed: committed, batch: o.batch, maxProducers: 64})
	if err != nil {
		return nil, err
	}
	warmBytes := min(o.size, 64<<20)
	concBase := min(o.size, 512<<20)
	logf("calibrating record counts on %s", sim.url())
	counts, sizes, err := calibrate(sim.url(), committed, []int64{o.size, warmBytes, o.concBytes, concBase})
	if err != nil {
		return nil, err
	}
	rep.records, rep.bytes = counts[0], sizes[0]
	streamPath := fmt.Sprintf("/transactions/0/%d", counts[0])
	warmPath := fmt.Sprintf("/transactions/0/%d", counts[1])
	logf("stream %s = %d bytes (%.2f GiB)", streamPath, sizes[0], float64(sizes[0])/(1<<30))

	bs, err := startBackseal(dir, "backseal", bin, sim.url())
	if err != nil {
		return nil, err
	}
	targets := []*target{{key: keyDirect, label: "direct (client → simulator)", base: sim.url(), mode: raw}}
	if use(keyNginx) && nginxBin != "" {
		ng, err := startNginx(dir, nginxBin, sim.addr)
		if err != nil {
			rep.notes = append(rep.notes, "nginx failed to start: "+firstLine(err.Error()))
		} else {
			targets = append(targets, &target{key: keyNginx, label: "nginx, `proxy_buffering off`, `proxy_buffer_size 64k`", base: ng.url(), svc: ng, mode: raw})
		}
	}
	if use(keyHAProxy) && haproxyBin != "" {
		hp, err := startHAProxy(dir, haproxyBin, sim.addr, o.haproxyBufsize)
		if err != nil {
			rep.notes = append(rep.notes, "haproxy failed to start: "+firstLine(err.Error()))
		} else {
			label := "HAProxy, `mode http`"
			if o.haproxyBufsize > 0 {
				label += fmt.Sprintf(", `tune.bufsize %d`", o.haproxyBufsize)
			}
			targets = append(targets, &target{key: keyHAProxy, label: label, base: hp.url(), svc: hp, mode: raw})
		}
	}
	for _, r := range []struct{ key, mode, label string }{
		{keyRelay, "copy", "Go TCP relay, read/write 512 KiB (no HTTP): the floor for a Go proxy"},
		{keyRelaySplice, "splice", "Go TCP relay, splice(2) (no HTTP, no copy to user space)"},
	} {
		if !use(r.key) {
			continue
		}
		rs, err := startRelay(dir, r.key, r.mode, sim.addr)
		if err != nil {
			rep.notes = append(rep.notes, r.key+" failed to start: "+firstLine(err.Error()))
			continue
		}
		targets = append(targets, &target{key: r.key, label: r.label, base: rs.url(), svc: rs, mode: raw})
	}
	for _, t := range []*target{
		{key: keyPass, label: "backseal passthrough", mode: raw},
		{key: keyFramed, label: "backseal framed, client discards", mode: framedDiscard},
		{key: keyFramedVerify, label: "backseal framed, client verifies (`framing.Reader`)", mode: framedVerify},
	} {
		if use(t.key) {
			t.base, t.svc = bs.url(), bs
			targets = append(targets, t)
		}
	}
	if o.baseline != "" {
		base, err := startBackseal(dir, "baseline", o.baseline, sim.url())
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		v := versionOf(o.baseline, "version")
		for _, t := range []*target{
			{key: keyBasePass, label: "baseline `" + v + "` passthrough", mode: raw},
			{key: keyBaseFramed, label: "baseline `" + v + "` framed, client discards", mode: framedDiscard},
		} {
			if use(strings.TrimPrefix(t.key, "baseline-")) {
				t.base, t.svc = base.url(), base
				targets = append(targets, t)
			}
		}
	}
	for _, t := range targets {
		t.client = newClient(64)
	}
	rep.targets = targets
	rep.idleRSS = map[string]uint64{}
	for _, t := range targets {
		if t.svc != nil {
			s, _ := procstat.ReadTree(t.svc.tree())
			rep.idleRSS[t.key] = s.RSS
		}
	}

	buf := make([]byte, 256<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	ttfbPath := func() string { return fmt.Sprintf("/transactions/%d/1", rng.Uint64N(committed)) }
	logf("warming up every path (%d MiB each)", warmBytes>>20)
	for _, t := range targets {
		if r := measure(t, sim, warmPath, sizes[1], 0, buf); r.err != nil {
			return nil, fmt.Errorf("warm-up %s: %w", t.key, r.err)
		}
		for range 5 {
			if _, err := ttfbOnce(t, ttfbPath(), buf); err != nil {
				return nil, fmt.Errorf("warm-up %s: %w", t.key, err)
			}
		}
	}

	perRound := max(1, o.ttfb/o.rounds)
	rep.ttfb = map[string][]time.Duration{}
	for r := range o.rounds {
		order := rotate(targets, r)
		for _, t := range order {
			time.Sleep(200 * time.Millisecond)
			res := measure(t, sim, streamPath, sizes[0], r+1, buf)
			if res.err != nil {
				logf("round %d %-14s ERROR %v", r+1, t.key, res.err)
			} else {
				logf("round %d %-14s %6.3f GB/s  proxy %5.2f s/GiB (user %.2f sys %.2f)  sim %.2f  client %.2f  peak %5.1f MiB",
					r+1, t.key, res.gbps(), res.perGiB(res.proxy.CPU()), res.perGiB(res.proxy.User), res.perGiB(res.proxy.Sys),
					res.perGiB(res.sim.CPU()), res.perGiB(res.clientSn.CPU()), float64(res.peakRSS)/(1<<20))
			}
			rep.runs = append(rep.runs, res)
		}
		for _, t := range order {
			for range perRound {
				d, err := ttfbOnce(t, ttfbPath(), buf)
				if err != nil {
					rep.ttfbErrs++
					continue
				}
				rep.ttfb[t.key] = append(rep.ttfb[t.key], d)
			}
		}
		logf("round %d: ttfb medians %s", r+1, rep.ttfbLine())
	}

	if o.latRate > 0 {
		var lt []*target
		for _, t := range targets {
			if t.mode == raw {
				lt = append(lt, t)
			}
		}
		rep.latency = map[string][]latencyResult{}
		for r := range o.latRounds {
			for _, t := range rotate(lt, r) {
				time.Sleep(200 * time.Millisecond)
				lr := paced(t, "/db_state", o.latRate, o.latDur, 64)
				rep.latency[t.key] = append(rep.latency[t.key], lr)
				s := summarizeLatency(lr)
				logf("latency round %d %-12s p50 %v p99 %v max %v errors %d", r+1, t.key, s.p50, s.p99, s.max, lr.errs)
			}
		}
	}

	if o.conc > 0 {
		if err := runConcurrent(rep, dir, bin, committed, counts[2], sizes[2], counts[3], sizes[3]); err != nil {
			return nil, err
		}
	}
	if o.contentSize > 0 {
		if err := runContent(rep, dir, bin); err != nil {
			return nil, err
		}
	}
	if o.perf {
		rep.perf = runPerf(dir, sim, streamPath, sizes[0])
	}
	rep.loadEnd = loadAvg()
	rep.finished = time.Now()
	return rep, nil
}

// runConcurrent measures o.conc streams at once through a fresh backseal
// per mode, against a simulator of its own with 64 KiB batches (a 1 MiB
// batch would let its queues hold up to 100 MiB per stream) and enough
// producers for every stream.
func runConcurrent(rep *report, dir, bin string, committed, count uint64, size int64, baseCount uint64, baseSize int64) error {
	o := rep.opts
	sim, err := startSim(dir, "sim-conc", bin, simConfig{committed: committed, batch: 64 << 10, maxProducers: 2 * o.conc})
	if err != nil {
		return err
	}
	defer sim.stop()
	path := fmt.Sprintf("/transactions/0/%d", count)
	basePath := fmt.Sprintf("/transactions/0/%d", baseCount)
	buf := make([]byte, 256<<10)
	for _, mode := range strings.Split(o.concModes, ",") {
		mode = strings.TrimSpace(mode)
		var cm clientMode
		switch mode {
		case "framed":
			cm = framedVerify
		case "passthrough":
			cm = raw
		default:
			return fmt.Errorf("-conc-modes: unknown mode %q", mode)
		}
		// All streams come from one client address: lift a per-client
		// limit, if this backseal has one, to the test's size; every other
		// limit stays at its default.
		var extra []string
		if ok, def := serveFlag(bin, "max-streams-per-client"); ok {
			extra = []string{"--max-streams-per-client", strconv.Itoa(o.conc)}
			rep.concNote = fmt.Sprintf("`--max-streams-per-client %d` (default %s; every stream comes from the harness's one address)", o.conc, def)
			if ok, def := serveFlag(bin, "max-upstream-streams"); ok {
				rep.concNote += fmt.Sprintf("; other limits at their defaults, `max_upstream_streams` %s, so the rest queue in backseal", def)
			}
		}
		bs, err := startBackseal(dir, "backseal-conc-"+mode, bin, sim.url(), extra...)
		if err != nil {
			return err
		}
		t := &target{key: mode, base: bs.url(), svc: bs, mode: cm, client: newClient(2 * o.conc)}
		if r := measure(t, sim, path, size, 0, buf); r.err != nil {
			bs.stop()
			return fmt.Errorf("concurrent warm-up: %w", r.err)
		}
		single := measure(t, sim, basePath, baseSize, 0, buf)
		time.Sleep(time.Second)
		idle, _ := procstat.Read(bs.pid())
		logf("concurrent %s: idle RSS %.1f MiB; one stream %.3f GB/s; starting %d streams of %d MiB", mode,
			float64(idle.RSS)/(1<<20), single.gbps(), o.conc, size>>20)
		_, portStr, _ := strings.Cut(sim.addr, ":")
		port, _ := strconv.Atoi(portStr)
		c := concurrent(t, path, size, o.conc, idle.RSS, port)
		logf("concurrent %s: %.3f GB/s aggregate, peak RSS %.1f MiB, %.0f KiB per stream, at most %d streams receiving at once, first byte median %v max %v, at most %d upstream connections, %d errors %v",
			mode, c.gbps(), float64(c.peakRSS)/(1<<20), float64(int64(c.peakRSS)-int64(c.idleRSS))/float64(c.n)/1024, c.maxActive,
			quantile(c.ttfb, 0.5).Round(time.Millisecond), quantile(c.ttfb, 1).Round(time.Millisecond), c.maxUp, c.errs, c.firstErr)
		rep.conc = append(rep.conc, concReport{mode: mode, single: single, res: c, streamBytes: size})
		t.client.CloseIdleConnections()
		bs.stop()
	}
	return nil
}

// runPerf profiles an unstripped backseal with perf over one framed stream
// and returns the top of `perf report`.
func runPerf(dir string, sim *service, path string, want int64) string {
	if _, err := exec.LookPath("perf"); err != nil {
		return "perf not installed"
	}
	bin := filepath.Join(dir, "backseal-symbols")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "building an unstripped backseal failed: " + string(out)
	}
	bs, err := startBackseal(dir, "backseal-perf", bin, sim.url())
	if err != nil {
		return err.Error()
	}
	defer bs.stop()
	t := &target{key: keyFramed, base: bs.url(), svc: bs, mode: framedDiscard, client: newClient(4)}
	data := filepath.Join(dir, "perf.data")
	rec := exec.Command("perf", "record", "-F", "999", "-g", "-o", data, "-p", fmt.Sprint(bs.pid()))
	rec.Stdout, rec.Stderr = nil, nil
	if err := rec.Start(); err != nil {
		return "perf record: " + err.Error()
	}
	time.Sleep(500 * time.Millisecond)
	r := measure(t, sim, path, want, 0, make([]byte, 256<<10))
	_ = rec.Process.Signal(syscall.SIGINT)
	_ = rec.Wait()
	out, err := exec.Command("perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "symbol",
		"--percent-limit", "1", "-g", "none").CombinedOutput()
	if err != nil {
		return "perf report: " + err.Error()
	}
	var lines []string
	for l := range strings.SplitSeq(string(out), "\n") {
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, strings.TrimRight(l, " "))
		}
	}
	return fmt.Sprintf("framed stream through an unstripped backseal under perf: %.3f GB/s, %.2f s/GiB\n%s",
		r.gbps(), r.perGiB(r.proxy.CPU()), strings.Join(lines, "\n"))
}

// rotate returns ts starting at index r mod len(ts), so every path takes
// every position in turn across the rounds.
func rotate[T any](ts []T, r int) []T {
	n := len(ts)
	out := make([]T, 0, n)
	for i := range n {
		out = append(out, ts[(i+r)%n])
	}
	return out
}

// ensureBinary returns path, building the backseal binary there if missing.
func ensureBinary(path string) (string, error) {
	if _, err := os.Stat(path); err == nil {
		return filepath.Abs(path)
	}
	logf("%s missing: go build -o %s .", path, path)
	cmd := exec.Command("go", "build", "-trimpath", "-o", path, ".")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s: %w", path, err)
	}
	return filepath.Abs(path)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
