package cli

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/backseal/backseal/client"
	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/internal/testkit"
	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/sim"
)

// fetchStack is a simulator and a sidecar on loopback, for the fetch and
// verify command tests.
type fetchStack struct {
	sim   *sim.Server
	proxy *proxy.Server
}

func startFetchStack(t *testing.T, tune ...func(*proxy.Config)) fetchStack {
	t.Helper()
	up := testkit.StartSim(t, testkit.Chain())
	pc := testkit.ProxyConfig(up.URL())
	pc.AdminListen = ""
	for _, f := range tune {
		f(&pc)
	}
	return fetchStack{sim: up, proxy: testkit.StartProxy(t, pc, nil)}
}

func (s fetchStack) url(path string) string { return "http://" + s.proxy.Addr() + path }

// get GETs url, with the framed media type if framed: the reference bytes
// (from the simulator) and saved framed streams (from the sidecar).
func get(t *testing.T, url string, framed bool) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if framed {
		req.Header.Set("Accept", framing.ContentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runCmd runs backseal with args in-process.
func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// dirNames lists dir, to check that no FILE and no temporary file is left.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func wantDir(t *testing.T, dir string, names ...string) {
	t.Helper()
	if got := dirNames(t, dir); strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("directory holds %q, want %q", got, names)
	}
}

func TestFetchCommand(t *testing.T) {
	st := startFetchStack(t)
	path := "/transactions/0/300"
	want := get(t, st.sim.URL()+path, false)

	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "txns.bin")
		code, stdout, stderr := runCmd("fetch", st.url(path), "-o", out)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
			t.Fatalf("FILE has %d bytes, not identical to the %d of a direct fetch", len(got), len(want))
		}
		wantDir(t, dir, "txns.bin")
		if stdout != "" || !strings.Contains(stderr, "ok: 300 records, "+fmt.Sprint(len(want))+" bytes, xxh64 ") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("stdout %q, stderr %q: want one summary line", stdout, stderr)
		}
	})
	t.Run("stdout", func(t *testing.T) {
		code, stdout, stderr := runCmd("fetch", st.url(path))
		if code != 0 || stdout != string(want) {
			t.Fatalf("exit %d, %d bytes on stdout (want %d)\n%s", code, len(stdout), len(want), stderr)
		}
	})
	t.Run("json", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "txns.bin")
		code, stdout, stderr := runCmd("fetch", "--json", st.url(path), "--output", out, "--stall-timeout", "10s")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		var r struct {
			OK       bool    `json:"ok"`
			ExitCode int     `json:"exit_code"`
			Output   string  `json:"output"`
			Path     string  `json:"path"`
			Status   string  `json:"status"`
			Records  uint64  `json:"records"`
			Bytes    int     `json:"bytes"`
			Digest   string  `json:"xxh64"`
			Seconds  float64 `json:"seconds"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("--json output %q: %v", stdout, err)
		}
		if !r.OK || r.ExitCode != 0 || r.Output != out || r.Path != path || r.Status != "ok" || r.Records != 300 ||
			r.Bytes != len(want) || r.Digest != fmt.Sprintf("%016x", xxhash.Sum64(want)) || r.Seconds <= 0 {
			t.Errorf("--json: %+v", r)
		}
	})
}

// TestFetchToDevNull: /dev/null is a character device but no terminal, so
// "backseal fetch URL > /dev/null" verifies the stream and exits 0.
func TestFetchToDevNull(t *testing.T) {
	st := startFetchStack(t)
	path := "/transactions/0/300"
	want := get(t, st.sim.URL()+path, false)
	devNull := openDevNull(t)
	var stderr bytes.Buffer
	code := run([]string{"fetch", st.url(path)}, devNull, &stderr)
	summary := fmt.Sprintf("ok: 300 records, %d bytes, xxh64 %016x", len(want), xxhash.Sum64(want))
	if code != 0 || !strings.Contains(stderr.String(), summary) {
		t.Fatalf("exit %d, stderr %q: want 0 and %q", code, stderr.String(), summary)
	}
}

func openDevNull(t *testing.T) *os.File {
	t.Helper()
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFetchCommandFailures(t *testing.T) {
	st := startFetchStack(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String() + "/db_state"
	ln.Close()
	stall := stallServer(t)

	tests := []struct {
		name       string
		args       []string
		fault      *sim.Fault
		wantExit   int
		wantStderr string
	}{
		{"no such endpoint", []string{st.url("/nope")}, nil, client.ExitUsage, "HTTP 404"},
		{"upstream 500", []string{st.url("/state_root_proof/9999")}, nil, client.ExitStream, "upstream-status: upstream answered 500"},
		{"not the sidecar", []string{st.sim.URL() + "/db_state"}, nil, client.ExitTransport, "not a framed stream"},
		{"connection refused", []string{refused}, nil, client.ExitTransport, "connection refused"},
		{"stall", []string{stall + "/transactions/0/3", "--stall-timeout", "200ms"}, nil, client.ExitTransport, "stalled"},
		{"unhealed truncation", []string{st.url("/transactions/0/300")}, &sim.Fault{Kind: sim.Drop, After: 20, Count: -1}, client.ExitStream, "stream failed: truncated: "},
		{"unhealed abort", []string{st.url("/state_snapshot/1000")}, &sim.Fault{Kind: sim.Abort, After: 20, Count: -1}, client.ExitStream, "stream failed: upstream-aborted: "},
	}
	for _, tt := range tests {
		for _, keep := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/keep-partial=%v", tt.name, keep), func(t *testing.T) {
				if tt.fault != nil {
					st.sim.SetFaults(*tt.fault)
					defer st.sim.ClearFaults()
				}
				dir := t.TempDir()
				out := filepath.Join(dir, "out.bin")
				args := append([]string{"fetch", "-o", out, "--json"}, tt.args...)
				if keep {
					args = append(args, "--keep-partial")
				}
				code, stdout, stderr := runCmd(args...)
				if code != tt.wantExit || !strings.Contains(stderr, tt.wantStderr) {
					t.Fatalf("exit %d, want %d; stderr lacks %q?\n%s", code, tt.wantExit, tt.wantStderr, stderr)
				}
				if keep {
					wantDir(t, dir, "out.bin.partial")
				} else {
					wantDir(t, dir)
				}
				var r struct {
					OK       bool   `json:"ok"`
					ExitCode int    `json:"exit_code"`
					Error    string `json:"error"`
					Output   string `json:"output"`
				}
				if err := json.Unmarshal([]byte(stdout), &r); err != nil || r.OK || r.ExitCode != code || r.Error == "" || r.Output != "" {
					t.Errorf("--json %q: %+v (%v)", stdout, r, err)
				}
			})
		}
	}
	t.Run("partial holds the verified prefix", func(t *testing.T) {
		path := "/transactions/0/300"
		want := get(t, st.sim.URL()+path, false)
		st.sim.SetFaults(sim.Fault{Kind: sim.Drop, After: 60, Count: -1})
		defer st.sim.ClearFaults()
		dir := t.TempDir()
		out := filepath.Join(dir, "out.bin")
		code, _, stderr := runCmd("fetch", "--keep-partial", st.url(path), "-o", out)
		got, _ := os.ReadFile(out + ".partial")
		if code != client.ExitStream || len(got) == 0 || !bytes.HasPrefix(want, got) {
			t.Fatalf("exit %d, partial of %d bytes (a prefix of the clean body: %v)\n%s", code, len(got), bytes.HasPrefix(want, got), stderr)
		}
	})
	t.Run("existing FILE is left alone", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "out.bin")
		os.WriteFile(out, []byte("yesterday's backup"), 0o644)
		if code, _, _ := runCmd("fetch", st.url("/nope"), "-o", out); code != client.ExitUsage {
			t.Fatalf("exit %d", code)
		}
		if b, _ := os.ReadFile(out); string(b) != "yesterday's backup" {
			t.Errorf("FILE holds %q", b)
		}
	})
}

// stallServer answers with the start of a framed stream, then nothing.
func stallServer(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	fw, _ := framing.NewWriter(&buf, framing.Header{Meta: []framing.Meta{{Key: "path", Value: "/transactions/0/3"}}})
	fw.Write([]byte{0, 0, 0, 1, 'x'})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", framing.ContentType, buf.Len(), buf.Bytes())
				io.Copy(io.Discard, c) // until the client gives up
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestFetchUsage(t *testing.T) {
	dir := t.TempDir()
	url := "http://127.0.0.1:1/db_state"
	for _, tt := range []struct {
		name     string
		args     []string
		wantExit int
		want     string
	}{
		{"help", []string{"fetch", "-h"}, 0, "exit status:\n  0 "},
		{"verify help", []string{"verify", "--help"}, 0, "5    integrity"},
		{"no URL", []string{"fetch"}, 2, "want exactly one URL"},
		{"two URLs", []string{"fetch", url, url}, 2, "want exactly one URL"},
		{"unknown flag", []string{"fetch", "--bogus", url}, 2, "flag provided but not defined"},
		{"json to stdout", []string{"fetch", "--json", url}, 2, "--json prints on stdout"},
		{"keep-partial to stdout", []string{"fetch", "--keep-partial", url}, 2, "--keep-partial needs -o FILE"},
		{"directory", []string{"fetch", url, "-o", dir}, 2, "is a directory"},
		{"not a URL", []string{"fetch", "localhost:6187/db_state", "-o", filepath.Join(dir, "x")}, 2, "invalid URL"},
		{"bad timeout", []string{"fetch", "--stall-timeout", "0s", url, "-o", filepath.Join(dir, "x")}, 2, "must be positive"},
		{"verify two inputs", []string{"verify", "a", "b"}, 2, "at most one FRAMED_FILE"},
		{"verify missing input", []string{"verify", filepath.Join(dir, "missing.bsf")}, 1, "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(tt.args...)
			if code != tt.wantExit || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d (want %d), stderr lacks %q:\n%s", code, tt.wantExit, tt.want, stderr)
			}
		})
	}
	wantDir(t, dir)
}

// TestFetchInterrupt sends the process SIGINT while fetch writes a file:
// exit 130 and nothing left behind.
func TestFetchInterrupt(t *testing.T) {
	st := startFetchStack(t)
	st.sim.SetFaults(sim.Fault{Kind: sim.Slow, After: 10, Count: 1, Rate: 50 << 10})
	dir := t.TempDir()
	out := filepath.Join(dir, "out.bin")
	type result struct {
		code   int
		stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, _, stderr := runCmd("fetch", st.url("/transactions/0/1000"), "-o", out)
		done <- result{code, stderr}
	}()
	// The temporary file exists once the signal handler is in place.
	deadline := time.Now().Add(10 * time.Second)
	for len(dirNames(t, dir)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no temporary file")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != client.ExitInterrupted || !strings.Contains(r.stderr, "interrupted") {
		t.Fatalf("exit %d, want %d\n%s", r.code, client.ExitInterrupted, r.stderr)
	}
	wantDir(t, dir)
}

func TestVerifyCommand(t *testing.T) {
	st := startFetchStack(t)
	path := "/epoch_ending_ledger_infos/0/40"
	want := get(t, st.sim.URL()+path, false)
	framed := get(t, st.url(path), true)
	dir := t.TempDir()
	in := filepath.Join(dir, "epochs.bsf")
	os.WriteFile(in, framed, 0o644)

	t.Run("file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "epochs.bin")
		code, _, stderr := runCmd("verify", in, "-o", out)
		if got, _ := os.ReadFile(out); code != 0 || !bytes.Equal(got, want) {
			t.Fatalf("exit %d, payload of %d bytes (want %d identical)\n%s", code, len(got), len(want), stderr)
		}
		if !strings.Contains(stderr, "ok: 40 records") {
			t.Errorf("stderr %q", stderr)
		}
	})
	t.Run("check only, json", func(t *testing.T) {
		code, stdout, stderr := runCmd("verify", "--json", in)
		var r map[string]any
		if err := json.Unmarshal([]byte(stdout), &r); code != 0 || err != nil || r["ok"] != true || r["records"] != 40.0 || r["input"] != in {
			t.Fatalf("exit %d, json %q (%v)\n%s", code, stdout, err, stderr)
		}
	})
	t.Run("stdin to stdout", func(t *testing.T) {
		verifyStdin = bytes.NewReader(framed)
		defer func() { verifyStdin = os.Stdin }()
		code, stdout, stderr := runCmd("verify", "-o", "-", "-")
		if code != 0 || stdout != string(want) {
			t.Fatalf("exit %d, %d bytes on stdout\n%s", code, len(stdout), stderr)
		}
	})
	t.Run("stdin to /dev/null", func(t *testing.T) {
		verifyStdin = bytes.NewReader(framed)
		defer func() { verifyStdin = os.Stdin }()
		var stderr bytes.Buffer
		if code := run([]string{"verify", "-o", "-", "-"}, openDevNull(t), &stderr); code != 0 || !strings.Contains(stderr.String(), "ok: 40 records") {
			t.Fatalf("exit %d, want 0 and a summary\n%s", code, stderr.String())
		}
	})
	t.Run("stdin from /dev/null", func(t *testing.T) {
		verifyStdin = openDevNull(t)
		defer func() { verifyStdin = os.Stdin }()
		code, _, stderr := runCmd("verify", "-")
		if code != client.ExitIntegrity || strings.Contains(stderr, "terminal") {
			t.Fatalf("exit %d, want %d: an empty input is a damaged stream, not a terminal\n%s", code, client.ExitIntegrity, stderr)
		}
	})
	t.Run("end frame failure", func(t *testing.T) {
		st.sim.SetFaults(sim.Fault{Kind: sim.Drop, After: 5, Count: -1})
		failed := get(t, st.url(path), true)
		st.sim.ClearFaults()
		f := filepath.Join(t.TempDir(), "failed.bsf")
		os.WriteFile(f, failed, 0o644)
		out := filepath.Join(filepath.Dir(f), "out.bin")
		code, _, stderr := runCmd("verify", "-o", out, f)
		if code != client.ExitStream || !strings.Contains(stderr, "truncated") || fileExists(out) {
			t.Fatalf("exit %d, FILE exists %v\n%s", code, fileExists(out), stderr)
		}
	})
}

// frameSpans returns the [start, end) byte ranges of each frame of a framed
// stream, after the magic.
func frameSpans(t *testing.T, b []byte) [][2]int {
	t.Helper()
	var spans [][2]int
	for off := len(framing.Magic); off < len(b); {
		if off+16 > len(b) {
			t.Fatalf("stream ends inside a frame header at %d", off)
		}
		end := off + 16 + int(binary.BigEndian.Uint32(b[off+4:off+8])) + 8
		spans = append(spans, [2]int{off, end})
		off = end
	}
	return spans
}

// TestVerifyDamage damages a framed stream saved from the sidecar in every
// way the format must catch; verify must fail each with the integrity exit
// status and leave no FILE, and the intact stream must give the payload a
// direct fetch from the simulator gives.
func TestVerifyDamage(t *testing.T) {
	// Reads of at most 16 KiB, so the stream spans many frames.
	st := startFetchStack(t, func(c *proxy.Config) { c.BufferBudget = 1 })
	path := "/transactions/0/500"
	want := get(t, st.sim.URL()+path, false)
	a := get(t, st.url(path), true)
	b := get(t, st.url(path), true) // the same payload, another stream id
	fa := frameSpans(t, a)
	fb := frameSpans(t, b)
	if len(fa) < 6 {
		t.Fatalf("only %d frames: pick a longer path", len(fa))
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.bsf")
	out := filepath.Join(dir, "out.bin")

	verify := func(t *testing.T, data []byte) (int, string) {
		t.Helper()
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCmd("verify", "-o", out, in)
		return code, stderr
	}
	code, stderr := verify(t, a)
	if got, _ := os.ReadFile(out); code != 0 || !bytes.Equal(got, want) {
		t.Fatalf("intact: exit %d, payload of %d bytes (want %d identical)\n%s", code, len(got), len(want), stderr)
	}
	os.Remove(out)

	rng := rand.New(rand.NewPCG(1, 2))
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	span := func(s [2]int) []byte { return a[s[0]:s[1]] }
	randSpan := func() (int, int) {
		i := rng.IntN(len(a))
		return i, min(len(a), i+1+rng.IntN(4096))
	}

	cases := map[string][]func() []byte{}
	add := func(kind string, f func() []byte) { cases[kind] = append(cases[kind], f) }
	flip := func(off int) func() []byte {
		bit := byte(1) << rng.IntN(8)
		return func() []byte { d := bytes.Clone(a); d[off] ^= bit; return d }
	}
	// Bit flips: every byte of the magic, the header frame and the first
	// data frame's header; every byte of the end frame; random offsets.
	for off := range fa[1][0] + 16 {
		add("bit flip", flip(off))
	}
	for off := fa[len(fa)-1][0]; off < len(a); off++ {
		add("bit flip", flip(off))
	}
	for range 100 {
		add("bit flip", flip(rng.IntN(len(a))))
	}
	// Truncation: at every frame boundary, inside the magic, at random.
	for _, n := range []int{0, 1, 7, 8, len(a) - 1} {
		add("truncation", func() []byte { return a[:n] })
	}
	for _, s := range fa {
		add("truncation", func() []byte { return a[:s[0]] })
		add("truncation", func() []byte { return a[:s[0]+1+rng.IntN(s[1]-s[0]-1)] })
	}
	for range 40 {
		n := rng.IntN(len(a))
		add("truncation", func() []byte { return a[:n] })
	}
	// Deleted, duplicated and swapped frames and spans.
	for i := 1; i < len(fa); i++ {
		s := fa[i]
		add("deleted span", func() []byte { return cat(a[:s[0]], a[s[1]:]) })
		add("duplicated span", func() []byte { return cat(a[:s[1]], span(s), a[s[1]:]) })
		if i+1 < len(fa) {
			n := fa[i+1]
			add("swapped spans", func() []byte { return cat(a[:s[0]], span(n), span(s), a[n[1]:]) })
		}
	}
	for range 30 {
		i, j := randSpan()
		add("deleted span", func() []byte { return cat(a[:i], a[j:]) })
		i2, j2 := randSpan()
		add("duplicated span", func() []byte { return cat(a[:j2], a[i2:j2], a[j2:]) })
		i3, j3 := randSpan()
		k3 := min(len(a), j3+1+rng.IntN(4096))
		add("swapped spans", func() []byte { return cat(a[:i3], a[j3:k3], a[i3:j3], a[k3:]) })
	}
	// Two streams concatenated, and frames spliced from another stream.
	add("concatenated", func() []byte { return cat(a, a) })
	add("concatenated", func() []byte { return cat(a, b) })
	add("concatenated", func() []byte { return cat(a, b[:len(framing.Magic)]) })
	add("concatenated", func() []byte { return cat(a, []byte("\n")) })
	for i := 1; i < min(len(fa), len(fb)); i++ {
		s, o := fa[i], fb[i]
		add("spliced frame", func() []byte { return cat(a[:s[0]], b[o[0]:o[1]], a[s[1]:]) })
	}

	for kind, fs := range cases {
		t.Run(kind, func(t *testing.T) {
			failures := 0
			for i, f := range fs {
				d := f()
				if bytes.Equal(d, a) {
					continue // a swap of equal spans
				}
				code, stderr := verify(t, d)
				if code != client.ExitIntegrity || fileExists(out) || len(dirNames(t, dir)) != 1 {
					t.Errorf("case %d (%d bytes): exit %d (want %d), left %q\n%s", i, len(d), code, client.ExitIntegrity, dirNames(t, dir), stderr)
					os.Remove(out)
					if failures++; failures > 5 {
						t.FailNow()
					}
				}
			}
			t.Logf("%d cases", len(fs))
		})
	}
}

func TestProgressLine(t *testing.T) {
	var buf bytes.Buffer
	p := &progressLine{w: &buf}
	p.update(client.Progress{Bytes: 3 << 20, Records: 50, ExpectedRecords: 200, Elapsed: 2 * time.Second})
	p.update(client.Progress{Bytes: 4 << 20, Records: 60, ExpectedRecords: 200, Elapsed: 2 * time.Second}) // too soon: not drawn
	p.clear()
	if got, want := buf.String(), "\r\x1b[K3.0 MiB  50/200 records (25%)  1.5 MiB/s  2s\r\x1b[K"; got != want {
		t.Errorf("progress %q, want %q", got, want)
	}
	buf.Reset()
	p = &progressLine{w: &buf}
	p.update(client.Progress{Bytes: 17, ExpectedRecords: -1, Elapsed: time.Second})
	if got, want := buf.String(), "\r\x1b[K17 B  0 records  17 B/s  1s"; got != want {
		t.Errorf("progress %q, want %q", got, want)
	}
	(*progressLine)(nil).clear() // no terminal: nothing to clear
}
