package proxy_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/sim"
	"github.com/backseal/backseal/upstream"
)

// ending is what a client of each mode learns of a stream's end, message
// included.
type ending struct {
	status     int
	body       []byte
	code, msg  string
	records    string // Backseal-Records, with TE: trailers
	cut        bool   // the body ended without its terminating chunk
	transport  error
	framedDone bool
	// What a content-verified stream vouches for (verify_content): end
	// frame metadata, or trailers.
	root, proof string
}

func fetch(t *testing.T, url string, mode clientMode) ending {
	t.Helper()
	resp, err := do(t, url, mode)
	if err != nil {
		return ending{transport: err}
	}
	defer resp.Body.Close()
	o := ending{status: resp.StatusCode}
	if mode == modeFramed {
		if ct := resp.Header.Get("Content-Type"); ct != framing.ContentType {
			t.Fatalf("framed request answered %q", ct)
		}
		fr := framing.NewReader(resp.Body)
		o.body, err = io.ReadAll(fr)
		var se *framing.StreamError
		if errors.As(err, &se) {
			o.code, o.msg = se.Code.String(), se.Message
		} else if err != nil {
			t.Fatalf("framed stream failed verification: %v", err)
		}
		var s framing.Summary
		s, o.framedDone = fr.Summary()
		for _, m := range s.Meta {
			switch m.Key {
			case "content-root":
				o.root = m.Value
			case "content-proof":
				o.proof = m.Value
			}
		}
		return o
	}
	o.body, err = io.ReadAll(resp.Body)
	o.cut = errors.Is(err, io.ErrUnexpectedEOF)
	if err != nil && !o.cut {
		o.transport = err
	}
	if v := resp.Trailer.Get("Backseal-Error"); v != "" {
		o.code, o.msg, _ = strings.Cut(v, ": ")
	}
	o.records = resp.Trailer.Get("Backseal-Records")
	o.root, o.proof = resp.Trailer.Get("Backseal-Verified-Root"), resp.Trailer.Get("Backseal-Verified-Proof")
	return o
}

// TestCountsReadAgainWhenShort: a range that straddles the committed
// version C at the open, whose producer dies past that C but before the
// range's end, while C moves past the end. With the C of the open the
// short stream would pass as complete (the node may end short past C);
// read again, C says every record is certified: truncated, and resumed
// with the fresh C. An abort there is resumed the same way: Continuation
// refuses a start past the old C, so it too needs the C of now.
func TestCountsReadAgainWhenShort(t *testing.T) {
	cfg := testChain()
	cfg.BatchSize = 1                    // every record flushed: the drop loses none that were appended
	const path = "/transactions/2990/14" // versions 2990..3003: C = 3000, 3 pre-committed
	for _, kind := range []sim.FaultKind{sim.Drop, sim.Abort} {
		for _, mode := range allModes {
			t.Run(string(kind)+"/"+string(mode), func(t *testing.T) {
				up := startSim(t, cfg)
				pc := testConfig(up.URL())
				pc.StallTimeout = 10 * time.Second
				px := startProxy(t, pc)
				up.SetFaults(
					sim.Fault{Kind: sim.Stall, After: 3, Count: 1, Stall: 300 * time.Millisecond, Endpoint: "transactions"},
					sim.Fault{Kind: kind, After: 12, Count: 1, Endpoint: "transactions"}, // up to 3001, past the old C
				)
				done := make(chan ending, 1)
				go func() { done <- fetch(t, "http://"+px.Addr()+path, mode) }()
				waitFor(t, 20*time.Second, "the count lookup at the open", func() bool { return up.Stats().Requests["db_state"] >= 1 })
				if _, err := up.Advance(10, 0); err != nil { // C = 3010: the whole range is committed
					t.Fatal(err)
				}
				o := <-done
				_, want := up.Chain().Body(mustParse(t, path))
				if o.code != "" || o.cut || o.transport != nil {
					t.Fatalf("not healed: code %q %q, cut %v, %v", o.code, o.msg, o.cut, o.transport)
				}
				if !bytes.Equal(o.body, want) {
					t.Fatalf("SILENT TRUNCATION: %d bytes, the complete range has %d", len(o.body), len(want))
				}
				if got := up.Stats().Requests["transactions"]; got != 2 {
					t.Errorf("%d transactions requests, want 2 (the stream and its resume)", got)
				}
			})
		}
	}
}

// TestSlowCountLookupAtOpen: /db_state is not answered for longer than
// count_timeout when the stream opens, then is; a long, complete stream
// must not end count-unavailable for it.
func TestSlowCountLookupAtOpen(t *testing.T) {
	cfg := testChain()
	up := startSim(t, cfg)
	pc := testConfig(up.URL())
	pc.CountTimeout = 200 * time.Millisecond
	pc.StallTimeout = 5 * time.Second
	px := startProxy(t, pc)
	const path = "/transactions/0/800"
	_, want := up.Chain().Body(mustParse(t, path))
	up.SetFaults(
		// The lookup's connection is held, unanswered, then closed: the
		// client asks again and is answered.
		sim.Fault{Kind: sim.Silent, Count: 1, Stall: 600 * time.Millisecond, Endpoint: "db_state"},
		sim.Fault{Kind: sim.Slow, After: 0, Count: 1, Rate: int64(len(want)) * 2, Endpoint: "transactions"}, // about 0.5 s
	)
	o := fetch(t, "http://"+px.Addr()+path, modeFramed)
	if o.code != "" {
		t.Fatalf("complete stream reported %s: %s", o.code, o.msg)
	}
	if !bytes.Equal(o.body, want) {
		t.Fatalf("%d bytes, want %d", len(o.body), len(want))
	}
	if got := up.Stats().FaultsFired[sim.Silent]; got != 1 {
		t.Fatalf("silent fault fired %d times, want 1", got)
	}
}

// TestHealBoundedByResumeWindow: the node stops answering mid-stream
// (connections accepted, no response head). The heal must end within
// resume_window, and ask the node no more than that window allows, however
// many retries and resumes the budget has left.
func TestHealBoundedByResumeWindow(t *testing.T) {
	cfg := testChain()
	up := startSim(t, cfg)
	pc := testConfig(up.URL())
	pc.ResumeWindow = 500 * time.Millisecond
	pc.ResumeAttempts = 50
	pc.UpstreamRetries = 3
	pc.UpstreamHeaderTimeout = 2 * time.Second // one unbounded open: 4 x 2 s
	px := startProxy(t, pc)
	// The stream stalls; the silent node must spare its first request, so
	// it is armed once the stream runs (the stall is noticed 300 ms later).
	up.SetFaults(sim.Fault{Kind: sim.Stall, After: 50, Count: 1, Stall: 5 * time.Second, Endpoint: "transactions"})
	done := make(chan ending, 1)
	go func() { done <- fetch(t, "http://"+px.Addr()+"/transactions/0/800", modeFramed) }()
	waitFor(t, 20*time.Second, "the stream", func() bool { return up.Stats().Streams >= 1 })
	up.AddFaults(sim.Fault{Kind: sim.Silent, Count: -1, Endpoint: "transactions"})
	o := <-done
	if o.code != framing.CodeUpstreamStalled.String() || !strings.Contains(o.msg, "resume_window") {
		t.Fatalf("got %s %q, want upstream-stalled, given up at resume_window", o.code, o.msg)
	}
	if got := up.Stats().Requests["transactions"]; got > 2 {
		t.Fatalf("the node was asked %d times; within a 500 ms window with 2 s header waits, once more than the stream", got)
	}
}

// TestPrunedStart: the node answers 200, then aborts before the first
// record (a pruned range). Each kind of client sees a failure, the
// passthrough body is cut, and the refusal is recognised after one resume,
// not retried to the end of the budget.
func TestPrunedStart(t *testing.T) {
	cfg := testChain()
	cfg.PrunedBelow = 1500
	for _, path := range []string{"/transactions/100/50", "/state_snapshot/1000", "/state_snapshot_chunk/1000/0/10"} {
		for _, mode := range allModes {
			t.Run(path+"/"+string(mode), func(t *testing.T) {
				up := startSim(t, cfg)
				pc := testConfig(up.URL())
				pc.ResumeAttempts = 5
				px := startProxy(t, pc)
				o := fetch(t, "http://"+px.Addr()+path, mode)
				if o.status != http.StatusOK || len(o.body) != 0 {
					t.Fatalf("status %d with %d bytes, want 200 and nothing", o.status, len(o.body))
				}
				switch mode {
				case modePlain:
					if !o.cut {
						t.Fatal("plain client: body not cut")
					}
				case modeTrailers:
					if !o.cut && o.code != framing.CodeUpstreamAborted.String() {
						t.Fatalf("trailers client: no cut and code %q", o.code)
					}
				case modeFramed:
					if o.code != framing.CodeUpstreamAborted.String() {
						t.Fatalf("framed: code %q (%s), want upstream-aborted", o.code, o.msg)
					}
				}
				req := mustParse(t, path)
				if req.Endpoint == upstream.Transactions {
					if mode == modeFramed && !strings.Contains(o.msg, "pruned") {
						t.Errorf("message %q does not say pruned", o.msg)
					}
					if got := up.Stats().Requests["transactions"]; got != 2 {
						t.Errorf("asked the node %d times, want 2: the refusal repeated once is recognised", got)
					}
				}
			})
		}
	}
}

// TestRecordTooLargeAcrossReads: an oversized length prefix that straddles
// two upstream reads. None of its bytes may reach the client: the payload
// ends with the last record the end frame and trailers count.
func TestRecordTooLargeAcrossReads(t *testing.T) {
	rec := func(b []byte, n int) []byte {
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		return append(b, bytes.Repeat([]byte{0xab}, n)...)
	}
	records := rec(rec(nil, 100), 50)
	huge := binary.BigEndian.AppendUint32(nil, 0xfffffff0)
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/db_state":
			b := append([]byte{1}, binary.LittleEndian.AppendUint64(nil, 5)...)
			w.Header().Set("Content-Length", "17")
			w.Write(binary.LittleEndian.AppendUint64(b, 1000))
		default:
			w.Write(append(records, huge[:2]...))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond) // the sidecar's read returns the first part alone
			w.Write(append(huge[2:], 1, 2, 3))
		}
	}))
	defer node.Close()
	pc := testConfig(node.URL)
	pc.MaxRecordSize = 1 << 20
	px := startProxy(t, pc)
	for _, mode := range []clientMode{modeFramed, modeTrailers} {
		t.Run(string(mode), func(t *testing.T) {
			o := fetch(t, "http://"+px.Addr()+"/transactions/0/10", mode)
			if o.code != framing.CodeRecordTooLarge.String() {
				t.Fatalf("code %q (%s), want record-too-large", o.code, o.msg)
			}
			if !bytes.Equal(o.body, records) {
				t.Fatalf("payload is %d bytes, want the %d of the 2 whole records (%x at the end)", len(o.body), len(records), o.body[max(0, len(o.body)-4):])
			}
			if mode == modeTrailers && o.records != "2" {
				t.Fatalf("Backseal-Records %q, want 2", o.records)
			}
		})
	}
}

// TestHTTP10ValueWithoutLength: the node answers a small value without a
// Content-Length (chunked). An HTTP/1.0 client would get it
// close-delimited, where a cut looks like the end: refused instead.
func TestHTTP10ValueWithoutLength(t *testing.T) {
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte{7}, 32))
		w.(http.Flusher).Flush() // no Content-Length: chunked
	}))
	defer node.Close()
	px := startProxy(t, testConfig(node.URL))
	c, err := net.Dial("tcp", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /state_root_proof/5 HTTP/1.0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusHTTPVersionNotSupported {
		t.Fatalf("HTTP/1.0: %d with %d bytes (length %s), want 505", resp.StatusCode, len(body), strconv.FormatInt(resp.ContentLength, 10))
	}
	// Over HTTP/1.1 the value goes out chunked, as the node sent it.
	r11, err := http.Get("http://" + px.Addr() + "/state_root_proof/5")
	if err != nil {
		t.Fatal(err)
	}
	b11, err := io.ReadAll(r11.Body)
	r11.Body.Close()
	if err != nil || r11.StatusCode != http.StatusOK || len(b11) != 32 {
		t.Fatalf("HTTP/1.1: %d, %d bytes, %v", r11.StatusCode, len(b11), err)
	}
}
