package proxy_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/internal/testkit/program"
	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/sim"
)

// rawResponse is an HTTP/1.1 response as it crossed the wire.
type rawResponse struct {
	statusLine string
	header     http.Header
	chunks     int
	body       []byte
	terminated bool        // the zero-size chunk arrived
	trailer    http.Header // lines after the zero-size chunk
	tail       error       // how the connection ended after the body
}

// rawGet sends one request over a plain TCP connection and decodes the
// chunked response by hand, so the test sees exactly what fasthttp wrote.
func rawGet(t *testing.T, addr, path string, headers ...string) rawResponse {
	t.Helper()
	return rawDo(t, addr, "GET", path, headers...)
}

func rawDo(t *testing.T, addr, method, path string, headers ...string) rawResponse {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	req := method + " " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var r rawResponse
	r.statusLine, err = br.ReadString('\n')
	if err != nil {
		t.Fatalf("reading status line: %v", err)
	}
	r.header = readHeaderBlock(t, br)
	if r.header.Get("Transfer-Encoding") != "chunked" {
		n, _ := strconv.Atoi(r.header.Get("Content-Length"))
		r.body = make([]byte, n)
		_, r.tail = io.ReadFull(br, r.body)
		return r
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			r.tail = err
			return r
		}
		size, err := strconv.ParseUint(strings.TrimSpace(line), 16, 64)
		if err != nil {
			t.Fatalf("bad chunk size line %q", line)
		}
		if size == 0 {
			r.terminated = true
			r.trailer = readHeaderBlock(t, br)
			_, r.tail = br.ReadByte()
			return r
		}
		r.chunks++
		chunk := make([]byte, size+2)
		if _, err := io.ReadFull(br, chunk); err != nil {
			r.body = append(r.body, chunk...)
			r.tail = err
			return r
		}
		r.body = append(r.body, chunk[:size]...)
	}
}

func readHeaderBlock(t *testing.T, br *bufio.Reader) http.Header {
	h := http.Header{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading header block: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return h
		}
		k, v, _ := strings.Cut(line, ":")
		h.Add(k, strings.TrimSpace(v))
	}
}

// TestTrailersOnTheWire proves fasthttp sends the declared trailers after the
// zero-size chunk, in both modes, for success and failure.
func TestTrailersOnTheWire(t *testing.T) {
	cfg := testChain()
	chain := sim.NewChain(cfg)
	path := "/transactions/0/300"
	_, want := chain.Body(mustParse(t, path))
	tests := []struct {
		name   string
		fault  *sim.Fault
		accept string
		status string
		code   string
	}{
		{"passthrough ok", nil, "", "ok", ""},
		{"framed ok", nil, framing.ContentType, "ok", ""},
		{"passthrough truncated", &sim.Fault{Kind: sim.Drop, After: 10, Count: -1}, "", "error", "truncated"},
		{"framed truncated", &sim.Fault{Kind: sim.Drop, After: 10, Count: -1}, framing.ContentType, "error", "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := startSim(t, cfg)
			pc := testConfig(up.URL())
			pc.ResumeAttempts = 0
			px := startProxy(t, pc)
			if tt.fault != nil {
				up.SetFaults(*tt.fault)
			}
			hdrs := []string{"TE: trailers"}
			if tt.accept != "" {
				hdrs = append(hdrs, "Accept: "+tt.accept)
			}
			r := rawGet(t, px.Addr(), path, hdrs...)
			if !strings.Contains(r.header.Get("Trailer"), proxy.TrailerStatus) {
				t.Fatalf("Trailer header = %q, want it to declare %s", r.header.Get("Trailer"), proxy.TrailerStatus)
			}
			if !r.terminated {
				t.Fatalf("no zero-size chunk (tail %v)", r.tail)
			}
			if got := r.trailer.Get(proxy.TrailerStatus); got != tt.status {
				t.Fatalf("%s = %q, want %q (trailer %v)", proxy.TrailerStatus, got, tt.status, r.trailer)
			}
			if tt.code != "" && !strings.HasPrefix(r.trailer.Get(proxy.TrailerError), tt.code+": ") {
				t.Fatalf("%s = %q, want code %s", proxy.TrailerError, r.trailer.Get(proxy.TrailerError), tt.code)
			}
			payload := r.body
			if tt.accept != "" {
				var err error
				payload, err = io.ReadAll(framing.NewReader(bytes.NewReader(r.body)))
				if tt.code == "" && err != nil || tt.code != "" && framing.CodeOf(err).String() != tt.code {
					t.Fatalf("framed body: %v, want code %q", err, tt.code)
				}
			}
			if tt.code == "" && !bytes.Equal(payload, want) {
				t.Fatalf("payload differs from the clean upstream response")
			}
			if got, want := r.trailer.Get(proxy.TrailerBytes), strconv.Itoa(len(payload)); got != want {
				t.Fatalf("%s = %s, want %s", proxy.TrailerBytes, got, want)
			}
			if got, want := r.trailer.Get(proxy.TrailerXxh64), xxh64Hex(payload); got != want {
				t.Fatalf("%s = %s, want %s", proxy.TrailerXxh64, got, want)
			}
		})
	}
}

// TestPlainFailureCutsTheBody: without TE: trailers, a passthrough failure
// ends the body without the zero-size chunk and closes the connection.
func TestPlainFailureCutsTheBody(t *testing.T) {
	cfg := testChain()
	up := startSim(t, cfg)
	pc := testConfig(up.URL())
	pc.ResumeAttempts = 0
	px := startProxy(t, pc)
	up.SetFaults(sim.Fault{Kind: sim.Drop, After: 10, Count: -1})
	r := rawGet(t, px.Addr(), "/transactions/0/300")
	if r.terminated {
		t.Fatal("a silently truncated upstream reached a legacy client with its terminating chunk")
	}
	if r.tail == nil {
		t.Fatal("connection stayed open after the cut body")
	}
	if len(r.body) == 0 {
		t.Fatal("expected the records that did arrive to be forwarded")
	}
}

// TestCurlSeesTheCut runs curl, as an operator would, on a truncated stream:
// it must fail (exit 18, partial file), and succeed on a clean one.
func TestCurlSeesTheCut(t *testing.T) {
	curl := program.Need(t, "curl", "curl")
	cfg := testChain()
	up := startSim(t, cfg)
	pc := testConfig(up.URL())
	pc.ResumeAttempts = 0
	px := startProxy(t, pc)
	url := "http://" + px.Addr() + "/transactions/0/300"
	if out, err := exec.Command(curl, "-sS", "-o", "/dev/null", url).CombinedOutput(); err != nil {
		t.Fatalf("curl on a clean stream: %v %s", err, out)
	}
	up.SetFaults(sim.Fault{Kind: sim.Drop, After: 10, Count: -1})
	out, err := exec.Command(curl, "-sS", "-o", "/dev/null", url).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 18 {
		t.Fatalf("curl on a truncated stream: err %v (want exit 18), output %s", err, out)
	}
}

// TestHeadersMatchTheLegacyService: passthrough keeps the node's headers:
// streams chunked without Content-Type, small values with Content-Length.
func TestHeadersMatchTheLegacyService(t *testing.T) {
	up := startSim(t, testChain())
	px := startProxy(t, testConfig(up.URL()))
	r := rawGet(t, px.Addr(), "/transactions/0/10")
	if r.header.Get("Content-Type") != "" || r.header.Get("Content-Length") != "" || !r.terminated {
		t.Fatalf("stream headers %v terminated %v", r.header, r.terminated)
	}
	r = rawGet(t, px.Addr(), "/db_state")
	if r.header.Get("Content-Type") != "application/octet-stream" || r.header.Get("Content-Length") != "17" || len(r.body) != 17 {
		t.Fatalf("db_state headers %v body %d bytes", r.header, len(r.body))
	}
	if r.header.Get("Server") != "" { // the node sends none
		t.Fatalf("Server header %q", r.header.Get("Server"))
	}
	r = rawGet(t, px.Addr(), "/state_item_count/5")
	if !strings.Contains(r.statusLine, " 500 ") {
		t.Fatalf("non-snapshot item count: %q, want the node's 500", r.statusLine)
	}
}

// TestLocalValidation: the legacy service's own 400/404/405 answers, given
// without any upstream request; nothing but the nine paths is forwarded.
func TestLocalValidation(t *testing.T) {
	up := startSim(t, testChain())
	px := startProxy(t, testConfig(up.URL()))
	ref := startSim(t, testChain()) // the legacy service's own answers, for comparison
	before := totalRequests(up)
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/nope", 404},
		{"GET", "/transactions/1", 400},
		{"GET", "/transactions/1/2/3", 400},
		{"GET", "/transactions/-1/2", 400},
		{"GET", "/transactions/18446744073709551616/2", 400},
		{"GET", "/transactions/1%2F2", 400},
		{"GET", "/transactions/../db_state", 400},
		{"POST", "/db_state", 405},
		{"DELETE", "/transactions/1/2", 405},
		{"PUT", "/nope", 405}, // warp's method filter comes first
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := rawDo(t, px.Addr(), tt.method, tt.path)
			direct := rawDo(t, ref.Addr(), tt.method, tt.path)
			if !strings.Contains(r.statusLine, " "+strconv.Itoa(tt.status)+" ") {
				t.Fatalf("%s %s = %q, want %d", tt.method, tt.path, r.statusLine, tt.status)
			}
			if r.statusLine != direct.statusLine || !bytes.Equal(r.body, direct.body) ||
				r.header.Get("Content-Type") != direct.header.Get("Content-Type") {
				t.Fatalf("sidecar answered %q %q %q; the legacy service %q %q %q", r.statusLine, r.header.Get("Content-Type"), r.body,
					direct.statusLine, direct.header.Get("Content-Type"), direct.body)
			}
		})
	}
	if got := totalRequests(up); got != before {
		t.Fatalf("rejected requests reached the upstream: %d requests before, %d after", before, got)
	}
}

// TestTrailingSlash: one '/' after the last segment is the path without it,
// as warp routes it; two are a 400, as in warp.
func TestTrailingSlash(t *testing.T) {
	up := startSim(t, testChain())
	px := startProxy(t, testConfig(up.URL()))
	tests := []struct {
		path   string
		status int
	}{
		{"/db_state/", 200},
		{"/state_item_count/1000/", 200},
		{"/transactions/0/3/", 200},
		{"/db_state//", 400},
		{"/transactions/0/3//", 400},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := rawGet(t, px.Addr(), tt.path)
			direct := rawGet(t, up.Addr(), tt.path)
			if !strings.Contains(r.statusLine, " "+strconv.Itoa(tt.status)+" ") || r.statusLine != direct.statusLine {
				t.Fatalf("GET %s: sidecar %q, legacy service %q, want %d", tt.path, r.statusLine, direct.statusLine, tt.status)
			}
			if !bytes.Equal(r.body, direct.body) {
				t.Fatalf("GET %s: sidecar body %d bytes, legacy service %d", tt.path, len(r.body), len(direct.body))
			}
		})
	}
}

// TestAbsoluteForm: an absolute-form target is routed by its path, as hyper
// does, and always to the configured upstream: the authority is ignored, so
// the sidecar is never an open proxy.
func TestAbsoluteForm(t *testing.T) {
	up := startSim(t, testChain())
	px := startProxy(t, testConfig(up.URL()))
	tests := []struct {
		target    string
		status    int
		forwarded bool
	}{
		{"http://169.254.169.254/db_state", 200, true},
		{"HTTP://node:6186/transactions/0/3?x=1", 200, true},
		{"http://169.254.169.254/latest/meta-data", 404, false},
		{"http://node", 404, false},
		{"http://node/transactions/1", 400, false},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			before := totalRequests(up)
			r := rawGet(t, px.Addr(), tt.target)
			forwarded := totalRequests(up) != before
			direct := rawGet(t, up.Addr(), tt.target)
			if !strings.Contains(r.statusLine, " "+strconv.Itoa(tt.status)+" ") || r.statusLine != direct.statusLine {
				t.Fatalf("GET %s: sidecar %q, legacy service %q, want %d", tt.target, r.statusLine, direct.statusLine, tt.status)
			}
			if !bytes.Equal(r.body, direct.body) {
				t.Fatalf("GET %s: sidecar body %d bytes, legacy service %d", tt.target, len(r.body), len(direct.body))
			}
			if forwarded != tt.forwarded {
				t.Fatalf("GET %s: forwarded to the upstream %v, want %v", tt.target, forwarded, tt.forwarded)
			}
		})
	}
}

// TestUpstreamDown: no upstream at all gives 502 with a short text body.
func TestUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	pc := testConfig("http://" + addr)
	pc.UpstreamRetries = 1
	px := startProxy(t, pc)
	resp, err := http.Get("http://" + px.Addr() + "/transactions/0/10")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "upstream unavailable") {
		t.Fatalf("got %d %q, want 502 with a reason", resp.StatusCode, body)
	}
}

func totalRequests(s *sim.Server) uint64 {
	var n uint64
	for _, v := range s.Stats().Requests {
		n += v
	}
	return n
}
