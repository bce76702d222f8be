package content_test

import (
	"context"
	"crypto/sha3"
	"fmt"
	"testing"

	"github.com/backseal/backseal/content"
	"github.com/backseal/backseal/internal/testkit"
	"github.com/backseal/backseal/sim"
	"github.com/backseal/backseal/upstream"
)

// chainSource answers proofs from a simulated chain, in process.
type chainSource struct{ c *sim.Chain }

func (s chainSource) Fetch(_ context.Context, req upstream.Request) ([]byte, error) {
	status, b := s.c.Body(req)
	if status != 200 {
		return nil, fmt.Errorf("HTTP %d", status)
	}
	return b, nil
}

// BenchmarkTransactions verifies a genuine /transactions stream in 256 KiB
// writes (what the sidecar reads), beside two baselines over the same
// bytes: SHA3-256 of every byte once (the floor: every byte is hashed),
// and nothing but the record split.
func BenchmarkTransactions(b *testing.B) {
	cfg := testkit.Chain()
	cfg.Genuine = true
	chain := sim.NewChain(cfg)
	req := upstream.Request{Endpoint: upstream.Transactions, Args: [3]uint64{0, 2000}}
	_, body := chain.Body(req)
	src := chainSource{chain}
	feed := func(b *testing.B, write func([]byte) error) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			for off := 0; off < len(body); off += 256 << 10 {
				if err := write(body[off:min(off+256<<10, len(body))]); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("verify", func(b *testing.B) {
		trust := content.NewTrust(nil, src)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			s, err := content.New(context.Background(), req, src, trust, 64<<20)
			if err != nil {
				b.Fatal(err)
			}
			for off := 0; off < len(body); off += 256 << 10 {
				if err := s.Write(body[off:min(off+256<<10, len(body))]); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := s.Finish(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sha3-floor", func(b *testing.B) {
		h := sha3.New256()
		feed(b, func(p []byte) error { h.Write(p); return nil })
	})
}
