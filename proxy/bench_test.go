package proxy

import (
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/telemetry"
	"github.com/backseal/backseal/upstream"
)

// benchRead is the read size the hot-path benchmarks feed forward.
const benchRead = 128 << 10

// newBenchStream is a stream with everything forward needs and nothing else:
// validation, hashing and framing, without sockets.
func newBenchStream(framed bool) *stream {
	p := &Proxy{cfg: DefaultConfig(), tel: telemetry.Disabled()}
	s := &stream{
		p:       p,
		framed:  framed,
		req:     upstream.Request{Endpoint: upstream.Transactions, Args: [3]uint64{0, 1 << 40}},
		scanner: upstream.NewRecordScanner(p.cfg.MaxRecordSize),
	}
	s.digest.Reset()
	s.overlap.reset()
	return s
}

// recordStream returns size bytes of legacy records of realistic sizes.
func recordStream(size int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b []byte
	for len(b) < size {
		n := 40 + rng.IntN(4000)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		b = append(b, make([]byte, n)...)
	}
	return b
}

// BenchmarkForward measures the per-chunk hot path, 64 KiB reads, next to
// plain xxhash and a plain copy of the same bytes in the same run.
//
//	go test -run '^$' -bench Forward -benchmem ./proxy
func BenchmarkForward(b *testing.B) {
	data := recordStream(8 << 20)
	buf := make([]byte, bufferCap(benchRead))
	run := func(b *testing.B, each func(lo, hi int)) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			for off := 0; off < len(data); off += benchRead {
				n := copy(buf[readOffset:readOffset+benchRead], data[off:])
				each(readOffset, readOffset+n)
			}
		}
	}
	b.Run("baseline=copy", func(b *testing.B) {
		run(b, func(lo, hi int) { io.Discard.Write(buf[lo:hi]) })
	})
	b.Run("baseline=xxhash", func(b *testing.B) {
		var d xxhash.Digest
		d.Reset()
		run(b, func(lo, hi int) { d.Write(buf[lo:hi]) })
	})
	b.Run("passthrough", func(b *testing.B) {
		s := newBenchStream(false)
		var out emitter = fasthttpSink{w: io.Discard}
		run(b, func(lo, hi int) {
			if err := s.forward(buf, lo, hi, out); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("framed", func(b *testing.B) {
		s := newBenchStream(true)
		fw, _ := framing.NewWriter(io.Discard, framing.Header{})
		var out emitter = sealedFrames{fw: fw, sink: fasthttpSink{w: io.Discard}}
		run(b, func(lo, hi int) {
			if err := s.forward(buf, lo, hi, out); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// TestForwardAllocatesNothing: no allocation per chunk in steady state.
func TestForwardAllocatesNothing(t *testing.T) {
	data := recordStream(1 << 20)
	buf := make([]byte, bufferCap(benchRead))
	for _, framed := range []bool{false, true} {
		s := newBenchStream(framed)
		var out emitter = fasthttpSink{w: io.Discard}
		if framed {
			fw, _ := framing.NewWriter(io.Discard, framing.Header{})
			out = sealedFrames{fw: fw, sink: fasthttpSink{w: io.Discard}}
		}
		off := 0
		allocs := testing.AllocsPerRun(50, func() {
			n := copy(buf[readOffset:readOffset+benchRead], data[off%len(data):])
			off += n
			if err := s.forward(buf, readOffset, readOffset+n, out); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Fatalf("framed=%v: %v allocations per chunk", framed, allocs)
		}
	}
}
