package framing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	meta := []Meta{{"request", "blocks/0-99"}, {"source", "legacy"}, {"empty", ""}}
	longMsg := strings.Repeat("é", 700) // 1400 bytes: cut to 1024 on a rune boundary
	tests := []struct {
		name     string
		sizes    []int // one Write per size
		records  uint64
		outcome  error
		wantCode Code
		wantMsg  string
	}{
		{name: "no-data", outcome: nil},
		{name: "one-byte", sizes: []int{1}, records: 1},
		{name: "small-frames", sizes: []int{1, 7, 100, 4095, 4096, 4097}, records: 6},
		{name: "empty-writes", sizes: []int{0, 5, 0}, records: 1},
		{name: "64k", sizes: []int{64 << 10, 64 << 10}},
		{name: "max-payload", sizes: []int{MaxPayload}},
		{name: "split", sizes: []int{2*MaxPayload + 3, 10}},
		{name: "truncated", sizes: []int{10, 20}, records: 41,
			outcome: Errorf(CodeTruncated, "%d of %d records", 41, 100), wantCode: CodeTruncated, wantMsg: "41 of 100 records"},
		{name: "no-data-error", outcome: Errorf(CodeUpstreamUnavailable, "3 attempts"),
			wantCode: CodeUpstreamUnavailable, wantMsg: "3 attempts"},
		{name: "plain-error", sizes: []int{5}, outcome: errors.New("boom"), wantCode: CodeInternal, wantMsg: "boom"},
		{name: "wrapped-stream-error", sizes: []int{5},
			outcome:  fmt.Errorf("proxy: %w", Errorf(CodeUpstreamReset, "reading upstream: %w", syscall.ECONNRESET)),
			wantCode: CodeUpstreamReset, wantMsg: "reading upstream: " + syscall.ECONNRESET.Error()},
		{name: "stream-error-no-message", outcome: &StreamError{Code: CodeUpstreamStalled, Err: io.ErrNoProgress},
			wantCode: CodeUpstreamStalled, wantMsg: io.ErrNoProgress.Error()},
		{name: "unknown-code", sizes: []int{3}, outcome: &StreamError{Code: 200, Message: "from the future"},
			wantCode: 200, wantMsg: "from the future"},
		{name: "long-message", outcome: Errorf(CodeInternal, "%s", longMsg), wantCode: CodeInternal, wantMsg: longMsg[:1024]},
		{name: "invalid-utf8-message", outcome: Errorf(CodeShutdown, "bad \xff byte"), wantCode: CodeShutdown, wantMsg: "bad \uFFFD byte"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var chunks [][]byte
			var want []byte
			total := 0
			for i, n := range tt.sizes {
				c := payload(n, uint64(i))
				chunks = append(chunks, c)
				want = append(want, c...)
				total += n
			}
			h := Header{StreamID: testID, Meta: meta}
			var buf bytes.Buffer
			w, err := NewWriter(&buf, h)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range chunks {
				if n, err := w.Write(c); n != len(c) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if err := w.End(tt.records, tt.outcome); err != nil {
				t.Fatal(err)
			}
			stream := buf.Bytes()
			wantFrames := uint64(0)
			for _, n := range tt.sizes {
				wantFrames += uint64((n + MaxPayload - 1) / MaxPayload)
			}
			wantSummary := Summary{Code: tt.wantCode, Message: tt.wantMsg, Records: tt.records,
				Bytes: uint64(total), Frames: wantFrames, Digest: xxhash.Sum64(want)}
			if got := (Summary{Code: wantSummary.Code, Message: wantSummary.Message, Records: tt.records,
				Bytes: w.Bytes(), Frames: w.Frames(), Digest: w.Digest()}); !reflect.DeepEqual(got, wantSummary) {
				t.Fatalf("writer counters = %+v, want %+v", got, wantSummary)
			}

			modes := []struct {
				name string
				size int // Read size; 0: WriteTo
			}{{"read-1", 1}, {"read-100", 100}, {"read-64k", 64 << 10}, {"read-max", MaxPayload + 8}, {"write-to", 0}}
			for _, wr := range wrappers {
				for _, m := range modes {
					if total > 256<<10 && (wr.name == "one-byte" || m.size == 1) {
						continue // slow under -race, and adds nothing the small cases do not cover
					}
					t.Run(wr.name+"/"+m.name, func(t *testing.T) {
						r := NewReader(wr.wrap(bytes.NewReader(stream)))
						gotH, err := r.Header()
						if err != nil {
							t.Fatalf("Header: %v", err)
						}
						if gotH.StreamID != h.StreamID || fmt.Sprint(gotH.Meta) != fmt.Sprint(h.Meta) {
							t.Errorf("Header = %+v, want %+v", gotH, h)
						}
						var got []byte
						if m.size == 0 {
							var out bytes.Buffer
							_, err = r.WriteTo(&out)
							got = out.Bytes()
							if err == nil {
								err = io.EOF
							}
						} else {
							got, err = readAll(r, m.size)
						}
						if !bytes.Equal(got, want) {
							t.Errorf("payload: got %d bytes, want %d", len(got), len(want))
						}
						if r.Bytes() != uint64(len(want)) {
							t.Errorf("Bytes() = %d, want %d", r.Bytes(), len(want))
						}
						if tt.wantCode == CodeOK {
							if err != io.EOF {
								t.Errorf("err = %v, want io.EOF", err)
							}
						} else {
							var se *StreamError
							if !errors.As(err, &se) || se.Code != tt.wantCode || se.Message != tt.wantMsg {
								t.Errorf("err = %v, want *StreamError{%v, %q}", err, tt.wantCode, tt.wantMsg)
							}
							if CodeOf(err) != tt.wantCode {
								t.Errorf("CodeOf = %v, want %v", CodeOf(err), tt.wantCode)
							}
						}
						if s, ok := r.Summary(); !ok || !reflect.DeepEqual(s, wantSummary) {
							t.Errorf("Summary() = %+v, %v; want %+v", s, ok, wantSummary)
						}
						// sticky
						if n, err2 := r.Read(make([]byte, 10)); n != 0 || err2 != err && !(m.size == 0 && err2 == io.EOF) {
							t.Errorf("Read after end = %d, %v; want 0, %v", n, err2, err)
						}
					})
				}
			}
		})
	}
}

func TestWriterErrors(t *testing.T) {
	t.Parallel()
	t.Run("closed", func(t *testing.T) {
		w, _ := NewWriter(io.Discard, Header{})
		if w.Header().StreamID == (StreamID{}) {
			t.Error("zero StreamID not replaced")
		}
		if err := w.End(0, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("x")); err != ErrClosed {
			t.Errorf("Write after End: %v, want ErrClosed", err)
		}
		if err := w.End(0, nil); err != ErrClosed {
			t.Errorf("End after End: %v, want ErrClosed", err)
		}
	})
	badHeaders := []struct {
		name string
		meta []Meta
	}{
		{"empty-key", []Meta{{"", "v"}}},
		{"upper-key", []Meta{{"Key", "v"}}},
		{"space-key", []Meta{{"a b", "v"}}},
		{"long-key", []Meta{{strings.Repeat("k", 256), "v"}}},
		{"long-value", []Meta{{"k", strings.Repeat("v", 1<<16)}}},
		{"invalid-utf8", []Meta{{"k", "\xff"}}},
		{"too-large", func() []Meta {
			m := make([]Meta, 20)
			for i := range m {
				m[i] = Meta{"k", strings.Repeat("v", 60000)}
			}
			return m
		}()},
	}
	for _, tt := range badHeaders {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := NewWriter(&buf, Header{Meta: tt.meta}); err == nil {
				t.Error("NewWriter accepted a bad header")
			}
			if buf.Len() != 0 {
				t.Errorf("NewWriter wrote %d bytes for a bad header", buf.Len())
			}
		})
	}
	t.Run("write-error-sticky", func(t *testing.T) {
		boom := errors.New("boom")
		fw := &failWriter{left: 8 + 16 + 19 + 8 + 16 + 3, err: boom} // fails inside the first data frame's check
		w, err := NewWriter(fw, Header{StreamID: testID})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := w.Write([]byte("abc")); n != 0 || !errors.Is(err, boom) {
			t.Errorf("Write = %d, %v; want 0, boom", n, err)
		}
		if _, err := w.Write([]byte("abc")); !errors.Is(err, boom) {
			t.Errorf("second Write: %v, want boom", err)
		}
		if err := w.End(0, nil); !errors.Is(err, boom) {
			t.Errorf("End: %v, want boom", err)
		}
	})
}

type failWriter struct {
	left int
	err  error
}

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, w.err
	}
	w.left -= len(p)
	return len(p), nil
}

func TestEndMessage(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"short", "abc", "abc"},
		{"exact", strings.Repeat("a", 1024), strings.Repeat("a", 1024)},
		{"ascii-long", strings.Repeat("a", 1025), strings.Repeat("a", 1024)},
		{"rune-boundary", strings.Repeat("a", 1023) + "é", strings.Repeat("a", 1023)},
		{"4-byte-rune", strings.Repeat("a", 1022) + "😀", strings.Repeat("a", 1022)},
		{"invalid", "a\xffb", "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := endMessage(tt.in); got != tt.want {
				t.Errorf("endMessage: got %d bytes %q..., want %d bytes", len(got), got[:min(len(got), 8)], len(tt.want))
			}
		})
	}
}

func TestCode(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := range 256 {
		c := Code(i)
		name := c.String()
		if seen[name] {
			t.Errorf("duplicate name %q", name)
		}
		seen[name] = true
		if got, ok := ParseCode(name); !ok || got != c {
			t.Errorf("ParseCode(%q) = %v, %v; want %d", name, got, ok, i)
		}
	}
	if CodeInternal.String() != "internal" || Code(18).String() != "code(18)" {
		t.Errorf("names: %v %v", CodeInternal, Code(18))
	}
	for _, bad := range []string{"", "OK", "code(1)", "code(015)", "code(256)", "code()", "code(-1)", "code(x)"} {
		if c, ok := ParseCode(bad); ok {
			t.Errorf("ParseCode(%q) = %v, true; want false", bad, c)
		}
	}
}

func TestStreamError(t *testing.T) {
	t.Parallel()
	base := errors.New("base")
	tests := []struct {
		name      string
		err       error
		wantText  string
		wantCode  Code
		wantCause error
	}{
		{"nil", nil, "", CodeOK, nil},
		{"plain", errors.New("x"), "x", CodeInternal, nil},
		{"errorf", Errorf(CodeTruncated, "%d of %d", 1, 3), "truncated: 1 of 3", CodeTruncated, nil},
		{"errorf-wrap", Errorf(CodeUpstreamReset, "read: %w", base), "upstream-reset: read: base", CodeUpstreamReset, base},
		{"errorf-wrap-two", Errorf(CodeInternal, "%w and %w", base, io.EOF), "internal: base and EOF", CodeInternal, io.EOF},
		{"wrapped", fmt.Errorf("ctx: %w", &StreamError{Code: CodeShutdown}), "ctx: shutdown", CodeShutdown, nil},
		{"cause-only", &StreamError{Code: CodeUpstreamStalled, Err: base}, "upstream-stalled: base", CodeUpstreamStalled, base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if CodeOf(tt.err) != tt.wantCode {
				t.Errorf("CodeOf = %v, want %v", CodeOf(tt.err), tt.wantCode)
			}
			if tt.err == nil {
				return
			}
			if tt.err.Error() != tt.wantText {
				t.Errorf("Error() = %q, want %q", tt.err.Error(), tt.wantText)
			}
			if tt.wantCause != nil && !errors.Is(tt.err, tt.wantCause) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.wantCause)
			}
		})
	}
}

// TestWriteFrameInPlace: a frame sealed in the caller's buffer is the same
// bytes Write produces, and it costs one write and no allocation.
func TestWriteFrameInPlace(t *testing.T) {
	id := StreamID{1, 2, 3}
	var viaWrite, inPlace bytes.Buffer
	w1, err := NewWriter(&viaWrite, Header{StreamID: id})
	if err != nil {
		t.Fatal(err)
	}
	cw := &countingWriter{w: &inPlace}
	w2, err := NewWriter(cw, Header{StreamID: id})
	if err != nil {
		t.Fatal(err)
	}
	cw.writes = 0
	buf := make([]byte, FrameHeaderSize+1000+CheckSize)
	for i, n := range []int{1, 999, 1000, 17} {
		payload := bytes.Repeat([]byte{byte(i)}, n)
		if _, err := w1.Write(payload); err != nil {
			t.Fatal(err)
		}
		frame := buf[:FrameHeaderSize+n+CheckSize]
		copy(frame[FrameHeaderSize:], payload)
		if got, err := w2.WriteFrameInPlace(frame); err != nil || got != n {
			t.Fatalf("WriteFrameInPlace = %d, %v", got, err)
		}
	}
	if cw.writes != 4 {
		t.Fatalf("%d writes for 4 frames, want 4", cw.writes)
	}
	w1.End(9, nil)
	w2.End(9, nil)
	if !bytes.Equal(viaWrite.Bytes(), inPlace.Bytes()) {
		t.Fatal("in-place frames differ from Write's")
	}
	if _, err := w2.WriteFrameInPlace(buf[:FrameHeaderSize+CheckSize]); err == nil {
		t.Fatal("an empty in-place frame was accepted")
	}
	w3, _ := NewWriter(io.Discard, Header{StreamID: id})
	frame := buf[:FrameHeaderSize+1000+CheckSize]
	if allocs := testing.AllocsPerRun(100, func() { w3.WriteFrameInPlace(frame) }); allocs != 0 {
		t.Fatalf("%v allocations per in-place frame", allocs)
	}
}

type countingWriter struct {
	w      io.Writer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) { c.writes++; return c.w.Write(p) }
