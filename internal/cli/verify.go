package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/backseal/backseal/client"
)

// verifyStdin is verify's input for "-"; tests replace it.
var verifyStdin io.Reader = os.Stdin

// Verify checks a saved framed stream offline, as Fetch checks one as it
// arrives; same exit statuses.
func Verify(env Env, args []string) int {
	stdout, stderr := env.Stdout, env.Stderr
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: backseal verify [flags] [FRAMED_FILE|-]

Checks a saved framed stream (say, curl -H 'Accept: application/vnd.backseal.frames.v1')
offline, as backseal fetch checks one as it arrives. Reads stdin without
FRAMED_FILE or with -. With -o FILE, writes the payload to FILE, which appears
only when the whole stream verified; with -o -, to stdout as it verifies.

flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\n"+exitCodesHelp())
	}
	var (
		out    string
		keep   bool
		asJSON bool
	)
	fs.StringVar(&out, "o", "", "write the payload to `FILE` (- for stdout); without -o it is only checked")
	fs.StringVar(&out, "output", "", "same as -o `FILE`")
	fs.BoolVar(&keep, "keep-partial", false, "after a failure, keep the verified bytes as FILE.partial")
	fs.BoolVar(&asJSON, "json", false, "print the summary as JSON on stdout")
	pos, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) > 1 {
		fmt.Fprintln(stderr, "backseal verify: want at most one FRAMED_FILE")
		fs.Usage()
		return client.ExitUsage
	}
	inName := "-"
	if len(pos) == 1 {
		inName = pos[0]
	}
	discard := out == ""
	toStdout := out == "-"
	if code := checkOutput("verify", out, toStdout, asJSON, keep, stdout, stderr); code >= 0 {
		return code
	}
	if discard && keep {
		fmt.Fprintln(stderr, "backseal verify: --keep-partial needs -o FILE")
		return client.ExitUsage
	}

	in := verifyStdin
	if inName != "-" {
		f, err := os.Open(inName)
		if err != nil {
			fmt.Fprintf(stderr, "backseal verify: %v\n", err)
			return client.ExitLocal
		}
		defer f.Close()
		in = f
	} else if isTerminal(in) {
		fmt.Fprintln(stderr, "backseal verify: stdin is a terminal: give FRAMED_FILE or pipe the stream in")
		return client.ExitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	verify := func(w io.Writer) (client.Summary, error) { return client.Verify(ctx, in, w) }
	var (
		sum client.Summary
		err error
	)
	switch {
	case discard:
		sum, err = verify(io.Discard)
	case toStdout:
		sum, err = verify(stdout)
	default:
		sum, err = client.WriteFile(out, keep, verify)
	}
	return reportOutcome(reportArgs{cmd: "verify", in: inName, out: out, toStdout: toStdout, keep: keep, asJSON: asJSON, discard: discard},
		sum, err, stdout, stderr)
}
