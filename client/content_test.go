package client_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/backseal/backseal/client"
	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/internal/testkit"
	"github.com/backseal/backseal/sim"
)

// TestVerifyContent: the client checks a stream's content itself, with
// proofs through the same sidecar: it agrees with a sidecar that verified
// too, and catches a damaged record that a sidecar without verify_content
// passed as complete.
func TestVerifyContent(t *testing.T) {
	cfg := testChain()
	cfg.Genuine = true
	up := testkit.StartSim(t, cfg)
	waypoint := up.Chain().GenesisWaypoint().String()
	const path = "/transactions/200/400"
	for _, sidecarVerifies := range []bool{true, false} {
		pc := testkit.ProxyConfig(up.URL())
		pc.VerifyContent = sidecarVerifies
		px := testkit.StartProxy(t, pc, nil)
		c := &client.Client{VerifyContent: true, TrustedWaypoint: waypoint}
		url := "http://" + px.Addr() + path

		sum, err := c.Fetch(context.Background(), url, io.Discard)
		if err != nil {
			t.Fatalf("sidecar verifies=%v: clean stream: %v", sidecarVerifies, err)
		}
		if len(sum.ContentRoot) != 64 || !strings.Contains(sum.ContentProof, "trusted from waypoint "+waypoint) {
			t.Fatalf("sidecar verifies=%v: root %q proof %q", sidecarVerifies, sum.ContentRoot, sum.ContentProof)
		}

		up.SetFaults(sim.Fault{Kind: sim.Flip, After: 123, Count: -1, Endpoint: "transactions"})
		_, err = c.Fetch(context.Background(), url, io.Discard)
		up.SetFaults()
		var se *framing.StreamError
		if !errors.As(err, &se) || se.Code != framing.CodeContentMismatch || !strings.Contains(se.Message, "record 123") {
			t.Fatalf("sidecar verifies=%v: flipped byte: %v, want content-mismatch at record 123", sidecarVerifies, err)
		}
		if got := client.ExitCode(err); got != client.ExitStream {
			t.Errorf("exit code %d, want %d (stream failure)", got, client.ExitStream)
		}
	}
}
