package ledger

import (
	"fmt"
	"math/bits"

	"github.com/backseal/backseal/aptos/bcs"
)

// MaxBitVecBuckets is the longest BitVec the Rust deserializer accepts:
// positions are u16, so 65536 bits in 8192 bytes.
const MaxBitVecBuckets = 8192

// BitVec is the signer bitmask of an AggregateSignature. Bit i is validator
// i of the ValidatorVerifier; bits run from the most significant bit of the
// first byte (position 0 is 0x80 of byte 0, position 9 is 0x40 of byte 1).
// In BCS it is a Vec<u8> (serde_bytes) of at most MaxBitVecBuckets bytes.
//
// Rust: crates/aptos-bitvec/src/lib.rs, BitVec.
type BitVec struct {
	Buckets []byte
}

// NewBitVec returns a BitVec with room for n bits, as BitVec::with_num_bits.
func NewBitVec(n int) BitVec {
	return BitVec{Buckets: make([]byte, requiredBuckets(n))}
}

// requiredBuckets is BitVec::required_buckets: bytes needed for n bits.
func requiredBuckets(n int) int { return (n + 7) / 8 }

// Set sets bit i, growing the vector if needed.
func (b *BitVec) Set(i int) {
	for len(b.Buckets) <= i/8 {
		b.Buckets = append(b.Buckets, 0)
	}
	b.Buckets[i/8] |= 0x80 >> (i % 8)
}

// IsSet reports whether bit i is set.
func (b BitVec) IsSet(i int) bool {
	return i/8 < len(b.Buckets) && b.Buckets[i/8]&(0x80>>(i%8)) != 0
}

// CountOnes returns the number of set bits.
func (b BitVec) CountOnes() int {
	n := 0
	for _, v := range b.Buckets {
		n += bits.OnesCount8(v)
	}
	return n
}

// LastSetBit returns the highest set position, or -1 when none is set.
func (b BitVec) LastSetBit() int {
	for i := len(b.Buckets) - 1; i >= 0; i-- {
		if v := b.Buckets[i]; v != 0 {
			return i*8 + 7 - bits.TrailingZeros8(v)
		}
	}
	return -1
}

// Decode reads a BitVec. The buckets alias the reader's input.
func (b *BitVec) Decode(r *bcs.Reader) {
	b.Buckets = r.Bytes()
	if len(b.Buckets) > MaxBitVecBuckets {
		r.Fail(fmt.Errorf("ledger: BitVec of %d bytes, over %d", len(b.Buckets), MaxBitVecBuckets))
	}
}

// Encode writes the BitVec.
func (b BitVec) Encode(w *bcs.Writer) { w.Bytes(b.Buckets) }
