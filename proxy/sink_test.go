package proxy

import (
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection whose buffers are
// fixed and small, so that a write soon waits on the reader. (The reader's
// window stays above loopback's 64 KiB MSS: below it, the sender would wait
// on persist timers instead of the reader.)
func tcpPair(t *testing.T) (writer, reader *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	r, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	w := <-accepted
	if w == nil {
		t.Fatal("accept failed")
	}
	writer, reader = w.(*net.TCPConn), r.(*net.TCPConn)
	_ = writer.SetWriteBuffer(16 << 10)
	_ = reader.SetReadBuffer(128 << 10)
	t.Cleanup(func() { writer.Close(); reader.Close() })
	return writer, reader
}

// A slow reader that keeps accepting bytes is never cut, however long the
// whole write takes; one that accepts nothing for the timeout is.
func TestConnSinkWriteTimeout(t *testing.T) {
	w, r := tcpPair(t)
	sink := &connSink{c: w, timeout: 250 * time.Millisecond} // margin for a loaded machine
	payload := bytes.Repeat([]byte("backseal"), 2<<20/8)

	got := make(chan []byte)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 32<<10)
		for b.Len() < len(payload) {
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
			time.Sleep(15 * time.Millisecond) // at most ~2 MiB/s
		}
		got <- b.Bytes()
	}()
	start := time.Now()
	if err := sink.write(payload); err != nil {
		t.Fatalf("a slow but reading client was cut after %v: %v", time.Since(start), err)
	}
	took := time.Since(start)
	if b := <-got; !bytes.Equal(b, payload) {
		t.Fatalf("the reader got %d bytes, want the %d written", len(b), len(payload))
	}
	// The reader's sleeps alone make the write outlast several timeouts;
	// if not, the buffers above were not as small as the test needs.
	if took < 2*sink.timeout {
		t.Fatalf("the write took %v: too fast to test the timeout's renewal", took)
	}
	t.Logf("2 MiB to a slow reader took %v with a %v timeout", took, sink.timeout)

	// Now nobody reads: the buffers fill, then nothing moves.
	done := make(chan error, 1)
	go func() { done <- sink.write(payload) }()
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "accepted no byte for 250ms") {
			t.Fatalf("a client that reads nothing: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write to a client that reads nothing never ended")
	}
}
