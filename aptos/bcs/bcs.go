// Package bcs reads and writes Binary Canonical Serialization, the encoding
// of every Aptos value on disk and on the wire (github.com/diem/bcs; the
// Rust crate aptos-core uses is `bcs`).
//
// The format, in short: integers are little-endian and fixed width; bool is
// one byte, 0 or 1; sequence lengths and enum variant indices are ULEB128,
// canonical (no redundant 0x80 bytes) and at most 2^31-1; Option is a bool
// then the value; structs and tuples are their fields in order; maps are
// sequences of (key, value) with keys in strictly increasing byte order.
//
// The Reader's error is sticky, as in golang.org/x/crypto/cryptobyte: after
// the first failure every read returns a zero value and Err reports the
// failure, so decoders read field after field and check once.
package bcs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Limits of the format: the Rust crate refuses longer sequences and deeper
// nesting, so a value past them was never written by a node.
const (
	MaxSequenceLength = 1<<31 - 1
	MaxContainerDepth = 500
)

var (
	// ErrShort is returned when the input ends inside a value.
	ErrShort = errors.New("bcs: input ends inside a value")
	// ErrTrailing is returned by Done when bytes remain after the value.
	ErrTrailing = errors.New("bcs: bytes remain after the value")
)

// Error says where in the input a decode failed and why. Cause is one of the
// sentinels above, an *UnknownVariantError, or a plain description.
type Error struct {
	Offset int
	Cause  error
}

func (e *Error) Error() string { return fmt.Sprintf("%v at byte %d", e.Cause, e.Offset) }
func (e *Error) Unwrap() error { return e.Cause }

// UnknownVariantError is a variant index the decoder has no definition for:
// a newer node's type, or damage. Decoders refuse it rather than guess.
type UnknownVariantError struct {
	Type    string // the Rust enum, as "Transaction"
	Variant uint32
}

func (e *UnknownVariantError) Error() string {
	return fmt.Sprintf("bcs: unknown variant %d of %s", e.Variant, e.Type)
}

// Reader decodes BCS values from a byte slice it borrows: slices it returns
// (Bytes, Fixed) alias the input and are valid as long as the input is.
type Reader struct {
	buf   []byte
	off   int
	depth int
	err   error
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Reset makes r read b from its start, clearing any error.
func (r *Reader) Reset(b []byte) { *r = Reader{buf: b} }

// Err returns the first failure, or nil.
func (r *Reader) Err() error { return r.err }

// Offset returns how many bytes have been consumed.
func (r *Reader) Offset() int { return r.off }

// Remaining returns how many bytes are left.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

// Done returns the first failure, or ErrTrailing if bytes remain.
func (r *Reader) Done() error {
	if r.err == nil && r.off != len(r.buf) {
		r.fail(ErrTrailing)
	}
	return r.err
}

// Fail records cause at the current offset, unless a failure is already recorded.
func (r *Reader) Fail(cause error) {
	r.fail(cause)
}

func (r *Reader) fail(cause error) {
	if r.err == nil {
		r.err = &Error{Offset: r.off, Cause: cause}
		r.off = len(r.buf) // later reads see no input and return zeros
	}
}

// Fixed returns the next n bytes, borrowed from the input.
func (r *Reader) Fixed(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf)-r.off {
		r.fail(ErrShort)
		return nil
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

// Raw returns the input between offset from and the current offset: the
// encoding of what was read since, as hashes over a value's BCS bytes need.
func (r *Reader) Raw(from int) []byte {
	if r.err != nil || from < 0 || from > r.off {
		return nil
	}
	return r.buf[from:r.off:r.off]
}

// U8 reads a u8.
func (r *Reader) U8() uint8 {
	if r.err == nil && r.off < len(r.buf) {
		v := r.buf[r.off]
		r.off++
		return v
	}
	r.fail(ErrShort)
	return 0
}

// U16 reads a little-endian u16.
func (r *Reader) U16() uint16 {
	if b := r.Fixed(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

// U32 reads a little-endian u32.
func (r *Reader) U32() uint32 {
	if b := r.Fixed(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// U64 reads a little-endian u64.
func (r *Reader) U64() uint64 {
	if b := r.Fixed(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// U128 reads a u128 as its 16 little-endian bytes.
func (r *Reader) U128() (v [16]byte) {
	copy(v[:], r.Fixed(16))
	return v
}

// U256 reads a u256 as its 32 little-endian bytes.
func (r *Reader) U256() (v [32]byte) {
	copy(v[:], r.Fixed(32))
	return v
}

// Bool reads a bool; bytes other than 0 and 1 are an error.
func (r *Reader) Bool() bool {
	switch r.U8() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(errors.New("bcs: bool is neither 0 nor 1"))
	return false
}

// uleb128 reads a canonical ULEB128 of at most 32 bits, the encoding of
// lengths and variant indices.
func (r *Reader) uleb128() uint32 {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		b := r.U8()
		if r.err != nil {
			return 0
		}
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			if b == 0 && shift > 0 {
				r.fail(errors.New("bcs: non-canonical ULEB128"))
				return 0
			}
			if v > 1<<32-1 {
				break
			}
			return uint32(v)
		}
	}
	r.fail(errors.New("bcs: ULEB128 overflows u32"))
	return 0
}

// Len reads a sequence length. A length larger than the bytes left is
// refused at once when each element takes at least minElem bytes, so a lying
// length never makes a decoder allocate.
func (r *Reader) Len(minElem int) int {
	n := r.uleb128()
	if r.err != nil {
		return 0
	}
	if n > MaxSequenceLength {
		r.fail(fmt.Errorf("bcs: sequence length %d over %d", n, MaxSequenceLength))
		return 0
	}
	if minElem > 0 && uint64(n)*uint64(minElem) > uint64(r.Remaining()) {
		r.fail(ErrShort)
		return 0
	}
	return int(n)
}

// Variant reads an enum's variant index.
func (r *Reader) Variant() uint32 { return r.uleb128() }

// Unknown records that variant v of the Rust enum typ has no decoder.
func (r *Reader) Unknown(typ string, v uint32) {
	r.fail(&UnknownVariantError{Type: typ, Variant: v})
}

// Bytes reads a Vec<u8>, borrowed from the input.
func (r *Reader) Bytes() []byte { return r.Fixed(r.Len(1)) }

// String reads a String: bytes that must be valid UTF-8.
func (r *Reader) String() string {
	b := r.Bytes()
	if !utf8.Valid(b) {
		r.fail(errors.New("bcs: string is not UTF-8"))
		return ""
	}
	return string(b)
}

// Option reads an Option's tag: whether a value follows.
func (r *Reader) Option() bool { return r.Bool() }

// Enter is called before decoding a nested value of a recursive type; it
// fails past MaxContainerDepth. Leave undoes it.
func (r *Reader) Enter() bool {
	r.depth++
	if r.depth > MaxContainerDepth {
		r.fail(fmt.Errorf("bcs: nesting deeper than %d", MaxContainerDepth))
		return false
	}
	return r.err == nil
}

// Leave ends a nested value begun with Enter.
func (r *Reader) Leave() { r.depth-- }

// Writer appends BCS values to a byte slice.
type Writer struct {
	buf []byte
}

// NewWriter returns a Writer appending to b.
func NewWriter(b []byte) *Writer { return &Writer{buf: b} }

// Encoded returns what has been written. It aliases the Writer's buffer.
func (w *Writer) Encoded() []byte { return w.buf }

// Reset empties the Writer, keeping its buffer.
func (w *Writer) Reset() { w.buf = w.buf[:0] }

// U8 writes a u8.
func (w *Writer) U8(v uint8) { w.buf = append(w.buf, v) }

// U16 writes a u16.
func (w *Writer) U16(v uint16) { w.buf = binary.LittleEndian.AppendUint16(w.buf, v) }

// U32 writes a u32.
func (w *Writer) U32(v uint32) { w.buf = binary.LittleEndian.AppendUint32(w.buf, v) }

// U64 writes a u64.
func (w *Writer) U64(v uint64) { w.buf = binary.LittleEndian.AppendUint64(w.buf, v) }

// U128 writes a u128 given as its 16 little-endian bytes.
func (w *Writer) U128(v [16]byte) { w.buf = append(w.buf, v[:]...) }

// U256 writes a u256 given as its 32 little-endian bytes.
func (w *Writer) U256(v [32]byte) { w.buf = append(w.buf, v[:]...) }

// Bool writes a bool.
func (w *Writer) Bool(v bool) {
	if v {
		w.U8(1)
	} else {
		w.U8(0)
	}
}

// Len writes a sequence length (or a variant index).
func (w *Writer) Len(n int) { w.buf = binary.AppendUvarint(w.buf, uint64(n)) }

// Variant writes an enum's variant index.
func (w *Writer) Variant(v uint32) { w.Len(int(v)) }

// Fixed writes b as is, without a length.
func (w *Writer) Fixed(b []byte) { w.buf = append(w.buf, b...) }

// Bytes writes a Vec<u8>: its length, then b.
func (w *Writer) Bytes(b []byte) {
	w.Len(len(b))
	w.Fixed(b)
}

// String writes a String.
func (w *Writer) String(s string) {
	w.Len(len(s))
	w.buf = append(w.buf, s...)
}

// Option writes an Option's tag.
func (w *Writer) Option(present bool) { w.Bool(present) }
