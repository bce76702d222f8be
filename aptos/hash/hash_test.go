package hash

import (
	"bytes"
	"crypto/sha3"
	"testing"

	"github.com/backseal/backseal/aptos/bcs"
)

// TestHasherIsSeedThenValue checks the construction against a direct
// computation: SHA3-256(SHA3-256("APTOS::" + name) || value), and that a
// Hasher's state is not shared between sums.
func TestHasherIsSeedThenValue(t *testing.T) {
	h := NewHasher("Transaction")
	seed := sha3.Sum256([]byte("APTOS::Transaction"))
	if h.Seed() != seed {
		t.Fatalf("seed = %v, want %x", h.Seed(), seed)
	}
	for _, v := range []string{"", "a", string(make([]byte, 1000))} {
		want := sha3.Sum256(append(seed[:], v...))
		if got := h.Sum([]byte(v)); got != want {
			t.Errorf("Sum(%d bytes) = %v, want %x", len(v), got, want)
		}
		s := h.State()
		s.Write([]byte(v))
		if got := Value(s.Sum(nil)); got != want {
			t.Errorf("State(%d bytes) = %v, want %x", len(v), got, want)
		}
	}
	if got, want := h.Sum([]byte("ab")), h.Sum([]byte("a"), []byte("b")); got != want {
		t.Errorf("parts: %v != %v", got, want)
	}
}

func TestPlaceholders(t *testing.T) {
	if got := string(AccumulatorPlaceholder[:28]); got != "ACCUMULATOR_PLACEHOLDER_HASH" || AccumulatorPlaceholder[28] != 0 {
		t.Errorf("accumulator placeholder %v", AccumulatorPlaceholder)
	}
	if got := string(SparseMerklePlaceholder[:30]); got != "SPARSE_MERKLE_PLACEHOLDER_HASH" {
		t.Errorf("sparse merkle placeholder %v", SparseMerklePlaceholder)
	}
}

func TestParse(t *testing.T) {
	h := MustParse("0x" + "ab" + string(make([]byte, 0)) + "cd00000000000000000000000000000000000000000000000000000000000000"[:62])
	if h[0] != 0xab || h[1] != 0xcd {
		t.Fatalf("parsed %v", h)
	}
	if _, err := Parse("abc"); err == nil {
		t.Error("short hex parsed")
	}
	if _, err := Parse(string(make([]byte, 64))); err == nil {
		t.Error("non-hex parsed")
	}
}

func BenchmarkSum(b *testing.B) {
	h := NewHasher("Transaction")
	buf := make([]byte, 1024)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		h.Sum(buf)
	}
}

// TestBCS: a HashValue is its 32 bytes with no length, as the staged serde
// format of aptos-core says (testsuite/generate-format/tests/staged/aptos.yaml
// @ 51fb31b6: HashValue: STRUCT: hash: TUPLEARRAY: U8, SIZE 32) and
// crates/aptos-crypto/src/hash.rs @ f460cd07 writes it.
func TestBCS(t *testing.T) {
	h := NewHasher("x").Sum([]byte("y"))
	w := bcs.NewWriter(nil)
	Write(w, &h)
	if got := w.Encoded(); !bytes.Equal(got, h[:]) {
		t.Fatalf("encoded %x, want the 32 bytes %v", got, h)
	}
	WriteSeq(w, []Value{h, Zero})
	r := bcs.NewReader(w.Encoded())
	if Read(r) != h {
		t.Fatal("Read did not give the hash back")
	}
	if hs := ReadSeq(r); len(hs) != 2 || hs[0] != h || hs[1] != Zero || r.Done() != nil {
		t.Fatalf("ReadSeq = %v, %v", hs, r.Err())
	}
	// A length the input cannot hold is refused before allocating.
	r = bcs.NewReader([]byte{0xff, 0xff, 0x03, 1, 2})
	if hs := ReadSeq(r); hs != nil || r.Err() == nil {
		t.Fatalf("lying length: %v, %v", hs, r.Err())
	}
}
