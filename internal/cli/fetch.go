package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/backseal/backseal/aptos/ledger"
	"github.com/backseal/backseal/client"
)

// exitCodesHelp is the exit status table of fetch and verify, for -h.
func exitCodesHelp() string {
	var b strings.Builder
	b.WriteString("exit status:\n")
	for _, st := range client.ExitCodes {
		fmt.Fprintf(&b, "  %-4d %s\n", st.Code, st.Meaning)
	}
	return b.String()
}

// Fetch fetches a framed stream through the sidecar, verifies it and writes
// the payload; its exit status is one of client.ExitCodes.
func Fetch(env Env, args []string) int {
	stdout, stderr := env.Stdout, env.Stderr
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: backseal fetch [flags] URL [-o FILE]

Asks the backseal sidecar at URL for framed mode, verifies every frame as it
arrives and writes the payload, exactly the legacy service's bytes, to FILE.
FILE appears only when the whole stream verified (it is written beside, synced,
then renamed); after a failure there is no FILE (an existing one is left as it
was). Without -o, or with -o -, the payload goes to stdout as it verifies: only
exit status 0 says it is complete.

A one-line summary goes to stderr; on a terminal a progress line shows while
the stream arrives.

flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\n"+exitCodesHelp())
	}
	var (
		out     string
		keep    bool
		asJSON  bool
		connect time.Duration
		stall   time.Duration
		token   string
		verify  bool
		wp      string
	)
	fs.StringVar(&out, "o", "", "write the payload to `FILE` (- for stdout, the default)")
	fs.StringVar(&out, "output", "", "same as -o `FILE`")
	fs.BoolVar(&keep, "keep-partial", false, "after a failure, keep the verified bytes as FILE.partial")
	fs.BoolVar(&asJSON, "json", false, "print the summary as JSON on stdout (needs -o FILE)")
	fs.DurationVar(&connect, "connect-timeout", client.DefaultConnectTimeout, "limit on connecting (TCP and TLS)")
	fs.DurationVar(&stall, "stall-timeout", client.DefaultStallTimeout, "fail when no byte arrives for this long (headers included)")
	fs.StringVar(&token, "token-file", "", "send the token in `FILE` as Authorization: Bearer (for a sidecar with bearer_token_file)")
	fs.BoolVar(&verify, "verify-content", false, "also check each record against the chain's commitments (hashes, accumulator, state root), with proofs from the same sidecar")
	fs.StringVar(&wp, "trusted-waypoint", "", "with --verify-content: check ledger info signatures from this `WAYPOINT` (version:hash)")
	pos, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "backseal fetch: want exactly one URL")
		fs.Usage()
		return client.ExitUsage
	}
	url := pos[0]
	if connect <= 0 || stall <= 0 {
		fmt.Fprintln(stderr, "backseal fetch: --connect-timeout and --stall-timeout must be positive")
		return client.ExitUsage
	}
	toStdout := out == "" || out == "-"
	if code := checkOutput("fetch", out, toStdout, asJSON, keep, stdout, stderr); code >= 0 {
		return code
	}

	var bearer string
	if token != "" {
		b, err := os.ReadFile(token)
		if err != nil || strings.TrimSpace(string(b)) == "" {
			fmt.Fprintf(stderr, "backseal fetch: --token-file: cannot read a token from %s: %v\n", token, err)
			return client.ExitUsage
		}
		bearer = strings.TrimSpace(string(b))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if wp != "" && !verify {
		fmt.Fprintln(stderr, "backseal fetch: --trusted-waypoint needs --verify-content")
		return client.ExitUsage
	}
	if wp != "" {
		if _, err := ledger.ParseWaypoint(wp); err != nil {
			fmt.Fprintf(stderr, "backseal fetch: --trusted-waypoint: %v\n", err)
			return client.ExitUsage
		}
	}
	c := &client.Client{ConnectTimeout: connect, StallTimeout: stall, UserAgent: "backseal-fetch/" + env.Version, BearerToken: bearer,
		VerifyContent: verify, TrustedWaypoint: wp}
	defer c.CloseIdleConnections()
	var prog *progressLine
	if isTerminal(stderr) {
		prog = &progressLine{w: stderr}
		c.Progress = prog.update
	}
	fetch := func(w io.Writer) (client.Summary, error) { return c.Fetch(ctx, url, w) }
	var (
		sum client.Summary
		err error
	)
	if toStdout {
		sum, err = fetch(stdout)
	} else {
		sum, err = client.WriteFile(out, keep, fetch)
	}
	prog.clear()
	return reportOutcome(reportArgs{cmd: "fetch", url: url, out: out, toStdout: toStdout, keep: keep, asJSON: asJSON},
		sum, err, stdout, stderr)
}

// parseInterleaved parses flags anywhere among the arguments (flag stops at the
// first non-flag) and returns the positional ones. code is -1 to go on, or
// the exit status for -h or a bad flag.
func parseInterleaved(fs *flag.FlagSet, args []string) (pos []string, code int) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, client.ExitOK
			}
			return nil, client.ExitUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, -1
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), -1
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// checkOutput rejects output choices that cannot work, before any request.
func checkOutput(cmd, out string, toStdout, asJSON, keep bool, stdout, stderr io.Writer) int {
	switch {
	case toStdout && asJSON:
		fmt.Fprintf(stderr, "backseal %s: --json prints on stdout: give -o FILE for the payload\n", cmd)
		return client.ExitUsage
	case toStdout && keep:
		fmt.Fprintf(stderr, "backseal %s: --keep-partial needs -o FILE\n", cmd)
		return client.ExitUsage
	case toStdout && isTerminal(stdout):
		fmt.Fprintf(stderr, "backseal %s: not writing a binary payload to a terminal: give -o FILE or pipe stdout\n", cmd)
		return client.ExitUsage
	}
	if !toStdout {
		if fi, err := os.Stat(out); err == nil && fi.IsDir() {
			fmt.Fprintf(stderr, "backseal %s: %s is a directory\n", cmd, out)
			return client.ExitUsage
		}
	}
	return -1
}

// isTerminal reports whether w is a terminal. Not "a character device":
// /dev/null is one too, and "fetch URL > /dev/null" must work.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressLine draws one live line on a terminal, at most a few times a
// second. A nil *progressLine does nothing.
type progressLine struct {
	w     io.Writer
	last  time.Time
	drawn bool
}

func (p *progressLine) update(pr client.Progress) {
	now := time.Now()
	if p.drawn && now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last, p.drawn = now, true
	records := fmt.Sprintf("%d records", pr.Records)
	if pr.ExpectedRecords >= 0 {
		pct := 100.0
		if pr.ExpectedRecords > 0 {
			pct = 100 * float64(pr.Records) / float64(pr.ExpectedRecords)
		}
		records = fmt.Sprintf("%d/%d records (%.0f%%)", pr.Records, pr.ExpectedRecords, pct)
	}
	rate := 0.0
	if pr.Elapsed > 0 {
		rate = float64(pr.Bytes) / pr.Elapsed.Seconds()
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s  %s  %s/s  %s", humanBytes(float64(pr.Bytes)), records, humanBytes(rate), pr.Elapsed.Round(time.Second))
}

func (p *progressLine) clear() {
	if p != nil && p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func humanBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", n)
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

// reportArgs is what the summary needs to know about the command line.
type reportArgs struct {
	cmd      string
	url      string // fetch
	in       string // verify
	out      string
	toStdout bool
	keep     bool
	asJSON   bool
	discard  bool // verify without -o
}

// jsonReport is the --json output: the summary and the outcome.
type jsonReport struct {
	OK       bool   `json:"ok"`
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
	URL      string `json:"url,omitempty"`
	Input    string `json:"input,omitempty"`
	Output   string `json:"output,omitempty"` // the file written; "" if none
	Partial  string `json:"partial,omitempty"`
	client.Summary
	Seconds        float64 `json:"seconds"`
	BytesPerSecond float64 `json:"bytes_per_second"`
}

// reportOutcome prints the error, if any, and the one-line summary on stderr (and
// JSON on stdout), and returns the exit status.
func reportOutcome(a reportArgs, sum client.Summary, err error, stdout, stderr io.Writer) int {
	code := client.ExitCode(err)
	prefix := "backseal " + a.cmd + ": "
	switch {
	case code == client.ExitInterrupted:
		fmt.Fprintf(stderr, "%sinterrupted\n", prefix)
	case err != nil:
		fmt.Fprintf(stderr, "%s%s\n", prefix, strings.TrimPrefix(err.Error(), "client: "))
	}
	var where, partial string
	switch {
	case a.discard:
	case a.toStdout:
		where = " to stdout"
	case err == nil:
		where = " -> " + a.out
	case a.keep && fileExists(a.out+client.PartialSuffix):
		partial = a.out + client.PartialSuffix
		where = "; verified bytes kept in " + partial
	default:
		where = "; " + a.out + " not written"
	}
	line := fmt.Sprintf("%d records, %d bytes", sum.Records, sum.Bytes)
	if sum.Digest != "" {
		line += ", xxh64 " + sum.Digest
	}
	line += fmt.Sprintf(", %.3fs, %s/s", sum.Duration.Seconds(), humanBytes(sum.Rate()))
	if err == nil && sum.ContentProof != "" {
		root := sum.ContentRoot
		if root == "" {
			root = "none"
		}
		line += fmt.Sprintf("; content verified: root %s (%s)", root, sum.ContentProof)
	}
	if err == nil {
		fmt.Fprintf(stderr, "%sok: %s%s\n", prefix, line, where)
	} else {
		fmt.Fprintf(stderr, "%sFAILED (exit %d, %s): %s verified%s\n", prefix, code, client.ExitName(code), line, where)
	}
	if a.asJSON {
		r := jsonReport{OK: err == nil, ExitCode: code, URL: a.url, Input: a.in, Partial: partial,
			Summary: sum, Seconds: sum.Duration.Seconds(), BytesPerSecond: sum.Rate()}
		if err != nil {
			r.Error = err.Error()
		} else if !a.toStdout && !a.discard {
			r.Output = a.out
		}
		b, _ := json.Marshal(r)
		fmt.Fprintf(stdout, "%s\n", b)
	}
	return code
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
