package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/backseal/backseal/internal/config"
	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/telemetry"
)

// Serve runs the sidecar until SIGTERM or SIGINT, then drains.
func Serve(env Env, args []string) int {
	stderr := env.Stderr
	fs := flag.NewFlagSet("backseal serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: backseal serve [flags]\n\nRuns the sidecar. Every flag is also a YAML key (--config) and a BACKSEAL_* variable; flags win.\n\nflags:")
		fs.PrintDefaults()
	}
	cfg := proxy.DefaultConfig()
	apply, err := config.Flags(fs, &cfg, os.Environ())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "backseal serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := apply(); err != nil {
		fmt.Fprintln(stderr, "backseal serve:", err)
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(stderr, "backseal serve:", err)
		return 2
	}
	log := newLogger(stderr, cfg.LogLevel)
	tel, err := telemetry.Setup(context.Background(), os.Environ(), stderr)
	if err != nil {
		fmt.Fprintln(stderr, "backseal serve: telemetry:", err)
		return 2
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tel.Shutdown(ctx)
	}()
	srv, err := proxy.NewServer(cfg, log, proxy.WithTelemetry(tel))
	if err != nil {
		fmt.Fprintln(stderr, "backseal serve:", err)
		return 2
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	if err := srv.Start(); err != nil {
		fmt.Fprintln(stderr, "backseal serve:", err)
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var sig os.Signal
	for sig == nil {
		select {
		case <-hup:
			if err := srv.Reload(); err != nil {
				log.Error("reload failed; keeping the old token and certificate", "error", err.Error())
			} else {
				log.Info("reloaded the bearer token and TLS certificate")
			}
		case sig = <-sigs:
		}
	}
	log.Info("signal received; draining", "signal", sig.String(), "drain_timeout", cfg.DrainTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() { srv.Shutdown(ctx); close(done) }()
	select {
	case <-done:
		log.Info("drained; exiting")
		return 0
	case sig = <-sigs:
		log.Warn("second signal; exiting now", "signal", sig.String())
		return 1
	}
}

// newLogger returns the JSON logger every subcommand uses; lines logged
// within a traced request carry its trace_id and span_id.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})))
}
