package ledger

import (
	"crypto/sha3"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/cloudflare/circl/ecc/bls12381"

	"github.com/backseal/backseal/aptos/bcs"
)

// DST is the domain separation tag Aptos hashes messages to G2 with: the
// proof-of-possession ciphersuite of the IETF BLS draft, the one Ethereum's
// consensus layer uses too.
//
// Rust: crates/aptos-crypto/src/bls12381/mod.rs, DST_BLS_SIG_IN_G2_WITH_POP.
const DST = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"

// Sizes of the compressed encodings Aptos writes.
const (
	PublicKeySize = 48 // a G1 point
	SignatureSize = 96 // a G2 point
)

// PublicKey is a validator's BLS12-381 public key, a compressed G1 point, as
// the bytes the chain carries; Point parses it. In BCS it is a Vec<u8> of 48.
//
// Rust: crates/aptos-crypto/src/bls12381/bls12381_keys.rs, PublicKey.
type PublicKey [PublicKeySize]byte

// Signature is a BLS12-381 signature, a compressed G2 point: one signer's, or
// the sum of several over the same message. In BCS it is a Vec<u8> of 96.
//
// Rust: crates/aptos-crypto/src/bls12381/bls12381_sigs.rs, Signature.
type Signature [SignatureSize]byte

func (k PublicKey) String() string { return hex.EncodeToString(k[:]) }
func (s Signature) String() string { return hex.EncodeToString(s[:]) }

// Point parses the key. Unlike the Rust deserializer, which only checks the
// point is on the curve and leaves the subgroup check to the key's
// proof-of-possession, it refuses points outside the prime-order subgroup and
// the identity: no key the stake module admitted (it verifies PoPs) is either.
func (k *PublicKey) Point() (*bls12381.G1, error) {
	var p bls12381.G1
	if err := p.SetBytes(k[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPublicKey, err)
	}
	if p.IsIdentity() {
		return nil, fmt.Errorf("%w: the identity", ErrBadPublicKey)
	}
	return &p, nil
}

// Point parses the signature, subgroup check included (the Rust verifier
// checks it too, as blst's sig_groupcheck).
func (s *Signature) Point() (*bls12381.G2, error) {
	var p bls12381.G2
	if err := p.SetBytes(s[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	return &p, nil
}

// decodeFixedBytes reads a Vec<u8> that must hold exactly len(dst) bytes:
// the canonical (compressed) form a node writes.
func decodeFixedBytes(r *bcs.Reader, dst []byte, what string) {
	b := r.Bytes()
	if r.Err() != nil {
		return
	}
	if len(b) != len(dst) {
		r.Fail(fmt.Errorf("ledger: %s of %d bytes, want %d", what, len(b), len(dst)))
		return
	}
	copy(dst, b)
}

// Decode reads a PublicKey.
func (k *PublicKey) Decode(r *bcs.Reader) { decodeFixedBytes(r, k[:], "BLS public key") }

// Encode writes the PublicKey.
func (k *PublicKey) Encode(w *bcs.Writer) { w.Bytes(k[:]) }

// Decode reads a Signature.
func (s *Signature) Decode(r *bcs.Reader) { decodeFixedBytes(r, s[:], "BLS signature") }

// Encode writes the Signature.
func (s *Signature) Encode(w *bcs.Writer) { w.Bytes(s[:]) }

// verifyAggregate checks sig against the sum of the public keys: the one
// pairing equation e(aggKey, H(msg)) == e(g1, sig), as blst's verify with the
// POP DST and an empty augmentation.
func verifyAggregate(aggKey *bls12381.G1, msg []byte, sig *Signature) error {
	if aggKey.IsIdentity() {
		// blst refuses an infinite public key (BLST_PK_IS_INFINITY).
		return fmt.Errorf("%w: aggregate public key is the identity", ErrBadSignature)
	}
	s, err := sig.Point()
	if err != nil {
		return err
	}
	var h bls12381.G2
	h.Hash(msg, []byte(DST))
	e := bls12381.ProdPairFrac(
		[]*bls12381.G1{aggKey, bls12381.G1Generator()},
		[]*bls12381.G2{&h, s},
		[]int{1, -1})
	if !e.IsIdentity() {
		return ErrBadSignature
	}
	return nil
}

// SecretKey is a BLS12-381 signing key, for simulators and tests: the
// verifier never needs one.
type SecretKey struct {
	s bls12381.Scalar
}

// SecretKeyFromBytes reads a key as its 32 big-endian bytes, refusing zero
// and values not below the group order.
func SecretKeyFromBytes(b []byte) (*SecretKey, error) {
	if len(b) != bls12381.ScalarSize {
		return nil, errors.New("ledger: secret key is not 32 bytes")
	}
	var k SecretKey
	if err := k.s.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("ledger: secret key: %w", err)
	}
	if k.s.IsZero() == 1 {
		return nil, errors.New("ledger: secret key is zero")
	}
	return &k, nil
}

// deriveSecretKey derives key i of a deterministic set from seed: SHA3-512
// of the seed and index, reduced mod the group order (64 bytes reduce with
// negligible bias).
func deriveSecretKey(seed []byte, i int) *SecretKey {
	for ctr := uint32(0); ; ctr++ {
		h := sha3.New512()
		h.Write([]byte("backseal ledger test key"))
		h.Write(seed)
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(i)))
		h.Write(binary.BigEndian.AppendUint32(nil, ctr))
		var k SecretKey
		k.s.SetBytes(h.Sum(nil))
		if k.s.IsZero() == 0 {
			return &k
		}
	}
}

// PublicKey returns the key's public half, compressed.
func (k *SecretKey) PublicKey() PublicKey {
	var p bls12381.G1
	p.ScalarMult(&k.s, bls12381.G1Generator())
	var pk PublicKey
	copy(pk[:], p.BytesCompressed())
	return pk
}

// Sign signs msg (already the signing message: seed || BCS bytes).
func (k *SecretKey) Sign(msg []byte) Signature {
	return signWithScalar(&k.s, msg)
}

func signWithScalar(s *bls12381.Scalar, msg []byte) Signature {
	var h, p bls12381.G2
	h.Hash(msg, []byte(DST))
	p.ScalarMult(s, &h)
	var sig Signature
	copy(sig[:], p.BytesCompressed())
	return sig
}
