package framing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/backseal/backseal/internal/testkit/program"
)

var update = flag.Bool("update", false, "rewrite the golden vectors in testdata/")

// goldenMeta is the metadata of the golden vectors with a header.
var goldenMeta = []Meta{{"request", "blocks/0-2"}, {"source", "legacy"}}

var goldens = []struct {
	name    string
	desc    string
	meta    []Meta
	chunks  []string
	records uint64
	outcome error
	endMeta []Meta
}{
	{"ok", "three data frames, status ok", goldenMeta,
		[]string{"block 0\n", "block 1\n", "block 2\n"}, 3, nil, nil},
	{"truncated", "one data frame, status truncated", goldenMeta,
		[]string{"block 0\n"}, 1, Errorf(CodeTruncated, "1 of 3 records"), nil},
	{"empty", "no metadata, no data frames, status ok", nil, nil, 0, nil, nil},
	{"verified", "three data frames, status ok, end metadata naming what was verified", goldenMeta,
		[]string{"block 0\n", "block 1\n", "block 2\n"}, 3, nil,
		[]Meta{{"content-root", "5f6e" + strings.Repeat("0", 60)}, {"content-proof", "transaction_range_proof/0/2"}}},
}

// TestGolden checks that the Writer reproduces testdata/*.bsf byte for byte,
// that the Reader decodes them, and that docs/FRAMING.md shows their
// annotated dumps (testdata/*.txt). Run `go test ./framing -update` to
// rewrite testdata after a deliberate format change.
func TestGolden(t *testing.T) {
	var doc []byte
	if !*update {
		doc, _ = os.ReadFile(filepath.Join("..", "docs", "FRAMING.md"))
	}
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			var chunks [][]byte
			for _, c := range g.chunks {
				chunks = append(chunks, []byte(c))
			}
			stream := encodeWith(t, Header{StreamID: testID, Meta: g.meta}, chunks, g.records, g.outcome, g.endMeta)
			dump := annotate(g.name+".bsf: "+g.desc, stream)
			files := map[string][]byte{g.name + ".bsf": stream, g.name + ".txt": []byte(dump)}
			if g.name == "ok" {
				files["check-example.txt"] = []byte(workedExample(stream))
			}
			for name, want := range files {
				path := filepath.Join("testdata", name)
				if *update {
					if err := os.WriteFile(path, want, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				got, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test ./framing -update)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from what the Writer produces now (a format change? then run go test ./framing -update)", path)
				}
				if doc != nil && strings.HasSuffix(name, ".txt") && !bytes.Contains(doc, want) {
					t.Errorf("docs/FRAMING.md does not contain testdata/%s verbatim", name)
				}
			}

			file, err := os.ReadFile(filepath.Join("testdata", g.name+".bsf"))
			if err != nil {
				t.Fatal(err)
			}
			for _, wr := range wrappers {
				r := NewReader(wr.wrap(bytes.NewReader(file)))
				got, err := readAll(r, 3)
				if string(got) != strings.Join(g.chunks, "") || CodeOf(err) != CodeOf(g.outcome) && err != io.EOF {
					t.Errorf("%s: decoded %q, %v", wr.name, got, err)
				}
				if g.outcome == nil && err != io.EOF {
					t.Errorf("%s: err = %v, want io.EOF", wr.name, err)
				}
				var se *StreamError
				if g.outcome != nil && (!errors.As(err, &se) || se.Error() != g.outcome.Error()) {
					t.Errorf("%s: err = %v, want %v", wr.name, err, g.outcome)
				}
			}
		})
	}
}

// dumper writes an annotated hex dump: bytes on the left, 16 to a row, the
// meaning of the field on the right.
type dumper struct {
	b    strings.Builder
	data []byte
	off  int
}

func (d *dumper) field(n int, format string, args ...any) []byte {
	f := d.data[d.off : d.off+n]
	d.off += n
	comment := fmt.Sprintf(format, args...)
	for i := 0; i < len(f) || i == 0; i += 16 {
		row := f[i:min(i+16, len(f))]
		h := fmt.Sprintf("% x", row)
		if i == 0 {
			fmt.Fprintf(&d.b, "%-47s  %s\n", h, comment)
		} else {
			fmt.Fprintf(&d.b, "%s\n", h)
		}
	}
	return f
}

// meta dumps n metadata entries.
func (d *dumper) meta(n uint16) {
	for range n {
		kl := d.u8("  key length %d")
		d.field(int(kl), "  key %q", d.data[d.off:d.off+int(kl)])
		vl := d.u16("  value length %d")
		d.field(int(vl), "  value %q", d.data[d.off:d.off+int(vl)])
	}
}

func (d *dumper) u8(format string) uint8 {
	v := d.data[d.off]
	d.field(1, format, v)
	return v
}

func (d *dumper) u16(format string) uint16 {
	v := binary.BigEndian.Uint16(d.data[d.off:])
	d.field(2, format, v)
	return v
}

func (d *dumper) u32(format string) uint32 {
	v := binary.BigEndian.Uint32(d.data[d.off:])
	d.field(4, format, v)
	return v
}

func (d *dumper) u64(format string) uint64 {
	v := binary.BigEndian.Uint64(d.data[d.off:])
	d.field(8, format, v)
	return v
}

// annotate dumps a well-formed stream field by field.
func annotate(title string, stream []byte) string {
	d := &dumper{data: stream}
	fmt.Fprintf(&d.b, "# %s (%d bytes)\n", title, len(stream))
	d.field(8, "magic \"\\x89BSL\\r\\n\\x1a\\n\"")
	var prev uint64
	digest := xxhash.New()
	for seq := 0; d.off < len(stream); seq++ {
		kind := Kind(stream[d.off])
		fmt.Fprintf(&d.b, "\n# frame %d: %v\n", seq, kind)
		d.field(1, "kind 0x%02x (%v)", byte(kind), kind)
		d.u8("flags %d")
		d.u16("reserved %d")
		length := d.u32("payload length L = %d")
		d.u64("seq %d")
		body := "payload"
		switch kind {
		case KindHeader:
			d.u8("  version %d")
			d.field(16, "  stream id")
			d.meta(d.u16("  metadata entries M = %d"))
		case KindData:
			p := d.field(int(length), "  payload %q", stream[d.off:d.off+int(length)])
			digest.Write(p)
			body = fmt.Sprintf("BE64(D_%d)); D_%d = XXH64(all payload so far) = %016x", seq, seq, digest.Sum64())
		case KindEnd:
			code := Code(stream[d.off])
			d.field(1, "  status %d (%v)", byte(code), code)
			d.u8("  reserved %d")
			n := d.u16("  message length N = %d")
			m := d.u16("  metadata entries M = %d")
			d.field(2, "  reserved 0")
			d.u64("  records %d")
			d.u64("  payload bytes %d")
			d.u64("  data frames %d")
			d.u64("  payload digest %016x")
			if n > 0 {
				d.field(int(n), "  message %q", stream[d.off:d.off+int(n)])
			}
			d.meta(m)
		}
		if kind != KindData {
			body += ")"
		}
		c := d.u64("check %016x")
		fmt.Fprintf(&d.b, "%-47s  = XXH64(stream id || prev check %016x || frame header || %s\n", "", prev, body)
		prev = c
	}
	return d.b.String()
}

// workedExample spells out the check of the first data frame of stream.
func workedExample(stream []byte) string {
	_, frames := splitFrames(stream)
	h, d1 := frames[0], frames[1]
	id := h[FrameHeaderSize+1 : FrameHeaderSize+17]
	prev := h[len(h)-CheckSize:]
	fh := d1[:FrameHeaderSize]
	p := d1[FrameHeaderSize : len(d1)-CheckSize]
	D := xxhash.Sum64(p)
	in := bytes.Join([][]byte{id, prev, fh, binary.BigEndian.AppendUint64(nil, D)}, nil)
	var b strings.Builder
	fmt.Fprintf(&b, "# check of frame 1 (the first data frame) of ok.bsf\n")
	fmt.Fprintf(&b, "payload            %q (%d bytes)\n", p, len(p))
	fmt.Fprintf(&b, "D_1                XXH64(payload) = %016x (first data frame: the whole payload so far)\n", D)
	fmt.Fprintf(&b, "stream id          % x\n", id)
	fmt.Fprintf(&b, "prev check         % x   (check of frame 0)\n", prev)
	fmt.Fprintf(&b, "frame header       % x\n", fh)
	fmt.Fprintf(&b, "BE64(D_1)          % x\n", in[40:])
	fmt.Fprintf(&b, "input (48 bytes)   %x\n", in)
	fmt.Fprintf(&b, "check_1            XXH64(input) = %016x\n", xxhash.Sum64(in))
	fmt.Fprintf(&b, "in the stream      % x\n", d1[len(d1)-CheckSize:])
	return b.String()
}

// TestIndependentDecoder runs testdata/decode_v1.py, a decoder written from
// docs/FRAMING.md alone, on the golden vectors.
func TestIndependentDecoder(t *testing.T) {
	python := program.Need(t, "python3", "python3")
	args := []string{"decode_v1.py"}
	for _, g := range goldens {
		args = append(args, g.name+".bsf")
	}
	cmd := exec.Command(python, args...)
	cmd.Dir = "testdata"
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("decode_v1.py: %v\n%s", err, out)
	}
	want := "ok.bsf code=0 records=3 bytes=24 message='' meta=[]\n" +
		"truncated.bsf code=1 records=1 bytes=8 message='1 of 3 records' meta=[]\n" +
		"empty.bsf code=0 records=0 bytes=0 message='' meta=[]\n" +
		"verified.bsf code=0 records=3 bytes=24 message='' meta=[('content-root', '5f6e" + strings.Repeat("0", 60) + "'), ('content-proof', 'transaction_range_proof/0/2')]\n"
	if string(out) != want {
		t.Errorf("decode_v1.py printed\n%s\nwant\n%s", out, want)
	}
}
