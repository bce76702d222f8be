// Package testkit starts the simulator and the sidecar on loopback for the
// tests of every package: the one place that knows how.
package testkit

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/sim"
)

// Chain is a small chain: every stream takes milliseconds under -race and
// still spans many upstream batches.
func Chain() sim.Config {
	cfg := sim.DefaultConfig()
	cfg.Epochs = 40
	cfg.CommittedVersion = 3000
	cfg.SnapshotInterval = 1000
	cfg.StateItemsBase = 400
	return cfg
}

// StartSim starts a simulator of cfg on 127.0.0.1:0, closed at cleanup.
func StartSim(t testing.TB, cfg sim.Config) *sim.Server {
	t.Helper()
	s, err := sim.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ProxyConfig is the sidecar's configuration for tests: loopback listeners,
// short stalls and backoffs.
func ProxyConfig(upstreamURL string) proxy.Config {
	cfg := proxy.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.AdminListen = "127.0.0.1:0"
	cfg.Upstream = upstreamURL
	cfg.StallTimeout = 300 * time.Millisecond
	cfg.ResumeAttempts = 3
	cfg.ResumeBackoff = 5 * time.Millisecond
	cfg.ResumeWindow = 10 * time.Second
	cfg.CountTimeout = 5 * time.Second
	return cfg
}

// StartProxy starts a sidecar of cfg, shut down at cleanup. With a nil log
// it logs to t under -v (else nowhere).
func StartProxy(t testing.TB, cfg proxy.Config, log *slog.Logger, opts ...proxy.Option) *proxy.Server {
	t.Helper()
	if log == nil {
		log = slog.New(slog.NewJSONHandler(io.Discard, nil))
		if testing.Verbose() {
			log = slog.New(slog.NewJSONHandler(Writer{t}, nil))
		}
	}
	srv, err := proxy.NewServer(cfg, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv
}

// Writer sends each write to t.Log.
type Writer struct{ T testing.TB }

func (w Writer) Write(p []byte) (int, error) {
	w.T.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}
