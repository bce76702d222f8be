package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/backseal/backseal/sim"
)

// handoffFailingListener's connections refuse to clear their deadlines:
// what fasthttp does last before it runs a hijack handler. So the handler
// never runs, as when flushing an earlier pipelined answer to a client that
// reset fails.
type handoffFailingListener struct{ net.Listener }

func (l handoffFailingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return handoffFailingConn{c}, nil
}

type handoffFailingConn struct{ net.Conn }

func (c handoffFailingConn) SetDeadline(t time.Time) error {
	if t.IsZero() {
		return errors.New("test: cannot clear the deadline")
	}
	return c.Conn.SetDeadline(t)
}

// TestHandoffFailureReleasesTheStream: a stream whose connection fasthttp
// cannot hand over still gives back its upstream slot, its limiter slot,
// its live-set entry and its in-flight count, so Shutdown returns.
func TestHandoffFailureReleasesTheStream(t *testing.T) {
	cfg := sim.DefaultConfig()
	cfg.CommittedVersion = 3000
	up, err := sim.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := up.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	pc := DefaultConfig()
	pc.Listen, pc.AdminListen, pc.Upstream = "127.0.0.1:0", "", up.URL()
	pc.MaxStreamsPerClient, pc.MaxUpstreamStreams = 1, 1
	srv, err := NewServer(pc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.Listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.startOn(handoffFailingListener{ln}); err != nil {
		t.Fatal(err)
	}
	p := srv.Proxy()
	for i := range 3 { // one slot each: a leak would refuse the second with 503
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /transactions/0/800 HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err == nil {
			t.Fatalf("request %d: got %d, want the connection closed without an answer", i, resp.StatusCode)
		}
		deadline := time.Now().Add(10 * time.Second)
		for p.ActiveStreams() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("request %d: the stream was never released (%d active)", i, p.ActiveStreams())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if live := len(p.live.conns()); live != 0 {
		t.Fatalf("%d streams left in the live set", live)
	}
	done := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Shutdown blocked: an in-flight count leaked")
	}
}
