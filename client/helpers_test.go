package client_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/internal/testkit"
	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/sim"
)

// testChain is small enough that every test runs in well under a second.
var testChain = testkit.Chain

// stack is a simulator and a sidecar in front of it, on loopback.
type stack struct {
	sim   *sim.Server
	proxy *proxy.Server
	chain *sim.Chain
}

// url is the sidecar's URL for path.
func (s stack) url(path string) string { return "http://" + s.proxy.Addr() + path }

// startStack starts a simulator and a sidecar; stop shuts both down.
func startStack() (s stack, stop func(), err error) {
	cfg := testChain()
	up, err := sim.NewServer(cfg)
	if err != nil {
		return s, nil, err
	}
	if err := up.Start("127.0.0.1:0"); err != nil {
		return s, nil, err
	}
	pc := testkit.ProxyConfig(up.URL())
	pc.AdminListen = ""
	px, err := proxy.NewServer(pc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		err = px.Start()
	}
	if err != nil {
		up.Close()
		return s, nil, err
	}
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		px.Shutdown(ctx)
		up.Close()
	}
	return stack{sim: up, proxy: px, chain: sim.NewChain(cfg)}, stop, nil
}

func newStack(t *testing.T) stack {
	t.Helper()
	s, stop, err := startStack()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return s
}

// direct GETs path from the simulator itself: the reference bytes.
func (s stack) direct(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get(s.sim.URL() + path)
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

// rawServer answers every connection with handle, after reading the request.
// It stands in for a sidecar that misbehaves on the wire.
func rawServer(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
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
				handle(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// framedHead is the head of a 200 framed answer with a chunked body.
const framedHead = "HTTP/1.1 200 OK\r\nContent-Type: " + framing.ContentType + "\r\nTransfer-Encoding: chunked\r\n"

// chunk encodes b as one HTTP/1.1 chunk.
func chunk(b []byte) []byte {
	var buf bytes.Buffer
	buf.WriteString(strconv.FormatInt(int64(len(b)), 16) + "\r\n")
	buf.Write(b)
	buf.WriteString("\r\n")
	return buf.Bytes()
}

// records encodes payloads as legacy size-prefixed records.
func records(payloads ...string) []byte {
	var b []byte
	for _, p := range payloads {
		n := len(p)
		b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		b = append(b, p...)
	}
	return b
}

// frame builds a framed stream for path whose payload is data, in frames
// of at most split bytes, ending with records and outcome.
func frame(t *testing.T, path string, data []byte, split int, endRecords uint64, outcome error) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, err := framing.NewWriter(&buf, framing.Header{Meta: []framing.Meta{{Key: "path", Value: path}}})
	if err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(split, len(data))
		if _, err := fw.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
	if err := fw.End(endRecords, outcome); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
