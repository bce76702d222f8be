package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

// The relays are the floor for any proxy written in Go: TCP bytes copied
// both ways through the Go runtime's netpoller, as backseal's are, with no
// HTTP, no validation and no hashing. "relay" reads and writes through a
// buffer the size of backseal's largest read; "relay-splice" lets
// net.TCPConn.ReadFrom move the bytes with splice(2), never into user
// space: the ceiling of issue 14's zero-copy lever on loopback.
//
// The harness runs itself as the relay, with relayEnv set, so the relay is
// a process of its own whose CPU is read from /proc like a proxy's.
const relayEnv = "E2EBENCH_RELAY"

const relayReadSize = 512 << 10 // backseal's largest copy buffer

// runRelayIfAsked serves as a relay and never returns when relayEnv is set
// ("copy|splice,listen,upstream").
func runRelayIfAsked() {
	spec := os.Getenv(relayEnv)
	if spec == "" {
		return
	}
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		fmt.Fprintf(os.Stderr, "e2ebench relay: %s=%q, want mode,listen,upstream\n", relayEnv, spec)
		os.Exit(2)
	}
	mode, listen, up := parts[0], parts[1], parts[2]
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2ebench relay:", err)
		os.Exit(1)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2ebench relay:", err)
			os.Exit(1)
		}
		go relayConn(c.(*net.TCPConn), up, mode == "splice")
	}
}

// relayConn pairs a client connection with one upstream connection for
// their lifetime: keep-alive requests pass through unchanged.
func relayConn(c *net.TCPConn, up string, splice bool) {
	defer c.Close()
	uc, err := net.DialTimeout("tcp", up, 5*time.Second)
	if err != nil {
		return
	}
	u := uc.(*net.TCPConn)
	defer u.Close()
	go func() {
		relayCopy(u, c, splice, 64<<10)
		u.CloseWrite()
	}()
	relayCopy(c, u, splice, relayReadSize)
}

func relayCopy(dst, src *net.TCPConn, splice bool, size int) {
	if splice {
		dst.ReadFrom(src) // splice(2) between the sockets
		return
	}
	// Hiding ReadFrom and WriteTo keeps io.CopyBuffer to read(2) and write(2).
	io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, make([]byte, size))
}

// startRelay runs the harness itself as a relay in front of upstreamAddr.
func startRelay(dir, name, mode, upstreamAddr string) (*service, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s, err := start(dir, name, addr, "/usr/bin/env", relayEnv+"="+mode+","+addr+","+upstreamAddr, self)
	if err != nil {
		return nil, err
	}
	return s, s.waitReady("/db_state", 10*time.Second)
}
