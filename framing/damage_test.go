package framing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/cespare/xxhash/v2"
)

// smallStream is the stream the damage tests break: a header with metadata,
// three data frames and an end frame.
func smallStream(t testing.TB, id StreamID, seed uint64, outcome error) []byte {
	chunks := [][]byte{payload(5, seed), payload(300, seed+1), payload(17, seed+2)}
	return encode(t, Header{StreamID: id, Meta: []Meta{{"request", "blocks/0-2"}}}, chunks, 3, outcome)
}

func TestDamageBitFlips(t *testing.T) {
	t.Parallel()
	for _, outcome := range []error{nil, Errorf(CodeTruncated, "2 of 3 records")} {
		stream := smallStream(t, testID, 1, outcome)
		for _, wr := range wrappers[:2] { // plain, one-byte
			t.Run(fmt.Sprintf("%v/%s", CodeOf(outcome), wr.name), func(t *testing.T) {
				t.Parallel()
				for i := range len(stream) * 8 {
					bad := bytes.Clone(stream)
					bad[i/8] ^= 1 << (i % 8)
					err := decodeErr(bad, wr.wrap)
					var se *StreamError
					if !isDamage(err) || errors.As(err, &se) {
						t.Fatalf("bit %d (byte %d) flipped: err = %v, want a damage error", i%8, i/8, err)
					}
				}
			})
		}
	}
}

func TestDamageTruncation(t *testing.T) {
	t.Parallel()
	stream := smallStream(t, testID, 1, nil)
	for _, wr := range wrappers {
		t.Run(wr.name, func(t *testing.T) {
			t.Parallel()
			for n := range len(stream) {
				err := decodeErr(stream[:n], wr.wrap)
				if !errors.Is(err, ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("cut at %d of %d: err = %v, want ErrTruncated and io.ErrUnexpectedEOF", n, len(stream), err)
				}
			}
		})
	}
}

func TestDamageFrames(t *testing.T) {
	t.Parallel()
	stream := smallStream(t, testID, 1, nil)
	magic, f := splitFrames(stream) // header, data 1..3, end
	other := smallStream(t, StreamID{0xff}, 1, nil)
	_, g := splitFrames(other)                                 // same payloads, another stream id
	_, sameID := splitFrames(smallStream(t, testID, 100, nil)) // same id, other payloads
	garbage := append(bytes.Clone(stream), []byte("HTTP/1.1 200 OK\r\n")...)
	tests := []struct {
		name   string
		stream []byte
		want   error
	}{
		{"intact", stream, io.EOF},
		{"drop-header", join(magic, f[1], f[2], f[3], f[4]), ErrMalformed},
		{"drop-data-1", join(magic, f[0], f[2], f[3], f[4]), ErrSequence},
		{"drop-data-2", join(magic, f[0], f[1], f[3], f[4]), ErrSequence},
		{"drop-data-3", join(magic, f[0], f[1], f[2], f[4]), ErrSequence},
		{"drop-end", join(magic, f[0], f[1], f[2], f[3]), ErrTruncated},
		{"dup-header", join(magic, f[0], f[0], f[1], f[2], f[3], f[4]), ErrMalformed},
		{"dup-data-1", join(magic, f[0], f[1], f[1], f[2], f[3], f[4]), ErrSequence},
		{"dup-data-3", join(magic, f[0], f[1], f[2], f[3], f[3], f[4]), ErrSequence},
		{"dup-end", join(magic, f[0], f[1], f[2], f[3], f[4], f[4]), ErrTrailingData},
		{"swap-header-data", join(magic, f[1], f[0], f[2], f[3], f[4]), ErrMalformed},
		{"swap-data-1-2", join(magic, f[0], f[2], f[1], f[3], f[4]), ErrSequence},
		{"swap-data-2-3", join(magic, f[0], f[1], f[3], f[2], f[4]), ErrSequence},
		{"swap-data-end", join(magic, f[0], f[1], f[2], f[4], f[3]), ErrSequence},
		{"splice-header", join(magic, g[0], f[1], f[2], f[3], f[4]), ErrChecksum},
		{"splice-data-1", join(magic, f[0], g[1], f[2], f[3], f[4]), ErrChecksum},
		{"splice-data-2", join(magic, f[0], f[1], g[2], f[3], f[4]), ErrChecksum},
		{"splice-data-3", join(magic, f[0], f[1], f[2], g[3], f[4]), ErrChecksum},
		{"splice-end", join(magic, f[0], f[1], f[2], f[3], g[4]), ErrChecksum},
		{"splice-data-same-id", join(magic, f[0], f[1], sameID[2], f[3], f[4]), ErrChecksum},
		{"concat-streams", append(bytes.Clone(stream), other...), ErrTrailingData},
		{"concat-same-stream", append(bytes.Clone(stream), stream...), ErrTrailingData},
		{"append-garbage", garbage, ErrTrailingData},
		{"append-zero-byte", append(bytes.Clone(stream), 0), ErrTrailingData},
		{"empty", nil, ErrTruncated},
		{"magic-only", magic, ErrTruncated},
		{"magic-prefix", magic[:3], ErrTruncated},
		{"http-response", []byte("HTTP/1.1 502 Bad Gateway\r\n\r\n"), ErrBadMagic},
		{"crlf-mangled", append([]byte{0x89, 'B', 'S', 'L', '\n', 0x1a, '\n'}, stream[8:]...), ErrBadMagic},
		{"7-bit", append([]byte{0x09}, stream[1:]...), ErrBadMagic},
	}
	for _, tt := range tests {
		for _, wr := range wrappers {
			t.Run(tt.name+"/"+wr.name, func(t *testing.T) {
				t.Parallel()
				r := NewReader(wr.wrap(bytes.NewReader(tt.stream)))
				_, err := readAll(r, 4096)
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
				if _, err2 := r.Read(make([]byte, 1)); err2 != err {
					t.Errorf("error not sticky: then %v", err2)
				}
				if tt.want == ErrTrailingData {
					if _, ok := r.Summary(); !ok {
						t.Error("Summary() not available after ErrTrailingData")
					}
				}
			})
		}
	}
}

// guardReader serves data and fails the test if it is asked for more.
type guardReader struct {
	t    *testing.T
	data []byte
}

func (g *guardReader) Read(p []byte) (int, error) {
	if len(g.data) == 0 {
		g.t.Errorf("read past the frame header (%d bytes asked)", len(p))
		return 0, io.EOF
	}
	n := copy(p, g.data)
	g.data = g.data[n:]
	return n, nil
}

func TestFrameTooLarge(t *testing.T) {
	t.Parallel()
	hdr := rawFrame{kind: 1, seq: 0, length: -1, payload: headerPayload(testID)}
	tests := []struct {
		name   string
		frames []rawFrame
		want   error
	}{
		{"header", []rawFrame{{kind: 1, seq: 0, length: MaxPayload + 1}}, ErrFrameTooLarge},
		{"data", []rawFrame{hdr, {kind: 2, seq: 1, length: MaxPayload + 1}}, ErrFrameTooLarge},
		{"data-max-u32", []rawFrame{hdr, {kind: 2, seq: 1, length: 1<<32 - 1}}, ErrFrameTooLarge},
		{"end", []rawFrame{hdr, {kind: 3, seq: 1, length: MaxPayload + 1}}, ErrFrameTooLarge},
		{"end-above-message-limit", []rawFrame{hdr, {kind: 3, seq: 1, length: endFixedSize + MaxMessage + 1}}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stream := buildRaw(testID, tt.frames)
			stream = stream[:len(stream)-CheckSize] // the last frame: its header only
			for _, wr := range wrappers[:2] {
				r := NewReader(wr.wrap(&guardReader{t: t, data: stream}))
				if _, err := readAll(r, MaxPayload+8); !errors.Is(err, tt.want) {
					t.Errorf("%s: err = %v, want %v", wr.name, err, tt.want)
				}
				if cap(r.buf) > MaxPayload {
					t.Errorf("buffer grew to %d", cap(r.buf))
				}
			}
		})
	}
}

// TestMalformed feeds streams with valid checks that break the layout, from
// the independent encoder buildRaw.
func TestMalformed(t *testing.T) {
	t.Parallel()
	hp := headerPayload(testID, Meta{"k", "v"})
	hdr := rawFrame{kind: 1, length: -1, payload: hp}
	data := []byte("payload")
	d := xxhash.Sum64(data)
	okEnd := Summary{Bytes: uint64(len(data)), Frames: 1, Digest: d}
	end := func(s Summary) rawFrame { return rawFrame{kind: 3, seq: 2, length: -1, payload: endPayload(s)} }
	dataFrame := rawFrame{kind: 2, seq: 1, length: -1, payload: data}
	withHeader := func(p []byte) []rawFrame {
		return []rawFrame{{kind: 1, length: -1, payload: p}, dataFrame, end(okEnd)}
	}
	edit := func(p []byte, f func([]byte)) []byte { p = bytes.Clone(p); f(p); return p }
	// endWith edits the valid end payload, with extra bytes appended first.
	endWith := func(f func([]byte), extra ...byte) []rawFrame {
		return []rawFrame{hdr, dataFrame, {kind: 3, seq: 2, length: -1, payload: edit(append(endPayload(okEnd), extra...), f)}}
	}
	withMeta := okEnd
	withMeta.Meta = []Meta{{"content-root", "ab"}}
	tests := []struct {
		name   string
		frames []rawFrame
		want   error
	}{
		{"valid", []rawFrame{hdr, dataFrame, end(okEnd)}, io.EOF},
		{"valid-no-data", []rawFrame{hdr, {kind: 3, seq: 1, length: -1, payload: endPayload(Summary{Digest: xxhash.Sum64(nil)})}}, io.EOF},
		{"kind-0", []rawFrame{hdr, {kind: 0, seq: 1, length: -1, payload: data}}, ErrMalformed},
		{"kind-4", []rawFrame{hdr, {kind: 4, seq: 1, length: -1, payload: data}}, ErrMalformed},
		{"flags", []rawFrame{hdr, {kind: 2, flags: 0x80, seq: 1, length: -1, payload: data}, end(okEnd)}, ErrMalformed},
		{"reserved", []rawFrame{hdr, {kind: 2, reserved: 1, seq: 1, length: -1, payload: data}, end(okEnd)}, ErrMalformed},
		{"header-flags", []rawFrame{{kind: 1, flags: 1, length: -1, payload: hp}}, ErrMalformed},
		{"empty-data", []rawFrame{hdr, {kind: 2, seq: 1, length: -1}, end(Summary{Frames: 1, Digest: xxhash.Sum64(nil)})}, ErrMalformed},
		{"second-header", []rawFrame{hdr, {kind: 1, seq: 1, length: -1, payload: hp}}, ErrMalformed},
		{"data-first", []rawFrame{dataFrame}, ErrMalformed},
		{"end-first", []rawFrame{{kind: 3, length: -1, payload: endPayload(Summary{})}}, ErrMalformed},
		{"header-seq-1", []rawFrame{{kind: 1, seq: 1, length: -1, payload: hp}}, ErrSequence},
		{"version-0", withHeader(edit(hp, func(p []byte) { p[0] = 0 })), ErrVersion},
		{"version-2", withHeader(edit(hp, func(p []byte) { p[0] = 2 })), ErrVersion},
		{"header-empty", withHeader(nil), ErrMalformed},
		{"header-short", withHeader(hp[:18]), ErrMalformed},
		{"header-trailing-byte", withHeader(append(bytes.Clone(hp), 0)), ErrMalformed},
		{"header-missing-entry", withHeader(edit(hp, func(p []byte) { p[18] = 2 })), ErrMalformed},
		{"header-count-huge", withHeader(edit(hp, func(p []byte) { p[17], p[18] = 0xff, 0xff })), ErrMalformed},
		{"header-key-empty", withHeader(headerPayloadRaw(0, "", "v")), ErrMalformed},
		{"header-key-upper", withHeader(headerPayloadRaw(1, "K", "v")), ErrMalformed},
		{"header-key-length-past-end", withHeader(headerPayloadRaw(9, "k", "v")[:22]), ErrMalformed},
		{"header-value-past-end", withHeader(hp[:len(hp)-1]), ErrMalformed},
		{"header-value-not-utf8", withHeader(headerPayloadRaw(1, "k", "\xff")), ErrMalformed},
		{"header-stream-id-differs", withHeader(edit(hp, func(p []byte) { p[1] ^= 1 })), ErrChecksum},
		{"end-short", []rawFrame{hdr, dataFrame, {kind: 3, seq: 2, length: -1, payload: endPayload(okEnd)[:39]}}, ErrMalformed},
		{"end-reserved-1", endWith(func(p []byte) { p[1] = 1 }), ErrMalformed},
		{"end-reserved-4", endWith(func(p []byte) { p[7] = 1 }), ErrMalformed},
		{"end-meta", []rawFrame{hdr, dataFrame, end(withMeta)}, io.EOF},
		{"end-meta-missing-entry", endWith(func(p []byte) { p[5] = 1 }), ErrMalformed},
		{"end-meta-trailing-byte", []rawFrame{hdr, dataFrame, {kind: 3, seq: 2, length: -1, payload: append(endPayload(withMeta), 0)}}, ErrMalformed},
		{"end-meta-value-past-end", []rawFrame{hdr, dataFrame, {kind: 3, seq: 2, length: -1, payload: endPayload(withMeta)[:len(endPayload(withMeta))-1]}}, ErrMalformed},
		{"end-meta-key-upper", endWith(func(p []byte) { p[5] = 1 }, 1, 'K', 0, 0), ErrMalformed},
		{"end-message-length", endWith(func(p []byte) { p[3] = 1 }), ErrMalformed},
		{"end-message-too-long", []rawFrame{hdr, dataFrame, {kind: 3, seq: 2, length: -1,
			payload: endPayload(Summary{Code: 1, Message: strings.Repeat("m", 1025), Bytes: 7, Frames: 1, Digest: d})}}, ErrMalformed},
		{"end-message-not-utf8", []rawFrame{hdr, dataFrame, end(Summary{Code: 1, Message: "\xc3", Bytes: 7, Frames: 1, Digest: d})}, ErrMalformed},
		{"end-bytes", []rawFrame{hdr, dataFrame, end(Summary{Bytes: 8, Frames: 1, Digest: d})}, ErrSummary},
		{"end-frames", []rawFrame{hdr, dataFrame, end(Summary{Bytes: 7, Frames: 2, Digest: d})}, ErrSummary},
		{"end-digest", []rawFrame{hdr, dataFrame, end(Summary{Bytes: 7, Frames: 1, Digest: d + 1})}, ErrSummary},
		{"end-seq", []rawFrame{hdr, dataFrame, {kind: 3, seq: 3, length: -1, payload: endPayload(okEnd)}}, ErrSequence},
		{"unknown-code", []rawFrame{hdr, dataFrame, end(Summary{Code: 99, Message: "?", Bytes: 7, Frames: 1, Digest: d})},
			&StreamError{Code: 99, Message: "?"}},
	}
	for _, tt := range tests {
		for _, wr := range wrappers {
			t.Run(tt.name+"/"+wr.name, func(t *testing.T) {
				t.Parallel()
				err := decodeErr(buildRaw(testID, tt.frames), wr.wrap)
				if want, ok := tt.want.(*StreamError); ok {
					var se *StreamError
					if !errors.As(err, &se) || *se != *want || se.Error() != "code(99): ?" {
						t.Fatalf("err = %v, want %v", err, want)
					}
					return
				}
				if !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
			})
		}
	}
}

// headerPayloadRaw builds a header payload with one entry, without
// validation.
func headerPayloadRaw(keyLen int, key, value string) []byte {
	b := append([]byte{Version}, testID[:]...)
	b = append(b, 0, 1, byte(keyLen))
	b = append(b, key...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(value)))
	return append(b, value...)
}

func TestWriterMatchesIndependentEncoder(t *testing.T) {
	t.Parallel()
	chunks := [][]byte{payload(5, 1), payload(300, 2), payload(17, 3)}
	got := encode(t, Header{StreamID: testID, Meta: []Meta{{"request", "blocks/0-2"}}}, chunks, 3, Errorf(CodeTruncated, "x"))
	frames := []rawFrame{{kind: 1, length: -1, payload: headerPayload(testID, Meta{"request", "blocks/0-2"})}}
	var all []byte
	for i, c := range chunks {
		frames = append(frames, rawFrame{kind: 2, seq: uint64(i + 1), length: -1, payload: c})
		all = append(all, c...)
	}
	frames = append(frames, rawFrame{kind: 3, seq: 4, length: -1, payload: endPayload(Summary{
		Code: CodeTruncated, Message: "x", Records: 3, Bytes: uint64(len(all)), Frames: 3, Digest: xxhash.Sum64(all)})})
	if want := buildRaw(testID, frames); !bytes.Equal(got, want) {
		t.Errorf("Writer output differs from the spec encoder:\n got %x\nwant %x", got, want)
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	stream := smallStream(t, testID, 1, nil)
	boom := errors.New("boom")
	for _, cut := range []int{0, 5, 8, 30, 100, len(stream) - 1, len(stream)} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			src := io.MultiReader(bytes.NewReader(stream[:cut]), iotest.ErrReader(boom))
			err := decodeErr(nil, func(io.Reader) io.Reader { return src })
			if !errors.Is(err, boom) || errors.Is(err, ErrTruncated) {
				t.Errorf("err = %v, want boom, not ErrTruncated", err)
			}
		})
	}
}
