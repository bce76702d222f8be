package accumulator

import (
	"bytes"
	"testing"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

// fuzzDecode checks that decode never panics and that what decodes encodes
// back to the input.
func fuzzDecode(f *testing.F, decode func(r *bcs.Reader) func(w *bcs.Writer)) {
	f.Add([]byte{0})
	f.Add([]byte{0, 0})
	f.Add(append([]byte{1, 32}, make([]byte, 32)...))
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

func FuzzAccumulatorProof(f *testing.F) {
	fuzzDecode(f, func(r *bcs.Reader) func(*bcs.Writer) {
		var p AccumulatorProof
		p.Decode(r)
		return p.Encode
	})
}

func FuzzAccumulatorRangeProof(f *testing.F) {
	fuzzDecode(f, func(r *bcs.Reader) func(*bcs.Writer) {
		var p AccumulatorRangeProof
		p.Decode(r)
		// Whatever decodes, both verifiers must survive it.
		first := uint64(r.Remaining())
		_ = p.Verify(hash.TransactionAccumulator, hash.Zero, &first, []hash.Value{{}})
		return p.Encode
	})
}

func FuzzAccumulatorConsistencyProof(f *testing.F) {
	fuzzDecode(f, func(r *bcs.Reader) func(*bcs.Writer) {
		var p AccumulatorConsistencyProof
		p.Decode(r)
		return p.Encode
	})
}

func FuzzTransactionInfoWithProof(f *testing.F) {
	fuzzDecode(f, func(r *bcs.Reader) func(*bcs.Writer) {
		var p TransactionInfoWithProof
		p.Decode(r, nil)
		return p.Encode
	})
}

func BenchmarkAccumulatorAdd(b *testing.B) {
	a := New(hash.TransactionAccumulator)
	var leaf hash.Value
	b.ReportAllocs()
	for b.Loop() {
		a.Add(leaf)
	}
}

func BenchmarkRangeVerifierAdd(b *testing.B) {
	first := uint64(1<<40 + 12345)
	v := NewRangeVerifier(hash.TransactionAccumulator, hash.Zero, &first,
		&AccumulatorRangeProof{LeftSiblings: make([]hash.Value, 6)})
	var leaf hash.Value
	b.ReportAllocs()
	for b.Loop() {
		v.Add(leaf)
	}
}
