package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/backseal/backseal/telemetry"
)

// Server runs the public and admin listeners around a Proxy.
type Server struct {
	proxy  *Proxy
	public *fasthttp.Server
	admin  *fasthttp.Server
	ln     net.Listener
	adminL net.Listener
	wg     sync.WaitGroup
}

// NewServer validates cfg and prepares both listeners' servers.
func NewServer(cfg Config, log *slog.Logger, opts ...Option) (*Server, error) {
	p, err := New(cfg, log, opts...)
	if err != nil {
		return nil, err
	}
	s := &Server{proxy: p}
	s.public = &fasthttp.Server{
		Handler:               p.Handler,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		ReadBufferSize:        cfg.MaxHeaderBytes,
		// Room for the head and a whole small value (framed or not), so
		// fasthttp sends each answer with one write. Streams write on the
		// connection directly.
		WriteBufferSize:    maxSmallValue + 4<<10,
		ReadTimeout:        cfg.ReadHeaderTimeout,
		WriteTimeout:       cfg.ClientWriteTimeout,
		IdleTimeout:        cfg.IdleTimeout,
		MaxRequestBodySize: 4 << 10,
		Logger:             fasthttpLogger{log},
		ErrorHandler:       requestError,
		CloseOnShutdown:    true,
		ConnState:          p.connState,
	}
	s.admin = &fasthttp.Server{
		Handler:               p.AdminHandler,
		Name:                  "backseal-admin",
		NoDefaultServerHeader: true,
		ReadTimeout:           10 * time.Second,
		IdleTimeout:           time.Minute,
		Logger:                fasthttpLogger{log},
	}
	return s, nil
}

// requestError answers a request fasthttp could not read, with the status
// that says why.
func requestError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	status := fasthttp.StatusBadRequest
	switch {
	case errors.As(err, &small):
		status = fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status = fasthttp.StatusRequestEntityTooLarge
	case errors.Is(err, os.ErrDeadlineExceeded):
		status = fasthttp.StatusRequestTimeout
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(fasthttp.StatusMessage(status) + "\n")
	ctx.SetConnectionClose()
}

// connState releases a stream whose connection closed before fasthttp
// could hand it over: its hijack handler will never run.
func (p *Proxy) connState(c net.Conn, state fasthttp.ConnState) {
	if state != fasthttp.StateClosed {
		return
	}
	if v, ok := p.handoffs.LoadAndDelete(c); ok {
		s := v.(*stream)
		s.finish(http.StatusOK, nil, errHandoff)
		s.release()
	}
}

// Proxy returns the server's proxy.
func (s *Server) Proxy() *Proxy { return s.proxy }

// Start listens on both addresses and serves in the background.
func (s *Server) Start() error {
	cfg := s.proxy.cfg
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("proxy: listen: %w", err)
	}
	if tc := s.proxy.access.tlsConfig(); tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	return s.startOn(ln)
}

// startOn serves the public listener on ln, and the admin one.
func (s *Server) startOn(ln net.Listener) error {
	cfg := s.proxy.cfg
	s.ln = ln
	var err error
	if cfg.AdminListen != "" {
		if s.adminL, err = net.Listen("tcp", cfg.AdminListen); err != nil {
			ln.Close()
			return fmt.Errorf("proxy: admin listen: %w", err)
		}
		s.serve(s.admin, s.adminL)
	}
	s.serve(s.public, ln)
	s.proxy.log.Info("backseal serving", "listen", ln.Addr().String(), "admin", s.AdminAddr(), "upstream", cfg.Upstream)
	return nil
}

func (s *Server) serve(srv *fasthttp.Server, ln net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			s.proxy.log.Error("listener failed", "addr", ln.Addr().String(), "error", err)
		}
	}()
}

// Addr is the public listener's bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// AdminAddr is the admin listener's bound address, or "".
func (s *Server) AdminAddr() string {
	if s.adminL == nil {
		return ""
	}
	return s.adminL.Addr().String()
}

// Shutdown drains: /readyz fails at once, the public listener stops
// accepting, in-flight streams get until ctx's deadline to finish, and those
// still running then end as failures (shutdown), never as clean ends.
func (s *Server) Shutdown(ctx context.Context) error {
	p := s.proxy
	p.draining.Store(true)
	p.log.Info("draining", "active_streams", p.live.count())
	p.live.each(func(s *stream) { s.span.AddEvent(telemetry.EventDrain) })
	stopped := make(chan struct{})
	go func() {
		s.public.Shutdown() // waits for the responses fasthttp still owns,
		p.live.wait()       // and for the streams on connections taken from it
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		p.log.Warn("drain deadline passed; ending streams as failures", "active_streams", p.live.count())
		p.stopAll(errShutdown)
		select {
		case <-stopped:
		case <-time.After(endFrameGrace):
			// What is left is blocked writing to clients that read
			// nothing; client_write_timeout could be a minute away.
			n := p.closeLiveConns()
			p.log.Warn("closed the connections of streams whose clients read nothing", "streams", n)
			<-stopped
		}
	}
	p.stopAll(errShutdown)
	if s.adminL != nil {
		s.admin.Shutdown()
	}
	p.up.Close()
	s.wg.Wait()
	return nil
}

// endFrameGrace is how long, after the drain deadline, streams get to send
// the failure that ends them before their connections are closed.
const endFrameGrace = time.Second

// closeLiveConns closes the client connections of the streams still live.
// (Outside the lock: a TLS close may wait to send its alert.)
func (p *Proxy) closeLiveConns() int {
	conns := p.live.conns()
	for _, c := range conns {
		c.Close()
	}
	return len(conns)
}

// Reload rereads the bearer token and the TLS certificate (SIGHUP). On
// error the old ones stay in use.
func (s *Server) Reload() error { return s.proxy.access.reload() }

// Close stops everything at once.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return s.Shutdown(ctx)
}

// AdminHandler serves /healthz, /readyz (and, with telemetry, /metrics).
func (p *Proxy) AdminHandler(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/metrics":
		p.metrics(ctx)
	case "/healthz":
		ctx.SetBodyString("ok\n")
	case "/readyz":
		if p.draining.Load() {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBodyString("draining\n")
			return
		}
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := p.up.DBState(c); err != nil {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBodyString("upstream not ready: " + err.Error() + "\n")
			return
		}
		ctx.SetBodyString("ready\n")
	default:
		ctx.SetStatusCode(fasthttp.StatusNotFound)
	}
}

// metrics serves the Prometheus text exposition through the net/http
// handler the exporter provides.
func (p *Proxy) metrics(ctx *fasthttp.RequestCtx) {
	p.metricsOnce.Do(func() { p.metricsHandler = fasthttpadaptor.NewFastHTTPHandler(p.tel.MetricsHandler()) })
	p.metricsHandler(ctx)
}

// getFrameBuffer returns a pooled small buffer for the header and end
// frames; data frames are larger than it and pass through without a copy.
func (p *Proxy) getFrameBuffer(w io.Writer) *bufio.Writer {
	if bw, ok := frameBuffers.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, 4<<10)
}

func (p *Proxy) putFrameBuffer(bw *bufio.Writer) {
	bw.Reset(nil)
	frameBuffers.Put(bw)
}

var frameBuffers sync.Pool

// fasthttpLogger routes fasthttp's own messages to slog at debug level:
// they repeat, per connection, what the request line already reports (a cut
// body shows up as "error when serving connection").
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug("http server: " + fmt.Sprintf(format, args...))
}
