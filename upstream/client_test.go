package upstream

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// connLog wraps the client's dialer and records, per connection, the
// largest read the client asked of the socket. net/http reads through its
// per-connection bufio.Reader, whose fills ask for the whole buffer, so
// that is the pool's read buffer size. It also counts connections still
// open, by that size.
type connLog struct {
	mu    sync.Mutex
	conns []*loggedConn
}

type loggedConn struct {
	net.Conn
	log     *connLog
	maxRead int
	closed  bool
}

func (l *connLog) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	lc := &loggedConn{Conn: c, log: l}
	l.mu.Lock()
	l.conns = append(l.conns, lc)
	l.mu.Unlock()
	return lc, nil
}

func (c *loggedConn) Read(p []byte) (int, error) {
	c.log.mu.Lock()
	c.maxRead = max(c.maxRead, len(p))
	c.log.mu.Unlock()
	return c.Conn.Read(p)
}

func (c *loggedConn) Close() error {
	c.log.mu.Lock()
	c.closed = true
	c.log.mu.Unlock()
	return c.Conn.Close()
}

// open counts the connections not closed whose largest read was exactly
// size (a pool's buffer) and those whose largest read was larger. While a
// response head is read, net/http caps reads at MaxResponseHeaderBytes
// (64 KiB); the body is read through the whole buffer.
func (l *connLog) open(size int) (exact, larger int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		switch {
		case c.closed:
		case c.maxRead == size:
			exact++
		case c.maxRead > size:
			larger++
		}
	}
	return exact, larger
}

// smallChunks answers a stream as the node does by default: 10 KiB chunks,
// each flushed, so net/http on the other side reads them through its
// buffer rather than past it. /db_state answers a tiny value.
func smallChunks(total int) http.Handler {
	chunk := make([]byte, 10<<10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/db_state" {
			w.Write(append([]byte{1}, make([]byte, 16)...)) // Some(DBState{epoch 0, version 0})
			return
		}
		for sent := 0; sent < total; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
}

func TestStreamsReadThroughTheLargeBuffer(t *testing.T) {
	srv := httptest.NewServer(smallChunks(800 * 10 << 10))
	defer srv.Close()
	var log connLog
	c, err := newClient(ClientConfig{BaseURL: srv.URL}, log.dial)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	resp, err := c.Open(ctx, Request{Endpoint: Transactions, Args: [3]uint64{0, 1000}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The sidecar reads into copy buffers up to 512 KiB.
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, make([]byte, 512<<10))
	resp.Body.Close()
	if err != nil || n != 800*10<<10 {
		t.Fatalf("stream: read %d bytes, %v; want %d", n, err, 800*10<<10)
	}
	if _, err := c.DBState(ctx); err != nil {
		t.Fatal(err)
	}

	if streams, _ := log.open(StreamReadBuffer); streams != 1 {
		t.Errorf("%d open connections read %d KiB at a time, want 1 (the stream's, pooled)", streams, StreamReadBuffer>>10)
	}
	if values, larger := log.open(valueReadBuffer); values != 1 || larger != 1 {
		t.Errorf("open connections: %d read %d KiB at a time (want 1, the lookup's) and %d more (want 1, the stream's)",
			values, valueReadBuffer>>10, larger)
	}
}

func TestIdleStreamConnectionsAreBounded(t *testing.T) {
	srv := httptest.NewServer(smallChunks(256 << 10))
	defer srv.Close()
	var log connLog
	c, err := newClient(ClientConfig{BaseURL: srv.URL, MaxStreamConns: 2}, log.dial)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// Six streams at once need six connections; only two stay for reuse.
	const streams = 6
	var wg sync.WaitGroup
	bodies := make(chan io.ReadCloser, streams)
	for range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Open(context.Background(), Request{Endpoint: Transactions, Args: [3]uint64{0, 10}}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			bodies <- resp.Body
		}()
	}
	wg.Wait()
	close(bodies)
	var all []io.ReadCloser
	for b := range bodies {
		all = append(all, b) // every response open before any is returned
	}
	if exact, larger := log.open(0); exact+larger != streams {
		t.Fatalf("%d connections open, want %d", exact+larger, streams)
	}
	for _, b := range all {
		if _, err := io.Copy(io.Discard, b); err != nil {
			t.Error(err)
		}
		b.Close()
	}
	// net/http closes a returned connection the idle pool has no room for.
	deadline := time.Now().Add(5 * time.Second)
	for {
		streams, _ := log.open(StreamReadBuffer)
		exact, larger := log.open(0)
		if streams == 2 && exact+larger == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open after the streams ended (%d of them stream-sized), want 2 (MaxStreamConns)", exact+larger, streams)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClientConfigRejectsNegativeLimits(t *testing.T) {
	for _, cfg := range []ClientConfig{
		{BaseURL: "http://127.0.0.1:1", MaxConns: -1},
		{BaseURL: "http://127.0.0.1:1", MaxStreamConns: -1},
	} {
		if _, err := NewClient(cfg); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("%+v: err = %v, want one about a negative limit", cfg, err)
		}
	}
}
