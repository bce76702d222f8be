package cli

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backseal/backseal/internal/testkit"
	"github.com/backseal/backseal/sim"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveInProcess runs `backseal serve` as main would and waits until its
// admin listener answers, so its signal handlers are in place.
func serveInProcess(t *testing.T, args ...string) (done chan int, logs *testkit.SyncBuffer, listen string) {
	t.Helper()
	listen, admin := freeAddr(t), freeAddr(t)
	logs = &testkit.SyncBuffer{}
	done = make(chan int, 1)
	go func() {
		done <- run(append([]string{"serve", "--listen", listen, "--admin-listen", admin}, args...), &bytes.Buffer{}, logs)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if resp, err := http.Get("http://" + admin + "/healthz"); err == nil {
			resp.Body.Close()
			return done, logs, listen
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeDrainsOnSIGTERM(t *testing.T) {
	done, logs, _ := serveInProcess(t, "--upstream", "http://127.0.0.1:1")
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(logs.String(), "drained") {
			t.Fatalf("exit %d after SIGTERM; logs:\n%s", code, logs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
}

// TestServeSecondSignalExitsNow: a stream keeps the drain waiting; a second
// signal ends the process at once, with a non-zero status.
func TestServeSecondSignalExitsNow(t *testing.T) {
	node, err := sim.NewServer(sim.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	node.SetFaults(sim.Fault{Kind: sim.Stall, After: 3, Count: 1, Stall: 20 * time.Second})
	done, logs, listen := serveInProcess(t, "--upstream", node.URL(), "--drain-timeout", "30s", "--stall-timeout", "60s")
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /transactions/0/100 HTTP/1.1\r\nHost: x\r\n\r\n"))
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	// The drain has begun, with the stream to wait for; then a second
	// signal must not wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"draining","active_streams":1`) {
		select {
		case code := <-done:
			t.Fatalf("serve exited (%d) while a stream was draining; logs:\n%s", code, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no drain with one active stream logged after SIGTERM; logs:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code == 0 {
			t.Fatalf("exit 0 after a second signal; want non-zero")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not exit at once on a second signal")
	}
}

func TestServeRejectsBadConfig(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"serve", "--stall-timeout", "0s"}, &out, &out); code != 2 || !strings.Contains(out.String(), "stall_timeout") {
		t.Fatalf("exit %d, output %q; want 2 and the key named", code, out.String())
	}
}
