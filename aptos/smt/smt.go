// Package smt is Aptos's sparse Merkle tree over state: the tree whose root
// a TransactionInfo's state checkpoint hash commits to, its proofs, a
// streaming root builder over leaves sorted by key (a state snapshot), and
// the check of a snapshot's chunks against their range proofs as a restore
// does.
//
// The tree: a 256-level binary tree keyed by the bits of the key hash, most
// significant first (bit 0 is the top bit of byte 0). An empty subtree is
// hash.SparseMerklePlaceholder; a subtree with one leaf is that leaf's hash,
// so a leaf sits at the highest level where it is alone; any other subtree
// is hash.SparseMerkleInternal over left || right.
//
// Chunks. A snapshot streams sorted by key hash; a restore feeds each chunk
// to one Builder and, after each, checks all the leaves so far against the
// range proof of the chunk's last key (Builder.VerifyRangeProof). A chunk
// that does not start at index 0 cannot be checked alone: the proof carries
// only the right siblings, and the left ones are made of every earlier leaf,
// so the earlier chunks must have gone through the same Builder first (as
// restore keeps its partial nodes). Alone, such a chunk can only be checked
// for key order. A whole snapshot is checked by Builder.Root against the
// expected root.
//
// Rust: types/src/proof/mod.rs, types/src/proof/definition.rs,
// storage/jellyfish-merkle/src/lib.rs and restore/mod.rs.
package smt

import (
	"errors"
	"fmt"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

// leafHasher is SparseMerkleLeafNode's CryptoHasher (derived, so named after
// the type). Its hash is over key || value_hash raw, not over the struct's
// BCS bytes: the Rust CryptoHash impl is hand-written and has no length bytes.
var leafHasher = hash.NewHasher("SparseMerkleLeafNode")

// LeafHash is SparseMerkleLeafNode{key, value_hash}.hash().
func LeafHash(key, valueHash hash.Value) hash.Value {
	return leafHasher.Sum(key[:], valueHash[:])
}

func internal(left, right *hash.Value) hash.Value {
	return hash.SparseMerkleInternal.Sum(left[:], right[:])
}

// bit returns bit i of key, most significant first (HashValue::iter_bits).
func bit(key *hash.Value, i int) bool { return key[i/8]>>(7-i%8)&1 == 1 }

// SparseMerkleLeafNode is a leaf: the key hash and the value's hash.
//
// Rust: types/src/proof/mod.rs, SparseMerkleLeafNode.
type SparseMerkleLeafNode struct {
	Key       hash.Value
	ValueHash hash.Value
}

// Hash is the leaf's hash.
func (l *SparseMerkleLeafNode) Hash() hash.Value { return LeafHash(l.Key, l.ValueHash) }

// Decode reads the leaf from r.
func (l *SparseMerkleLeafNode) Decode(r *bcs.Reader) {
	l.Key = readHash(r)
	l.ValueHash = readHash(r)
}

// Encode writes the leaf to w.
func (l *SparseMerkleLeafNode) Encode(w *bcs.Writer) {
	hash.Write(w, &l.Key)
	hash.Write(w, &l.ValueHash)
}

func readHash(r *bcs.Reader) hash.Value { return hash.Read(r) }

func readHashes(r *bcs.Reader) []hash.Value { return hash.ReadSeq(r) }

func writeHashes(w *bcs.Writer, hs []hash.Value) { hash.WriteSeq(w, hs) }

// Errors of verification.
var (
	// ErrRootMismatch: the proof folds to another root than the expected one.
	ErrRootMismatch = errors.New("smt: root hashes do not match")
	// ErrMissingSibling: the proof runs out of siblings on one side.
	ErrMissingSibling = errors.New("smt: missing sibling")
)

// SparseMerkleRangeProof proves every leaf from the leftmost up to a known
// rightmost one: the siblings on the right of the rightmost leaf's path,
// bottom first. The siblings on the left come from the leaves themselves.
//
// Rust: types/src/proof/definition.rs, SparseMerkleRangeProof.
type SparseMerkleRangeProof struct {
	RightSiblings []hash.Value
}

// Decode reads the proof from r.
func (p *SparseMerkleRangeProof) Decode(r *bcs.Reader) { p.RightSiblings = readHashes(r) }

// Encode writes the proof to w.
func (p *SparseMerkleRangeProof) Encode(w *bcs.Writer) { writeHashes(w, p.RightSiblings) }

// Verify is Rust's verify: the leaf placed at the depth that the two
// sibling lists add up to, folded up with a left sibling where its key's
// bit is 1 and a right one where it is 0, must give expectedRoot.
// leftSiblings are bottom first, as the right ones.
func (p *SparseMerkleRangeProof) Verify(expectedRoot hash.Value, rightmostKnownLeaf SparseMerkleLeafNode, leftSiblings []hash.Value) error {
	depth := len(leftSiblings) + len(p.RightSiblings)
	if depth > 256 {
		// Rust's skip(256 - n) would underflow (a panic); nothing valid
		// is that deep.
		return fmt.Errorf("smt: %d siblings, more than 256", depth)
	}
	left, right := leftSiblings, p.RightSiblings
	cur := rightmostKnownLeaf.Hash()
	for i := depth - 1; i >= 0; i-- {
		if bit(&rightmostKnownLeaf.Key, i) {
			if len(left) == 0 {
				return fmt.Errorf("%w on the left", ErrMissingSibling)
			}
			cur = internal(&left[0], &cur)
			left = left[1:]
		} else {
			if len(right) == 0 {
				return fmt.Errorf("%w on the right", ErrMissingSibling)
			}
			cur = internal(&cur, &right[0])
			right = right[1:]
		}
	}
	if cur != expectedRoot {
		return fmt.Errorf("%w: got %v, want %v", ErrRootMismatch, cur, expectedRoot)
	}
	return nil
}

// SparseMerkleProof proves one key's value, or its absence: the leaf found
// where the key would be (if any) and the siblings from there up, bottom first.
//
// Rust: types/src/proof/definition.rs, SparseMerkleProof.
type SparseMerkleProof struct {
	Leaf     *SparseMerkleLeafNode
	Siblings []hash.Value
}

// Decode reads the proof from r.
func (p *SparseMerkleProof) Decode(r *bcs.Reader) {
	p.Leaf = nil
	if r.Option() {
		p.Leaf = new(SparseMerkleLeafNode)
		p.Leaf.Decode(r)
	}
	p.Siblings = readHashes(r)
}

// Encode writes the proof to w.
func (p *SparseMerkleProof) Encode(w *bcs.Writer) {
	w.Option(p.Leaf != nil)
	if p.Leaf != nil {
		p.Leaf.Encode(w)
	}
	writeHashes(w, p.Siblings)
}

// Verify is verify_by_hash: with a valueHash, that key holds it; with nil,
// that key is absent.
func (p *SparseMerkleProof) Verify(expectedRoot, key hash.Value, valueHash *hash.Value) error {
	if len(p.Siblings) > 256 {
		return fmt.Errorf("smt: proof has %d siblings, more than 256", len(p.Siblings))
	}
	switch {
	case valueHash != nil && p.Leaf != nil:
		if key != p.Leaf.Key {
			return fmt.Errorf("smt: keys do not match: proof %v, expected %v", p.Leaf.Key, key)
		}
		if *valueHash != p.Leaf.ValueHash {
			return fmt.Errorf("smt: value hashes do not match: proof %v, expected %v", p.Leaf.ValueHash, *valueHash)
		}
	case valueHash != nil:
		return errors.New("smt: expected inclusion proof, found non-inclusion proof")
	case p.Leaf != nil:
		if key == p.Leaf.Key {
			return errors.New("smt: expected non-inclusion proof, but key exists in proof")
		}
		if commonPrefixBits(&key, &p.Leaf.Key) < len(p.Siblings) {
			return errors.New("smt: key would not have ended up in the subtree of the proof's leaf")
		}
	}
	cur := hash.SparseMerklePlaceholder
	if p.Leaf != nil {
		cur = p.Leaf.Hash()
	}
	for i := range p.Siblings {
		if bit(&key, len(p.Siblings)-1-i) {
			cur = internal(&p.Siblings[i], &cur)
		} else {
			cur = internal(&cur, &p.Siblings[i])
		}
	}
	if cur != expectedRoot {
		return fmt.Errorf("%w: got %v, want %v", ErrRootMismatch, cur, expectedRoot)
	}
	return nil
}
