package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
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
func NewServer(cfg Config, log *slog.Logger) (*Server, error) {
	p, err := New(cfg, log)
	if err != nil {
		return nil, err
	}
	s := &Server{proxy: p}
	s.public = &fasthttp.Server{
		Handler:               p.Handler,
		Name:                  "backseal",
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		ReadBufferSize:        cfg.MaxHeaderBytes,
		WriteBufferSize:       64 << 10,
		ReadTimeout:           cfg.ReadHeaderTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		MaxRequestBodySize:    4 << 10,
		Logger:                fasthttpLogger{log},
		CloseOnShutdown:       true,
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

// Proxy returns the server's proxy.
func (s *Server) Proxy() *Proxy { return s.proxy }

// Start listens on both addresses and serves in the background.
func (s *Server) Start() error {
	cfg := s.proxy.cfg
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("proxy: listen: %w", err)
	}
	s.ln = ln
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
	p.log.Info("draining", "active_streams", p.active.Load())
	stopped := make(chan struct{})
	go func() {
		s.public.Shutdown() // waits for in-flight responses
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		p.log.Warn("drain deadline passed; ending streams as failures", "active_streams", p.active.Load())
		p.stopAll(errShutdown)
		<-stopped
	}
	p.stopAll(errShutdown)
	if s.adminL != nil {
		s.admin.Shutdown()
	}
	p.up.Close()
	s.wg.Wait()
	return nil
}

// Close stops everything at once.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return s.Shutdown(ctx)
}

// AdminHandler serves /healthz, /readyz (and, with telemetry, /metrics).
func (p *Proxy) AdminHandler(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
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

// getFrameBuffer returns a pooled buffer big enough to hold one whole frame,
// so that each frame leaves as one chunk and one write.
func (p *Proxy) getFrameBuffer(w io.Writer) *bufio.Writer {
	if bw, ok := frameBuffers.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, copyBufferSize+64)
}

func (p *Proxy) putFrameBuffer(bw *bufio.Writer) {
	bw.Reset(nil)
	frameBuffers.Put(bw)
}

var frameBuffers sync.Pool

// fasthttpLogger routes fasthttp's own messages to slog.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Warn("http server: " + fmt.Sprintf(format, args...))
}
