// Package hash is Aptos's hashing scheme: HashValue, the CryptoHasher
// construction that gives every hashed type its own domain, and the literal
// placeholder hashes of the accumulators and the sparse Merkle tree.
//
// Rust: crates/aptos-crypto/src/hash.rs.
package hash

import (
	"crypto/sha3"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/backseal/backseal/aptos/bcs"
)

// Size is the length of a HashValue in bytes.
const Size = 32

// Value is a HashValue (crates/aptos-crypto/src/hash.rs: HashValue). In BCS
// it is its 32 bytes, with no length: the Rust Serialize writes a struct
// HashValue { hash: [u8; 32] } (Diem, before Aptos, wrote serde_bytes, a
// Vec<u8> with a length byte; the staged aptos.yaml and every node since
// have the fixed array).
type Value [Size]byte

// Read reads a HashValue from r.
func Read(r *bcs.Reader) (h Value) {
	copy(h[:], r.Fixed(Size))
	return h
}

// Write writes h to w.
func Write(w *bcs.Writer, h *Value) { w.Fixed(h[:]) }

// ReadSeq reads a Vec<HashValue>; a length the input cannot hold is
// refused before anything is allocated.
func ReadSeq(r *bcs.Reader) []Value {
	n := r.Len(Size)
	if r.Err() != nil || n == 0 {
		return nil
	}
	hs := make([]Value, n)
	for i := range hs {
		hs[i] = Read(r)
	}
	return hs
}

// WriteSeq writes a Vec<HashValue>.
func WriteSeq(w *bcs.Writer, hs []Value) {
	w.Len(len(hs))
	for i := range hs {
		Write(w, &hs[i])
	}
}

// Zero is the all-zero HashValue.
var Zero Value

// String returns the hash in lowercase hex, without 0x.
func (h Value) String() string { return hex.EncodeToString(h[:]) }

// Parse reads a hash from 64 hex digits, with or without a leading 0x.
func Parse(s string) (Value, error) {
	var h Value
	s = strings.TrimPrefix(s, "0x")
	if len(s) != 2*Size {
		return h, fmt.Errorf("hash: %q is not %d hex digits", s, 2*Size)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("hash: %q: %w", s, err)
	}
	return h, nil
}

// MustParse is Parse for constants; it panics on a malformed hash.
func MustParse(s string) Value {
	h, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return h
}

// FromSlice copies a 32-byte slice into a Value.
func FromSlice(b []byte) (Value, error) {
	var h Value
	if len(b) != Size {
		return h, errors.New("hash: not 32 bytes")
	}
	copy(h[:], b)
	return h, nil
}

// SHA3 is plain SHA3-256, without a domain (HashValue::sha3_256_of).
func SHA3(b []byte) Value { return sha3.Sum256(b) }

// prefix is HASH_PREFIX: every CryptoHasher salt starts with it.
const prefix = "APTOS::"

// Hasher is one type's CryptoHasher: SHA3-256 over the type's seed and then
// the value's BCS bytes. The seed is SHA3-256("APTOS::" + name), where name
// is the Rust type's name for derived hashers ("Transaction") or the salt of
// a hand-defined one ("TransactionAccumulator"). A Hasher is immutable.
type Hasher struct {
	seed Value
	// seeded is a SHA3 state that has absorbed the seed; hashes start from a
	// copy of it (the state holds no pointers, so a copy is a clone).
	seeded sha3.SHA3
}

// NewHasher returns the CryptoHasher of the type or salt name.
func NewHasher(name string) *Hasher {
	seed := SHA3([]byte(prefix + name))
	h := &Hasher{seed: seed, seeded: *sha3.New256()}
	h.seeded.Write(seed[:])
	return h
}

// Seed returns the hasher's seed: what a signer prepends to a value's BCS
// bytes to form its signing message (aptos-crypto: signing_message).
func (h *Hasher) Seed() Value { return h.seed }

// State returns a fresh SHA3-256 state that has absorbed the seed, for
// values hashed in pieces; its Sum(nil) is the hash.
func (h *Hasher) State() *sha3.SHA3 {
	s := h.seeded
	return &s
}

// Sum hashes the concatenation of parts: a value's BCS bytes, or an internal
// node's two children.
func (h *Hasher) Sum(parts ...[]byte) (v Value) {
	s := h.seeded
	for _, p := range parts {
		s.Write(p)
	}
	s.Sum(v[:0])
	return v
}

// literal is create_literal_hash: the word's bytes padded with zeros.
func literal(word string) (h Value) {
	copy(h[:], word)
	return h
}

// Placeholders stand for empty subtrees.
var (
	// AccumulatorPlaceholder is ACCUMULATOR_PLACEHOLDER_HASH.
	AccumulatorPlaceholder = literal("ACCUMULATOR_PLACEHOLDER_HASH")
	// SparseMerklePlaceholder is SPARSE_MERKLE_PLACEHOLDER_HASH.
	SparseMerklePlaceholder = literal("SPARSE_MERKLE_PLACEHOLDER_HASH")
)

// The hand-defined hashers of internal nodes (define_hasher! in hash.rs).
var (
	TransactionAccumulator = NewHasher("TransactionAccumulator")
	EventAccumulator       = NewHasher("EventAccumulator")
	SparseMerkleInternal   = NewHasher("SparseMerkleInternal")
)
