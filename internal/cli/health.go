package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Health is the container HEALTHCHECK: the runtime image has no shell and
// no curl, so the binary checks itself. Exit status as Docker reads it:
// 0 healthy, 1 unhealthy; 2 for a usage error.
func Health(env Env, args []string) int {
	stdout, stderr := env.Stdout, env.Stderr
	fs := flag.NewFlagSet("backseal health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long (connect, headers and body)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: backseal health [--timeout 3s] URL\n\nGETs URL (e.g. http://127.0.0.1:9187/healthz, the admin listener) and exits 0 on 200,\n1 on anything else. For HEALTHCHECK and exec probes where no curl exists.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	target := fs.Arg(0)
	if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "backseal health: %q is not an http:// or https:// URL\n", target)
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "backseal health: --timeout must be positive")
		return 2
	}
	client := &http.Client{
		Timeout: *timeout, // a short, whole-exchange limit: this is no stream
		// Direct, never through HTTP_PROXY: the target is this host or pod.
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is not a 200
		},
	}
	resp, err := client.Get(target)
	if err != nil {
		fmt.Fprintf(stderr, "backseal health: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "backseal health: %s: %s %q\n", target, resp.Status, body)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s\n", target, resp.Status)
	return 0
}
