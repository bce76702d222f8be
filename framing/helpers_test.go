package framing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/cespare/xxhash/v2"
)

// testID is the fixed stream id of test streams and golden vectors.
var testID = StreamID{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

// wrappers feed reader tests through readers that return data in odd ways.
var wrappers = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"plain", func(r io.Reader) io.Reader { return r }},
	{"one-byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data-err", iotest.DataErrReader},
}

// damageErrs are the errors a damaged stream may produce.
var damageErrs = []error{
	ErrBadMagic, ErrVersion, ErrMalformed, ErrFrameTooLarge, ErrChecksum,
	ErrSequence, ErrTruncated, ErrTrailingData, ErrSummary,
}

func isDamage(err error) bool {
	for _, e := range damageErrs {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// payload returns n deterministic pseudo-random bytes.
func payload(n int, seed uint64) []byte {
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// encode frames chunks with the Writer, one Write per chunk.
func encode(t testing.TB, h Header, chunks [][]byte, records uint64, outcome error) []byte {
	t.Helper()
	return encodeWith(t, h, chunks, records, outcome, nil)
}

// encodeWith is encode with metadata in the end frame.
func encodeWith(t testing.TB, h Header, chunks [][]byte, records uint64, outcome error, endMeta []Meta) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, h)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	for _, c := range chunks {
		if n, err := w.Write(c); n != len(c) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", len(c), n, err)
		}
	}
	if err := w.EndWith(records, outcome, endMeta); err != nil {
		t.Fatalf("End: %v", err)
	}
	return buf.Bytes()
}

// readAll reads r with Read calls of size bytes until an error, and returns
// the payload and the error (io.EOF for a complete stream).
func readAll(r *Reader, size int) ([]byte, error) {
	var out []byte
	p := make([]byte, size)
	for {
		n, err := r.Read(p)
		out = append(out, p[:n]...)
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, errors.New("test: Read returned 0, nil")
		}
	}
}

// decodeErr decodes stream fully and returns the final error.
func decodeErr(stream []byte, wrap func(io.Reader) io.Reader) error {
	_, err := readAll(NewReader(wrap(bytes.NewReader(stream))), 4096)
	return err
}

// rawFrame is a frame for the independent encoder below.
type rawFrame struct {
	kind     byte
	flags    byte
	reserved uint16
	seq      uint64
	length   int // if >= 0, overrides len(payload) in the frame header
	payload  []byte
}

// buildRaw encodes frames straight from the spec, independently of Writer,
// with valid chained checks whatever the frames say. Data frames (kind 2)
// are hashed as BE64(running digest); other kinds by payload.
func buildRaw(id StreamID, frames []rawFrame) []byte {
	out := append([]byte(nil), Magic[:]...)
	var prev [8]byte
	d := xxhash.New()
	for _, f := range frames {
		var fh [16]byte
		fh[0], fh[1] = f.kind, f.flags
		binary.BigEndian.PutUint16(fh[2:], f.reserved)
		l := uint32(len(f.payload))
		if f.length >= 0 {
			l = uint32(f.length)
		}
		binary.BigEndian.PutUint32(fh[4:], l)
		binary.BigEndian.PutUint64(fh[8:], f.seq)
		body := f.payload
		if f.kind == byte(KindData) {
			d.Write(f.payload)
			body = binary.BigEndian.AppendUint64(nil, d.Sum64())
		}
		in := append(append(append(append([]byte(nil), id[:]...), prev[:]...), fh[:]...), body...)
		binary.BigEndian.PutUint64(prev[:], xxhash.Sum64(in))
		out = append(append(append(out, fh[:]...), f.payload...), prev[:]...)
	}
	return out
}

func headerPayload(id StreamID, meta ...Meta) []byte {
	b, err := appendHeaderPayload(nil, Header{StreamID: id, Meta: meta})
	if err != nil {
		panic(err)
	}
	return b
}

func endPayload(s Summary) []byte {
	b, err := appendEndPayload(nil, &s)
	if err != nil {
		panic(err)
	}
	return b
}

// splitFrames cuts a well-formed stream into magic and frames.
func splitFrames(stream []byte) (magic []byte, frames [][]byte) {
	magic, rest := stream[:8], stream[8:]
	for len(rest) > 0 {
		n := FrameHeaderSize + int(binary.BigEndian.Uint32(rest[4:8])) + CheckSize
		frames = append(frames, rest[:n])
		rest = rest[n:]
	}
	return magic, frames
}

func join(magic []byte, frames ...[]byte) []byte {
	return bytes.Join(append([][]byte{magic}, frames...), nil)
}
