package proxy_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backseal/backseal/sim"
)

// chaosKinds are the faults the chaos test injects, each transient or
// persistent at random offsets.
// BodyStall hits small values, the count lookups included.
var chaosKinds = []sim.FaultKind{sim.Drop, sim.Abort, sim.Reset, sim.PrefixCut, sim.Stall, sim.Excess, sim.Restart, sim.BodyStall}

// chaosProofLimit is how long a chaos run may go on past its budget to see
// a healed stream and a reported failure; a short run usually has both well
// within its 3 s.
const chaosProofLimit = time.Minute

// chaosReport is what a chaos run counts; docs/RELIABILITY.md shows one.
type chaosReport struct {
	Seed           uint64         `json:"seed"`
	Duration       string         `json:"duration"`
	Streams        int            `json:"streams"`
	FaultsArmed    int            `json:"faults_armed"`
	FaultsFired    map[string]int `json:"faults_fired"`
	CleanOK        int            `json:"clean_ok"`         // success without any resume
	Healed         int            `json:"healed"`           // success after one or more resumes
	Reported       int            `json:"reported"`         // failures the client was told of
	ReportedByCode map[string]int `json:"reported_by_code"` // framed and trailer clients learn the code
	Silent         int            `json:"silent"`           // success with wrong bytes: must be 0
}

// TestChaos drives concurrent fetches through the sidecar while the
// simulator injects random faults, and checks the invariant on every
// response. BACKSEAL_CHAOS_DURATION (default 3s) and BACKSEAL_CHAOS_SEED
// set the budget and the seed; BACKSEAL_CHAOS_REPORT names a JSON file for
// the counts (make chaos).
//
// The seed fixes the fault schedule (kinds, offsets, spells, the workers'
// choice of path and mode), not which response each fault meets: that is up
// to the scheduler. So the run does not count on seeing a healed stream and
// a reported failure within the budget: past it, the run goes on until it
// has seen both, and fails only if chaosProofLimit passes first.
func TestChaos(t *testing.T) {
	budget := 3 * time.Second
	if v := os.Getenv("BACKSEAL_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		budget = d
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("BACKSEAL_CHAOS_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("chaos seed %d (BACKSEAL_CHAOS_SEED=%d reproduces the fault schedule), budget %v", seed, seed, budget)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("chaos run failed with seed %d: replay with BACKSEAL_CHAOS_SEED=%d", seed, seed)
		}
	})

	cfg := testChain()
	chain := sim.NewChain(cfg)
	up := startSim(t, cfg)
	pc := testConfig(up.URL())
	pc.StallTimeout = 200 * time.Millisecond
	pc.ResumeAttempts = 4
	px, logs := startProxyWithLog(t, pc)

	paths := append([]string{"/transactions/0/3000", "/epoch_ending_ledger_infos/0/40", "/db_state", "/state_root_proof/3000"}, streamPaths...)
	want := map[string][]byte{}
	for _, p := range paths {
		_, want[p] = chain.Body(mustParse(t, p))
	}

	report := chaosReport{Seed: seed, FaultsFired: map[string]int{}, ReportedByCode: map[string]int{}}
	var mu sync.Mutex
	began := time.Now()
	// The workers run for the budget, and then until proved is set (a
	// healed stream and a reported failure seen) or the limit passes.
	deadline, limit := began.Add(budget), began.Add(max(budget, chaosProofLimit))
	var proved atomic.Bool
	running := func() bool {
		now := time.Now()
		return now.Before(deadline) || !proved.Load() && now.Before(limit)
	}
	healed := func() int {
		n := 0
		for _, l := range logs.lines(t, "request") {
			if l["outcome"] == "ok" && l["resumes"].(float64) > 0 {
				n++
			}
		}
		return n
	}

	// The fault schedule: one goroutine arms a random fault every few
	// milliseconds; it applies to whichever response matches next.
	stop := make(chan struct{})
	armed := make(chan int)
	go func() {
		rng := rand.New(rand.NewPCG(seed, 1))
		n := 0
		for {
			select {
			case <-stop:
				armed <- n
				return
			case <-time.After(time.Duration(5+rng.IntN(40)) * time.Millisecond):
			}
			f := sim.Fault{Kind: chaosKinds[rng.IntN(len(chaosKinds))], After: uint64(rng.IntN(300)), Count: 1,
				Stall: time.Second, Restart: 150 * time.Millisecond}
			if rng.IntN(4) == 0 {
				f.Count = 2 + rng.IntN(5) // a persistent spell
			}
			if f.Kind == sim.Restart && rng.IntN(3) != 0 {
				continue // restarts cut every stream: keep them rarer
			}
			up.AddFaults(f)
			n++
		}
	}()

	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)+2))
			for running() {
				path := paths[rng.IntN(len(paths))]
				mode := allModes[rng.IntN(len(allModes))]
				r := get(t, "http://"+px.Addr()+path, mode)
				mu.Lock()
				report.Streams++
				switch {
				case r.ok && string(r.body) != string(want[path]):
					report.Silent++
					t.Errorf("SILENT CORRUPTION: %s %s: success with %d bytes, want %d", mode, path, len(r.body), len(want[path]))
				case r.ok:
					report.CleanOK++ // split into healed below, from the sidecar's log
				default:
					report.Reported++
					if r.code != "" {
						report.ReportedByCode[r.code]++
					}
				}
				mu.Unlock()
			}
		}()
	}
	workersDone := make(chan struct{})
	go func() { wg.Wait(); close(workersDone) }()
	select {
	case <-workersDone:
	case <-time.After(budget):
	}
	for !proved.Load() {
		mu.Lock()
		reported := report.Reported
		mu.Unlock()
		if reported > 0 && healed() > 0 {
			proved.Store(true)
			break
		}
		select {
		case <-workersDone:
			proved.Store(true) // past the limit: the counts below say what was missing
		case <-time.After(100 * time.Millisecond):
		}
	}
	<-workersDone
	close(stop)
	report.Duration = time.Since(began).Round(time.Millisecond).String()
	report.FaultsArmed = <-armed
	for kind, n := range up.Stats().FaultsFired {
		report.FaultsFired[string(kind)] = int(n)
	}
	report.Healed = healed()
	report.CleanOK -= report.Healed
	b, _ := json.MarshalIndent(report, "", "  ")
	t.Logf("chaos report:\n%s", b)
	if path := os.Getenv("BACKSEAL_CHAOS_REPORT"); path != "" {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if report.Silent != 0 {
		t.Fatalf("%d silent corruptions", report.Silent)
	}
	if report.Streams == 0 || report.Healed == 0 || report.Reported == 0 {
		t.Fatalf("the run proved little in %s (seed %d): %d streams, %d healed, %d reported", report.Duration, seed, report.Streams, report.Healed, report.Reported)
	}
}
