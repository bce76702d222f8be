package smt

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

func fuzzDecode(f *testing.F, decode func(r *bcs.Reader) func(w *bcs.Writer)) {
	f.Add([]byte{0})
	f.Add([]byte{0, 0})
	f.Add(append([]byte{1, 32}, make([]byte, 32)...))
	f.Add(append(append([]byte{1, 32}, make([]byte, 32)...), append([]byte{32}, make([]byte, 33)...)...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x07})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bcs.NewReader(b)
		encode := decode(r)
		if r.Done() != nil {
			return
		}
		w := bcs.NewWriter(nil)
		encode(w)
		if !bytes.Equal(w.Encoded(), b) {
			t.Fatalf("re-encoded % x, input % x", w.Encoded(), b)
		}
	})
}

func FuzzSparseMerkleRangeProof(f *testing.F) {
	fuzzDecode(f, func(r *bcs.Reader) func(*bcs.Writer) {
		var p SparseMerkleRangeProof
		p.Decode(r)
		_ = p.Verify(hash.Zero, SparseMerkleLeafNode{Key: hash.Value{0xa5}}, p.RightSiblings)
		return p.Encode
	})
}

func FuzzSparseMerkleProof(f *testing.F) {
	fuzzDecode(f, func(r *bcs.Reader) func(*bcs.Writer) {
		var p SparseMerkleProof
		p.Decode(r)
		_ = p.Verify(hash.Zero, hash.Value{0x5a}, nil)
		return p.Encode
	})
}

func FuzzSparseMerkleLeafNode(f *testing.F) {
	fuzzDecode(f, func(r *bcs.Reader) func(*bcs.Writer) {
		var l SparseMerkleLeafNode
		l.Decode(r)
		return l.Encode
	})
}

func BenchmarkBuilderAdd(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	leaves := randomLeaves(rng, 1<<16, false)
	bl := NewBuilder()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i == len(leaves) {
			b.StopTimer()
			bl, i = NewBuilder(), 0
			b.StartTimer()
		}
		bl.Add(leaves[i].Key, leaves[i].ValueHash)
		i++
	}
}
