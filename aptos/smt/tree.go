package smt

import (
	"bytes"
	"fmt"
	"sort"

	"github.com/backseal/backseal/aptos/hash"
)

// Tree is a whole state tree in memory, for a simulator that serves what a
// node's Jellyfish Merkle tree would. Proofs cost O(n) hashes each: it is
// for tests, not for a large state.
//
// Rust: storage/jellyfish-merkle/src/lib.rs, JellyfishMerkleTree
// (get_with_proof, get_range_proof).
type Tree struct {
	leaves []SparseMerkleLeafNode
}

// NewTree builds the tree over leaves, which must be sorted by key with no
// key twice.
func NewTree(leaves []SparseMerkleLeafNode) (*Tree, error) {
	for i := 1; i < len(leaves); i++ {
		if bytes.Compare(leaves[i-1].Key[:], leaves[i].Key[:]) >= 0 {
			return nil, fmt.Errorf("%w: leaf %d", ErrKeyOrder, i)
		}
	}
	return &Tree{leaves: append([]SparseMerkleLeafNode(nil), leaves...)}, nil
}

// Len returns the number of leaves.
func (t *Tree) Len() int { return len(t.leaves) }

// Leaf returns leaf i.
func (t *Tree) Leaf(i int) SparseMerkleLeafNode { return t.leaves[i] }

// split returns the first index in [lo, hi) whose key has bit depth set.
func (t *Tree) split(lo, hi, depth int) int {
	return lo + sort.Search(hi-lo, func(i int) bool { return bit(&t.leaves[lo+i].Key, depth) })
}

// subtree hashes leaves [lo, hi), which share their first depth bits, as
// the node at that depth.
func (t *Tree) subtree(lo, hi, depth int) hash.Value {
	switch hi - lo {
	case 0:
		return hash.SparseMerklePlaceholder
	case 1:
		return t.leaves[lo].Hash()
	}
	mid := t.split(lo, hi, depth)
	l, r := t.subtree(lo, mid, depth+1), t.subtree(mid, hi, depth+1)
	return internal(&l, &r)
}

// Root returns the root hash.
func (t *Tree) Root() hash.Value { return t.subtree(0, len(t.leaves), 0) }

// path returns the siblings of leaf index from the root down to where it
// is alone, and for each whether the leaf's side is the right one.
func (t *Tree) path(index int) (siblings []hash.Value, onRight []bool) {
	lo, hi := 0, len(t.leaves)
	for depth := 0; hi-lo > 1; depth++ {
		mid := t.split(lo, hi, depth)
		if index < mid {
			siblings = append(siblings, t.subtree(mid, hi, depth+1))
			onRight = append(onRight, false)
			hi = mid
		} else {
			siblings = append(siblings, t.subtree(lo, mid, depth+1))
			onRight = append(onRight, true)
			lo = mid
		}
	}
	return siblings, onRight
}

// Proof is get_with_proof for the key of leaf index: the leaf and its
// siblings, bottom first.
func (t *Tree) Proof(index int) SparseMerkleProof {
	siblings, _ := t.path(index)
	reverse(siblings)
	leaf := t.leaves[index]
	return SparseMerkleProof{Leaf: &leaf, Siblings: siblings}
}

// RangeProof is get_range_proof for the key of leaf index: the right
// siblings of its path, bottom first.
func (t *Tree) RangeProof(index int) SparseMerkleRangeProof {
	siblings, onRight := t.path(index)
	var right []hash.Value
	for i := range siblings {
		if !onRight[i] {
			right = append(right, siblings[i])
		}
	}
	reverse(right)
	return SparseMerkleRangeProof{RightSiblings: right}
}

func reverse(hs []hash.Value) {
	for i, j := 0, len(hs)-1; i < j; i, j = i+1, j-1 {
		hs[i], hs[j] = hs[j], hs[i]
	}
}
