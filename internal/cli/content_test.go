package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/backseal/backseal/client"
	"github.com/backseal/backseal/internal/testkit"
	"github.com/backseal/backseal/sim"
)

// TestFetchVerifyContent: backseal fetch --verify-content checks the
// content itself (the sidecar here does not), says what it matched, and
// fails a stream whose framing and count are right but a record is not.
func TestFetchVerifyContent(t *testing.T) {
	cfg := testkit.Chain()
	cfg.Genuine = true
	up := testkit.StartSim(t, cfg)
	pc := testkit.ProxyConfig(up.URL())
	pc.AdminListen = ""
	st := fetchStack{sim: up, proxy: testkit.StartProxy(t, pc, nil)}
	wp := up.Chain().GenesisWaypoint().String()
	out := filepath.Join(t.TempDir(), "txns.bin")

	code, _, stderr := runCmd("fetch", "--verify-content", "--trusted-waypoint", wp, "-o", out, st.url("/transactions/40/300"))
	if code != client.ExitOK || !strings.Contains(stderr, "content verified: root ") || !strings.Contains(stderr, "trusted from waypoint "+wp) {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}

	up.SetFaults(sim.Fault{Kind: sim.Flip, After: 9, Count: -1, Endpoint: "transactions"})
	defer up.ClearFaults()
	if code, _, stderr := runCmd("fetch", "-o", out, st.url("/transactions/40/300")); code != client.ExitOK {
		t.Fatalf("without --verify-content the damage is invisible to counts, yet exit %d:\n%s", code, stderr)
	}
	code, _, stderr = runCmd("fetch", "--verify-content", "-o", out, st.url("/transactions/40/300"))
	if code != client.ExitStream || !strings.Contains(stderr, "content-mismatch") || !strings.Contains(stderr, "record 9") {
		t.Fatalf("exit %d, want %d naming content-mismatch at record 9:\n%s", code, client.ExitStream, stderr)
	}

	for _, args := range [][]string{
		{"fetch", "--trusted-waypoint", wp, st.url("/transactions/0/1")},
		{"fetch", "--verify-content", "--trusted-waypoint", "0:zz", st.url("/transactions/0/1")},
	} {
		if code, _, stderr := runCmd(args...); code != client.ExitUsage {
			t.Errorf("%v: exit %d, want %d:\n%s", args, code, client.ExitUsage, stderr)
		}
	}
}
