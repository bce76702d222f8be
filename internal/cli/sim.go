package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/backseal/backseal/sim"
)

// Sim runs the legacy backup service simulator until SIGTERM or SIGINT.
func Sim(env Env, args []string) int {
	stderr := env.Stderr
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: backseal sim [flags]")
		fmt.Fprintln(stderr, "\nServes a deterministic chain (synthetic, or real Aptos content with --genuine) as the node's legacy backup service does,")
		fmt.Fprintln(stderr, "byte for byte, with faults on demand (flags below, or the control API). See docs/SIMULATOR.md.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	cfg := sim.DefaultConfig()
	listen := fs.String("listen", "127.0.0.1:6186", "address of the simulated backup service")
	control := fs.String("control-listen", "127.0.0.1:6286", "address of the control API (faults, stats); empty disables it")
	allowRemote := fs.Bool("control-allow-remote", false, "allow a non-loopback control address")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "content seed")
	fs.Uint64Var(&cfg.Epochs, "epochs", cfg.Epochs, "E, the epoch /db_state reports")
	fs.Uint64Var(&cfg.CommittedVersion, "committed-version", cfg.CommittedVersion, "C, the committed version /db_state reports")
	fs.Uint64Var(&cfg.PreCommitted, "pre-committed", cfg.PreCommitted, "versions past C that /transactions serves")
	fs.Uint64Var(&cfg.PrunedBelow, "pruned-below", cfg.PrunedBelow, "transactions and snapshots below this version are pruned")
	fs.Uint64Var(&cfg.SnapshotInterval, "snapshot-interval", cfg.SnapshotInterval, "state snapshots at multiples of this (and at C); 0: only C")
	fs.Uint64Var(&cfg.StateItemsBase, "state-items", cfg.StateItemsBase, "state items at version 0")
	fs.Uint64Var(&cfg.StateItemsPer1000, "state-items-per-1000", cfg.StateItemsPer1000, "state items added per 1000 versions")
	fs.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, "BytesSender batch target in bytes (1048576 models older nodes)")
	fs.IntVar(&cfg.MaxProducers, "max-producers", cfg.MaxProducers, "streams producing at once")
	fs.BoolVar(&cfg.LegacyDBState, "legacy-db-state", false, "serve the older 25-byte /db_state")
	fs.BoolVar(&cfg.EpochJustEnded, "epoch-just-ended", false, "the open epoch E already has its ending ledger info")
	fs.BoolVar(&cfg.PrefixSplit, "prefix-split", false, "older nodes: a batch may end right after a length prefix")
	fs.BoolVar(&cfg.EmptyMethodNotAllowed, "empty-405", false, "answer non-GET with an empty 405 instead of warp's text body")
	fs.BoolVar(&cfg.Genuine, "genuine", false, "serve genuine Aptos records and proofs, consistent with every commitment (content verification)")
	fs.BoolVar(&cfg.RecordV0, "record-v0", false, "genuine mode: transaction records as older nodes wrote them, without PersistedAuxiliaryInfo")
	var f sim.Fault
	kind := fs.String("fault", "", "arm a fault at start: drop, abort, reset, prefixcut, stall, slow, excess, status500, restart;\n"+
		"or a lie the node never tells: hugeprefix, badchunk, cllong, clshort, http10, garbage, silent, endlessheaders;\n"+
		"or wrong content that only a verifier sees: flip, swap, stale, variant")
	fs.Uint64Var(&f.After, "fault-after", 0, "records sent before the fault fires")
	fs.IntVar(&f.Count, "fault-count", 1, "responses to fault; -1 for all")
	fs.DurationVar(&f.Stall, "stall", 0, "stall: how long no bytes flow (0: 5s); silent: how long the request goes unanswered before a close (0: until the client closes)")
	fs.Int64Var(&f.Rate, "rate", sim.DefaultRate, "slow: bytes per second")
	fs.DurationVar(&f.Restart, "restart-for", sim.DefaultRestart, "restart: how long the listener is away")
	fs.StringVar(&f.Endpoint, "fault-endpoint", "", "limit the fault to one endpoint, e.g. transactions")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "backseal sim: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *control != "" && !*allowRemote && !isLoopback(*control) {
		fmt.Fprintf(stderr, "backseal sim: control address %s is not loopback (add --control-allow-remote to allow it)\n", *control)
		return 2
	}
	srv, err := sim.NewServer(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "backseal sim: %v\n", err)
		return 2
	}
	if *kind != "" {
		f.Kind = sim.FaultKind(*kind)
		if err := f.Validate(); err != nil {
			fmt.Fprintf(stderr, "backseal sim: %v\n", err)
			return 2
		}
		srv.SetFaults(f)
	}
	if err := srv.Start(*listen); err != nil {
		fmt.Fprintf(stderr, "backseal sim: %v\n", err)
		return 1
	}
	defer srv.Close()

	ctlAddr := "off"
	var ctlSrv *http.Server
	if *control != "" {
		ln, err := net.Listen("tcp", *control)
		if err != nil {
			fmt.Fprintf(stderr, "backseal sim: control: %v\n", err)
			return 1
		}
		ctlAddr = ln.Addr().String()
		ctlSrv = &http.Server{Handler: srv.ControlHandler(), ReadHeaderTimeout: 10 * time.Second}
		go ctlSrv.Serve(ln)
		defer ctlSrv.Close()
	}
	armed := ""
	if *kind != "" {
		armed = fmt.Sprintf(" fault=%s after=%d count=%d", f.Kind, f.After, f.Count)
	}
	fmt.Fprintf(stderr, "backseal sim: listening on %s, control %s; %s%s\n", srv.Addr(), ctlAddr, srv.Chain().Summary(), armed)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	fmt.Fprintln(stderr, "backseal sim: stopping")
	return 0
}

// isLoopback reports whether a listen address binds only loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
