package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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

// timeoutConn reports each write that ended at its deadline having moved
// some bytes: the moment the sink must renew the deadline rather than cut.
type timeoutConn struct {
	*net.TCPConn
	partial chan int
}

func (c timeoutConn) Write(p []byte) (int, error) {
	n, err := c.TCPConn.Write(p)
	if n > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		select {
		case c.partial <- n:
		default: // the reader has stopped counting
		}
	}
	return n, err
}

// A slow reader that keeps accepting bytes is never cut, however long the
// whole write takes; one that accepts nothing for the timeout is.
//
// The reader waits for the write's deadline to pass with the buffers full
// (the connection says when), then reads a little, three times over: the
// one write outlasts three timeouts, and the sink must renew its deadline
// after each partial write to finish it. No sleep paces the reader; the
// only clock is the sink's own timeout, and the reader answers each expiry
// at once, with the whole timeout to spare.
func TestConnSinkWriteTimeout(t *testing.T) {
	w, r := tcpPair(t)
	conn := timeoutConn{w, make(chan int, 16)}
	sink := &connSink{c: conn, timeout: 250 * time.Millisecond}
	payload := bytes.Repeat([]byte("backseal"), 2<<20/8)
	const expiries = 3

	type readResult struct {
		b   []byte
		err error
	}
	got := make(chan readResult, 1)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 256<<10) // above the MSS: each read opens the window
		for i := range expiries {
			select {
			case <-conn.partial:
			case <-time.After(10 * time.Second):
				got <- readResult{b.Bytes(), fmt.Errorf("expiry %d: no write ended at its deadline with bytes moved", i+1)}
				return
			}
			n, err := io.ReadFull(r, buf)
			b.Write(buf[:n])
			if err != nil {
				got <- readResult{b.Bytes(), err}
				return
			}
		}
		rest := make([]byte, len(payload)-b.Len())
		n, err := io.ReadFull(r, rest)
		b.Write(rest[:n])
		got <- readResult{b.Bytes(), err}
	}()
	if err := sink.write(payload); err != nil {
		r.Close()
		<-got
		t.Fatalf("a slow but reading client was cut: %v", err)
	}
	if res := <-got; res.err != nil || !bytes.Equal(res.b, payload) {
		t.Fatalf("the reader got %d bytes (%v), want the %d written", len(res.b), res.err, len(payload))
	}

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
