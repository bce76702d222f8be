package proxy_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/ledger"
	"github.com/backseal/backseal/internal/testkit"
	"github.com/backseal/backseal/sim"
)

// genuineChain is the test chain with real Aptos structures: what content
// verification needs.
func genuineChain() sim.Config {
	cfg := testChain()
	cfg.Genuine = true
	return cfg
}

// ledgerRoot is the transaction accumulator root of the ledger info that
// proves version last (the node's latest in last's epoch, as Aptos's
// backup handler picks it): the root a verified stream ending there names.
func ledgerRoot(t *testing.T, up *sim.Server, last uint64) string {
	t.Helper()
	_, b := up.Chain().Body(mustParse(t, fmt.Sprintf("/transaction_range_proof/%d/%d", last, last)))
	r := bcs.NewReader(b)
	for range 2 { // left and right siblings
		n := r.Len(32)
		for range n {
			r.Fixed(32)
		}
	}
	var li ledger.LedgerInfoWithSignatures
	li.Decode(r)
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
	return li.LedgerInfo.CommitInfo.ExecutedStateID.String()
}

// TestContentVerified: complete streams of every record endpoint, through a
// sidecar with verify_content and the chain's genesis waypoint, pass
// byte-identical and name the commitment they matched, in the end frame
// and in trailers; a plain client gets the bytes and a clean end.
func TestContentVerified(t *testing.T) {
	up := startSim(t, genuineChain())
	pc := testConfig(up.URL())
	pc.VerifyContent = true
	pc.TrustedWaypoint = up.Chain().GenesisWaypoint().String()
	px := startProxy(t, pc)
	C := up.Chain().Config().CommittedVersion
	paths := []struct {
		path, root, proof string
	}{
		{"/transactions/0/300", ledgerRoot(t, up, 299), "transaction accumulator"},
		{"/transactions/1234/700", ledgerRoot(t, up, 1933), "transaction accumulator"},
		{fmt.Sprintf("/transactions/%d/1", C), ledgerRoot(t, up, C), "transaction accumulator"},
		{"/epoch_ending_ledger_infos/0/40", "", "chained from trusted waypoint"},
		{"/epoch_ending_ledger_infos/7/12", "", "trusted from waypoint"},
		{"/state_snapshot/2000", "", "state root of version 2000"},
		{"/state_snapshot_chunk/2000/0/500", "", "items 0..499"},
	}
	for _, p := range paths {
		_, want := up.Chain().Body(mustParse(t, p.path))
		for _, mode := range allModes {
			t.Run(strings.TrimPrefix(p.path, "/")+"/"+string(mode), func(t *testing.T) {
				v := fetch(t, "http://"+px.Addr()+p.path, mode)
				if v.code != "" || v.cut {
					t.Fatalf("failed: %s %s (cut %v)", v.code, v.msg, v.cut)
				}
				if !bytes.Equal(v.body, want) {
					t.Fatalf("%d bytes, want %d", len(v.body), len(want))
				}
				if mode == modePlain {
					return
				}
				if p.root != "" && v.root != p.root {
					t.Errorf("root %q, want the ledger's %s", v.root, p.root)
				}
				if v.root == "" || !strings.Contains(v.proof, p.proof) {
					t.Errorf("root %q proof %q, want a root and a proof naming %q", v.root, v.proof, p.proof)
				}
			})
		}
	}
}

// TestContentFaultsCaught: faults the count check cannot see (the framing
// and the record count are right, the content is not) end every mode's
// stream as a failure with verify_content, and pass as complete without it.
func TestContentFaultsCaught(t *testing.T) {
	cases := []struct {
		name, path string
		fault      sim.Fault
		code       string
		msg        string
	}{
		{"flipped byte", "/transactions/100/200", sim.Fault{Kind: sim.Flip, After: 57, Endpoint: "transactions"}, "content-mismatch", "record 57"},
		{"swapped record", "/transactions/100/200", sim.Fault{Kind: sim.Swap, After: 80, Endpoint: "transactions"}, "content-mismatch", "do not fold into the ledger's accumulator"},
		{"unknown variant", "/transactions/100/200", sim.Fault{Kind: sim.Variant, After: 3, Endpoint: "transactions"}, "content-unknown-variant", "record 3"},
		{"stale state value", "/state_snapshot/2000", sim.Fault{Kind: sim.Stale, After: 111, Endpoint: "state_snapshot"}, "content-mismatch", "state"},
		{"stale value in a chunk", "/state_snapshot_chunk/2000/0/400", sim.Fault{Kind: sim.Stale, After: 10, Endpoint: "state_snapshot_chunk"}, "content-mismatch", "items 0..399"},
		{"forged ledger info", "/epoch_ending_ledger_infos/3/9", sim.Fault{Kind: sim.Flip, After: 2, Endpoint: "epoch_ending_ledger_infos"}, "content-", "record 2"},
	}
	for _, tc := range cases {
		for _, verify := range []bool{true, false} {
			for _, mode := range allModes {
				name := fmt.Sprintf("%s/verify=%v/%s", tc.name, verify, mode)
				t.Run(name, func(t *testing.T) {
					up := startSim(t, genuineChain())
					pc := testConfig(up.URL())
					pc.VerifyContent = verify
					if verify {
						pc.TrustedWaypoint = up.Chain().GenesisWaypoint().String()
					}
					px := startProxy(t, pc)
					f := tc.fault
					f.Count = -1
					up.SetFaults(f)
					v := fetch(t, "http://"+px.Addr()+tc.path, mode)
					if !verify {
						// The count check alone: a clean, complete-looking end.
						if v.code != "" || v.cut {
							t.Fatalf("without verify_content: %s %s (cut %v); the fault must be one counts cannot see", v.code, v.msg, v.cut)
						}
						return
					}
					switch mode {
					case modePlain:
						if !v.cut {
							t.Fatalf("a plain client got a clean end of a stream whose content is wrong")
						}
					default:
						if !strings.HasPrefix(v.code, tc.code) || !strings.Contains(v.msg, tc.msg) {
							t.Fatalf("ended %q %q, want %s naming %q", v.code, v.msg, tc.code, tc.msg)
						}
						if v.root != "" {
							t.Fatalf("a failed stream vouches for root %s", v.root)
						}
					}
					// (Epoch endings are also what the Trust reads.)
					if got := up.Stats().Requests[f.Endpoint]; got != 1 && f.Endpoint != "epoch_ending_ledger_infos" {
						t.Errorf("%d requests of the stream: a content failure is final, not resumed", got)
					}
				})
			}
		}
	}
}

// TestContentAcrossResume: a stream cut midway and resumed is verified as
// one: every record once, the range proven at the end.
func TestContentAcrossResume(t *testing.T) {
	up := startSim(t, genuineChain())
	pc := testConfig(up.URL())
	pc.VerifyContent = true
	var log testkit.SyncBuffer
	px := testkit.StartProxy(t, pc, slog.New(slog.NewJSONHandler(&log, nil)))
	const path = "/transactions/10/600"
	_, want := up.Chain().Body(mustParse(t, path))
	up.SetFaults(sim.Fault{Kind: sim.Abort, After: 250, Count: 1, Endpoint: "transactions"})
	v := fetch(t, "http://"+px.Addr()+path, modeFramed)
	if v.code != "" || !bytes.Equal(v.body, want) {
		t.Fatalf("ended %q %q with %d bytes, want ok with %d", v.code, v.msg, len(v.body), len(want))
	}
	if v.root != ledgerRoot(t, up, 609) || !strings.Contains(v.proof, "signatures unchecked") {
		t.Fatalf("root %q proof %q", v.root, v.proof)
	}
	if got := up.Stats().Requests["transactions"]; got != 2 {
		t.Errorf("%d transactions requests, want 2", got)
	}
	// The log line is written once the response has gone.
	logged := `"content_root":"` + v.root + `"`
	waitFor(t, 5*time.Second, "the request's log line naming its content root", func() bool { return strings.Contains(log.String(), logged) })
}

// TestContentUnproven: what the node cannot prove is reported, not passed:
// versions past the committed one, a waypoint of another chain, a proof
// endpoint that fails; and a chunk with no earlier chunk says it was only
// checked for order.
func TestContentUnproven(t *testing.T) {
	up := startSim(t, genuineChain())
	C := up.Chain().Config().CommittedVersion
	other := genuineChain()
	other.Seed++
	foreign := sim.NewChain(other).GenesisWaypoint().String()
	t.Run("past the committed version", func(t *testing.T) {
		pc := testConfig(up.URL())
		pc.VerifyContent = true
		px := startProxy(t, pc)
		v := fetch(t, fmt.Sprintf("http://%s/transactions/%d/3", px.Addr(), C), modeFramed)
		if v.code != "content-unproven" {
			t.Fatalf("ended %q %q, want content-unproven", v.code, v.msg)
		}
	})
	t.Run("foreign waypoint", func(t *testing.T) {
		pc := testConfig(up.URL())
		pc.VerifyContent, pc.TrustedWaypoint = true, foreign
		px := startProxy(t, pc)
		v := fetch(t, "http://"+px.Addr()+"/transactions/5/20", modeFramed)
		if !strings.HasPrefix(v.code, "content-") {
			t.Fatalf("ended %q %q, want a content failure", v.code, v.msg)
		}
	})
	t.Run("proof endpoint fails", func(t *testing.T) {
		pc := testConfig(up.URL())
		pc.VerifyContent = true
		pc.UpstreamRetries = 0
		px := startProxy(t, pc)
		up.SetFaults(sim.Fault{Kind: sim.Status500, Count: -1, Endpoint: "transaction_range_proof"})
		defer up.SetFaults()
		v := fetch(t, "http://"+px.Addr()+"/transactions/5/20", modeTrailers)
		if v.code != "content-unproven" {
			t.Fatalf("ended %q %q, want content-unproven", v.code, v.msg)
		}
	})
	t.Run("lone chunk", func(t *testing.T) {
		pc := testConfig(up.URL())
		pc.VerifyContent = true
		px := startProxy(t, pc)
		v := fetch(t, "http://"+px.Addr()+"/state_snapshot_chunk/2000/100/50", modeFramed)
		if v.code != "" || v.root != "" || !strings.Contains(v.proof, "key order only") {
			t.Fatalf("ended %q %q, root %q proof %q", v.code, v.msg, v.root, v.proof)
		}
	})
	t.Run("chunks in order continue the tree", func(t *testing.T) {
		pc := testConfig(up.URL())
		pc.VerifyContent = true
		px := startProxy(t, pc)
		for _, p := range []string{"/state_snapshot_chunk/2000/0/300", "/state_snapshot_chunk/2000/300/300", "/state_snapshot_chunk/2000/600/300"} {
			v := fetch(t, "http://"+px.Addr()+p, modeFramed)
			if v.code != "" || v.root == "" {
				t.Fatalf("%s: ended %q %q, root %q proof %q", p, v.code, v.msg, v.root, v.proof)
			}
		}
	})
}

// TestContentOlderNodes: an older node's 4-tuple records verify as the
// 5-tuple do, and without a waypoint the epoch chain is checked from its
// first record on (which it says).
func TestContentOlderNodes(t *testing.T) {
	cfg := genuineChain()
	cfg.RecordV0 = true
	up := startSim(t, cfg)
	pc := testConfig(up.URL())
	pc.VerifyContent = true
	px := startProxy(t, pc)
	for _, c := range []struct{ path, root, proof string }{
		{"/transactions/100/50", ledgerRoot(t, up, 149), "signatures unchecked"},
		{"/epoch_ending_ledger_infos/2/6", "", "taken on its face"},
	} {
		v := fetch(t, "http://"+px.Addr()+c.path, modeFramed)
		_, want := up.Chain().Body(mustParse(t, c.path))
		if v.code != "" || !bytes.Equal(v.body, want) {
			t.Fatalf("%s: ended %q %q with %d bytes, want ok with %d", c.path, v.code, v.msg, len(v.body), len(want))
		}
		if (c.root != "" && v.root != c.root) || v.root == "" || !strings.Contains(v.proof, c.proof) {
			t.Errorf("%s: root %q proof %q", c.path, v.root, v.proof)
		}
	}
}
