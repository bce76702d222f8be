package framing

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// The benchmarks move 64 KiB payloads. Compare each with BenchmarkSum64 (the
// hash alone) and BenchmarkCopy (a memmove) from the same run: the Writer
// against Sum64, the Reader also against Sum64CopyStream, since a Reader must
// copy bytes out of its source as any io.Reader does.

const benchChunk = 64 << 10

var sink uint64

func BenchmarkSum64(b *testing.B) {
	p := payload(benchChunk, 1)
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	for b.Loop() {
		sink += xxhash.Sum64(p)
	}
}

func BenchmarkCopy(b *testing.B) {
	p := payload(benchChunk, 1)
	dst := make([]byte, benchChunk)
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	for b.Loop() {
		copy(dst, p)
	}
}

func BenchmarkSum64Copy(b *testing.B) {
	p := payload(benchChunk, 1)
	dst := make([]byte, benchChunk)
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	for b.Loop() {
		copy(dst, p)
		sink += xxhash.Sum64(dst)
	}
}

// BenchmarkWriter writes one 64 KiB data frame per op to io.Discard.
func BenchmarkWriter(b *testing.B) {
	w, err := NewWriter(io.Discard, Header{StreamID: testID})
	if err != nil {
		b.Fatal(err)
	}
	p := payload(benchChunk, 1)
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	for b.Loop() {
		w.Write(p)
	}
}

// BenchmarkWriterBufio writes through a default bufio.Writer, which copies
// part of each payload into its buffer.
func BenchmarkWriterBufio(b *testing.B) {
	w, err := NewWriter(bufio.NewWriter(io.Discard), Header{StreamID: testID})
	if err != nil {
		b.Fatal(err)
	}
	p := payload(benchChunk, 1)
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	for b.Loop() {
		w.Write(p)
	}
}

// benchStream is a stream of 64 frames of 64 KiB (4 MiB of payload).
func benchStream(b *testing.B) ([]byte, int64) {
	chunks := make([][]byte, 64)
	for i := range chunks {
		chunks[i] = payload(benchChunk, uint64(i))
	}
	return encode(b, Header{StreamID: testID}, chunks, 0, nil), 64 * benchChunk
}

// benchRead decodes the whole stream per op, with Read calls of size bytes
// (size >= 64 KiB reads straight into p), or WriteTo(io.Discard) if size is 0.
func benchRead(b *testing.B, size int) {
	stream, total := benchStream(b)
	src := bytes.NewReader(stream)
	p := make([]byte, max(size, 1))
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(stream)
		r := NewReader(src)
		if size == 0 {
			if _, err := r.WriteTo(io.Discard); err != nil {
				b.Fatal(err)
			}
			continue
		}
		for {
			_, err := r.Read(p)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSum64CopyStream is the Reader's floor: it copies each payload of
// the benchmark stream out of it and hashes the copy, as the Reader must, but
// knows where the payloads are. Unlike BenchmarkSum64Copy its source is 4 MiB
// (not cache-hot 64 KiB), as for the Reader benchmarks.
func BenchmarkSum64CopyStream(b *testing.B) {
	stream, total := benchStream(b)
	_, frames := splitFrames(stream)
	var payloads [][]byte
	for _, f := range frames[1 : len(frames)-1] {
		payloads = append(payloads, f[FrameHeaderSize:len(f)-CheckSize])
	}
	dst := make([]byte, benchChunk)
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range payloads {
			copy(dst, p)
			sink += xxhash.Sum64(dst)
		}
	}
}

func BenchmarkReader(b *testing.B)          { benchRead(b, benchChunk) }
func BenchmarkReaderSmallRead(b *testing.B) { benchRead(b, 16<<10) }
func BenchmarkReaderWriteTo(b *testing.B)   { benchRead(b, 0) }
