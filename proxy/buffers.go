package proxy

import (
	"sync"
	"sync/atomic"

	"github.com/backseal/backseal/framing"
)

// readSizes are the upstream read sizes a stream may get, largest first.
// Larger reads mean fewer syscalls, wake-ups and frames per GiB (512 KiB
// reads cost about a fifth less CPU than 128 KiB: docs/BENCHMARKS.md); the
// smallest is what every stream gets even when the budget is spent, so no
// stream ever waits for memory to start.
var readSizes = [...]int{512 << 10, 256 << 10, 128 << 10, 64 << 10, 32 << 10, 16 << 10}

// bufferCap is the copy buffer for reads of size: room for a chunk size
// line, a frame header and a carried prefix before the read, a frame check
// and a CRLF after it (see readOffset).
func bufferCap(size int) int { return readOffset + size + framing.CheckSize + chunkTail }

// copyBuffers lends streams their copy buffers under one budget for all of
// them (buffer_budget): few streams get large reads, many get small ones.
// A stream holds one buffer for its life, so the memory the sidecar's
// streams hold is at most the budget, plus the smallest buffer for each
// stream past it.
type copyBuffers struct {
	budget int64
	used   atomic.Int64
	pools  [len(readSizes)]sync.Pool
}

func newCopyBuffers(budget int64) *copyBuffers {
	b := &copyBuffers{budget: budget}
	for i, size := range readSizes {
		b.pools[i].New = func() any { buf := make([]byte, bufferCap(size)); return &buf }
	}
	return b
}

// copyBuffer is one lent buffer; give it back with put.
type copyBuffer struct {
	buf  *[]byte
	tier int
}

// readSize is the upstream read size the buffer holds.
func (c copyBuffer) readSize() int { return readSizes[c.tier] }

// get lends the largest buffer the budget has room for, or the smallest.
func (b *copyBuffers) get() copyBuffer {
	tier := 0
	for ; tier < len(readSizes)-1; tier++ {
		c := int64(bufferCap(readSizes[tier]))
		if b.used.Add(c) <= b.budget {
			return copyBuffer{buf: b.pools[tier].Get().(*[]byte), tier: tier}
		}
		b.used.Add(-c)
	}
	b.used.Add(int64(bufferCap(readSizes[tier]))) // the smallest, whatever the budget
	return copyBuffer{buf: b.pools[tier].Get().(*[]byte), tier: tier}
}

func (b *copyBuffers) put(c copyBuffer) {
	b.used.Add(-int64(bufferCap(readSizes[c.tier])))
	b.pools[c.tier].Put(c.buf)
}
