package proxy

import "testing"

func TestCopyBuffersShareOneBudget(t *testing.T) {
	big, small := bufferCap(readSizes[0]), bufferCap(readSizes[len(readSizes)-1])
	b := newCopyBuffers(int64(2*big + bufferCap(readSizes[1])))
	var lent []copyBuffer
	var sizes []int
	for range 6 {
		c := b.get()
		if len(*c.buf) != bufferCap(c.readSize()) {
			t.Fatalf("buffer of %d bytes for %d-byte reads", len(*c.buf), c.readSize())
		}
		lent = append(lent, c)
		sizes = append(sizes, c.readSize())
	}
	want := []int{readSizes[0], readSizes[0], readSizes[1], readSizes[5], readSizes[5], readSizes[5]}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("read sizes %v, want %v: the largest that fits, then the smallest for all", sizes, want)
		}
	}
	if got, max := b.used.Load(), b.budget+int64(3*small); got > max {
		t.Fatalf("%d bytes lent, more than the budget and a small buffer for each stream past it (%d)", got, max)
	}
	for _, c := range lent {
		b.put(c)
	}
	if got := b.used.Load(); got != 0 {
		t.Fatalf("%d bytes still counted after every buffer came back", got)
	}
	if c := b.get(); c.readSize() != readSizes[0] {
		t.Fatalf("after the others left, a stream gets %d-byte reads, want %d", c.readSize(), readSizes[0])
	}
}
