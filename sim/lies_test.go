package sim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backseal/backseal/upstream"
)

// Lies: what a broken node, a middlebox or an impostor could send. Each is
// checked on the wire with a raw TCP reader and through Go's net/http.

// readAllRaw sends a GET (HTTP/1.1 unless proto says otherwise) on a new
// connection and returns every byte until the server closes it.
func readAllRaw(t *testing.T, addr, path, proto string) ([]byte, error) {
	t.Helper()
	c := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET "+path+" "+proto+"\r\nhost: sim\r\n\r\n")
	return io.ReadAll(c)
}

func TestLieKindsValidate(t *testing.T) {
	t.Parallel()
	ok := []Fault{
		{Kind: HugePrefix, Endpoint: "state_snapshot"}, {Kind: BadChunk, Endpoint: "transactions"},
		{Kind: HTTP10, Endpoint: "epoch_ending_ledger_infos"}, {Kind: CLLong, Endpoint: "db_state"},
		{Kind: CLShort, Endpoint: "state_root_proof"}, {Kind: Garbage, Endpoint: "db_state"},
		{Kind: Garbage, Endpoint: "transactions"}, {Kind: Silent, Endpoint: "state_item_count"},
		{Kind: Silent, Endpoint: "state_snapshot_chunk"}, {Kind: EndlessHeaders, Endpoint: "transactions"},
	}
	for _, f := range ok {
		if err := f.Validate(); err != nil {
			t.Errorf("%+v: %v", f, err)
		}
	}
	bad := []Fault{
		{Kind: HugePrefix, Endpoint: "db_state"}, {Kind: BadChunk, Endpoint: "state_item_count"},
		{Kind: HTTP10, Endpoint: "transaction_range_proof"}, {Kind: CLLong, Endpoint: "transactions"},
		{Kind: CLShort, Endpoint: "state_snapshot"},
	}
	for _, f := range bad {
		if f.Validate() == nil {
			t.Errorf("%+v validated", f)
		}
	}
	// A silent fault without a duration waits for the peer: zero survives
	// defaults and JSON.
	if d := (Fault{Kind: Silent}).withDefaults().Stall; d != 0 {
		t.Errorf("silent default stall %v, want 0", d)
	}
	var f Fault
	if err := json.Unmarshal([]byte(`{"kind":"silent"}`), &f); err != nil || f.Kind != Silent || f.Stall != 0 {
		t.Errorf("silent from JSON: %+v %v", f, err)
	}
}

func TestLieHugePrefix(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	want := cleanBody(t, s, faultPath)
	recs := splitRecords(t, want)
	for _, after := range []uint64{0, 57, 399} {
		s.SetFaults(Fault{Kind: HugePrefix, After: after})
		r := rawGet(t, s.Addr(), faultPath)
		if r.err != nil || !r.terminated {
			t.Fatalf("after %d: hugeprefix ends cleanly: %v", after, r.err)
		}
		var wantBody []byte
		for _, rec := range recs[:after] {
			wantBody = append(wantBody, rec...)
		}
		wantBody = binary.BigEndian.AppendUint32(wantBody, HugePrefixLength)
		wantBody = append(wantBody, recs[after][4:]...)
		if !bytes.Equal(r.body, wantBody) {
			t.Fatalf("after %d: %d bytes, want %d records, the huge prefix and the next payload", after, len(r.body), after)
		}
		sc := upstream.NewRecordScanner(maxRecord)
		if _, err := sc.Write(r.body); !errors.Is(err, upstream.ErrRecordTooLarge) || sc.Records() != after {
			t.Fatalf("after %d: scanner: %v after %d records", after, err, sc.Records())
		}
	}
	// Go's client sees a complete, clean body: only the framing tells.
	s.SetFaults(Fault{Kind: HugePrefix, After: 10})
	_, body, err := httpGet(t, newClient(t), s.URL(), faultPath)
	if err != nil || binary.BigEndian.Uint32(body[len(bytes.Join(recs[:10], nil)):]) != HugePrefixLength {
		t.Fatalf("net/http: %v, %d bytes", err, len(body))
	}
	if got := s.Stats().FaultsFired[HugePrefix]; got != 4 {
		t.Errorf("fired %d times, want 4", got)
	}
}

func TestLieBadChunk(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	want := cleanBody(t, s, faultPath)
	recs := splitRecords(t, want)
	for _, after := range []uint64{0, 41} {
		s.SetFaults(Fault{Kind: BadChunk, After: after})
		c := dial(t, s.Addr())
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		sendGet(t, c, faultPath)
		br := bufio.NewReader(c)
		r, err := readHead(br)
		if err != nil || r.headers["transfer-encoding"] != "chunked" {
			t.Fatalf("head: %v %q", err, r.head)
		}
		err = readBody(br, &r)
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(BadChunkLine)) {
			t.Fatalf("after %d: body ended with %v, want the bad chunk-size line", after, err)
		}
		// Every record before the lie was delivered, then the line, then the close.
		if !bytes.Equal(r.body, bytes.Join(recs[:after], nil)) {
			t.Fatalf("after %d: %d bytes before the bad line, want %d records", after, len(r.body), after)
		}
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Fatalf("after %d: %q %v after the bad line, want a close", after, rest, err)
		}
	}
	s.SetFaults(Fault{Kind: BadChunk, After: 100})
	_, body, err := httpGet(t, newClient(t), s.URL(), faultPath)
	if err == nil || !strings.Contains(err.Error(), "chunk") || !bytes.Equal(body, bytes.Join(recs[:100], nil)) {
		t.Fatalf("net/http: %v, %d bytes", err, len(body))
	}
	// On a close-delimited body there is no chunk to break: a close.
	s.SetFaults(Fault{Kind: BadChunk, After: 100})
	all, err := readAllRaw(t, s.Addr(), faultPath, "HTTP/1.0")
	_, b, _ := bytes.Cut(all, []byte("\r\n\r\n"))
	if err != nil || !bytes.Equal(b, bytes.Join(recs[:100], nil)) {
		t.Fatalf("HTTP/1.0: %v, %d bytes", err, len(b))
	}
}

func TestLieContentLength(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	_, value := s.Chain().Body(mustParse(t, "/db_state"))

	// cllong: a length 4 GiB beyond the 17 bytes sent, then a close.
	s.SetFaults(Fault{Kind: CLLong, Endpoint: "db_state"})
	all, err := readAllRaw(t, s.Addr(), "/db_state", "HTTP/1.1")
	head, body, _ := bytes.Cut(all, []byte("\r\n\r\n"))
	wantCL := "content-length: " + strconv.FormatInt(int64(len(value))+CLLongExtra, 10) + "\r\n"
	if err != nil || !strings.Contains(string(head)+"\r\n", wantCL) || !bytes.Equal(body, value) {
		t.Fatalf("cllong: %v, head %q, body %x", err, head, body)
	}
	s.SetFaults(Fault{Kind: CLLong, Endpoint: "db_state"})
	_, got, err := httpGet(t, newClient(t), s.URL(), "/db_state")
	if !errors.Is(err, io.ErrUnexpectedEOF) || !bytes.Equal(got, value) {
		t.Fatalf("cllong, net/http: %v, %x", err, got)
	}

	// clshort: the right length, the value twice, and the connection kept:
	// the surplus is where the next response should start.
	s.SetFaults(Fault{Kind: CLShort, Endpoint: "db_state"})
	c := dial(t, s.Addr())
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	sendGet(t, c, "/db_state")
	br := bufio.NewReader(c)
	r, err := readResponse(br)
	if err != nil || r.err != nil || r.headers["content-length"] != "17" || !bytes.Equal(r.body, value) {
		t.Fatalf("clshort: %v %v %q %x", err, r.err, r.head, r.body)
	}
	sendGet(t, c, "/db_state")
	surplus := make([]byte, len(value))
	if _, err := io.ReadFull(br, surplus); err != nil || !bytes.Equal(surplus, value) {
		t.Fatalf("clshort: surplus %x %v, want the value again", surplus, err)
	}
	if r, err := readResponse(br); err != nil || r.status != 200 || !bytes.Equal(r.body, value) {
		t.Fatalf("clshort: the next response on the connection: %v %d", err, r.status)
	}
	// Go's client takes the declared 17 bytes and drops the connection.
	s.SetFaults(Fault{Kind: CLShort, Endpoint: "db_state"})
	if _, got, err := httpGet(t, newClient(t), s.URL(), "/db_state"); err != nil || !bytes.Equal(got, value) {
		t.Fatalf("clshort, net/http: %v, %x", err, got)
	}
	if st := s.Stats(); st.FaultsFired[CLLong] != 2 || st.FaultsFired[CLShort] != 2 {
		t.Errorf("fired %v", st.FaultsFired)
	}
}

func TestLieHTTP10(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	want := cleanBody(t, s, faultPath)
	// Cut at 150 on an HTTP/1.1 request: an HTTP/1.0 head, a close-delimited
	// body short on a record boundary, and a close that looks clean.
	s.SetFaults(Fault{Kind: HTTP10, After: 150})
	all, err := readAllRaw(t, s.Addr(), faultPath, "HTTP/1.1")
	head, body, _ := bytes.Cut(all, []byte("\r\n\r\n"))
	matchHead(t, string(head)+"\r\n\r\n", "HTTP/1.0 200 OK\r\ndate: <date>\r\n\r\n")
	if err != nil || len(body) >= len(want) || !isPrefixOnBoundary(t, body, want) || scan(t, body).Records() > 150 {
		t.Fatalf("cut: %v, %d of %d bytes", err, len(body), len(want))
	}
	// After past the end: the whole body, close-delimited.
	s.SetFaults(Fault{Kind: HTTP10, After: 1 << 40})
	all, err = readAllRaw(t, s.Addr(), faultPath, "HTTP/1.1")
	if _, body, _ = bytes.Cut(all, []byte("\r\n\r\n")); err != nil || !bytes.Equal(body, want) {
		t.Fatalf("uncut: %v, %d of %d bytes", err, len(body), len(want))
	}
	// Go's client: no error, a short body (the silent truncation again).
	s.SetFaults(Fault{Kind: HTTP10, After: 200})
	resp, got, err := httpGet(t, newClient(t), s.URL(), faultPath)
	if err != nil || resp.ProtoMinor != 0 || len(got) >= len(want) || !bytes.HasPrefix(want, got) {
		t.Fatalf("net/http: %v, %d of %d bytes", err, len(got), len(want))
	}
	if n := s.Stats().FaultsFired[HTTP10]; n != 3 {
		t.Errorf("fired %d times, want 3", n)
	}
}

func TestLieGarbage(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	for _, path := range []string{"/db_state", faultPath} {
		s.SetFaults(Fault{Kind: Garbage})
		all, err := readAllRaw(t, s.Addr(), path, "HTTP/1.1")
		if err != nil || string(all) != GarbageHead {
			t.Fatalf("%s: %q %v", path, all, err)
		}
		s.SetFaults(Fault{Kind: Garbage})
		if _, _, err := httpGet(t, newClient(t), s.URL(), path); err == nil || !strings.Contains(err.Error(), "malformed HTTP status code") {
			t.Fatalf("%s: net/http: %v", path, err)
		}
		// Count 1: the next response is clean.
		if r := rawGet(t, s.Addr(), path); r.status != 200 {
			t.Fatalf("%s: after the lie: %d", path, r.status)
		}
	}
	// The first fault that decides the whole response wins.
	s.SetFaults(Fault{Kind: Garbage}, Fault{Kind: Status500})
	if all, _ := readAllRaw(t, s.Addr(), "/db_state", "HTTP/1.1"); string(all) != GarbageHead {
		t.Fatalf("got %q, want the garbage", all)
	}
	if fs := s.Faults(); fs[0].Fired != 1 || fs[1].Applied != 1 || fs[1].Fired != 0 {
		t.Fatalf("armed %+v", fs)
	}
}

func TestLieSilent(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	// With a duration: not a byte, then a close.
	s.SetFaults(Fault{Kind: Silent, Stall: 300 * time.Millisecond})
	start := time.Now()
	all, err := readAllRaw(t, s.Addr(), faultPath, "HTTP/1.1")
	if err != nil || len(all) != 0 || time.Since(start) < 250*time.Millisecond {
		t.Fatalf("silent 300ms: %q %v after %v", all, err, time.Since(start))
	}
	// Without: silent until the client gives up (here Go's header timeout).
	s.SetFaults(Fault{Kind: Silent, Count: -1})
	client := &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 200 * time.Millisecond}}
	for _, path := range []string{"/db_state", faultPath} {
		_, err := client.Get(s.URL() + path)
		if err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
			t.Fatalf("%s: net/http: %v", path, err)
		}
	}
	c := dial(t, s.Addr())
	sendGet(t, c, "/db_state")
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent: read %d %v, want a timeout", n, err)
	}
	// Close cuts a silent connection at once.
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung on a silent connection")
	}
}

func TestLieEndlessHeaders(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	// Read everything: a status line and EndlessHeadersCap bytes of header
	// lines, no blank line, then a close.
	s.SetFaults(Fault{Kind: EndlessHeaders})
	c := dial(t, s.Addr())
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	sendGet(t, c, faultPath)
	br := bufio.NewReaderSize(c, 64<<10)
	status, err := br.ReadString('\n')
	if err != nil || status != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("status line %q %v", status, err)
	}
	var n int
	for {
		line, err := br.ReadSlice('\n')
		n += len(line)
		if err == io.EOF && len(line) == 0 {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", n, err)
		}
		if len(line) <= 2 {
			t.Fatalf("a blank line after %d bytes: the headers ended", n)
		}
	}
	if n != EndlessHeadersCap {
		t.Fatalf("%d bytes of header lines, want the cap %d", n, EndlessHeadersCap)
	}
	// Go's client gives up at its header limit and closes; so does the server.
	s.SetFaults(Fault{Kind: EndlessHeaders, Endpoint: "db_state"})
	client := &http.Client{Transport: &http.Transport{MaxResponseHeaderBytes: 64 << 10}}
	if _, err := client.Get(s.URL() + "/db_state"); err == nil || !strings.Contains(err.Error(), "headers exceeded") {
		t.Fatalf("net/http: %v", err)
	}
	// A peer that stops reading holds the writer only until Close.
	s.SetFaults(Fault{Kind: EndlessHeaders})
	stuck := dial(t, s.Addr())
	sendGet(t, stuck, "/db_state")
	time.Sleep(100 * time.Millisecond)
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hung on a blocked endless-headers writer")
	}
}

// bodystall: the head and half the value, a pause, then the rest on a
// connection that stays usable.
func TestLieBodyStall(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	_, value := s.Chain().Body(mustParse(t, "/db_state"))
	s.SetFaults(Fault{Kind: BodyStall, Endpoint: "db_state", Stall: time.Hour})
	c := dial(t, s.Addr())
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	sendGet(t, c, "/db_state")
	br := bufio.NewReader(c)
	r, err := readHead(br)
	if err != nil || r.status != 200 || r.headers["content-length"] != strconv.Itoa(len(value)) {
		t.Fatalf("bodystall head: %v %q", err, r.head)
	}
	half := make([]byte, len(value)/2)
	if _, err := io.ReadFull(br, half); err != nil || !bytes.Equal(half, value[:len(half)]) {
		t.Fatalf("bodystall: first half %x %v", half, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("bodystall sent the rest without pausing: %d %v", n, err)
	}

	// With a short stall, the rest follows and the connection serves again.
	s.SetFaults(Fault{Kind: BodyStall, Endpoint: "db_state", Stall: 50 * time.Millisecond})
	c2 := dial(t, s.Addr())
	_ = c2.SetDeadline(time.Now().Add(10 * time.Second))
	br2 := bufio.NewReader(c2)
	for i := range 2 {
		sendGet(t, c2, "/db_state")
		if r, err := readResponse(br2); err != nil || r.status != 200 || !bytes.Equal(r.body, value) {
			t.Fatalf("response %d after bodystall: %v %d %x", i, err, r.status, r.body)
		}
	}
	if st := s.Stats(); st.FaultsFired[BodyStall] != 2 {
		t.Errorf("fired %v", st.FaultsFired)
	}
}
