package sim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backseal/backseal/upstream"
)

// Server serves a Chain on the wire as the node's backup service does (warp
// on hyper, HTTP/1.1), with faults injected on demand. It writes responses
// itself on a raw listener so that header case, chunk boundaries, clean ends,
// cuts and resets are exactly what the test asks for.
type Server struct {
	cfg    Config
	chain  atomic.Pointer[Chain] // replaced as the chain grows (Advance)
	faults faultSet
	stats  stats
	slots  chan struct{} // producer slots: a stream holds one while it produces
	bufs   sync.Pool     // *[]byte batch buffers

	mu      sync.Mutex
	ln      net.Listener // nil while not listening (before Start, during a restart, after Close)
	addr    string
	conns   map[*conn]struct{}
	started bool
	closed  bool
	closing chan struct{} // closed by Close
	wg      sync.WaitGroup
}

// Server errors.
var (
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("sim: server already started")
	// ErrClosed: the server was closed.
	ErrClosed = errors.New("sim: server closed")
)

// NewServer validates cfg and returns a server for its chain. Call Start to serve.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:     cfg,
		slots:   make(chan struct{}, cfg.MaxProducers),
		conns:   map[*conn]struct{}{},
		closing: make(chan struct{}),
	}
	s.chain.Store(NewChain(cfg))
	s.stats.init()
	batchCap := cfg.BatchSize + cfg.BatchSize/4 + 64
	s.bufs.New = func() any {
		b := make([]byte, 0, batchCap)
		return &b
	}
	return s, nil
}

// Chain returns the content the server serves now.
func (s *Server) Chain() *Chain { return s.chain.Load() }

// Advance grows the chain as a live node's does: versions more are
// committed (C grows, the pre-committed window moves with it) and epochs
// more end (E grows). Records are pure functions of their identity, so
// nothing served before changes; a stream already running keeps the
// versions it started with, as the node's DB iterator does. A genuine chain
// (Config.Genuine) does not advance.
func (s *Server) Advance(versions, epochs uint64) (upstream.DBStateValue, error) {
	for {
		old := s.chain.Load()
		cfg := old.Config()
		if cfg.Genuine {
			// The layout (blocks ending at C and at the epoch endings)
			// depends on C and E: growing them would rewrite history.
			return old.DBState(), fmt.Errorf("%w: a genuine chain cannot advance", ErrBadConfig)
		}
		cfg.CommittedVersion += versions
		cfg.Epochs += epochs
		if cfg.CommittedVersion < versions || cfg.Epochs < epochs {
			return old.DBState(), fmt.Errorf("%w: advancing by %d versions and %d epochs overflows", ErrBadConfig, versions, epochs)
		}
		if err := cfg.Validate(); err != nil {
			return old.DBState(), err
		}
		next := NewChain(cfg)
		if s.chain.CompareAndSwap(old, next) {
			return next.DBState(), nil
		}
	}
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves in the background.
func (s *Server) Start(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.started {
		return ErrStarted
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sim: listening: %w", err)
	}
	s.started = true
	s.ln = ln
	s.addr = ln.Addr().String()
	s.wg.Add(1)
	go s.acceptLoop(ln)
	return nil
}

// Addr returns the host:port actually bound; it stays the same across restarts.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL returns "http://" + Addr().
func (s *Server) URL() string { return "http://" + s.Addr() }

// SetFaults replaces the armed faults. Invalid faults (see Fault.Validate)
// are ignored. Responses already under way keep the faults they were given.
func (s *Server) SetFaults(f ...Fault) { s.faults.set(f, false) }

// AddFaults arms more faults beside those already armed.
func (s *Server) AddFaults(f ...Fault) { s.faults.set(f, true) }

// ClearFaults disarms every fault.
func (s *Server) ClearFaults() { s.faults.set(nil, false) }

// Faults lists the armed faults with their counters.
func (s *Server) Faults() []ArmedFault { return s.faults.list() }

// Close stops listening, cuts every connection and waits for all of the
// server's goroutines to end.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	var err error
	if s.ln != nil {
		err = s.ln.Close()
		s.ln = nil
	}
	for c := range s.conns {
		c.cut()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed: Close or a restart
		}
		s.mu.Lock()
		if s.closed || s.ln != ln {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		c := &conn{nc: nc, br: bufio.NewReaderSize(nc, 4<<10), kill: make(chan struct{})}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.stats.connections.Add(1)
		go s.serveConn(c)
	}
}

// restart cuts every connection and takes the listener away for d, then
// listens again on the same address.
func (s *Server) restart(d time.Duration) {
	s.mu.Lock()
	if s.closed || s.ln == nil {
		s.mu.Unlock()
		return
	}
	s.ln.Close()
	s.ln = nil
	for c := range s.conns {
		c.cut()
	}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.restarts.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.closing:
			return
		}
		for {
			ln, err := net.Listen("tcp", s.addr)
			if err == nil {
				s.mu.Lock()
				if s.closed {
					s.mu.Unlock()
					ln.Close()
					return
				}
				s.ln = ln
				s.wg.Add(1)
				s.mu.Unlock()
				go s.acceptLoop(ln)
				return
			}
			// The port may be briefly busy; keep trying until closed.
			t.Reset(50 * time.Millisecond)
			select {
			case <-t.C:
			case <-s.closing:
				return
			}
		}
	}()
}

// conn is one client connection.
type conn struct {
	nc       net.Conn
	br       *bufio.Reader
	kill     chan struct{} // closed when the server cuts the connection
	killOnce sync.Once
}

// cut closes the connection from the server side.
func (c *conn) cut() {
	c.killOnce.Do(func() {
		close(c.kill)
		c.nc.Close()
	})
}

// reset closes the connection with a TCP RST.
func (c *conn) reset() {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.cut()
}

// pause withholds bytes for d (d <= 0: until the connection goes away). It
// returns false if the connection went away
// meanwhile (the client closed it, or the server is cutting it): a stalled
// stream must still notice a client that gives up.
func (c *conn) pause(d time.Duration, closing <-chan struct{}) bool {
	var timeout <-chan time.Time // d <= 0: no timeout
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	gone := make(chan struct{})
	peeked := make(chan struct{})
	go func() {
		defer close(peeked)
		if _, err := c.br.Peek(1); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				close(gone)
			}
		}
	}()
	alive := true
	select {
	case <-timeout:
	case <-gone:
		alive = false
	case <-c.kill:
		alive = false
	case <-closing:
		alive = false
	}
	_ = c.nc.SetReadDeadline(time.Unix(1, 0)) // wake the peek
	<-peeked
	_ = c.nc.SetReadDeadline(time.Time{})
	return alive
}

func (s *Server) serveConn(c *conn) {
	defer s.wg.Done()
	defer func() {
		c.cut()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	for {
		req, err := http.ReadRequest(c.br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
				var ne net.Error
				if !errors.As(err, &ne) {
					// hyper answers a request it cannot parse with 400 and closes.
					s.stats.response(400)
					_, _ = c.nc.Write(appendHead(nil, false, 400, "", false, 0))
				}
			}
			return
		}
		if !s.respond(c, req) {
			return
		}
	}
}

// respond answers one request; it returns whether the connection stays open.
func (s *Server) respond(c *conn, req *http.Request) bool {
	keep := !req.Close // Go applies HTTP/1.0 and Connection: close rules
	if req.Body != nil && req.Body != http.NoBody {
		if n, _ := io.CopyN(io.Discard, req.Body, 1<<20); n == 1<<20 {
			keep = false // not worth draining further
		}
		req.Body.Close()
	}
	http10 := req.ProtoMajor == 1 && req.ProtoMinor == 0
	kaHeader := http10 && keep // hyper echoes keep-alive to an HTTP/1.0 client that asked for it
	head := req.Method == http.MethodHead

	small := func(status int, ctype string, body []byte) bool {
		s.stats.response(status)
		b := appendHead(nil, http10, status, ctype, kaHeader, int64(len(body)))
		if !head {
			b = append(b, body...)
		}
		_, err := c.nc.Write(b)
		return err == nil && keep
	}

	path := upstream.TargetPath(req.RequestURI)
	if req.Method != http.MethodGet {
		s.stats.request(endpointLabel(path))
		if s.cfg.EmptyMethodNotAllowed {
			return small(405, "", nil)
		}
		return small(405, "text/plain; charset=utf-8", []byte("HTTP method not allowed"))
	}
	r, err := upstream.ParsePath(path)
	if err != nil {
		s.stats.request(endpointLabel(path))
		if errors.Is(err, upstream.ErrNotFound) {
			return small(404, "", nil)
		}
		return small(400, "", nil)
	}
	s.stats.request(r.Endpoint.String())
	faults := s.faults.take(r.Endpoint)
	for _, f := range faults {
		if !f.Kind.replacesResponse() {
			continue
		}
		// The first fault that decides the whole response wins; the others
		// were applied but do not fire.
		s.fired(f)
		switch f.Kind {
		case Garbage:
			_, _ = io.WriteString(c.nc, GarbageHead)
			return false
		case Silent:
			c.pause(f.Stall, s.closing)
			return false
		case EndlessHeaders:
			s.endlessHeaders(c)
			return false
		case Status500:
			return small(500, "", nil)
		}
		status, ctype, body := s.smallAnswer(r)
		s.stats.response(status)
		if f.Kind == CLLong {
			b := appendHead(nil, http10, status, ctype, kaHeader, int64(len(body))+CLLongExtra)
			_, _ = c.nc.Write(append(b, body...))
			return false
		}
		if f.Kind == BodyStall {
			half := len(body) / 2
			b := appendHead(nil, http10, status, ctype, kaHeader, int64(len(body)))
			if _, err := c.nc.Write(append(b, body[:half]...)); err != nil || !c.pause(f.Stall, s.closing) {
				return false
			}
			_, err := c.nc.Write(body[half:])
			return err == nil && keep
		}
		b := appendHead(nil, http10, status, ctype, kaHeader, int64(len(body))) // CLShort
		b = append(append(b, body...), body...)
		_, err := c.nc.Write(b)
		return err == nil && keep
	}
	if !r.Endpoint.Streaming() {
		return small(s.smallAnswer(r))
	}
	for _, f := range faults {
		if f.Kind == HTTP10 {
			// Close-delimited whatever the request's version; the cut at
			// After, if any, is the producer's.
			s.fired(f)
			http10, kaHeader = true, false
			break
		}
	}
	return s.stream(c, r, faults, http10, kaHeader, keep)
}

// smallAnswer is a small endpoint's clean answer.
func (s *Server) smallAnswer(r upstream.Request) (status int, ctype string, body []byte) {
	status, body = s.Chain().small(r)
	if status != 200 {
		return status, "", nil
	}
	return 200, "application/octet-stream", body
}

// endlessBlock is header lines, written again and again by EndlessHeaders.
var endlessBlock = []byte(strings.Repeat("x-sim-endless: "+strings.Repeat("a", 111)+"\r\n", 256)) // 32 KiB

// endlessHeaders writes a 200 status line and then header lines that never
// end, until the client goes away, the server closes or EndlessHeadersCap.
func (s *Server) endlessHeaders(c *conn) {
	if _, err := io.WriteString(c.nc, "HTTP/1.1 200 OK\r\n"); err != nil {
		return
	}
	for n := 0; n < EndlessHeadersCap; n += len(endlessBlock) {
		if _, err := c.nc.Write(endlessBlock); err != nil {
			return
		}
	}
}

// endpointLabel is the first path segment, as the node's latency metric labels it.
func endpointLabel(path string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if _, ok := endpointByName(seg); ok {
		return seg
	}
	return "-"
}

// appendHead appends a response head the way hyper writes it: status line,
// then content-type, connection, content-length (or transfer-encoding) and
// date, lowercase. length < 0 means a streamed body: chunked on HTTP/1.1,
// close-delimited on HTTP/1.0.
func appendHead(b []byte, http10 bool, status int, ctype string, keepAlive bool, length int64) []byte {
	if http10 {
		b = append(b, "HTTP/1.0 "...)
	} else {
		b = append(b, "HTTP/1.1 "...)
	}
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\n"...)
	if ctype != "" {
		b = append(b, "content-type: "...)
		b = append(b, ctype...)
		b = append(b, "\r\n"...)
	}
	if keepAlive {
		b = append(b, "connection: keep-alive\r\n"...)
	}
	switch {
	case length >= 0:
		b = append(b, "content-length: "...)
		b = strconv.AppendInt(b, length, 10)
		b = append(b, "\r\n"...)
	case !http10:
		b = append(b, "transfer-encoding: chunked\r\n"...)
	}
	b = append(b, "date: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	return append(b, "\r\n\r\n"...)
}

func (s *Server) fired(f appliedFault) {
	f.fire()
	s.stats.fault(f.Kind)
}

func (s *Server) getBuf() *[]byte {
	b := s.bufs.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

func (s *Server) putBuf(b *[]byte) {
	if cap(*b) <= 4*s.cfg.BatchSize+64<<10 {
		s.bufs.Put(b)
	}
}
