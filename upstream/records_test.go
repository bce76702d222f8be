package upstream

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// appendRecord appends one size-prefixed record of n bytes.
func appendRecord(dst []byte, n int, fill byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	for range n {
		dst = append(dst, fill)
	}
	return dst
}

// referenceScan is the obvious, whole-buffer implementation the streaming
// scanner must agree with: records, boundary offset, too-large index.
func referenceScan(b []byte, max uint32) (records uint64, boundary uint64, tooLarge bool) {
	off := uint64(0)
	for {
		if uint64(len(b))-off < PrefixSize {
			return records, boundary, false
		}
		n := binary.BigEndian.Uint32(b[off:])
		if n > max {
			return records, boundary, true
		}
		if uint64(len(b))-off-PrefixSize < uint64(n) {
			return records, boundary, false
		}
		off += PrefixSize + uint64(n)
		records++
		boundary = off
	}
}

func TestRecordScannerCounts(t *testing.T) {
	var stream []byte
	sizes := []int{0, 1, 3, 4, 5, 100, 0, 70000, 2}
	for i, n := range sizes {
		stream = appendRecord(stream, n, byte(i))
	}
	tests := []struct {
		name     string
		cut      int
		records  uint64
		boundary bool
		inPrefix bool
	}{
		{"empty", 0, 0, true, false},
		{"inside first prefix", 2, 0, false, true},
		{"after zero-length record", 4, 1, true, false},
		{"inside second prefix", 6, 1, false, true},
		{"inside payload", 9 + 4 + 2, 2, false, false},
		{"whole stream", len(stream), uint64(len(sizes)), true, false},
		{"one byte short", len(stream) - 1, uint64(len(sizes) - 1), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewRecordScanner(1 << 20)
			if _, err := s.Write(stream[:tt.cut]); err != nil {
				t.Fatal(err)
			}
			if got := s.Records(); got != tt.records {
				t.Errorf("Records() = %d, want %d", got, tt.records)
			}
			if got := s.AtBoundary(); got != tt.boundary {
				t.Errorf("AtBoundary() = %v, want %v", got, tt.boundary)
			}
			if got := s.InPrefix(); got != tt.inPrefix {
				t.Errorf("InPrefix() = %v, want %v", got, tt.inPrefix)
			}
			if got := s.Offset(); got != uint64(tt.cut) {
				t.Errorf("Offset() = %d, want %d", got, tt.cut)
			}
		})
	}
}

func TestRecordScannerOneByteAtATime(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var stream []byte
	for i := range 200 {
		stream = appendRecord(stream, rng.IntN(300), byte(i))
	}
	s := NewRecordScanner(1 << 20)
	for i := range stream {
		if _, err := s.Write(stream[i : i+1]); err != nil {
			t.Fatal(err)
		}
		records, boundary, _ := referenceScan(stream[:i+1], 1<<20)
		if s.Records() != records || s.Boundary() != boundary {
			t.Fatalf("after %d bytes: records %d boundary %d, want %d %d", i+1, s.Records(), s.Boundary(), records, boundary)
		}
	}
	if s.Records() != 200 || !s.AtBoundary() {
		t.Fatalf("got %d records, at boundary %v; want 200, true", s.Records(), s.AtBoundary())
	}
}

func TestRecordScannerTooLarge(t *testing.T) {
	stream := appendRecord(nil, 10, 1)
	stream = binary.BigEndian.AppendUint32(stream, 0xFFFFFFF0) // a lie near 4 GiB
	s := NewRecordScanner(1 << 20)
	n, err := s.Write(stream)
	if !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("err = %v, want ErrRecordTooLarge", err)
	}
	if n != len(stream) || s.Records() != 1 {
		t.Fatalf("n = %d records = %d, want %d 1", n, s.Records(), len(stream))
	}
}

func FuzzRecordScanner(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 7, 0, 0}, uint32(16), uint8(3))
	f.Add(appendRecord(appendRecord(nil, 5, 1), 0, 0), uint32(4), uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint32(1<<20), uint8(0))
	f.Fuzz(func(t *testing.T, stream []byte, max uint32, split uint8) {
		records, boundary, tooLarge := referenceScan(stream, max)
		s := NewRecordScanner(max)
		step := int(split)%7 + 1
		var err error
		for i := 0; i < len(stream) && err == nil; i += step {
			_, err = s.Write(stream[i:min(i+step, len(stream))])
		}
		if got := errors.Is(err, ErrRecordTooLarge); got != tooLarge {
			t.Fatalf("too large = %v, want %v (err %v)", got, tooLarge, err)
		}
		if s.Records() != records || s.Boundary() != boundary {
			t.Fatalf("records %d boundary %d, want %d %d", s.Records(), s.Boundary(), records, boundary)
		}
		if !tooLarge && s.AtBoundary() != (boundary == uint64(len(stream))) {
			t.Fatalf("AtBoundary %v with boundary %d of %d", s.AtBoundary(), boundary, len(stream))
		}
	})
}

func BenchmarkRecordScanner(b *testing.B) {
	var stream []byte
	rng := rand.New(rand.NewPCG(3, 4))
	for len(stream) < 1<<20 {
		stream = appendRecord(stream, 20+rng.IntN(2000), 0)
	}
	s := NewRecordScanner(1 << 24)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		s.Write(stream)
	}
}
