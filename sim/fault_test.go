package sim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

const faultPath = "/transactions/100/400" // ~700 KB, ~70 batches of 10 KiB

func cleanBody(t *testing.T, s *Server, path string) []byte {
	t.Helper()
	_, b := s.Chain().Body(mustParse(t, path))
	return b
}

func TestFaultDrop(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	want := cleanBody(t, s, faultPath)
	for _, after := range []uint64{0, 1, 57, 400} {
		s.SetFaults(Fault{Kind: Drop, After: after})
		r := rawGet(t, s.Addr(), faultPath)
		if r.err != nil || !r.terminated {
			t.Fatalf("after %d: drop must end cleanly: %v", after, r.err)
		}
		n := scan(t, r.body).Records()
		if !isPrefixOnBoundary(t, r.body, want) || n > after || len(r.body) == len(want) {
			t.Fatalf("after %d: got %d records, %d of %d bytes", after, n, len(r.body), len(want))
		}
		// What is lost is at most the unflushed partial batch.
		lostBytes := 0
		for _, rec := range splitRecords(t, want)[n:after] {
			lostBytes += len(rec)
		}
		if lostBytes >= s.cfg.BatchSize {
			t.Fatalf("after %d: lost %d bytes, more than a batch", after, lostBytes)
		}
		if after == 0 && len(r.body) != 0 {
			t.Fatal("drop after 0 sent bytes")
		}
	}
	// Go's client sees success and a short body: the silent truncation.
	s.SetFaults(Fault{Kind: Drop, After: 200})
	resp, body, err := httpGet(t, newClient(t), s.URL(), faultPath)
	if err != nil || resp.StatusCode != 200 || len(body) >= len(want) || !bytes.HasPrefix(want, body) {
		t.Fatalf("net/http: err %v, %d of %d bytes", err, len(body), len(want))
	}
	if got := s.Stats().FaultsFired[Drop]; got != 5 {
		t.Errorf("drop fired %d times, want 5", got)
	}
}

func TestFaultAbort(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	want := cleanBody(t, s, faultPath)
	s.SetFaults(Fault{Kind: Abort, After: 150})
	r := rawGet(t, s.Addr(), faultPath)
	if r.terminated || r.err != io.EOF || !isPrefixOnBoundary(t, r.body, want) || scan(t, r.body).Records() > 150 {
		t.Fatalf("abort: terminated %v err %v, %d bytes", r.terminated, r.err, len(r.body))
	}
	s.SetFaults(Fault{Kind: Abort, After: 150})
	_, body, err := httpGet(t, newClient(t), s.URL(), faultPath)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.HasPrefix(want, body) {
		t.Fatalf("net/http: %v", err)
	}
}

// Errors before the first record: 200, then a cut with no record.
func TestFaultAbortBeforeFirstRecord(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.PrunedBelow = 600
	s := startServer(t, cfg)
	for _, path := range []string{"/transactions/10/5", "/transactions/18446744073709551615/2", "/state_snapshot/500", "/state_snapshot_chunk/777/0/5"} {
		r := rawGet(t, s.Addr(), path)
		if r.status != 200 || r.terminated || r.err != io.EOF || len(r.chunks) != 0 {
			t.Fatalf("%s: status %d terminated %v err %v chunks %d", path, r.status, r.terminated, r.err, len(r.chunks))
		}
	}
}

func TestFaultReset(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	s.SetFaults(Fault{Kind: Reset, After: 100})
	c := dial(t, s.Addr())
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	sendGet(t, c, faultPath)
	_, err := io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("raw read: %v, want ECONNRESET", err)
	}
	s.SetFaults(Fault{Kind: Reset, After: 100})
	_, _, err = httpGet(t, newClient(t), s.URL(), faultPath)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("net/http: %v, want ECONNRESET", err)
	}
}

func TestFaultPrefixCut(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	want := cleanBody(t, s, faultPath)
	recs := splitRecords(t, want)
	for _, after := range []uint64{0, 33, 399} {
		s.SetFaults(Fault{Kind: PrefixCut, After: after})
		r := rawGet(t, s.Addr(), faultPath)
		if r.err != nil || !r.terminated {
			t.Fatalf("prefixcut ends cleanly: %v", r.err)
		}
		var upTo []byte
		for _, rec := range recs[:after] {
			upTo = append(upTo, rec...)
		}
		wantBody := append(upTo, recs[after][:4]...)
		if !bytes.Equal(r.body, wantBody) {
			t.Fatalf("after %d: body of %d bytes, want %d records and a prefix", after, len(r.body), after)
		}
		last := r.chunks[len(r.chunks)-1]
		if !bytes.HasSuffix(last, recs[after][:4]) {
			t.Fatal("the last batch does not end with the prefix")
		}
		sc := scan(t, r.body)
		if sc.AtBoundary() || sc.Records() != after {
			t.Fatalf("scanner: %d records, boundary %v", sc.Records(), sc.AtBoundary())
		}
	}
}

func TestFaultStall(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	want := cleanBody(t, s, faultPath)
	const stall = 400 * time.Millisecond
	s.SetFaults(Fault{Kind: Stall, After: 120, Stall: stall})
	c := dial(t, s.Addr())
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	sendGet(t, c, faultPath)
	br := bufio.NewReader(c)
	if _, err := readHead(br); err != nil {
		t.Fatal(err)
	}
	// Read until 120 records have arrived; then nothing may come for a while.
	sc := newChunkReader(br)
	for sc.records() < 120 {
		if err := sc.next(); err != nil {
			t.Fatal(err)
		}
	}
	if sc.records() != 120 {
		t.Fatalf("stall after %d records, want 120", sc.records())
	}
	start := time.Now()
	if err := sc.next(); err != nil {
		t.Fatal(err)
	}
	if gap := time.Since(start); gap < stall/2 {
		t.Errorf("the next chunk came after %v, want a pause of about %v", gap, stall)
	}
	for !sc.done {
		if err := sc.next(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(sc.body, want) {
		t.Fatal("a stalled stream must continue normally")
	}

	// Through Go's client: complete, and no faster than the stall.
	s.SetFaults(Fault{Kind: Stall, After: 10, Stall: stall})
	start = time.Now()
	_, body, err := httpGet(t, newClient(t), s.URL(), faultPath)
	if err != nil || !bytes.Equal(body, want) || time.Since(start) < stall/2 {
		t.Fatalf("net/http: %v, %d bytes, %v", err, len(body), time.Since(start))
	}
}

// On HTTP/1.0 the body is close-delimited: an abort looks like a clean end.
func TestFaultAbortHTTP10(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	want := cleanBody(t, s, faultPath)
	s.SetFaults(Fault{Kind: Abort, After: 100})
	c := dial(t, s.Addr())
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET "+faultPath+" HTTP/1.0\r\n\r\n")
	all, err := io.ReadAll(c)
	_, body, _ := bytes.Cut(all, []byte("\r\n\r\n"))
	if err != nil || len(body) >= len(want) || !isPrefixOnBoundary(t, body, want) {
		t.Fatalf("HTTP/1.0 abort: %v, %d of %d bytes", err, len(body), len(want))
	}
}

// chunkReader reads a chunked body one chunk at a time.
type chunkReader struct {
	br   *bufio.Reader
	body []byte
	done bool
}

func newChunkReader(br *bufio.Reader) *chunkReader { return &chunkReader{br: br} }

func (c *chunkReader) next() error {
	line, err := c.br.ReadString('\n')
	if err != nil {
		return err
	}
	var n uint64
	for _, ch := range line[:len(line)-2] {
		n = n*16 + uint64(hexVal(byte(ch)))
	}
	if n == 0 {
		c.br.ReadString('\n')
		c.done = true
		return nil
	}
	chunk := make([]byte, n+2)
	if _, err := io.ReadFull(c.br, chunk); err != nil {
		return err
	}
	c.body = append(c.body, chunk[:n]...)
	return nil
}

func hexVal(b byte) byte {
	switch {
	case b >= 'a':
		return b - 'a' + 10
	case b >= 'A':
		return b - 'A' + 10
	}
	return b - '0'
}

// records counts the complete records read so far.
func (c *chunkReader) records() uint64 {
	var n uint64
	for b := c.body; len(b) >= 4; n++ {
		size := int(binary.BigEndian.Uint32(b)) + 4
		if len(b) < size {
			break
		}
		b = b[size:]
	}
	return n
}

func TestFaultSlow(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	const path = "/transactions/0/60" // ~100 KB
	want := cleanBody(t, s, path)
	rate := int64(len(want)) * 2 // about half a second
	s.SetFaults(Fault{Kind: Slow, Rate: rate})
	start := time.Now()
	r := rawGet(t, s.Addr(), path)
	if !bytes.Equal(r.body, want) || !r.terminated {
		t.Fatal("a slow stream must be complete")
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("took %v at %d B/s for %d bytes", took, rate, len(want))
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
}

func TestFaultExcess(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	want := cleanBody(t, s, faultPath)
	s.SetFaults(Fault{Kind: Excess})
	r := rawGet(t, s.Addr(), faultPath)
	extra := cleanBody(t, s, "/transactions/500/1")
	if !r.terminated || !bytes.Equal(r.body, append(append([]byte{}, want...), extra...)) {
		t.Fatal("excess: want the clean body and the next record, then a clean end")
	}
}

func TestFaultStatus500(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	s.SetFaults(Fault{Kind: Status500, Endpoint: "state_item_count"})
	for i, want := range []int{200, 500, 200} {
		path := "/state_item_count/1000"
		if i == 0 {
			path = "/db_state" // another endpoint: not faulted
		}
		r := rawGet(t, s.Addr(), path)
		if r.status != want || (want == 500 && len(r.body) != 0) {
			t.Fatalf("request %d: status %d, want %d", i, r.status, want)
		}
	}
}

// Count semantics: Count 1 faults one response, -1 all, and Endpoint filters.
func TestFaultCount(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	want := cleanBody(t, s, faultPath)
	clean := func() bool {
		r := rawGet(t, s.Addr(), faultPath)
		return r.terminated && bytes.Equal(r.body, want)
	}
	s.SetFaults(Fault{Kind: Abort, After: 10, Count: 1})
	if clean() || !clean() {
		t.Fatal("count 1: want one faulted response, then clean")
	}
	s.SetFaults(Fault{Kind: Drop, After: 10, Count: 2})
	first, second, third := clean(), clean(), clean()
	if first || second || !third {
		t.Fatal("count 2: want two faulted responses, then clean")
	}
	s.SetFaults(Fault{Kind: Drop, After: 10, Count: -1})
	for range 4 {
		if clean() {
			t.Fatal("count -1: want every response faulted")
		}
	}
	s.SetFaults(Fault{Kind: Abort, Endpoint: "epoch_ending_ledger_infos", Count: -1})
	if !clean() {
		t.Fatal("a fault for another endpoint applied")
	}
	s.ClearFaults()
	if !clean() {
		t.Fatal("cleared faults still apply")
	}
	// Two faults at once: the terminal one with the lowest After wins.
	s.SetFaults(Fault{Kind: Abort, After: 300}, Fault{Kind: Drop, After: 50})
	r := rawGet(t, s.Addr(), faultPath)
	if !r.terminated || scan(t, r.body).Records() > 50 {
		t.Fatal("the drop at 50 should have won over the abort at 300")
	}
	if fs := s.Faults(); len(fs) != 2 || fs[0].Remaining != 0 || fs[1].Fired != 1 || fs[0].Fired != 0 {
		t.Fatalf("armed faults %+v", fs)
	}
}

func TestFaultRestart(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	want := cleanBody(t, s, faultPath)
	const away = 600 * time.Millisecond
	s.SetFaults(Fault{Kind: Restart, After: 50, Restart: away})
	idle := dial(t, s.Addr()) // another connection, idle: cut too

	r := rawGet(t, s.Addr(), faultPath)
	if r.terminated || r.err == nil || scan(t, r.body).Records() != 50 || !bytes.HasPrefix(want, r.body) {
		t.Fatalf("restart: terminated %v err %v records %d", r.terminated, r.err, scan(t, r.body).Records())
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Fatal("an idle connection survived the restart")
	}
	if c, err := net.Dial("tcp", s.Addr()); err == nil {
		c.Close()
		t.Fatal("the listener is still there right after the restart")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial during restart: %v, want ECONNREFUSED", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", s.Addr())
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the listener did not come back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r = rawGet(t, s.Addr(), faultPath)
	if !r.terminated || !bytes.Equal(r.body, want) {
		t.Fatal("after the restart the stream must be clean")
	}
	if st := s.Stats(); st.Restarts != 1 || st.FaultsFired[Restart] != 1 {
		t.Errorf("stats %+v", st)
	}
}

// The stall must notice a client that gives up, so its producer slot frees.
func TestFaultStallClientGone(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	s.SetFaults(Fault{Kind: Stall, Stall: time.Hour})
	c := dial(t, s.Addr())
	sendGet(t, c, faultPath)
	br := bufio.NewReader(c)
	if _, err := readHead(br); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, func(st Stats) bool { return st.StreamsActive == 1 })
	c.Close()
	waitFor(t, s, func(st Stats) bool { return st.StreamsActive == 0 && st.ProducersRunning == 0 })
}

// waitFor polls the server's stats until cond holds; it fails after 10 s.
func waitFor(t *testing.T, s *Server, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting; stats %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
