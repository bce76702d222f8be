package sim

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// A client that does not read stops the producer: the queue and the socket
// buffers fill, then nothing more is generated.
func TestBackPressure(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.CommittedVersion = 30_000 // /transactions/0/30000 is about 52 MB
	s := startServer(t, cfg)
	c := dial(t, s.Addr())
	_ = c.(*net.TCPConn).SetReadBuffer(16 << 10)
	sendGet(t, c, "/transactions/0/30000")

	// Wait until production stops growing.
	var produced uint64
	for stable, deadline := 0, time.Now().Add(10*time.Second); stable < 30; {
		st := s.Stats()
		if st.BytesProduced == produced && produced > 0 {
			stable++
		} else {
			stable, produced = 0, st.BytesProduced
		}
		if time.Now().After(deadline) {
			t.Fatalf("production never settled: %d bytes and counting", st.BytesProduced)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The queue (100 batches) plus kernel socket buffers: far below the 52 MB stream.
	const bound = 24 << 20
	st := s.Stats()
	t.Logf("client not reading: %d bytes produced, %d written to the socket", st.BytesProduced, st.BytesSent)
	if produced > bound || st.StreamsActive != 1 || st.ProducersRunning != 1 {
		t.Fatalf("produced %d bytes (bound %d), stats %+v", produced, bound, st)
	}

	// Once the client reads, the stream completes. The receive buffer grows
	// first: a window smaller than loopback's 64 KiB MSS leaves the sender
	// waiting on persist timers, a crawl that has nothing to do with the sim.
	_ = c.(*net.TCPConn).SetReadBuffer(4 << 20)
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute)) // 52 MB under -race on a loaded machine
	r, err := readResponse(bufio.NewReaderSize(c, 1<<20))
	if err != nil || r.err != nil || !r.terminated {
		t.Fatal(err, r.err)
	}
	if n := scan(t, r.body).Records(); n != 30_000 {
		t.Fatalf("%d records after back-pressure, want 30000", n)
	}
}

// At most MaxProducers (64) streams produce at once: the 65th gets its 200
// and headers at once, then no byte until a producer slot frees.
func TestProducerLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.BatchSize = 1 << 10 // keeps 64 full queues small
	s := startServer(t, cfg)
	// 64 streams whose writers stall before their first byte: each producer
	// fills its queue, blocks, and holds its slot.
	s.SetFaults(Fault{Kind: Stall, Stall: time.Hour, Count: DefaultMaxProducers})
	held := make([]net.Conn, DefaultMaxProducers)
	for i := range held {
		held[i] = dial(t, s.Addr())
		_ = held[i].SetDeadline(time.Now().Add(20 * time.Second))
		sendGet(t, held[i], faultPath)
		if _, err := readHead(bufio.NewReader(held[i])); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, s, func(st Stats) bool { return st.ProducersRunning == DefaultMaxProducers })

	const path = "/transactions/0/30"
	c := dial(t, s.Addr())
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	sendGet(t, c, path)
	br := bufio.NewReader(c)
	r, err := readHead(br)
	if err != nil || r.status != 200 {
		t.Fatalf("the 65th stream must get its head at once: %v", err)
	}
	waitFor(t, s, func(st Stats) bool { return st.ProducersWaiting == 1 })
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the 65th stream sent body bytes without a producer: %d %v", n, err)
	}

	held[0].Close() // its stalled writer notices, its producer ends
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if err := readBody(br, &r); err != nil || !r.terminated {
		t.Fatal(err)
	}
	if _, want := s.Chain().Body(mustParse(t, path)); !bytes.Equal(r.body, want) {
		t.Fatal("body differs")
	}
}

// Close cuts everything, including streams waiting for a producer slot.
func TestCloseCutsEverything(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxProducers = 1
	cfg.BatchSize = 1 << 10 // more batches than the queue holds: producers block
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s.SetFaults(Fault{Kind: Stall, Stall: time.Hour, Count: -1})
	var conns []net.Conn
	for range 3 {
		c := dial(t, s.Addr())
		sendGet(t, c, faultPath)
		conns = append(conns, c)
	}
	waitFor(t, s, func(st Stats) bool { return st.ProducersWaiting == 2 && st.ProducersRunning == 1 })
	done := make(chan error)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := bufio.NewReader(c).ReadString(0); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("connection not cut: %v", err)
		}
	}
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Fatal("still listening after Close")
	}
	if err := s.Start("127.0.0.1:0"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}
