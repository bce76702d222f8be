package smt

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"

	"github.com/backseal/backseal/aptos/hash"
)

// commonPrefixBits is how many leading bits a and b share (256 if equal).
func commonPrefixBits(a, b *hash.Value) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return 8*i + bits.LeadingZeros8(x)
		}
	}
	return 8 * hash.Size
}

// ErrKeyOrder is returned by Add for a key not above the previous one.
var ErrKeyOrder = errors.New("smt: state keys must come in increasing order")

// subtree is a finished subtree on the builder's right spine.
type subtree struct {
	key  hash.Value // a key in the subtree, for the bits above its split
	hash hash.Value // a leaf's hash, or the hash of the node at depth split
	// split is the depth at which an internal subtree's leaves divide; a
	// leaf has none (leaf is true) and keeps its hash at any depth.
	split int
	leaf  bool
}

// at returns the subtree's hash as the node at depth d (d <= split): above
// its split, an internal subtree has only one non-empty child per level.
func (s *subtree) at(d int) hash.Value {
	h := s.hash
	if s.leaf {
		return h
	}
	for i := s.split - 1; i >= d; i-- {
		if bit(&s.key, i) {
			h = internal(&hash.SparseMerklePlaceholder, &h)
		} else {
			h = internal(&h, &hash.SparseMerklePlaceholder)
		}
	}
	return h
}

// join is the subtree of left and right, which divide at depth split.
func join(left, right *subtree, split int) subtree {
	l, r := left.at(split+1), right.at(split+1)
	return subtree{key: left.key, hash: internal(&l, &r), split: split}
}

// Builder computes the root over leaves added in increasing key order, in
// fixed memory (about 18 KiB) whatever their number, without allocating.
// It holds the tree's right spine: finished subtrees left to right, each
// dividing from the rest at a deeper level than the one before, so at most
// 257 of them.
//
// It mirrors JellyfishMerkleRestore (storage/jellyfish-merkle/src/restore),
// which keeps the same spine as partial nibble nodes: VerifyRangeProof
// checks the leaves added so far as its verify does after each chunk.
type Builder struct {
	spine [257]subtree
	// splits[i] is the depth at which spine[i] and spine[i+1] divide.
	splits [256]int
	n      int
	count  uint64
	// valueHash is the last leaf's value hash, for range proofs.
	valueHash hash.Value
}

// NewBuilder returns a builder of the empty tree.
func NewBuilder() *Builder { return new(Builder) }

// Len returns how many leaves have been added.
func (b *Builder) Len() uint64 { return b.count }

// Last returns the last leaf added; ok is false before the first.
func (b *Builder) Last() (leaf SparseMerkleLeafNode, ok bool) {
	if b.n == 0 {
		return leaf, false
	}
	return SparseMerkleLeafNode{Key: b.spine[b.n-1].key, ValueHash: b.valueHash}, true
}

// Add adds the leaf (keyHash, valueHash); keyHash must be above every key
// added before (ErrKeyOrder otherwise, and the builder is unchanged).
func (b *Builder) Add(keyHash, valueHash hash.Value) error {
	leaf := subtree{key: keyHash, hash: LeafHash(keyHash, valueHash), leaf: true}
	if b.n == 0 {
		b.spine[0] = leaf
		b.n = 1
		b.count, b.valueHash = 1, valueHash
		return nil
	}
	last := &b.spine[b.n-1].key
	if bytes.Compare(keyHash[:], last[:]) <= 0 {
		return fmt.Errorf("%w: %v after %v", ErrKeyOrder, keyHash, *last)
	}
	c := commonPrefixBits(last, &keyHash)
	// Everything that divides below c is now final: fold it into one
	// subtree, the left child of the new division at depth c.
	for b.n >= 2 && b.splits[b.n-2] > c {
		b.spine[b.n-2] = join(&b.spine[b.n-2], &b.spine[b.n-1], b.splits[b.n-2])
		b.n--
	}
	b.splits[b.n-1] = c
	b.spine[b.n] = leaf
	b.n++
	b.count++
	b.valueHash = valueHash
	return nil
}

// Root returns the root over the leaves added so far (the placeholder for
// none), leaving the builder as it is.
func (b *Builder) Root() hash.Value {
	if b.n == 0 {
		return hash.SparseMerklePlaceholder
	}
	cur := b.spine[b.n-1]
	for i := b.n - 2; i >= 0; i-- {
		cur = join(&b.spine[i], &cur, b.splits[i])
	}
	return cur.at(0)
}

// ErrNoLeaves is returned by VerifyRangeProof before any leaf.
var ErrNoLeaves = errors.New("smt: no leaves to verify")

// VerifyRangeProof checks that the leaves added so far are the leftmost
// leaves of the tree with root expectedRoot, proof being the range proof of
// the last one (what /state_range_proof/{version}/{last key} serves). It is
// JellyfishMerkleRestore::verify: the left siblings of the last leaf's path
// come from the leaves added, placeholders where nothing is on the left; the
// bottom ones are trimmed as Rust trims them, to fit the proof's count of
// right siblings; then SparseMerkleRangeProof.Verify.
func (b *Builder) VerifyRangeProof(expectedRoot hash.Value, proof *SparseMerkleRangeProof) error {
	last, ok := b.Last()
	if !ok {
		return ErrNoLeaves
	}
	// left[:nl] are the left siblings from the top down.
	var left [256]hash.Value
	nl, numRight := 0, 0
	r := 0 // the next spine division, from the top
	for i := range 256 {
		if !bit(&last.Key, i) {
			numRight++
			continue
		}
		if r < b.n-1 && b.splits[r] == i {
			left[nl] = b.spine[r].at(i + 1)
			r++
		} else {
			left[nl] = hash.SparseMerklePlaceholder
		}
		nl++
	}
	if numRight < len(proof.RightSiblings) {
		return errors.New("smt: too many right siblings in the proof")
	}
	for i := 255; i >= 0; i-- {
		if bit(&last.Key, i) {
			if left[nl-1] != hash.SparseMerklePlaceholder {
				break
			}
			nl--
		} else if numRight > len(proof.RightSiblings) {
			numRight--
		} else {
			break
		}
	}
	// Bottom first, as the proof's right siblings.
	for i, j := 0, nl-1; i < j; i, j = i+1, j-1 {
		left[i], left[j] = left[j], left[i]
	}
	return proof.Verify(expectedRoot, last, left[:nl])
}
