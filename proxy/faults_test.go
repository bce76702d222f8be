package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/sim"
	"github.com/backseal/backseal/upstream"
)

// streamPaths are the four streaming endpoints, sized so that a fault after
// a few records always leaves records missing.
var streamPaths = []string{
	"/transactions/100/400",
	"/epoch_ending_ledger_infos/0/40",
	"/state_snapshot/3000",
	"/state_snapshot_chunk/3000/50/300",
}

// faultCase is one upstream fault and what the client must learn when the
// sidecar cannot heal it.
type faultCase struct {
	kind     sim.FaultKind
	wantCode string // for a persistent fault
	heals    bool   // a transient one heals by resume
}

var faultCases = []faultCase{
	{sim.Drop, "truncated", true},
	{sim.Abort, "upstream-aborted", true},
	{sim.Reset, "upstream-reset", true},
	{sim.PrefixCut, "incomplete-record", true},
	{sim.Stall, "upstream-stalled", true},
	{sim.Excess, "excess-records", false},
}

// TestFaultMatrix drives every streaming endpoint × fault × client mode ×
// transient/persistent through a real sidecar and simulator and checks the
// invariant on every response; transient faults must heal and persistent
// ones must reach the client as the right failure.
func TestFaultMatrix(t *testing.T) {
	cfg := testChain()
	chain := sim.NewChain(cfg)
	for _, path := range streamPaths {
		_, want := chain.Body(mustParse(t, path))
		for _, fc := range faultCases {
			for _, persistent := range []bool{false, true} {
				for _, mode := range allModes {
					name := fmt.Sprintf("%s/%s/%s/persistent=%v", path, fc.kind, mode, persistent)
					t.Run(name, func(t *testing.T) {
						t.Parallel()
						up := startSim(t, cfg)
						px := startProxy(t, testConfig(up.URL()))
						f := sim.Fault{Kind: fc.kind, After: 23, Count: 1, Stall: 3 * time.Second}
						if persistent {
							f.After, f.Count = 7, -1
						}
						up.SetFaults(f)
						r := get(t, "http://"+px.Addr()+path, mode)
						checkInvariant(t, r, want)
						switch {
						case !persistent && fc.heals:
							if !r.ok {
								t.Fatalf("transient %s did not heal: code %q err %v", fc.kind, r.code, r.err)
							}
						case r.ok:
							t.Fatalf("persistent %s reached the client as a success", fc.kind)
						case mode != modePlain && r.code != fc.wantCode:
							t.Fatalf("client learned %q, want %q (err %v)", r.code, fc.wantCode, r.err)
						case mode == modePlain && r.err == nil:
							t.Fatalf("plain client saw no error for %s", fc.kind)
						}
					})
				}
			}
		}
	}
}

// TestRestartHeals: the node restarts mid-stream; the sidecar resumes once
// it is back, and the client sees one seamless stream.
func TestRestartHeals(t *testing.T) {
	cfg := testChain()
	chain := sim.NewChain(cfg)
	for _, mode := range allModes {
		t.Run(string(mode), func(t *testing.T) {
			up := startSim(t, cfg)
			pc := testConfig(up.URL())
			pc.ResumeAttempts = 8
			px := startProxy(t, pc)
			up.SetFaults(sim.Fault{Kind: sim.Restart, After: 50, Count: 1, Restart: 300 * time.Millisecond})
			path := "/transactions/0/800"
			_, want := chain.Body(mustParse(t, path))
			r := get(t, "http://"+px.Addr()+path, mode)
			checkInvariant(t, r, want)
			if !r.ok {
				t.Fatalf("restart did not heal: code %q err %v", r.code, r.err)
			}
		})
	}
}

// TestRecordTooLarge: a length prefix above the limit fails the stream before
// any of that record is read, and the end frame's record count matches the
// records actually delivered.
func TestRecordTooLarge(t *testing.T) {
	up := startSim(t, testChain())
	pc := testConfig(up.URL())
	pc.MaxRecordSize = 3000
	px := startProxy(t, pc)
	req, _ := http.NewRequest("GET", "http://"+px.Addr()+"/transactions/0/300", nil)
	req.Header.Set("Accept", framing.ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	fr := framing.NewReader(resp.Body)
	payload, err := io.ReadAll(fr)
	if framing.CodeOf(err) != framing.CodeRecordTooLarge {
		t.Fatalf("err = %v, want record-too-large", err)
	}
	sum, ok := fr.Summary()
	if !ok {
		t.Fatal("no verified end frame")
	}
	sc := upstream.NewRecordScanner(^uint32(0))
	sc.Write(payload)
	if !sc.AtBoundary() || sc.Records() != sum.Records {
		t.Fatalf("payload holds %d records (at boundary %v); the end frame says %d", sc.Records(), sc.AtBoundary(), sum.Records)
	}
}
