package framing

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// fuzzBuf is a Read buffer large enough for any frame, so every Read returns
// exactly one frame's payload. Fuzz inputs run one at a time per process.
var fuzzBuf = make([]byte, MaxPayload)

func addGoldenSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, g := range goldens {
		b, err := os.ReadFile(filepath.Join("testdata", g.name+".bsf"))
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzReader feeds arbitrary bytes to the Reader: it must never panic, its
// buffer never exceeds MaxPayload, and whatever it accepts re-encodes to the
// same bytes (the encoding is canonical).
func FuzzReader(f *testing.F) {
	for _, s := range addGoldenSeeds(f) {
		f.Add(s)
		f.Add(s[:len(s)/2])
		f.Add(append(bytes.Clone(s), 0))
	}
	f.Add([]byte{})
	f.Add(Magic[:])
	f.Add(buildRaw(testID, []rawFrame{{kind: 1, length: -1, payload: headerPayload(testID)}, {kind: 2, seq: 1, length: MaxPayload}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		var frames [][]byte
		var err error
		for {
			var n int
			n, err = r.Read(fuzzBuf)
			if cap(r.buf) > MaxPayload {
				t.Fatalf("buffer grew to %d", cap(r.buf))
			}
			if err != nil {
				break
			}
			frames = append(frames, bytes.Clone(fuzzBuf[:n]))
		}
		var se *StreamError
		if err != io.EOF && !errors.As(err, &se) {
			if !isDamage(err) {
				t.Fatalf("err = %v, want a damage error", err)
			}
			return
		}
		// Accepted: encoding it again must give the input back.
		h, herr := r.Header()
		s, ok := r.Summary()
		if herr != nil || !ok {
			t.Fatalf("accepted, but Header: %v, Summary ok: %v", herr, ok)
		}
		var outcome error
		if s.Code != CodeOK || s.Message != "" {
			outcome = &StreamError{Code: s.Code, Message: s.Message}
		}
		if again := encodeWith(t, h, frames, s.Records, outcome, s.Meta); !bytes.Equal(again, data) {
			t.Fatalf("accepted input does not re-encode to itself:\n got %x\nwant %x", again, data)
		}
	})
}

// FuzzRoundTrip writes payload cut into chunks (one cut length per byte of
// cuts) and an outcome, and checks that the Reader returns them.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("block 0\nblock 1\n"), []byte{8, 8}, uint8(0), "", uint64(2))
	f.Add([]byte{}, []byte{}, uint8(1), "0 of 3 records", uint64(0))
	f.Add(bytes.Repeat([]byte{0xaa}, 1000), []byte{0, 1, 255, 17}, uint8(200), "\xff bad utf-8", uint64(1<<63))
	f.Add([]byte("x"), []byte{1}, uint8(0), "ok with a message", uint64(1))
	f.Fuzz(func(t *testing.T, data, cuts []byte, code uint8, msg string, records uint64) {
		var chunks [][]byte
		rest := data
		for _, c := range cuts {
			n := min(int(c), len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		chunks = append(chunks, rest)
		var outcome error
		if code != 0 || msg != "" {
			outcome = &StreamError{Code: Code(code), Message: msg}
		}
		stream := encode(t, Header{Meta: []Meta{{"request", "blocks/0-2"}}}, chunks, records, outcome)
		for _, size := range []int{7, len(data) + 1} {
			r := NewReader(bytes.NewReader(stream))
			got, err := readAll(r, size)
			if !bytes.Equal(got, data) {
				t.Fatalf("payload: got %q, want %q", got, data)
			}
			if Code(code) == CodeOK {
				if err != io.EOF {
					t.Fatalf("err = %v, want io.EOF", err)
				}
			} else {
				var se *StreamError
				if !errors.As(err, &se) || se.Code != Code(code) || se.Message != endMessage(msg) {
					t.Fatalf("err = %v, want code %d message %q", err, code, endMessage(msg))
				}
			}
			if s, ok := r.Summary(); !ok || s.Records != records || s.Bytes != uint64(len(data)) || s.Message != endMessage(msg) {
				t.Fatalf("Summary() = %+v, %v", s, ok)
			}
		}
	})
}
