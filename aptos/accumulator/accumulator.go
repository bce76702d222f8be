// Package accumulator holds Aptos's Merkle accumulators: the append-only
// trees over transaction infos (the ledger's transaction accumulator) and
// over a transaction's events, their proofs, and the verification of those
// proofs, including a streaming range verifier for ranges too large to hold.
//
// The tree: leaf i sits at level 0, index i; an internal node hashes its two
// children with the tree's hasher (hash.TransactionAccumulator or
// hash.EventAccumulator) over left||right; a subtree with no leaf at all is
// hash.AccumulatorPlaceholder, whatever its level; the root is the node at
// the lowest level that covers every leaf.
//
// Rust: types/src/proof/accumulator/mod.rs, storage/accumulator/src/lib.rs.
package accumulator

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/backseal/backseal/aptos/hash"
)

// MaxProofDepth is MAX_ACCUMULATOR_PROOF_DEPTH: an accumulator has at most
// 2^63 leaves, so no proof has more than 63 siblings on a side.
const MaxProofDepth = 63

// ErrRootMismatch is returned when a proof folds to a root other than the
// expected one.
var ErrRootMismatch = errors.New("accumulator: root hashes do not match")

// node is MerkleTreeInternalNode<H>::hash: the hasher over left || right.
func node(h *hash.Hasher, left, right *hash.Value) hash.Value {
	return h.Sum(left[:], right[:])
}

// Accumulator is InMemoryAccumulator: it keeps only the roots of the full
// (frozen) subtrees, one per 1-bit of the leaf count, so it takes O(log n)
// memory and appends a leaf with at most log n hashes. Unlike the Rust type
// it is mutable: Add changes it in place.
//
// Rust: types/src/proof/accumulator/mod.rs, InMemoryAccumulator.
type Accumulator struct {
	hasher *hash.Hasher
	// frozen[:len] are the frozen subtree roots from left (largest) to right.
	frozen    [64]hash.Value
	numFrozen int
	numLeaves uint64
}

// New returns an empty accumulator whose internal nodes hash with h.
func New(h *hash.Hasher) *Accumulator { return &Accumulator{hasher: h} }

// NewFromFrozen is InMemoryAccumulator::new: an accumulator of numLeaves
// leaves given the roots of its frozen subtrees, left to right. There must
// be one root per 1-bit of numLeaves.
func NewFromFrozen(h *hash.Hasher, frozenSubtreeRoots []hash.Value, numLeaves uint64) (*Accumulator, error) {
	if len(frozenSubtreeRoots) != bits.OnesCount64(numLeaves) {
		return nil, fmt.Errorf("accumulator: %d frozen subtree roots for %d leaves, want %d",
			len(frozenSubtreeRoots), numLeaves, bits.OnesCount64(numLeaves))
	}
	a := &Accumulator{hasher: h, numLeaves: numLeaves, numFrozen: len(frozenSubtreeRoots)}
	copy(a.frozen[:], frozenSubtreeRoots)
	return a, nil
}

// NumLeaves returns how many leaves have been appended.
func (a *Accumulator) NumLeaves() uint64 { return a.numLeaves }

// FrozenSubtreeRoots returns the frozen subtree roots, left to right. The
// slice aliases the accumulator and is valid until the next Add.
func (a *Accumulator) FrozenSubtreeRoots() []hash.Value { return a.frozen[:a.numFrozen] }

// Add appends one leaf (append_one): push it, then merge the two rightmost
// subtrees once per trailing 1-bit of the old leaf count, as adding one to a
// binary number carries. It does not allocate. Past 2^64-1 leaves it panics.
func (a *Accumulator) Add(leaf hash.Value) {
	if a.numLeaves == 1<<64-1 {
		panic("accumulator: leaf count overflows")
	}
	a.frozen[a.numFrozen] = leaf
	a.numFrozen++
	for range bits.TrailingZeros64(^a.numLeaves) {
		a.numFrozen--
		a.frozen[a.numFrozen-1] = node(a.hasher, &a.frozen[a.numFrozen-1], &a.frozen[a.numFrozen])
	}
	a.numLeaves++
}

// Root returns the root hash (compute_root_hash): the placeholder when
// empty, the only frozen root when the tree is full, else the frozen roots
// folded from the right, each 0-bit of the leaf count (above the lowest
// 1-bit) pairing the running hash with a placeholder on its right.
func (a *Accumulator) Root() hash.Value {
	switch a.numFrozen {
	case 0:
		return hash.AccumulatorPlaceholder
	case 1:
		return a.frozen[0]
	}
	bitmap := a.numLeaves >> bits.TrailingZeros64(a.numLeaves)
	cur := hash.AccumulatorPlaceholder
	next := a.numFrozen - 1
	for ; bitmap > 0; bitmap >>= 1 {
		if bitmap&1 != 0 {
			cur = node(a.hasher, &a.frozen[next], &cur)
			next--
		} else {
			cur = node(a.hasher, &cur, &hash.AccumulatorPlaceholder)
		}
	}
	return cur
}

// EventRoot is InMemoryEventAccumulator::from_leaves(leaves).root_hash():
// the event accumulator root a TransactionInfo commits to, the placeholder
// for a transaction without events.
func EventRoot(leaves []hash.Value) hash.Value {
	a := Accumulator{hasher: hash.EventAccumulator}
	for _, l := range leaves {
		a.Add(l)
	}
	return a.Root()
}
