package accumulator

import (
	"fmt"
	"math/bits"

	"github.com/backseal/backseal/aptos/hash"
)

// Tree is a whole accumulator in memory, for a simulator that serves what a
// node's storage would: it keeps every full subtree's root (about two hashes
// per leaf) and computes the others, as storage/accumulator computes its
// non-frozen nodes on the fly.
//
// Rust: storage/accumulator/src/lib.rs, MerkleAccumulatorView.
type Tree struct {
	hasher *hash.Hasher
	// levels[l][i] is the root of the full subtree of leaves [i<<l, (i+1)<<l).
	levels [][]hash.Value
}

// NewTree builds the tree over leaves, hashing internal nodes with h.
func NewTree(h *hash.Hasher, leaves []hash.Value) *Tree {
	t := &Tree{hasher: h, levels: [][]hash.Value{append([]hash.Value(nil), leaves...)}}
	for below := t.levels[0]; len(below) > 1; below = t.levels[len(t.levels)-1] {
		up := make([]hash.Value, len(below)/2)
		for i := range up {
			up[i] = node(h, &below[2*i], &below[2*i+1])
		}
		t.levels = append(t.levels, up)
	}
	return t
}

// NumLeaves returns the number of leaves.
func (t *Tree) NumLeaves() uint64 { return uint64(len(t.levels[0])) }

// Leaf returns leaf i.
func (t *Tree) Leaf(i uint64) hash.Value { return t.levels[0][i] }

// nodeHash is get_hash for the ledger of numLeaves leaves: the placeholder
// right of the last leaf, a stored root where the subtree is full, else
// its children's hash.
func (t *Tree) nodeHash(numLeaves uint64, level int, index uint64) hash.Value {
	lastLeaf := numLeaves - 1
	switch {
	case index<<level > lastLeaf:
		return hash.AccumulatorPlaceholder
	case (index+1)<<level-1 <= lastLeaf:
		return t.levels[level][index]
	}
	l := t.nodeHash(numLeaves, level-1, 2*index)
	r := t.nodeHash(numLeaves, level-1, 2*index+1)
	return node(t.hasher, &l, &r)
}

// rootLevel is Position::root_level_from_leaf_count.
func rootLevel(numLeaves uint64) int { return bits.Len64(numLeaves - 1) }

func (t *Tree) checkCount(numLeaves uint64) error {
	if numLeaves > t.NumLeaves() {
		return fmt.Errorf("accumulator: ledger of %d leaves asked of a tree of %d", numLeaves, t.NumLeaves())
	}
	return nil
}

// Root returns the root of the whole tree.
func (t *Tree) Root() hash.Value {
	r, _ := t.RootAt(t.NumLeaves())
	return r
}

// RootAt returns the root of the ledger made of the first numLeaves leaves:
// the placeholder for none.
func (t *Tree) RootAt(numLeaves uint64) (hash.Value, error) {
	if err := t.checkCount(numLeaves); err != nil {
		return hash.Value{}, err
	}
	if numLeaves == 0 {
		return hash.AccumulatorPlaceholder, nil
	}
	return t.nodeHash(numLeaves, rootLevel(numLeaves), 0), nil
}

// siblings are get_sibling_positions' hashes: the siblings of leaf's path
// below the root, bottom-up, those that keep says to.
func (t *Tree) siblings(numLeaves, leaf uint64, keep func(siblingIsRight bool) bool) []hash.Value {
	var out []hash.Value
	for l := range rootLevel(numLeaves) {
		sib := leaf>>l ^ 1
		if keep(sib&1 == 1) {
			out = append(out, t.nodeHash(numLeaves, l, sib))
		}
	}
	return out
}

// Proof returns the proof of leaf index in the whole tree.
func (t *Tree) Proof(index uint64) (AccumulatorProof, error) {
	return t.ProofAt(t.NumLeaves(), index)
}

// ProofAt is get_proof: the proof of leaf index in the ledger of numLeaves leaves.
func (t *Tree) ProofAt(numLeaves, index uint64) (AccumulatorProof, error) {
	if err := t.checkCount(numLeaves); err != nil {
		return AccumulatorProof{}, err
	}
	if index >= numLeaves {
		return AccumulatorProof{}, fmt.Errorf("accumulator: invalid leaf index %d, num leaves %d", index, numLeaves)
	}
	return AccumulatorProof{Siblings: t.siblings(numLeaves, index, func(bool) bool { return true })}, nil
}

// RangeProof returns the proof of leaves first..last (inclusive) in the
// whole tree.
func (t *Tree) RangeProof(first, last uint64) (AccumulatorRangeProof, error) {
	return t.RangeProofAt(t.NumLeaves(), first, last)
}

// RangeProofAt is get_range_proof(Some(first), last-first+1) in the ledger
// of numLeaves leaves.
func (t *Tree) RangeProofAt(numLeaves, first, last uint64) (AccumulatorRangeProof, error) {
	if err := t.checkCount(numLeaves); err != nil {
		return AccumulatorRangeProof{}, err
	}
	if first > last || last >= numLeaves {
		return AccumulatorRangeProof{}, fmt.Errorf("accumulator: invalid range %d..%d, num leaves %d", first, last, numLeaves)
	}
	return AccumulatorRangeProof{
		LeftSiblings:  t.siblings(numLeaves, first, func(right bool) bool { return !right }),
		RightSiblings: t.siblings(numLeaves, last, func(right bool) bool { return right }),
	}, nil
}

// ConsistencyProof is get_consistency_proof: the subtrees that extend the
// ledger of subLeaves leaves to the one of numLeaves leaves.
func (t *Tree) ConsistencyProof(numLeaves, subLeaves uint64) (AccumulatorConsistencyProof, error) {
	if err := t.checkCount(numLeaves); err != nil {
		return AccumulatorConsistencyProof{}, err
	}
	if subLeaves > numLeaves {
		return AccumulatorConsistencyProof{}, fmt.Errorf("accumulator: consistency from %d leaves to %d", subLeaves, numLeaves)
	}
	var out []hash.Value
	cur, remaining := subLeaves, numLeaves-subLeaves
	for remaining > 0 {
		// FrozenSubtreeSiblingIterator: complete the rightmost frozen
		// subtree's sibling if it fits, else the largest that fits.
		size := uint64(1) << (63 - bits.LeadingZeros64(remaining))
		if cur > 0 {
			if r := uint64(1) << bits.TrailingZeros64(cur); remaining >= r {
				size = r
			}
		}
		level := bits.TrailingZeros64(size)
		out = append(out, t.levels[level][cur>>level])
		cur += size
		remaining -= size
	}
	return AccumulatorConsistencyProof{Subtrees: out}, nil
}
