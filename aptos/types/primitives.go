package types

import (
	"errors"
	"unicode/utf8"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

// AddressLength is the size of an AccountAddress.
const AddressLength = 32

// Address is an AccountAddress: 32 bytes with no length in BCS.
//
// Rust: third_party/move/move-core/types/src/account_address.rs, AccountAddress.
type Address [AddressLength]byte

// Identifier is a Move identifier, a String in BCS. It aliases the decoded
// input, as every byte slice a decoder returns does; copy it to keep it.
//
// Rust: third_party/move/move-core/types/src/identifier.rs, Identifier.
type Identifier []byte

func (id Identifier) String() string { return string(id) }

var errNotUTF8 = errors.New("types: identifier is not UTF-8")

func readAddress(r *bcs.Reader) (a Address) {
	copy(a[:], r.Fixed(AddressLength))
	return a
}

func writeAddress(w *bcs.Writer, a Address) { w.Fixed(a[:]) }

// readIdentifier reads a String without copying it.
func readIdentifier(r *bcs.Reader) Identifier {
	b := r.Bytes()
	if !utf8.Valid(b) {
		r.Fail(errNotUTF8)
		return nil
	}
	return b
}

func writeIdentifier(w *bcs.Writer, id Identifier) { w.Bytes(id) }

// readStr reads a String as borrowed bytes, checking UTF-8.
func readStr(r *bcs.Reader) []byte { return readIdentifier(r) }

func readHash(r *bcs.Reader) hash.Value { return hash.Read(r) }

func writeHash(w *bcs.Writer, h hash.Value) { hash.Write(w, &h) }

func readOptionHash(r *bcs.Reader) *hash.Value {
	if !r.Option() {
		return nil
	}
	h := readHash(r)
	return &h
}

func writeOptionHash(w *bcs.Writer, h *hash.Value) {
	w.Option(h != nil)
	if h != nil {
		writeHash(w, *h)
	}
}

func readOptionStr(r *bcs.Reader) []byte {
	if !r.Option() {
		return nil
	}
	s := readStr(r)
	if s == nil {
		s = []byte{} // present but empty stays distinct from absent
	}
	return s
}

func writeOptionStr(w *bcs.Writer, s []byte) {
	w.Option(s != nil)
	if s != nil {
		w.Bytes(s)
	}
}

// readBytesNonNil reads a Vec<u8>; an empty one is a non-nil empty slice
// so that decode→encode→decode compares equal with reflect.DeepEqual.
func readBytes(r *bcs.Reader) []byte {
	b := r.Bytes()
	if b == nil && r.Err() == nil {
		return []byte{}
	}
	return b
}

// decodeWhole runs decode over b and requires every byte consumed.
func decodeWhole(b []byte, decode func(r *bcs.Reader)) error {
	r := bcs.NewReader(b)
	decode(r)
	if err := r.Done(); err != nil {
		return err
	}
	return nil
}

// encoder is every type that writes itself as BCS.
type encoder interface{ Encode(w *bcs.Writer) }

// Marshal returns the BCS encoding of v.
func Marshal(v encoder) []byte {
	w := bcs.NewWriter(nil)
	v.Encode(w)
	return w.Encoded()
}
