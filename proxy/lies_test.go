package proxy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/sim"
)

// Upstream lies (docs/SIMULATOR.md, "Lies"): what a broken node, a
// middlebox or an impostor on the port could send. Each must reach every
// client mode as the right failure, never as a success with other bytes than
// the clean response, and nothing may allocate by what the upstream claims.

// lieWant is what a client must conclude from a lie.
type lieWant struct {
	ok      bool   // a success with exactly the clean bytes
	code    string // framed and trailers clients learn this code; plain ones see a cut body
	gateway bool   // 502 from the sidecar, with a text body
	either  bool   // a success with the clean bytes, or any failure (clshort)
}

func (w lieWant) String() string {
	switch {
	case w.either:
		return "ok-or-failure"
	case w.ok:
		return "ok"
	case w.gateway:
		return "502"
	}
	return w.code
}

type lieCase struct {
	name  string
	path  string
	fault sim.Fault
	tune  func(*proxy.Config)
	want  lieWant
}

// endpointName is the path's first segment, as sim.Fault.Endpoint names it.
func endpointName(path string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return seg
}

// lieCases is the matrix: every lie on a stream and/or a small endpoint,
// transient (Count 1) where a resume or retry can heal it, and persistent.
func lieCases() []lieCase {
	var cases []lieCase
	add := func(name, path string, f sim.Fault, want lieWant, tune func(*proxy.Config)) {
		f.Endpoint = endpointName(path)
		cases = append(cases, lieCase{name: fmt.Sprintf("%s%s", name, path), path: path, fault: f, tune: tune, want: want})
	}
	fewRetries := func(c *proxy.Config) { c.UpstreamRetries = 1 }
	shortHeaderWait := func(c *proxy.Config) { c.UpstreamRetries = 1; c.UpstreamHeaderTimeout = 300 * time.Millisecond }
	for _, path := range []string{"/transactions/100/400", "/state_snapshot_chunk/3000/50/300"} {
		// A record length near 4 GiB: final, never resumed, never allocated.
		add("hugeprefix", path, sim.Fault{Kind: sim.HugePrefix, After: 7, Count: -1}, lieWant{code: "record-too-large"}, nil)
		add("hugeprefix-first", path, sim.Fault{Kind: sim.HugePrefix, Count: -1}, lieWant{code: "record-too-large"}, nil)
		// A malformed chunk size: a protocol failure, healed by a resume.
		add("badchunk-transient", path, sim.Fault{Kind: sim.BadChunk, After: 23, Count: 1}, lieWant{ok: true}, nil)
		add("badchunk", path, sim.Fault{Kind: sim.BadChunk, After: 7, Count: -1}, lieWant{code: "upstream-protocol"}, nil)
		// HTTP/1.0, close-delimited: a cut looks like a clean end; the
		// count tells, and a resume heals.
		add("http10-transient", path, sim.Fault{Kind: sim.HTTP10, After: 23, Count: 1}, lieWant{ok: true}, nil)
		add("http10", path, sim.Fault{Kind: sim.HTTP10, After: 7, Count: -1}, lieWant{code: "truncated"}, nil)
		add("http10-complete", path, sim.Fault{Kind: sim.HTTP10, After: 1 << 40, Count: -1}, lieWant{ok: true}, nil)
	}
	for _, path := range []string{"/db_state", "/state_root_proof/3000"} {
		// Content-Length 4 GiB beyond the body, then a close: the value
		// is cut short of its declared length.
		add("cllong", path, sim.Fault{Kind: sim.CLLong, Count: -1}, lieWant{code: "upstream-aborted"}, nil)
		// The declared length is the value's, then a second copy of it
		// follows on the connection. HTTP delimits the message by its
		// Content-Length: the right answer is exactly the declared bytes
		// (which here are the clean value), or a failure; the surplus must
		// never reach a client, nor poison the next response on the
		// upstream connection (the case runs every mode in turn through
		// one sidecar).
		add("clshort", path, sim.Fault{Kind: sim.CLShort, Count: -1}, lieWant{either: true}, nil)
	}
	for _, path := range []string{"/db_state", "/transactions/100/400"} {
		add("garbage", path, sim.Fault{Kind: sim.Garbage, Count: -1}, lieWant{gateway: true}, fewRetries)
		add("garbage-transient", path, sim.Fault{Kind: sim.Garbage, Count: 1}, lieWant{ok: true}, fewRetries)
		add("silent", path, sim.Fault{Kind: sim.Silent, Count: -1}, lieWant{gateway: true}, shortHeaderWait)
		add("silent-transient", path, sim.Fault{Kind: sim.Silent, Count: 1}, lieWant{ok: true}, shortHeaderWait)
		add("endlessheaders", path, sim.Fault{Kind: sim.EndlessHeaders, Count: -1}, lieWant{gateway: true}, fewRetries)
		add("endlessheaders-transient", path, sim.Fault{Kind: sim.EndlessHeaders, Count: 1}, lieWant{ok: true}, fewRetries)
	}
	// Lies on the count lookups alone: the stream itself is clean, but
	// without its record count the sidecar cannot vouch for it.
	lookup := func(name, path, endpoint string, f sim.Fault, tune func(*proxy.Config)) {
		f.Endpoint = endpoint
		cases = append(cases, lieCase{name: name + "-on-" + endpoint + path, path: path, fault: f, tune: tune, want: lieWant{code: "count-unavailable"}})
	}
	// A lookup that finds no usable answer is asked again until count_timeout.
	briefCount := func(tune func(*proxy.Config)) func(*proxy.Config) {
		return func(c *proxy.Config) {
			if tune != nil {
				tune(c)
			}
			c.CountTimeout = time.Second
		}
	}
	lookup("garbage", "/transactions/100/400", "db_state", sim.Fault{Kind: sim.Garbage, Count: -1}, briefCount(fewRetries))
	lookup("silent", "/transactions/100/400", "db_state", sim.Fault{Kind: sim.Silent, Count: -1}, briefCount(shortHeaderWait))
	lookup("cllong", "/state_snapshot_chunk/3000/50/300", "state_item_count", sim.Fault{Kind: sim.CLLong, Count: -1}, briefCount(nil))
	lookup("endlessheaders", "/state_snapshot_chunk/3000/50/300", "state_item_count", sim.Fault{Kind: sim.EndlessHeaders, Count: -1}, briefCount(fewRetries))
	// A lookup cut short once, or failing for longer than the upstream
	// client's own retries (5 garbage answers, 2 per request), is asked
	// again: the stream is vouched for.
	for path, endpoint := range map[string]string{"/transactions/100/400": "db_state", "/state_snapshot_chunk/3000/50/300": "state_item_count"} {
		cases = append(cases, lieCase{name: "cllong-transient-on-" + endpoint + path, path: path,
			fault: sim.Fault{Kind: sim.CLLong, Count: 1, Endpoint: endpoint}, want: lieWant{ok: true}})
		cases = append(cases, lieCase{name: "garbage-spell-on-" + endpoint + path, path: path, tune: fewRetries,
			fault: sim.Fault{Kind: sim.Garbage, Count: 5, Endpoint: endpoint}, want: lieWant{ok: true}})
	}
	return cases
}

// checkLie checks one client's result against what the lie must become.
func checkLie(t *testing.T, mode clientMode, r result, want []byte, status int, lw lieWant) {
	t.Helper()
	checkInvariant(t, r, want)
	switch {
	case lw.either:
		if r.ok {
			return // checkInvariant vouched for the bytes
		}
		if r.status == 200 && len(r.body) > len(want) {
			t.Fatalf("failure carried %d bytes, more than the %d the node declared", len(r.body), len(want))
		}
	case lw.ok:
		if !r.ok || r.status != status {
			t.Fatalf("did not heal: status %d, code %q, err %v", r.status, r.code, r.err)
		}
	case lw.gateway:
		if r.status != 502 || r.ok || len(r.body) == 0 || !strings.Contains(string(r.body), "upstream") {
			t.Fatalf("got status %d ok %v body %q (err %v), want 502 with a text reason", r.status, r.ok, r.body, r.err)
		}
	default:
		if r.ok {
			t.Fatal("the lie reached the client as a success")
		}
		if r.status != 200 {
			t.Fatalf("status %d (body %q), want a 200 whose body fails", r.status, r.body)
		}
		if mode == modePlain && r.err == nil {
			t.Fatal("plain client saw a complete body")
		}
		if mode != modePlain && r.code != lw.code {
			t.Fatalf("client learned %q, want %q (err %v)", r.code, lw.code, r.err)
		}
		// What did arrive is genuine: the clean response's first bytes.
		if !bytes.HasPrefix(want, r.body) {
			t.Fatalf("the %d bytes delivered before the failure are not a prefix of the clean response", len(r.body))
		}
	}
}

// outcome names what a client concluded, for the logs.
func outcome(r result) string {
	switch {
	case r.ok:
		return "ok"
	case r.status != 200 && r.status != 0:
		return fmt.Sprint(r.status)
	case r.code != "":
		return r.code
	case r.err != nil:
		return "cut"
	}
	return "failed"
}

// TestLies drives every lie × client mode through a real sidecar.
func TestLies(t *testing.T) {
	t.Parallel()
	cfg := testChain()
	chain := sim.NewChain(cfg)
	for _, lc := range lieCases() {
		status, want := chain.Body(mustParse(t, lc.path))
		if lc.want.either {
			// One sidecar for all modes in turn: the surplus must not leak
			// into a later response on a reused upstream connection. (Go's
			// transport logs each surplus as an "Unsolicited response".)
			t.Run(lc.name+"/sequential", func(t *testing.T) {
				t.Parallel()
				px := startLieProxy(t, cfg, lc)
				for _, mode := range allModes {
					r := get(t, "http://"+px.Addr()+lc.path, mode)
					t.Logf("%s %s: %s", lc.name, mode, outcome(r))
					checkLie(t, mode, r, want, status, lc.want)
				}
			})
			continue
		}
		for _, mode := range allModes {
			t.Run(lc.name+"/"+string(mode), func(t *testing.T) {
				t.Parallel()
				px := startLieProxy(t, cfg, lc)
				r := get(t, "http://"+px.Addr()+lc.path, mode)
				t.Logf("%s %s: %s (want %s)", lc.name, mode, outcome(r), lc.want)
				checkLie(t, mode, r, want, status, lc.want)
			})
		}
	}
}

func startLieProxy(t *testing.T, cfg sim.Config, lc lieCase) *proxy.Server {
	t.Helper()
	up := startSim(t, cfg)
	pc := testConfig(up.URL())
	if lc.tune != nil {
		lc.tune(&pc)
	}
	up.SetFaults(lc.fault)
	return startProxy(t, pc)
}

// TestLiesAllocateNothingByClaims: a record length near 4 GiB, a
// Content-Length 4 GiB beyond the body and headers that never end must not
// make the sidecar allocate by them. Not parallel: the process's allocation
// counter must see this test alone.
func TestLiesAllocateNothingByClaims(t *testing.T) {
	cfg := testChain()
	chain := sim.NewChain(cfg)
	cases := []struct {
		lieCase
		bound uint64 // bytes allocated by the whole process during one request
	}{
		// Claims of 4 GiB: a generous bound still far below them.
		{lieCase{name: "hugeprefix", path: "/transactions/100/400", fault: sim.Fault{Kind: sim.HugePrefix, After: 7, Count: -1},
			want: lieWant{code: "record-too-large"}}, 256 << 20},
		{lieCase{name: "cllong", path: "/db_state", fault: sim.Fault{Kind: sim.CLLong, Count: -1},
			want: lieWant{code: "upstream-aborted"}}, 256 << 20},
		// Up to 64 MiB of header lines per attempt, two attempts: the
		// transport stops at 64 KiB each.
		{lieCase{name: "endlessheaders", path: "/db_state", fault: sim.Fault{Kind: sim.EndlessHeaders, Count: -1},
			tune: func(c *proxy.Config) { c.UpstreamRetries = 1 }, want: lieWant{gateway: true}}, 32 << 20},
	}
	for _, tc := range cases {
		tc.fault.Endpoint = endpointName(tc.path)
		status, want := chain.Body(mustParse(t, tc.path))
		px := startLieProxy(t, cfg, tc.lieCase)
		for _, mode := range allModes {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r := get(t, "http://"+px.Addr()+tc.path, mode)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			grew := int64(after.HeapSys) - int64(before.HeapSys)
			t.Logf("%s %s: %s; allocated %d KiB, heap obtained from the OS grew by %d KiB", tc.name, mode, outcome(r), alloc>>10, grew>>10)
			checkLie(t, mode, r, want, status, tc.want)
			if alloc > tc.bound {
				t.Errorf("%s %s: the process allocated %d MiB serving one lie (bound %d MiB)", tc.name, mode, alloc>>20, tc.bound>>20)
			}
		}
	}
}

// A small value that stalls halfway is cut by the stall watch and asked for
// again whole: nothing of it was sent, so a fresh copy is exact. When every
// copy stalls, the client gets 502 and why, not a hang.
func TestSmallValueStallRefetched(t *testing.T) {
	t.Parallel()
	cfg := testChain()
	_, want := sim.NewChain(cfg).Body(mustParse(t, "/db_state"))
	up := startSim(t, cfg)
	pc := testConfig(up.URL())
	pc.StallTimeout = 200 * time.Millisecond
	pc.ResumeAttempts = 2
	px := startProxy(t, pc)
	url := "http://" + px.Addr() + "/db_state"
	stall := sim.Fault{Kind: sim.BodyStall, Endpoint: "db_state", Stall: time.Hour}

	// One stalled copy: healed in every mode; TE: trailers gets its trailers.
	for _, mode := range allModes {
		up.SetFaults(stall)
		r := get(t, url, mode)
		if !r.ok || r.status != 200 || !bytes.Equal(r.body, want) {
			t.Fatalf("%s: status %d ok %v code %q body %x, want the value %x", mode, r.status, r.ok, r.code, r.body, want)
		}
		if mode == modeTrailers && r.trailer.Get(proxy.TrailerXxh64) != fmt.Sprintf("%016x", xxhash.Sum64(want)) {
			t.Fatalf("trailers %v", r.trailer)
		}
	}

	// Every copy stalls: 502 with the reason, after the resume budget.
	stall.Count = -1
	up.SetFaults(stall)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, mode := range allModes {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		switch mode {
		case modeFramed:
			req.Header.Set("Accept", framing.ContentType)
		case modeTrailers:
			req.Header.Set("TE", "trailers")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err) // a hang ends here, at the client's timeout
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("%s: status %d, %v", mode, resp.StatusCode, err)
		}
		var se *framing.StreamError
		if mode == modeFramed {
			_, err := io.ReadAll(framing.NewReader(bytes.NewReader(body)))
			if !errors.As(err, &se) || se.Code != framing.CodeUpstreamStalled {
				t.Fatalf("framed: end frame %v", err)
			}
		} else if !strings.Contains(string(body), "upstream-stalled") || !strings.Contains(string(body), "gave up after 2 resumes") {
			t.Fatalf("%s: body %q", mode, body)
		}
	}
	if fired := up.Stats().FaultsFired[sim.BodyStall]; fired != 3*1+3*3 {
		t.Errorf("%d stalled copies, want 3 healed + 3×3 (first try and 2 resumes)", fired)
	}
}
