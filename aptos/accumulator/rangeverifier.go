package accumulator

import (
	"fmt"
	"math/bits"

	"github.com/backseal/backseal/aptos/hash"
)

// RangeVerifier checks an AccumulatorRangeProof over leaves that arrive one
// at a time, in O(log n) memory, giving exactly the answer of
// AccumulatorRangeProof.Verify over the same leaves.
//
// Why it works. Rust's verify walks up level by level; at level l the range
// covers nodes first>>l .. last>>l, and it takes a left sibling where
// first>>l is odd and a right sibling where last>>l is even, stopping at the
// first level where one node is left and both sibling lists are used up.
// The left siblings, bottom-up, are then the roots of the full subtrees
// that make up the first `low` leaves of that level's subtree (low is first
// with only its lowest len(LeftSiblings) 1-bits kept, those that the walk
// passes): an Accumulator of low leaves whose frozen roots are the left
// siblings, largest first. Appending the range's leaves to it computes every
// node on the left of and inside the range; at Finish the range's last leaf
// is known, and the walk up from the accumulator's last frozen root, taking
// frozen roots on the left and right siblings on the right, ends at the root
// Rust computes. Which levels the walk passes depends only on first, the
// leaf count and the two list lengths, so Finish settles acceptance from
// those numbers first, as Rust's walk would.
type RangeVerifier struct {
	hasher   *hash.Hasher
	expected hash.Value
	proof    *AccumulatorRangeProof
	empty    bool   // the proof is for the empty range (first leaf index None)
	first    uint64 // the first leaf index, as Rust's Position sees it (63 bits)
	low      uint64 // the leaf count of the seeded accumulator
	err      error  // a refusal known before any leaf
	acc      Accumulator
	n        uint64
}

// NewRangeVerifier starts verifying that the leaves given to Add are the
// leaves from *firstLeafIndex on of the accumulator with root expectedRoot.
// A nil firstLeafIndex is the empty range. The verifier keeps proof (it
// must not change until Finish) and reports any refusal at Finish.
func NewRangeVerifier(h *hash.Hasher, expectedRoot hash.Value, firstLeafIndex *uint64, proof *AccumulatorRangeProof) *RangeVerifier {
	v := &RangeVerifier{hasher: h, expected: expectedRoot, proof: proof, acc: Accumulator{hasher: h}}
	if firstLeafIndex == nil {
		v.empty = true
		return v
	}
	if v.err = proof.checkDepth(); v.err != nil {
		return v
	}
	// Position::from_leaf_index shifts the index left by one, dropping bit
	// 63; above level 62 every position is a left child.
	v.first = *firstLeafIndex &^ (1 << 63)
	k := len(proof.LeftSiblings)
	if k > bits.OnesCount64(v.first) {
		// The walk never takes the extra left siblings, so it never stops.
		v.err = ErrMissingRightSibling
		return v
	}
	low := v.first
	for bits.OnesCount64(low) > k {
		low &^= 1 << (63 - bits.LeadingZeros64(low))
	}
	v.low = low
	// Seed: the frozen roots of low leaves, largest (top-most) first.
	v.acc.numLeaves = low
	v.acc.numFrozen = k
	for i, s := range proof.LeftSiblings {
		v.acc.frozen[k-1-i] = s
	}
	return v
}

// Add takes the next leaf of the range. It does not allocate.
func (v *RangeVerifier) Add(leaf hash.Value) {
	v.n++
	if v.err == nil && !v.empty {
		v.acc.Add(leaf)
	}
}

// Finish reports whether the leaves added form the range the proof proves,
// under the expected root: nil exactly when Rust's verify accepts. Where
// a proof is wrong in several ways the error may name another of them.
func (v *RangeVerifier) Finish() error {
	p := v.proof
	if v.empty {
		if v.n != 0 {
			return ErrEmptyRange
		}
		if len(p.LeftSiblings) != 0 || len(p.RightSiblings) != 0 {
			return ErrSiblingsForEmptyRange
		}
		return nil
	}
	if v.err != nil {
		return v.err
	}
	if v.n == 0 {
		return ErrEmptyRange
	}
	// The walk, relative to the subtree it ends on: nodes low>>l ..
	// last>>l at level l. It may stop at the first level top >= topMin where
	// one node remains and the right siblings are used up: each level below
	// topMin where last>>l is even takes one, and each level from topMin on
	// takes one.
	last := v.low + v.n - 1
	topMin := bits.Len64(last)
	zeros := topMin - bits.OnesCount64(last)
	m := len(p.RightSiblings)
	if m < zeros {
		return ErrMissingRightSibling
	}
	top := topMin + m - zeros
	// The walk must stop before the level of first's next 1-bit above low,
	// where it would want a left sibling it does not have.
	if rest := v.first &^ v.low; rest != 0 && bits.TrailingZeros64(rest) < top {
		return ErrMissingLeftSibling
	}
	// Walk up from the last frozen root of the accumulator, which is the
	// full subtree ending at the last leaf.
	a := &v.acc
	f := a.numFrozen - 1
	cur := a.frozen[f]
	j := 0
	for l := bits.TrailingZeros64(a.numLeaves); l < top; l++ {
		if l < 64 && last>>l&1 == 1 {
			f--
			cur = node(v.hasher, &a.frozen[f], &cur)
		} else {
			cur = node(v.hasher, &cur, &p.RightSiblings[j])
			j++
		}
	}
	if cur != v.expected {
		return fmt.Errorf("%w: got %v, want %v", ErrRootMismatch, cur, v.expected)
	}
	return nil
}
