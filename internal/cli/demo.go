package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/backseal/backseal/client"
	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/sim"
	"github.com/backseal/backseal/upstream"
)

// demoPath is the request the demo makes: 2,000 transactions, all committed.
const demoPath = "/transactions/1000/2000"

// Demo runs what `make demo` runs: simulator, sidecar and a verified fetch on
// loopback, showing a silent truncation caught and healed.
func Demo(env Env, args []string) int {
	stdout, stderr := env.Stdout, env.Stderr
	fs := flag.NewFlagSet("backseal demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	verbose := fs.Bool("v", false, "show the sidecar's JSON log lines")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: backseal demo [-v]\n\nStarts the legacy service simulator and the sidecar on loopback, injects the\nsilent truncation, and shows what a legacy client, the sidecar and a verified\nfetch each see. Exits 0 when every step behaves as it must.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	logOut := io.Discard
	if *verbose {
		logOut = stderr
	}
	log := slog.New(slog.NewJSONHandler(logOut, nil))
	d, err := startDemo(log)
	if err != nil {
		fmt.Fprintln(stderr, "backseal demo:", err)
		return 1
	}
	defer d.close()
	if err := d.run(stdout); err != nil {
		fmt.Fprintln(stdout, "\nDEMO FAILED:", err)
		return 1
	}
	return 0
}

type demo struct {
	node    *sim.Server
	sidecar *proxy.Server
	want    []byte // the clean response
	records uint64
}

func startDemo(log *slog.Logger) (*demo, error) {
	cfg := sim.DefaultConfig()
	node, err := sim.NewServer(cfg)
	if err != nil {
		return nil, err
	}
	if err := node.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	pc := proxy.DefaultConfig()
	pc.Listen, pc.AdminListen, pc.Upstream = "127.0.0.1:0", "", node.URL()
	pc.ResumeBackoff = 20 * time.Millisecond // keep the demo brisk
	sidecar, err := proxy.NewServer(pc, log)
	if err == nil {
		err = sidecar.Start()
	}
	if err != nil {
		node.Close()
		return nil, err
	}
	req, _ := upstream.ParsePath(demoPath)
	_, want := sim.NewChain(cfg).Body(req)
	return &demo{node: node, sidecar: sidecar, want: want, records: req.Args[1]}, nil
}

func (d *demo) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d.sidecar.Shutdown(ctx)
	d.node.Close()
}

func (d *demo) run(out io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	say("backseal demo: legacy backup service simulator on %s, sidecar on %s", d.node.Addr(), d.sidecar.Addr())
	say("request: GET %s (a complete response has %d records, %d bytes)\n", demoPath, d.records, len(d.want))

	// The node's producer is dropped after 700 records: the silent truncation.
	drop := sim.Fault{Kind: sim.Drop, After: 700, Count: -1}

	say("1. The node, asked directly, while its producer dies after 700 records")
	d.node.SetFaults(drop)
	status, body, err := plainGet("http://"+d.node.Addr()+demoPath, nil)
	if err != nil {
		return fmt.Errorf("direct fetch: %v", err)
	}
	n := countRecords(body)
	say("   HTTP %d, body ended cleanly, %d bytes, %d records, no error anywhere.", status, len(body), n)
	if n >= d.records {
		return errors.New("the fault did not truncate the stream")
	}
	say("   A legacy client accepts this: %d records are silently missing.\n", d.records-n)

	say("2. Through the sidecar, while the node keeps dying 100 records into every stream")
	say("   (so the sidecar's resumes cannot heal it)")
	drop = sim.Fault{Kind: sim.Drop, After: 100, Count: -1}
	d.node.SetFaults(drop)
	_, body, err = plainGet("http://"+d.sidecar.Addr()+demoPath, nil)
	if err == nil {
		return errors.New("the legacy client saw success through the sidecar")
	}
	say("   legacy client (no TE, no framing): %d bytes, then: %v", len(body), err)
	d.node.SetFaults(drop)
	_, _, trailer, err := trailerGet("http://" + d.sidecar.Addr() + demoPath)
	if err != nil || trailer.Get(proxy.TrailerStatus) != "error" {
		return fmt.Errorf("TE: trailers client: status %q, err %v", trailer.Get(proxy.TrailerStatus), err)
	}
	say("   client with TE: trailers: %s: %s", proxy.TrailerStatus, trailer.Get(proxy.TrailerStatus))
	say("                             %s: %s", proxy.TrailerError, trailer.Get(proxy.TrailerError))
	d.node.SetFaults(drop)
	var payload bytes.Buffer
	fetcher := &client.Client{}
	defer fetcher.CloseIdleConnections()
	_, err = fetcher.Fetch(context.Background(), "http://"+d.sidecar.Addr()+demoPath, &payload)
	var se *framing.StreamError
	if !errors.As(err, &se) || se.Code != framing.CodeTruncated {
		return fmt.Errorf("backseal fetch: %v, want a truncated end frame", err)
	}
	say("   backseal fetch (framed): %d verified bytes, then the end frame: %v (exit status %d)\n",
		payload.Len(), se, client.ExitCode(err))

	say("3. A transient fault: the node drops one stream after 700 records; the sidecar resumes")
	d.node.SetFaults(sim.Fault{Kind: sim.Drop, After: 700, Count: 1})
	payload.Reset()
	sum, err := fetcher.Fetch(context.Background(), "http://"+d.sidecar.Addr()+demoPath, &payload)
	if err != nil {
		return fmt.Errorf("verified fetch after a transient fault: %v", err)
	}
	if !bytes.Equal(payload.Bytes(), d.want) {
		return errors.New("verified fetch differs from a clean response")
	}
	say("   backseal fetch: verified, %d records, %d bytes, xxh64 %s in %v", sum.Records, sum.Bytes,
		sum.Digest, sum.Duration.Round(time.Millisecond))
	say("   byte-identical to a clean response from the node: yes (xxh64 %016x)", xxhash.Sum64(d.want))
	say("\nThe silent truncation was caught, reported to every kind of client, and healed when it could be.")
	return nil
}

func countRecords(b []byte) uint64 {
	s := upstream.NewRecordScanner(^uint32(0))
	s.Write(b)
	return s.Records()
}

var demoClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func plainGet(url string, header http.Header) (int, []byte, error) {
	status, body, _, err := do(url, header)
	return status, body, err
}

func trailerGet(url string) (int, []byte, http.Header, error) {
	return do(url, http.Header{"Te": {"trailers"}})
}

func do(url string, header http.Header) (int, []byte, http.Header, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := demoClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, resp.Trailer, err
}
