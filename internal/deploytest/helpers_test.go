package deploytest

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backseal/backseal/internal/testkit"
	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/sim"
)

// repoRoot is the module root, two levels above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// readRepoFile returns a file of the repository by its slash path.
func readRepoFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sub is one substitution of render: every occurrence of old becomes new.
type sub struct{ old, new string }

// render applies subs to a shipped config. Each old string must occur, so a
// config that drifts from what the test expects fails the test instead of
// being silently tested with its example addresses.
func render(t testing.TB, name, text string, subs ...sub) string {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s.old) {
			t.Fatalf("%s: expected %q in the shipped config (the test substitutes it)", name, s.old)
		}
		text = strings.ReplaceAll(text, s.old, s.new)
	}
	return text
}

// freePort returns a loopback port nobody listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// process is a child the test started.
type process struct {
	cmd  *exec.Cmd
	out  *testkit.SyncBuffer // its stdout and stderr
	done chan struct{}       // closed when it has exited; then cmd.ProcessState is set
}

// startProcess runs cmd until the test ends (then kills it and waits), and
// logs its output if the test failed.
func startProcess(t testing.TB, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{cmd: cmd, out: &testkit.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// A group of its own, so that cleanup ends the workers too (nginx
	// forks them; killing only the master would orphan them).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	pgid := cmd.Process.Pid
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(cmd.Path), p.out.String())
		}
	})
	return p
}

// waitHTTP polls url until it answers want, or fails after 10 s.
func waitHTTP(t testing.TB, url string, want int, out *testkit.SyncBuffer) {
	t.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered %d (last: %s); output:\n%s", url, want, last, out.String())
}

// testChain is small, so that every stream takes milliseconds under -race,
// and streams span many upstream batches.
var testChain = testkit.Chain

func startSim(t testing.TB) *sim.Server { return testkit.StartSim(t, testChain()) }

// startSidecar runs backseal in-process in front of upstreamURL. Resume is
// off, so that an upstream accident reaches the client as a failure.
func startSidecar(t testing.TB, upstreamURL string) *proxy.Server {
	t.Helper()
	cfg := testkit.ProxyConfig(upstreamURL)
	cfg.ResumeAttempts = 0
	cfg.StallTimeout = 2 * time.Second
	var log *slog.Logger
	if testing.Verbose() {
		log = slog.New(slog.NewJSONHandler(testkit.Writer{T: t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return testkit.StartProxy(t, cfg, log)
}

// wireResponse is an HTTP/1.1 response as it crossed the wire to the client.
type wireResponse struct {
	status     int
	header     http.Header
	body       []byte      // the decoded body (de-chunked)
	chunked    bool        // Transfer-Encoding: chunked
	terminated bool        // the zero-size chunk arrived (or the whole Content-Length)
	trailer    http.Header // fields after the zero-size chunk
	closed     bool        // a cut body ended with the connection closed (not hanging)
	tail       error       // the read error that ended a cut body
}

// wireGet sends one GET over a fresh TCP connection and decodes the response
// by hand, so that the test sees exactly what the client received: whether
// the zero-size chunk came, which trailers came, and how the connection ended.
func wireGet(t testing.TB, addr, path string, headers ...string) (r wireResponse) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: backup.example\r\nUser-Agent: deploytest\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("GET %s via %s: reading the status line: %v", path, addr, err)
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		t.Fatalf("bad status line %q", line)
	}
	if r.status, err = strconv.Atoi(fields[1]); err != nil {
		t.Fatalf("bad status line %q", line)
	}
	if r.header, err = readHeaderBlock(br); err != nil {
		t.Fatalf("reading the header: %v", err)
	}
	defer func() {
		// A cut body ends in a read error: EOF or a reset means the server
		// closed the connection, a timeout that it left it hanging.
		r.closed = r.tail != nil && !isTimeout(r.tail)
	}()
	if !strings.EqualFold(r.header.Get("Transfer-Encoding"), "chunked") {
		if cl := r.header.Get("Content-Length"); cl != "" {
			n, _ := strconv.Atoi(cl)
			r.body = make([]byte, n)
			var got int
			got, r.tail = io.ReadFull(br, r.body)
			r.body = r.body[:got]
			r.terminated = r.tail == nil
			return r
		}
		r.body, r.tail = io.ReadAll(br) // close-delimited
		return r
	}
	r.chunked = true
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			r.tail = err
			return r
		}
		sizeText, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		size, err := strconv.ParseUint(sizeText, 16, 64)
		if err != nil {
			t.Fatalf("bad chunk size line %q", line)
		}
		if size == 0 {
			r.terminated = true
			if r.trailer, err = readHeaderBlock(br); err != nil {
				r.tail = err
			}
			return r
		}
		chunk := make([]byte, size+2)
		n, err := io.ReadFull(br, chunk)
		if err != nil {
			r.body = append(r.body, chunk[:min(n, int(size))]...)
			r.tail = err
			return r
		}
		r.body = append(r.body, chunk[:size]...)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func readHeaderBlock(br *bufio.Reader) (http.Header, error) {
	h := http.Header{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return h, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return h, nil
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return h, fmt.Errorf("bad header line %q", line)
		}
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
}
