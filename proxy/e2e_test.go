package proxy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/internal/testkit"
	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/sim"
	"github.com/backseal/backseal/upstream"
)

// The stack the tests run against, from internal/testkit.
var (
	testChain  = testkit.Chain
	startSim   = testkit.StartSim
	testConfig = testkit.ProxyConfig
)

func startProxy(t testing.TB, cfg proxy.Config) *proxy.Server { return testkit.StartProxy(t, cfg, nil) }

// clientMode is how a client asks: framed, passthrough with TE: trailers,
// or plain passthrough like the legacy backup-cli.
type clientMode string

const (
	modeFramed   clientMode = "framed"
	modeTrailers clientMode = "trailers"
	modePlain    clientMode = "plain"
)

var allModes = []clientMode{modeFramed, modeTrailers, modePlain}

// result is what a client concluded from a response.
type result struct {
	status  int
	ok      bool   // the client believes it has a complete, good response
	code    string // the failure the client learned ("" when it only saw a transport error)
	body    []byte
	trailer http.Header
	err     error
}

// do sends GET url as a client of mode asks, on a connection of its own.
func do(t *testing.T, url string, mode clientMode) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case modeFramed:
		req.Header.Set("Accept", framing.ContentType)
	case modeTrailers:
		req.Header.Set("TE", "trailers")
	}
	return (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
}

func get(t *testing.T, url string, mode clientMode) result {
	t.Helper()
	resp, err := do(t, url, mode)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	r := result{status: resp.StatusCode}
	if mode == modeFramed {
		return readFramed(t, resp, r)
	}
	r.body, r.err = io.ReadAll(resp.Body)
	r.trailer = resp.Trailer
	r.ok = r.err == nil && resp.StatusCode == http.StatusOK
	if mode == modeTrailers && r.err == nil && resp.StatusCode == http.StatusOK {
		switch resp.Trailer.Get(proxy.TrailerStatus) {
		case "ok":
		case "error":
			r.ok = false
			r.code, _, _ = cutCode(resp.Trailer.Get(proxy.TrailerError))
		default:
			t.Errorf("TE: trailers response without %s trailer: %v", proxy.TrailerStatus, resp.Trailer)
		}
	}
	return r
}

// readFramed reads the answer to a framed request. Whatever the upstream
// answered, status and body, reaches a framed client as a framed stream; the
// only plain answers are the sidecar's own refusals before it has an
// upstream response (502 upstream unavailable, 503 draining or busy), with
// a text reason. Anything else, a 200 above all, fails the test: a sidecar
// that stopped framing must not pass as passthrough.
func readFramed(t *testing.T, resp *http.Response, r result) result {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != framing.ContentType {
		r.body, r.err = io.ReadAll(resp.Body)
		refusal := (resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable) &&
			strings.HasPrefix(ct, "text/plain")
		if !refusal {
			t.Errorf("framed request answered unframed: status %d, Content-Type %q, %d body bytes", resp.StatusCode, ct, len(r.body))
		}
		return r
	}
	fr := framing.NewReader(resp.Body)
	r.body, r.err = io.ReadAll(fr)
	var se *framing.StreamError
	switch {
	case r.err == nil:
		r.ok = resp.StatusCode == http.StatusOK
	case errors.As(r.err, &se):
		r.code = se.Code.String()
	default:
		t.Errorf("framed stream failed verification (the sidecar must never send a damaged stream): %v", r.err)
	}
	return r
}

func cutCode(v string) (string, string, bool) {
	for i := 0; i+1 < len(v); i++ {
		if v[i] == ':' && v[i+1] == ' ' {
			return v[:i], v[i+2:], true
		}
	}
	return v, "", false
}

// checkInvariant is the one promise: a client never sees a clean success
// whose bytes differ from a clean upstream response.
func checkInvariant(t *testing.T, r result, want []byte) {
	t.Helper()
	if r.ok && !bytes.Equal(r.body, want) {
		t.Fatalf("SILENT CORRUPTION: client saw success with %d bytes, clean upstream response has %d", len(r.body), len(want))
	}
}

func mustParse(t *testing.T, path string) upstream.Request {
	t.Helper()
	r, err := upstream.ParsePath(path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCleanStreamsAreByteIdentical(t *testing.T) {
	cfg := testChain()
	up := startSim(t, cfg)
	px := startProxy(t, testConfig(up.URL()))
	chain := sim.NewChain(cfg)
	paths := []string{
		"/db_state",
		"/state_item_count/3000",
		"/state_root_proof/3000",
		"/transaction_range_proof/10/20",
		"/state_range_proof/3000/" + fmt.Sprintf("%064x", 7),
		"/transactions/0/500",
		"/transactions/2990/20", // past the committed version
		"/transactions/5/0",
		"/epoch_ending_ledger_infos/0/40",
		"/epoch_ending_ledger_infos/30/100", // end past the current epoch
		"/state_snapshot/3000",
		"/state_snapshot_chunk/3000/100/50",
		"/state_snapshot_chunk/3000/100000/50", // past the end
	}
	for _, path := range paths {
		for _, mode := range allModes {
			t.Run(path+"/"+string(mode), func(t *testing.T) {
				status, want := chain.Body(mustParse(t, path))
				r := get(t, "http://"+px.Addr()+path, mode)
				if r.status != status {
					t.Fatalf("status %d, want %d", r.status, status)
				}
				if !r.ok {
					t.Fatalf("clean stream not reported ok: code %q err %v", r.code, r.err)
				}
				if !bytes.Equal(r.body, want) {
					t.Fatalf("body differs: %d bytes, want %d", len(r.body), len(want))
				}
			})
		}
	}
}

func xxh64Hex(b []byte) string { return fmt.Sprintf("%016x", xxhash.Sum64(b)) }
