package bcs

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestReaderIntegers(t *testing.T) {
	t.Parallel()
	in := []byte{
		0x01,
		0x02, 0x01,
		0x04, 0x03, 0x02, 0x01,
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
	}
	r := NewReader(in)
	if got := r.U8(); got != 1 {
		t.Errorf("U8 = %#x", got)
	}
	if got := r.U16(); got != 0x0102 {
		t.Errorf("U16 = %#x", got)
	}
	if got := r.U32(); got != 0x01020304 {
		t.Errorf("U32 = %#x", got)
	}
	if got := r.U64(); got != 0x0102030405060708 {
		t.Errorf("U64 = %#x", got)
	}
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}

	wide := make([]byte, 48)
	for i := range wide {
		wide[i] = byte(i)
	}
	r = NewReader(wide)
	u128, u256 := r.U128(), r.U256()
	if !bytes.Equal(u128[:], wide[:16]) || !bytes.Equal(u256[:], wide[16:]) || r.Done() != nil {
		t.Errorf("U128 %x U256 %x", u128, u256)
	}
}

func TestReaderBool(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   byte
		want bool
		ok   bool
	}{
		{"false", 0, false, true},
		{"true", 1, true, true},
		{"two", 2, false, false},
		{"ff", 0xff, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader([]byte{tt.in})
			got := r.Bool()
			if (r.Err() == nil) != tt.ok || got != tt.want {
				t.Errorf("Bool = %v, err %v", got, r.Err())
			}
			if r := NewReader([]byte{tt.in}); r.Option() != tt.want || (r.Err() == nil) != tt.ok {
				t.Errorf("Option = %v, err %v", !tt.want, r.Err())
			}
		})
	}
}

func TestULEB128(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []byte
		want uint32
		err  string // "" for success
	}{
		{"zero", []byte{0}, 0, ""},
		{"one byte max", []byte{0x7f}, 127, ""},
		{"two bytes", []byte{0x80, 0x01}, 128, ""},
		{"300", []byte{0xac, 0x02}, 300, ""},
		{"max u32", []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 1<<32 - 1, ""},
		{"non-canonical zero", []byte{0x80, 0x00}, 0, "non-canonical"},
		{"non-canonical one", []byte{0x81, 0x00}, 0, "non-canonical"},
		{"non-canonical long", []byte{0xff, 0x80, 0x00}, 0, "non-canonical"},
		{"overflow fifth byte", []byte{0xff, 0xff, 0xff, 0xff, 0x10}, 0, "overflows"},
		{"six bytes", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 0, "overflows"},
		{"unterminated", []byte{0x80, 0x80}, 0, "ends inside"},
		{"empty", nil, 0, "ends inside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.in)
			got := r.Variant()
			if tt.err == "" {
				if err := r.Done(); err != nil || got != tt.want {
					t.Fatalf("Variant = %d, %v; want %d", got, err, tt.want)
				}
				w := NewWriter(nil)
				w.Variant(got)
				if !bytes.Equal(w.Encoded(), tt.in) {
					t.Errorf("Writer.Variant(%d) = %x, want %x", got, w.Encoded(), tt.in)
				}
				return
			}
			if r.Err() == nil || !strings.Contains(r.Err().Error(), tt.err) {
				t.Errorf("err = %v, want %q", r.Err(), tt.err)
			}
			if got != 0 {
				t.Errorf("value %d after failure", got)
			}
		})
	}
}

func TestLen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      []byte
		minElem int
		want    int
		err     string
	}{
		{"fits", []byte{2, 0, 0, 0, 0}, 2, 2, ""},
		{"lying length", []byte{3, 0, 0}, 1, 0, "ends inside"},
		{"lying length of big elements", []byte{2, 0, 0, 0}, 4, 0, "ends inside"},
		{"huge length, no bytes", []byte{0xff, 0xff, 0xff, 0xff, 0x07}, 1, 0, "ends inside"},
		{"over the sequence limit", []byte{0x80, 0x80, 0x80, 0x80, 0x08}, 0, 0, "over"},
		{"unchecked when minElem is 0", []byte{5}, 0, 5, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.in)
			got := r.Len(tt.minElem)
			if tt.err == "" {
				if r.Err() != nil || got != tt.want {
					t.Errorf("Len = %d, %v", got, r.Err())
				}
				return
			}
			if r.Err() == nil || !strings.Contains(r.Err().Error(), tt.err) || got != 0 {
				t.Errorf("Len = %d, err %v; want %q", got, r.Err(), tt.err)
			}
		})
	}
}

func TestBytesAndString(t *testing.T) {
	t.Parallel()
	in := []byte{3, 'a', 'b', 'c', 2, 0xc3, 0xa9, 0}
	r := NewReader(in)
	b := r.Bytes()
	s := r.String()
	empty := r.Bytes()
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
	if string(b) != "abc" || s != "é" || len(empty) != 0 {
		t.Errorf("Bytes %q String %q empty %q", b, s, empty)
	}
	// Bytes borrows: it aliases the input and cannot grow into it.
	if &b[0] != &in[1] || cap(b) != 3 {
		t.Error("Bytes does not alias the input with a capped slice")
	}

	r = NewReader([]byte{2, 0xff, 0xfe})
	if got := r.String(); got != "" || r.Err() == nil || !strings.Contains(r.Err().Error(), "UTF-8") {
		t.Errorf("String of invalid UTF-8 = %q, %v", got, r.Err())
	}
	r = NewReader([]byte{4, 1, 2})
	if got := r.Bytes(); got != nil || !errors.Is(r.Err(), ErrShort) {
		t.Errorf("Bytes past the end = %x, %v", got, r.Err())
	}
}

func TestFixedAndRaw(t *testing.T) {
	t.Parallel()
	r := NewReader([]byte{1, 2, 3, 4})
	r.U8()
	from := r.Offset()
	if got := r.Fixed(2); !bytes.Equal(got, []byte{2, 3}) {
		t.Errorf("Fixed = %x", got)
	}
	if got := r.Raw(from); !bytes.Equal(got, []byte{2, 3}) || cap(got) != 2 {
		t.Errorf("Raw = %x (cap %d)", got, cap(got))
	}
	if r.Raw(-1) != nil || r.Raw(r.Offset()+1) != nil {
		t.Error("Raw outside what was read")
	}
	if r.Remaining() != 1 {
		t.Errorf("Remaining = %d", r.Remaining())
	}
	if r.Fixed(-1) != nil || r.Err() == nil {
		t.Error("Fixed(-1)")
	}
	if r.Raw(0) != nil {
		t.Error("Raw after a failure")
	}
}

func TestStickyError(t *testing.T) {
	t.Parallel()
	r := NewReader([]byte{1, 2})
	r.U32() // fails: two bytes left
	first := r.Err()
	if !errors.Is(first, ErrShort) {
		t.Fatalf("err %v", first)
	}
	var be *Error
	if !errors.As(first, &be) || be.Offset != 0 {
		t.Errorf("offset of %v", first)
	}
	// Every later read is a zero and keeps the first error.
	if r.U8() != 0 || r.U16() != 0 || r.U64() != 0 || r.Bool() || r.Bytes() != nil || r.String() != "" || r.Variant() != 0 || r.Len(0) != 0 {
		t.Error("a read after the failure returned a value")
	}
	r.Fail(errors.New("later"))
	r.Unknown("T", 3)
	if r.Err() != first || r.Done() != first {
		t.Errorf("error changed to %v", r.Err())
	}
	if r.Remaining() != 0 {
		t.Error("input left after a failure")
	}

	r.Reset([]byte{9})
	if r.Err() != nil || r.U8() != 9 || r.Done() != nil {
		t.Error("Reset does not clear the failure")
	}
}

func TestDoneTrailing(t *testing.T) {
	t.Parallel()
	r := NewReader([]byte{1, 2})
	r.U8()
	err := r.Done()
	var be *Error
	if !errors.Is(err, ErrTrailing) || !errors.As(err, &be) || be.Offset != 1 {
		t.Errorf("Done = %v", err)
	}
}

func TestUnknownVariant(t *testing.T) {
	t.Parallel()
	r := NewReader([]byte{9})
	v := r.Variant()
	r.Unknown("Transaction", v)
	var u *UnknownVariantError
	if !errors.As(r.Err(), &u) || u.Type != "Transaction" || u.Variant != 9 {
		t.Errorf("err %v", r.Err())
	}
	if !strings.Contains(r.Err().Error(), "unknown variant 9 of Transaction at byte 1") {
		t.Errorf("message %q", r.Err())
	}
}

func TestDepth(t *testing.T) {
	t.Parallel()
	r := NewReader(nil)
	for i := range MaxContainerDepth {
		if !r.Enter() {
			t.Fatalf("Enter failed at depth %d", i+1)
		}
	}
	if r.Enter() || r.Err() == nil || !strings.Contains(r.Err().Error(), "nesting deeper") {
		t.Errorf("Enter past the limit: %v", r.Err())
	}
	r.Reset(nil)
	for range 2 * MaxContainerDepth {
		if !r.Enter() {
			t.Fatal("balanced Enter/Leave hit the limit")
		}
		r.Leave()
	}
}

func TestWriter(t *testing.T) {
	t.Parallel()
	w := NewWriter(nil)
	w.U8(1)
	w.U16(0x0302)
	w.U32(0x07060504)
	w.U64(0x0f0e0d0c0b0a0908)
	w.U128([16]byte{0: 0x10})
	w.U256([32]byte{31: 0x20})
	w.Bool(true)
	w.Bool(false)
	w.Option(true)
	w.Len(300)
	w.Variant(2)
	w.Fixed([]byte{0xaa})
	w.Bytes([]byte{0xbb})
	w.String("hi")
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x10}
	want = append(want, make([]byte, 15)...)
	want = append(want, make([]byte, 31)...)
	want = append(want, 0x20, 1, 0, 1, 0xac, 0x02, 2, 0xaa, 1, 0xbb, 2, 'h', 'i')
	if !bytes.Equal(w.Encoded(), want) {
		t.Fatalf("got  %x\nwant %x", w.Encoded(), want)
	}

	// What the Writer wrote, the Reader reads back.
	r := NewReader(w.Encoded())
	if r.U8() != 1 || r.U16() != 0x0302 || r.U32() != 0x07060504 || r.U64() != 0x0f0e0d0c0b0a0908 ||
		r.U128() != [16]byte{0: 0x10} || r.U256() != [32]byte{31: 0x20} || !r.Bool() || r.Bool() || !r.Option() ||
		r.Len(0) != 300 || r.Variant() != 2 || r.Fixed(1)[0] != 0xaa || r.Bytes()[0] != 0xbb || r.String() != "hi" {
		t.Error("read back differs")
	}
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}

	prefix := []byte{0xee}
	w = NewWriter(prefix)
	w.U8(1)
	if !bytes.Equal(w.Encoded(), []byte{0xee, 1}) {
		t.Errorf("NewWriter does not append: %x", w.Encoded())
	}
	w.Reset()
	if len(w.Encoded()) != 0 {
		t.Error("Reset left bytes")
	}
}

// FuzzReader reads a fuzzed program of reads over fuzzed input: no read
// panics, a failure is sticky, and a length read never exceeds the input.
func FuzzReader(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte{0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f, 3, 'a', 'b', 'c'})
	f.Add([]byte{7, 7, 7}, []byte{0x80, 0x00})
	f.Fuzz(func(t *testing.T, ops, in []byte) {
		r := NewReader(in)
		var first error
		for _, op := range ops {
			switch op % 11 {
			case 0:
				r.U8()
			case 1:
				r.U16()
			case 2:
				r.U32()
			case 3:
				r.U64()
			case 4:
				r.U128()
			case 5:
				r.Bool()
			case 6:
				v := r.Variant()
				if r.Err() == nil {
					w := NewWriter(nil)
					w.Variant(v)
					// Canonical ULEB128 round-trips exactly.
					if got := r.Raw(r.Offset() - len(w.Encoded())); !bytes.Equal(got, w.Encoded()) {
						t.Fatalf("ULEB128 %d read from %x, written %x", v, got, w.Encoded())
					}
				}
			case 7:
				if n := r.Len(1); n > r.Remaining() {
					t.Fatalf("Len %d over %d remaining", n, r.Remaining())
				}
			case 8:
				r.Bytes()
			case 9:
				_ = r.String()
			case 10:
				r.Enter()
			}
			if first == nil {
				first = r.Err()
			} else if r.Err() != first {
				t.Fatalf("error changed from %v to %v", first, r.Err())
			}
		}
		r.Done()
	})
}
