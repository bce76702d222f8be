package proxy_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/sim"
)

// rawExchange writes raw bytes to addr and returns everything read until the
// server closes or timeout passes.
func rawExchange(t *testing.T, addr string, data []byte, timeout time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	c.Write(data)
	out, _ := io.ReadAll(c)
	return string(out)
}

func TestBadRequests(t *testing.T) {
	up := startSim(t, testChain())
	px := startProxy(t, testConfig(up.URL()))
	long := strings.Repeat("a", 9000)
	tests := []struct {
		name, req, want string
	}{
		{"oversized request line", "GET /db_state?" + long + " HTTP/1.1\r\nHost: x\r\n\r\n", " 431 "},
		{"oversized header", "GET /db_state HTTP/1.1\r\nHost: x\r\nX-Big: " + long + "\r\n\r\n", " 431 "},
		{"body on GET beyond the limit", "GET /db_state HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("x", 100000), " 413 "},
		{"CONNECT", "CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n", " 405 "},
		{"garbage", "\x16\x03\x01\x02\x00 not http\r\n\r\n", " 400 "},
		{"HTTP/1.0 stream", "GET /transactions/0/10 HTTP/1.0\r\n\r\n", " 505 "},
		{"HTTP/1.0 framed", "GET /db_state HTTP/1.0\r\nAccept: application/vnd.backseal.frames.v1\r\n\r\n", " 505 "},
		{"HTTP/1.0 small value", "GET /db_state HTTP/1.0\r\n\r\n", " 200 "},
		{"HTTP/1.0 small value, TE: trailers", "GET /db_state HTTP/1.0\r\nTE: trailers\r\n\r\n", " 200 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rawExchange(t, px.Addr(), []byte(tt.req), 5*time.Second)
			if line, _, _ := strings.Cut(got, "\r\n"); !strings.Contains(line, tt.want) {
				t.Fatalf("status line %q, want %q", line, tt.want)
			}
			if strings.Contains(tt.req, "HTTP/1.0") && strings.Contains(strings.ToLower(got), "chunked") {
				t.Fatalf("an HTTP/1.0 client got a chunked body:\n%q", got)
			}
		})
	}
}

// TestSlowHeaders: a client that dribbles its request (slowloris) is cut
// after read_header_timeout.
func TestSlowHeaders(t *testing.T) {
	up := startSim(t, testChain())
	cfg := testConfig(up.URL())
	cfg.ReadHeaderTimeout = 300 * time.Millisecond
	px := startProxy(t, cfg)
	c, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /db_state HTTP/1.1\r\nHost: x\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the sidecar kept a stalled request open: %v", err)
	}
	if len(out) > 0 && !strings.Contains(string(out), " 408 ") {
		t.Fatalf("answer to a stalled request: %q, want 408 or a close", out)
	}
}

// TestPipelinedRequests: two requests in one write get two answers in order.
func TestPipelinedRequests(t *testing.T) {
	up := startSim(t, testChain())
	px := startProxy(t, testConfig(up.URL()))
	out := rawExchange(t, px.Addr(), []byte("GET /db_state HTTP/1.1\r\nHost: x\r\n\r\nGET /transactions/0/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 5*time.Second)
	if n := strings.Count(out, "HTTP/1.1 200 OK"); n != 2 {
		t.Fatalf("%d answers to two pipelined requests:\n%q", n, out)
	}
	if i, j := strings.Index(out, "Content-Length: 17"), strings.Index(out, "Transfer-Encoding: chunked"); i < 0 || j < i {
		t.Fatalf("answers out of order:\n%q", out)
	}
}

// TestDuplicateNegotiationHeaders: Accept and TE count when any instance
// names the token; lists and parameters are understood.
func TestDuplicateNegotiationHeaders(t *testing.T) {
	up := startSim(t, testChain())
	px := startProxy(t, testConfig(up.URL()))
	r := rawGet(t, px.Addr(), "/transactions/0/3", "Accept: */*", "Accept: text/plain, application/vnd.backseal.frames.v1;q=0.9", "TE: gzip", "TE: trailers")
	if ct := r.header.Get("Content-Type"); ct != "application/vnd.backseal.frames.v1" {
		t.Fatalf("Content-Type %q: the second Accept header was ignored", ct)
	}
	if r.trailer.Get("Backseal-Status") != "ok" {
		t.Fatalf("trailers %v: the second TE header was ignored", r.trailer)
	}
}

// TestAcceptWeight: framed mode needs the media type listed with a positive,
// valid weight (RFC 9110 §12.4.2: q=0 is "not acceptable").
func TestAcceptWeight(t *testing.T) {
	up := startSim(t, testChain())
	px := startProxy(t, testConfig(up.URL()))
	const ft = "application/vnd.backseal.frames.v1"
	tests := []struct {
		name   string
		accept []string
		framed bool
	}{
		{"no weight", []string{ft}, true},
		{"q=1", []string{ft + ";q=1"}, true},
		{"q=1.000", []string{ft + ";q=1.000"}, true},
		{"q=0.001", []string{ft + ";q=0.001"}, true},
		{"q=0.5 in a list", []string{"text/plain, " + ft + " ; Q = 0.5, */*;q=0.1"}, true},
		{"media parameter before q", []string{ft + ";v=1;q=0.9"}, true},
		{"q=0", []string{ft + ";q=0"}, false},
		{"q=0.", []string{ft + ";q=0."}, false},
		{"q=0.0", []string{ft + ";q=0.0"}, false},
		{"q=0.000", []string{ft + ";q=0.000"}, false},
		{"Q=0 with spaces", []string{ft + " ; Q = 0"}, false},
		{"q=0 after a wildcard", []string{"*/*, " + ft + ";q=0"}, false},
		{"invalid: q=2", []string{ft + ";q=2"}, false},
		{"invalid: q=1.5", []string{ft + ";q=1.5"}, false},
		{"invalid: four decimals", []string{ft + ";q=0.0001"}, false},
		{"invalid: not a number", []string{ft + ";q=high"}, false},
		{"invalid: empty", []string{ft + ";q="}, false},
		{"wildcard only", []string{"application/*"}, false},
		{"refused in one header, asked in another", []string{ft + ";q=0", ft + ";q=0.2"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			for _, a := range tt.accept {
				headers = append(headers, "Accept: "+a)
			}
			r := rawGet(t, px.Addr(), "/db_state", headers...)
			if !strings.Contains(r.statusLine, " 200 ") {
				t.Fatalf("status %q", r.statusLine)
			}
			if got := r.header.Get("Content-Type") == ft; got != tt.framed {
				t.Fatalf("Accept %q: Content-Type %q, framed %v, want %v", tt.accept, r.header.Get("Content-Type"), got, tt.framed)
			}
		})
	}
}

// TestStreamLimits: beyond the global and per-client limits the sidecar
// answers 503 with Retry-After at once; beyond the upstream limit a request
// waits for a slot, then gets 503.
func TestStreamLimits(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*proxy.Config)
	}{
		{"global", func(c *proxy.Config) { c.MaxStreams = 2 }},
		{"per client", func(c *proxy.Config) { c.MaxStreamsPerClient = 2 }},
		{"upstream", func(c *proxy.Config) { c.MaxUpstreamStreams = 2; c.UpstreamQueueTimeout = 200 * time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := startSim(t, testChain())
			cfg := testConfig(up.URL())
			cfg.StallTimeout = 30 * time.Second
			tt.mutate(&cfg)
			px := startProxy(t, cfg)
			up.SetFaults(sim.Fault{Kind: sim.Stall, After: 2, Count: 2, Stall: 5 * time.Second})
			var held []net.Conn
			for range 2 {
				c, err := net.Dial("tcp", px.Addr())
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, c)
				c.Write([]byte("GET /transactions/0/100 HTTP/1.1\r\nHost: x\r\n\r\n"))
				if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
					t.Fatal(err)
				}
			}
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			resp, err := http.Get("http://" + px.Addr() + "/transactions/0/100")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("third stream: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			resp, err = http.Get("http://" + px.Addr() + "/db_state")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tt.name == "upstream" && resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("/db_state while every upstream slot is taken: %d, want 503", resp.StatusCode)
			}
		})
	}
}

// TestAllowlistAndToken: addresses outside allow_cidrs get 403; without the
// bearer token, 401; the token file is reloaded on Reload (SIGHUP).
func TestAllowlistAndToken(t *testing.T) {
	up := startSim(t, testChain())
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)

	cfg := testConfig(up.URL())
	cfg.AllowCIDRs = []string{"10.0.0.0/8"}
	denied := startProxy(t, cfg)
	if got := statusOf(t, "http://"+denied.Addr()+"/db_state", ""); got != http.StatusForbidden {
		t.Fatalf("loopback client outside allow_cidrs: %d, want 403", got)
	}

	cfg = testConfig(up.URL())
	cfg.AllowCIDRs = []string{"127.0.0.0/8", "::1/128"}
	cfg.BearerTokenFile = tokenFile
	px := startProxy(t, cfg)
	url := "http://" + px.Addr() + "/db_state"
	for token, want := range map[string]int{"": 401, "wrong": 401, "s3cret": 200} {
		if got := statusOf(t, url, token); got != want {
			t.Fatalf("token %q: %d, want %d", token, got, want)
		}
	}
	os.WriteFile(tokenFile, []byte("rotated\n"), 0o600)
	if err := px.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := statusOf(t, url, "s3cret"); got != 401 {
		t.Fatalf("old token after reload: %d, want 401", got)
	}
	if got := statusOf(t, url, "rotated"); got != 200 {
		t.Fatalf("new token after reload: %d, want 200", got)
	}
}

// TestBearerScheme: the auth scheme is case-insensitive and may be followed
// by several spaces (RFC 9110 §11.1, §11.4); the token itself is exact.
func TestBearerScheme(t *testing.T) {
	up := startSim(t, testChain())
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)
	cfg := testConfig(up.URL())
	cfg.BearerTokenFile = tokenFile
	px := startProxy(t, cfg)
	tests := []struct {
		header string
		status int
	}{
		{"Bearer s3cret", 200},
		{"bearer s3cret", 200},
		{"BEARER s3cret", 200},
		{"bEaReR s3cret", 200},
		{"Bearer   s3cret", 200},
		{"Bearer S3CRET", 401},
		{"Bearer s3cre", 401},
		{"Bearer s3cret x", 401},
		{"Bearers3cret", 401},
		{"Bearer", 401},
		{"Bearer ", 401},
		{"Basic s3cret", 401},
		{"s3cret", 401},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			r := rawGet(t, px.Addr(), "/db_state", "Authorization: "+tt.header)
			if !strings.Contains(r.statusLine, " "+strconv.Itoa(tt.status)+" ") {
				t.Fatalf("Authorization: %q: %q, want %d", tt.header, r.statusLine, tt.status)
			}
		})
	}
}

func statusOf(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestTLSReload: the public listener serves TLS, and a new certificate is
// picked up by Reload without a restart.
func TestTLSReload(t *testing.T) {
	up := startSim(t, testChain())
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeCert(t, certFile, keyFile, 1)
	cfg := testConfig(up.URL())
	cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
	px := startProxy(t, cfg)
	serial := func() int64 {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr}).Get("https://" + px.Addr() + "/transactions/0/5")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("over TLS: %d %v", resp.StatusCode, err)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
	}
	if got := serial(); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	writeCert(t, certFile, keyFile, 2)
	if err := px.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got != 2 {
		t.Fatalf("serial after reload %d, want 2", got)
	}
}

func writeCert(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "backseal-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// TestNoLeaksAfterThousandsOfStreams: goroutines and file descriptors return
// to where they were after thousands of streams, failures included.
func TestNoLeaksAfterThousandsOfStreams(t *testing.T) {
	up := startSim(t, testChain())
	px := startProxy(t, testConfig(up.URL()))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	fetch := func(path string) {
		resp, err := client.Get("http://" + px.Addr() + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	// Warm the pools, and fasthttp's once-per-process date updater, which a
	// small value (answered by fasthttp itself) starts.
	fetch("/transactions/0/5")
	fetch("/db_state")
	client.CloseIdleConnections()
	px.Proxy().CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	fdsBefore := openFDs(t)
	ignore := goleak.IgnoreCurrent()

	n := 2000
	if raceEnabled {
		n = 1000
	}
	var wg sync.WaitGroup
	paths := []string{"/transactions/0/5", "/db_state", "/state_item_count/7", "/nope", "/epoch_ending_ledger_infos/0/3"}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				if i%50 == 0 {
					up.AddFaults(sim.Fault{Kind: sim.Abort, After: 2, Count: 1})
				}
				if i%150 == 0 { // a small value refetched after its stall
					up.AddFaults(sim.Fault{Kind: sim.BodyStall, Endpoint: "db_state", Stall: time.Second, Count: 1})
				}
				fetch(paths[i%len(paths)])
			}
		}()
	}
	wg.Wait()
	client.CloseIdleConnections()
	px.Proxy().CloseIdleConnections() // idle keep-alives to the node are a pool, not a leak
	var fdsAfter int
	deadline := time.Now().Add(5 * time.Second)
	for {
		fdsAfter = openFDs(t)
		if fdsAfter <= fdsBefore+4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if fdsAfter > fdsBefore+4 {
		t.Fatalf("%d file descriptors open after %d streams, %d before", fdsAfter, n, fdsBefore)
	}
	// Idle keep-alive connections on both sides are fine; leaked stream
	// goroutines (watchers, count lookups, attempts) are not.
	goleak.VerifyNone(t, ignore,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		// fasthttp keeps idle workers for MaxIdleWorkerDuration.
		goleak.IgnoreTopFunction("github.com/valyala/fasthttp.(*workerPool).workerFunc"),
	)
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(entries)
}
