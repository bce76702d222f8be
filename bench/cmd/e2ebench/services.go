package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/backseal/backseal/internal/procstat"
)

// service is one process the harness started: the simulator, a backseal,
// nginx or HAProxy. Each listens on a loopback port of its own.
type service struct {
	name string
	cmd  *exec.Cmd
	addr string // the public listener, host:port
	log  string
	done chan struct{}
	err  error // set when the process exits
}

var (
	servicesMu sync.Mutex
	services   []*service
)

// freePort returns a loopback address with a port that was free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start runs argv with stdout and stderr in dir/name.log. The process gets
// SIGKILL if the harness dies.
func start(dir, name, addr string, argv ...string) (*service, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &service{name: name, cmd: cmd, addr: addr, log: logPath, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		f.Close()
		close(s.done)
	}()
	servicesMu.Lock()
	services = append(services, s)
	servicesMu.Unlock()
	return s, nil
}

// pid is the process the harness started (nginx's master).
func (s *service) pid() int { return s.cmd.Process.Pid }

// tree is the process and its descendants (nginx's workers).
func (s *service) tree() []int { return procstat.Tree(s.pid()) }

func (s *service) url() string { return "http://" + s.addr }

// waitReady polls GET path until it answers 200, the process exits or the
// timeout passes.
func (s *service) waitReady(path string, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited (%v); log %s:\n%s", s.name, s.err, s.log, tail(s.log, 20))
		default:
		}
		resp, err := c.Get(s.url() + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %v: %v; log %s:\n%s", s.name, timeout, last, s.log, tail(s.log, 20))
}

// stop sends SIGTERM (nginx: SIGQUIT, a graceful stop), then SIGKILL after
// 5 s.
func (s *service) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	sig := syscall.SIGTERM
	if strings.HasPrefix(s.name, "nginx") {
		sig = syscall.SIGQUIT
	}
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// stopAll stops every service still running, last started first.
func stopAll() {
	servicesMu.Lock()
	list := append([]*service(nil), services...)
	servicesMu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		list[i].stop()
	}
}

func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// simConfig is how the harness runs `backseal sim`.
type simConfig struct {
	committed    uint64
	batch        int
	maxProducers int
	genuine      bool // real Aptos structures (content verification)
}

func startSim(dir, name, bin string, c simConfig) (*service, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := []string{bin, "sim", "--listen", addr, "--control-listen", "",
		"--committed-version", strconv.FormatUint(c.committed, 10),
		"--batch-size", strconv.Itoa(c.batch), "--max-producers", strconv.Itoa(c.maxProducers)}
	if c.genuine {
		// Only C has a snapshot, of a few thousand items: the state
		// commitments cost build time the transaction runs do not need.
		argv = append(argv, "--genuine", "--snapshot-interval", "0", "--state-items-per-1000", "10")
	}
	s, err := start(dir, name, addr, argv...)
	if err != nil {
		return nil, err
	}
	return s, s.waitReady("/db_state", 2*time.Minute) // a genuine chain builds first
}

func startBackseal(dir, name, bin, upstream string, extra ...string) (*service, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := append([]string{bin, "serve", "--listen", addr, "--upstream", upstream, "--admin-listen", admin}, extra...)
	s, err := start(dir, name, addr, argv...)
	if err != nil {
		return nil, err
	}
	return s, s.waitReady("/db_state", 10*time.Second)
}

// nginxConf: a keep-alive upstream, HTTP/1.1 to it, no response buffering
// and 64k buffers (the tuned row of the table).
const nginxConf = `worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/nginx-client;
    proxy_temp_path %[1]s/nginx-proxy;
    fastcgi_temp_path %[1]s/nginx-fastcgi;
    uwsgi_temp_path %[1]s/nginx-uwsgi;
    scgi_temp_path %[1]s/nginx-scgi;
    upstream sim {
        server %[3]s;
        keepalive 64;
    }
    server {
        listen %[2]s;
        location / {
            proxy_pass http://sim;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_buffer_size 64k;
            # unused with buffering off, but nginx refuses 64k above without it
            proxy_buffers 4 64k;
            proxy_read_timeout 120s;
        }
    }
}
`

func startNginx(dir, bin, upstreamAddr string) (*service, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, addr, upstreamAddr), 0o644); err != nil {
		return nil, err
	}
	s, err := start(dir, "nginx", addr, bin, "-p", dir, "-e", filepath.Join(dir, "nginx-error.log"), "-c", conf, "-g", "daemon off;")
	if err != nil {
		return nil, err
	}
	return s, s.waitReady("/db_state", 10*time.Second)
}

// haproxyConf: HTTP mode with keep-alive on both sides (HAProxy's default),
// threads = CPUs (its default), and tune.bufsize when set.
const haproxyConf = `global
    maxconn 4096
%[1]s
defaults
    mode http
    timeout connect 5s
    timeout client 120s
    timeout server 120s
frontend fe
    bind %[2]s
    default_backend sim
backend sim
    server sim %[3]s
`

func startHAProxy(dir, bin, upstreamAddr string, bufsize int) (*service, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	tune := ""
	if bufsize > 0 {
		tune = fmt.Sprintf("    tune.bufsize %d", bufsize)
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, haproxyConf, tune, addr, upstreamAddr), 0o644); err != nil {
		return nil, err
	}
	s, err := start(dir, "haproxy", addr, bin, "-f", cfg, "-db")
	if err != nil {
		return nil, err
	}
	return s, s.waitReady("/db_state", 10*time.Second)
}

// findOrInstall returns the paths of nginx and haproxy ("" for one that is
// missing), installing them with apt-get when allowed; notes say what
// happened, for the report.
func findOrInstall(install bool) (nginx, haproxy string, notes []string) {
	look := func(name string) string {
		for _, p := range []string{name, "/usr/sbin/" + name, "/usr/local/sbin/" + name} {
			if path, err := exec.LookPath(p); err == nil {
				return path
			}
		}
		return ""
	}
	nginx, haproxy = look("nginx"), look("haproxy")
	if nginx != "" && haproxy != "" {
		return nginx, haproxy, nil
	}
	var missing []string
	if nginx == "" {
		missing = append(missing, "nginx")
	}
	if haproxy == "" {
		missing = append(missing, "haproxy")
	}
	switch {
	case !install:
		notes = append(notes, fmt.Sprintf("%s not installed and -install=false: rows skipped", strings.Join(missing, ", ")))
	case os.Geteuid() != 0:
		notes = append(notes, fmt.Sprintf("%s not installed and not root (apt-get needs root): rows skipped", strings.Join(missing, ", ")))
	default:
		fmt.Fprintf(os.Stderr, "e2ebench: installing %s with apt-get\n", strings.Join(missing, ", "))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		run := func(args ...string) error {
			cmd := exec.CommandContext(ctx, "apt-get", args...)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("apt-get %s: %w: %s", strings.Join(args, " "), err, tail2(out))
			}
			return nil
		}
		err := run(append([]string{"install", "-y", "--no-install-recommends"}, missing...)...)
		if err != nil {
			err = errors.Join(run("update"), run(append([]string{"install", "-y", "--no-install-recommends"}, missing...)...))
		}
		if err != nil {
			notes = append(notes, fmt.Sprintf("installing %s failed: rows skipped (%v)", strings.Join(missing, ", "), err))
		}
		nginx, haproxy = look("nginx"), look("haproxy")
		// Debian starts the packaged services; the harness runs its own.
		for _, unit := range []string{"nginx", "haproxy"} {
			_ = exec.Command("service", unit, "stop").Run()
		}
	}
	return nginx, haproxy, notes
}

func tail2(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = "…" + s[len(s)-300:]
	}
	return s
}

// versionOf runs bin with args and returns the first line of its output.
func versionOf(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil && len(out) == 0 {
		return "?"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// serveFlag reports whether `backseal serve` has the flag name, and its
// default as the help text prints it ("" if none).
func serveFlag(bin, name string) (ok bool, def string) {
	out, _ := exec.Command(bin, "serve", "-h").CombinedOutput()
	return parseFlagHelp(out, name)
}

// parseFlagHelp finds flag name in Go flag package help output.
func parseFlagHelp(out []byte, name string) (ok bool, def string) {
	m := regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(name) + `(?:[ \t].*)?\n\s+.*?(?:default "?([^")]*)"?\))?$`).FindSubmatch(out)
	if m == nil {
		return false, ""
	}
	return true, string(m[1])
}
