package deploytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/internal/testkit/program"
	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/sim"
	"github.com/backseal/backseal/upstream"
)

// A balancer runs one load balancer from its shipped config in front of a
// sidecar (public and admin addresses) and returns the address clients use.
type balancer struct {
	name  string
	start func(t *testing.T, sidecar, admin string) (addr, version string)
	// teForwarded marks a deliberately wrong configuration, measured to
	// show the hazard: the client's TE: trailers reaches backseal through a
	// balancer that drops trailers.
	teForwarded bool
}

var balancers = []balancer{
	{name: "direct", start: func(t *testing.T, sidecar, _ string) (string, string) { return sidecar, "no balancer" }},
	{name: "nginx", start: startNginx},
	{name: "haproxy", start: startHAProxy},
	{name: "nginx-te-forwarded", start: startNginxForwardingTE, teForwarded: true},
}

// startNginx runs configs/nginx/backseal.conf, an http-context snippet,
// inside a minimal nginx.conf of the test's own.
func startNginx(t *testing.T, sidecar, _ string) (string, string) {
	return runNginx(t, sidecar)
}

// startNginxForwardingTE is the shipped config with the TE line changed to
// forward the client's TE, as nginx >= 1.27.2 needs it, but on an nginx that
// drops trailers: the mistake docs/OPERATIONS.md warns about.
func startNginxForwardingTE(t *testing.T, sidecar, _ string) (string, string) {
	addr, version := runNginx(t, sidecar, sub{`proxy_set_header TE "";`, `proxy_set_header TE $http_te;`})
	return addr, version + ", TE forwarded (wrong)"
}

func runNginx(t *testing.T, sidecar string, extra ...sub) (string, string) {
	bin := program.Need(t, "nginx", "nginx")
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	const name = "configs/nginx/backseal.conf"
	subs := append([]sub{
		{"server 10.0.0.11:6187 ", "server " + sidecar + " "},
		{"listen 6186;", "listen " + addr + ";"},
	}, extra...)
	snippet := render(t, name, readRepoFile(t, name), subs...)
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n" // the workers need the test's private temp dir
	}
	main := user + `worker_processes 1;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path DIR/body;
    proxy_temp_path DIR/proxy;
    fastcgi_temp_path DIR/fastcgi;
    uwsgi_temp_path DIR/uwsgi;
    scgi_temp_path DIR/scgi;
    include DIR/backseal.conf;
}
`
	writeFile(t, filepath.Join(dir, "backseal.conf"), snippet)
	writeFile(t, filepath.Join(dir, "nginx.conf"), strings.ReplaceAll(main, "DIR", dir))
	globals := "daemon off; pid " + filepath.Join(dir, "nginx.pid") + "; error_log stderr notice;"
	args := []string{"-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", globals}
	if out, err := exec.Command(bin, append([]string{"-t", "-q"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t rejects %s: %v\n%s", name, err, out)
	}
	proc := startProcess(t, exec.Command(bin, args...))
	waitHTTP(t, "http://"+addr+"/db_state", 200, proc.out)
	v, _ := exec.Command(bin, "-v").CombinedOutput()
	return addr, strings.TrimPrefix(strings.TrimSpace(string(v)), "nginx version: ")
}

// startHAProxy runs configs/haproxy/backseal.cfg after a global section of
// the test's own (no daemon, logs to stderr).
func startHAProxy(t *testing.T, sidecar, admin string) (string, string) {
	bin := program.Need(t, "haproxy", "haproxy")
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, adminPort, err := net.SplitHostPort(admin)
	if err != nil {
		t.Fatal(err)
	}
	const name = "configs/haproxy/backseal.cfg"
	cfg := render(t, name, readRepoFile(t, name),
		sub{"server node1 10.0.0.11:6187 check port 9187", "server node1 " + sidecar + " check port " + adminPort},
		sub{"bind :6186", "bind " + addr})
	global := filepath.Join(dir, "global.cfg")
	writeFile(t, global, "global\n    maxconn 256\n    log stderr format raw local0 info\n")
	path := filepath.Join(dir, "backseal.cfg")
	writeFile(t, path, cfg)
	if out, err := exec.Command(bin, "-c", "-q", "-f", global, "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c rejects %s: %v\n%s", name, err, out)
	}
	proc := startProcess(t, exec.Command(bin, "-db", "-f", global, "-f", path))
	waitHTTP(t, "http://"+addr+"/db_state", 200, proc.out)
	v, _ := exec.Command(bin, "-v").Output()
	first, _, _ := strings.Cut(string(v), "\n")
	fields := strings.Fields(first) // HAProxy version 2.6.12-1+deb12u4 2026/10/17 - ...
	if len(fields) >= 3 {
		return addr, "HAProxy " + fields[2]
	}
	return addr, strings.TrimSpace(first)
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A client mode is how a client asks backseal for the outcome.
type clientMode struct {
	name    string
	headers []string
}

var clientModes = []clientMode{
	{"framed", []string{"Accept: " + framing.ContentType}},
	{"TE: trailers", []string{"TE: trailers"}},
	{"plain (backup-cli)", nil},
}

// verdict is what a careful client of that mode concludes from a response.
type verdict struct {
	payload  []byte
	ok       bool     // the client believes it holds the complete response
	signals  []string // every failure signal that reached it
	endFrame string   // framed: the end frame's code, "" if none arrived
	trailer  string   // Backseal-Status trailer, "" if none arrived
	declared bool     // the response announced trailers (backseal saw TE: trailers)
	cut      bool     // chunked body without its zero-size chunk
}

func judge(r wireResponse, mode clientMode) verdict {
	v := verdict{payload: r.body, ok: r.status == 200 && r.terminated}
	v.declared = strings.Contains(r.header.Get("Trailer"), proxy.TrailerStatus)
	if !r.terminated {
		v.cut = true
		how := "cut: no zero-size chunk"
		if r.closed {
			how += ", connection closed"
		}
		v.signals = append(v.signals, how)
	}
	if mode.name == "framed" && r.header.Get("Content-Type") == framing.ContentType {
		payload, err := io.ReadAll(framing.NewReader(bytes.NewReader(r.body)))
		v.payload = payload
		var se *framing.StreamError
		switch {
		case err == nil:
			v.endFrame = "ok"
		case errors.As(err, &se):
			v.endFrame = se.Code.String()
			v.ok = false
			v.signals = append(v.signals, "end frame "+se.Code.String())
		default:
			v.ok = false
			v.signals = append(v.signals, "framing: "+err.Error())
		}
	}
	if st := r.trailer.Get(proxy.TrailerStatus); st != "" {
		v.trailer = st
		if st != "ok" {
			v.ok = false
			code, _, _ := strings.Cut(r.trailer.Get(proxy.TrailerError), ":")
			v.signals = append(v.signals, "trailer "+proxy.TrailerStatus+": "+st+" ("+code+")")
		}
	} else if v.declared && r.terminated {
		// Announced, asked for, and not delivered: the client cannot
		// confirm the outcome.
		v.ok = false
		v.signals = append(v.signals, "announced trailers missing")
	}
	return v
}

// matrixRow is one measured line of the operator guide's table.
type matrixRow struct {
	balancer, mode, clean, truncated string
}

// TestBalancers: simulator → backseal → load balancer → client, for each
// balancer (run from its shipped config) and each client mode. A clean
// stream must arrive byte-identical and be seen as complete; a silent
// upstream truncation (the node's producer dropped: 200, clean chunked end,
// records missing) must reach the client as a failure. Run with -v for the
// matrix of which signal survives which balancer.
func TestBalancers(t *testing.T) {
	const path = "/transactions/0/300"
	_, want := sim.NewChain(testChain()).Body(mustParse(t, path))
	var rows []matrixRow
	for _, lb := range balancers {
		t.Run(lb.name, func(t *testing.T) {
			up := startSim(t)
			px := startSidecar(t, up.URL())
			addr, version := lb.start(t, px.Addr(), px.AdminAddr())
			checkRouting(t, addr)
			for _, mode := range clientModes {
				up.ClearFaults()
				clean := judge(wireGet(t, addr, path, mode.headers...), mode)
				hazard := lb.teForwarded && mode.name == "TE: trailers"
				if !bytes.Equal(clean.payload, want) || !clean.ok && !hazard {
					t.Errorf("%s, clean stream: ok=%v, %d payload bytes (want %d), signals %v", mode.name, clean.ok, len(clean.payload), len(want), clean.signals)
				}
				up.SetFaults(sim.Fault{Kind: sim.Drop, After: 10, Count: -1, Endpoint: "transactions"})
				bad := judge(wireGet(t, addr, path, mode.headers...), mode)
				up.ClearFaults()
				if hazard {
					// The hazard, measured: announced trailers that never
					// come are all a client has; one that does not insist
					// on them takes the truncated body for a complete one.
					if !bad.declared || bad.cut || bad.trailer != "" {
						t.Errorf("expected the hazard (announced trailers dropped, body complete), got signals %v", bad.signals)
					}
					rows = append(rows, matrixRow{version, mode.name, "byte-identical, announced trailers missing", "only the absence of announced trailers: a client that does not insist on them sees success"})
					continue
				}
				if bad.ok {
					t.Errorf("SILENT CORRUPTION through %s, %s: the client saw a complete response of %d bytes (clean: %d)", lb.name, mode.name, len(bad.payload), len(want))
				}
				switch {
				case mode.name == "framed" && bad.endFrame != "truncated":
					t.Errorf("framed through %s: end frame %q, want truncated (signals %v)", lb.name, bad.endFrame, bad.signals)
				case mode.name == "TE: trailers" && bad.declared && bad.trailer != "error":
					t.Errorf("TE: trailers through %s: trailers announced but Backseal-Status %q arrived (signals %v)", lb.name, bad.trailer, bad.signals)
				case mode.name == "TE: trailers" && !bad.declared && !bad.cut:
					t.Errorf("TE: trailers through %s: no trailers and no cut (signals %v)", lb.name, bad.signals)
				case mode.name == "plain (backup-cli)" && !bad.cut:
					t.Errorf("plain client through %s: body not cut (signals %v)", lb.name, bad.signals)
				}
				rows = append(rows, matrixRow{version, mode.name, describeClean(clean, mode), describeFailure(bad)})
			}
		})
	}
	if len(rows) > 0 {
		var b strings.Builder
		b.WriteString("\n| balancer | client asks | clean stream | silent upstream truncation reaches the client as |\n|---|---|---|---|\n")
		for _, r := range rows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.balancer, r.mode, r.clean, r.truncated)
		}
		t.Log(b.String())
	}
}

func describeClean(v verdict, mode clientMode) string {
	s := "byte-identical"
	if !v.ok {
		s = "NOT OK"
	}
	switch {
	case mode.name == "framed":
		s += ", end frame " + v.endFrame
	case v.trailer != "":
		s += ", trailer " + proxy.TrailerStatus + ": " + v.trailer
	case mode.name == "TE: trailers":
		s += ", no trailers"
	}
	return s
}

func describeFailure(v verdict) string {
	if v.ok {
		return "NOTHING: silent corruption"
	}
	return strings.Join(v.signals, "; ")
}

// checkRouting: the balancer sends the backup paths, and only those, to
// backseal, which answers them as the node does.
func checkRouting(t *testing.T, addr string) {
	t.Helper()
	chain := sim.NewChain(testChain())
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/db_state", 200},
		{"/state_item_count/3000", 200},
		{"/transactions/1", 400},  // backseal's own validation, passed through
		{"/v1/transactions", 404}, // not a backup path
		{"/", 404},
	} {
		r := wireGet(t, addr, tt.path)
		if r.status != tt.status {
			t.Errorf("GET %s via %s: %d, want %d", tt.path, addr, r.status, tt.status)
			continue
		}
		if tt.status == 200 {
			if _, want := chain.Body(mustParse(t, tt.path)); !bytes.Equal(r.body, want) {
				t.Errorf("GET %s via %s: body differs from the node's", tt.path, addr)
			}
		}
	}
	// Every endpoint reaches backseal: a bad parameter gets backseal's 400,
	// not the balancer's 404.
	for _, e := range upstream.Endpoints() {
		if r := wireGet(t, addr, "/"+e.String()+"/x"); r.status != 400 {
			t.Errorf("GET /%s/x via %s: %d, want backseal's 400", e, addr, r.status)
		}
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
