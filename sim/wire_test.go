package sim

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backseal/backseal/upstream"
)

// dateRE matches hyper's date header value: IMF-fixdate.
const dateRE = `[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT`

func matchHead(t *testing.T, got, pattern string) {
	t.Helper()
	re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), regexp.QuoteMeta("<date>"), dateRE) + "$")
	if !re.MatchString(got) {
		t.Errorf("head\n%q\ndoes not match\n%q", got, pattern)
	}
}

func TestWireSmallHead(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	r := rawGet(t, s.Addr(), "/db_state?ignored=1")
	matchHead(t, r.head, "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 17\r\ndate: <date>\r\n\r\n")
	if _, want := s.Chain().Body(mustParse(t, "/db_state")); !bytes.Equal(r.body, want) || r.err != nil {
		t.Errorf("body %x (%v), want %x", r.body, r.err, want)
	}
	r = rawGet(t, s.Addr(), "/state_item_count/1000")
	matchHead(t, r.head, "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: 8\r\ndate: <date>\r\n\r\n")
}

func TestWireErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	cfg := testConfig()
	cfg.EmptyMethodNotAllowed = true
	empty405 := startServer(t, cfg)
	key := strings.Repeat("ab", 32)
	cases := []struct {
		name, addr, request, head, body string
	}{
		{"unknown endpoint", s.Addr(), "GET /nope/1 HTTP/1.1", "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\ndate: <date>\r\n\r\n", ""},
		{"root", s.Addr(), "GET / HTTP/1.1", "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\ndate: <date>\r\n\r\n", ""},
		{"bad number", s.Addr(), "GET /transactions/1/x HTTP/1.1", "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: <date>\r\n\r\n", ""},
		{"extra segment", s.Addr(), "GET /db_state/1 HTTP/1.1", "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: <date>\r\n\r\n", ""},
		{"two trailing slashes", s.Addr(), "GET /db_state// HTTP/1.1", "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: <date>\r\n\r\n", ""},
		{"two trailing slashes after args", s.Addr(), "GET /transactions/0/3// HTTP/1.1", "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: <date>\r\n\r\n", ""},
		{"empty first segment", s.Addr(), "GET //db_state HTTP/1.1", "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\ndate: <date>\r\n\r\n", ""},
		{"overflow", s.Addr(), "GET /state_snapshot/18446744073709551616 HTTP/1.1", "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: <date>\r\n\r\n", ""},
		{"short key", s.Addr(), "GET /state_range_proof/0/abc HTTP/1.1", "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: <date>\r\n\r\n", ""},
		{"handler error", s.Addr(), "GET /state_item_count/7 HTTP/1.1", "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\ndate: <date>\r\n\r\n", ""},
		{"range proof error", s.Addr(), "GET /state_range_proof/7/" + key + " HTTP/1.1", "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\ndate: <date>\r\n\r\n", ""},
		{"last < first", s.Addr(), "GET /transaction_range_proof/9/8 HTTP/1.1", "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\ndate: <date>\r\n\r\n", ""},
		{"post (warp body)", s.Addr(), "POST /db_state HTTP/1.1\r\ncontent-length: 3", "HTTP/1.1 405 Method Not Allowed\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 23\r\ndate: <date>\r\n\r\n", "HTTP method not allowed"},
		{"post unknown path", s.Addr(), "POST /nope HTTP/1.1\r\ncontent-length: 3", "HTTP/1.1 405 Method Not Allowed\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 23\r\ndate: <date>\r\n\r\n", "HTTP method not allowed"},
		{"post (empty 405)", empty405.Addr(), "POST /db_state HTTP/1.1\r\ncontent-length: 3", "HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\ndate: <date>\r\n\r\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dial(t, tc.addr)
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			req := tc.request + "\r\nhost: sim\r\n\r\n"
			if strings.HasPrefix(tc.request, "POST") {
				req += "abc"
			}
			io.WriteString(c, req)
			br := bufio.NewReader(c)
			r, err := readResponse(br)
			if err != nil || r.err != nil {
				t.Fatalf("reading: %v %v", err, r.err)
			}
			matchHead(t, r.head, tc.head)
			if string(r.body) != tc.body {
				t.Errorf("body %q, want %q", r.body, tc.body)
			}
			// The connection stays usable after an error.
			sendGet(t, c, "/db_state")
			if r, err := readResponse(br); err != nil || r.status != 200 {
				t.Errorf("next request on the connection: %v %d", err, r.status)
			}
		})
	}
}

// TestWireTrailingSlash: warp takes one '/' after the last segment, so the
// node answers these as it answers the path without it.
func TestWireTrailingSlash(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	for _, path := range []string{"/db_state/", "/state_item_count/1000/", "/transactions/0/3/"} {
		r := rawGet(t, s.Addr(), path)
		_, want := s.Chain().Body(mustParse(t, strings.TrimSuffix(path, "/")))
		if r.status != 200 || !bytes.Equal(r.body, want) || r.err != nil {
			t.Errorf("GET %s: %d, %d bytes (%v), want 200 and the %d bytes of the path without the slash", path, r.status, len(r.body), r.err, len(want))
		}
	}
}

// TestWireAbsoluteForm: hyper routes an absolute-form target by its path,
// and an absolute-form without a path is "/".
func TestWireAbsoluteForm(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	tests := []struct {
		target string
		status int
		path   string // what the answer must equal; "" for an empty body
	}{
		{"http://sim/db_state", 200, "/db_state"},
		{"HTTP://node:6186/transactions/0/3?x=1", 200, "/transactions/0/3"},
		{"http://sim/db_state/", 200, "/db_state"},
		{"http://sim", 404, ""},
		{"http://sim?db_state", 404, ""},
		{"http://sim/nope", 404, ""},
		{"http://sim/transactions/1", 400, ""},
	}
	for _, tt := range tests {
		r := rawGet(t, s.Addr(), tt.target)
		var want []byte
		if tt.path != "" {
			_, want = s.Chain().Body(mustParse(t, tt.path))
		}
		if r.status != tt.status || !bytes.Equal(r.body, want) || r.err != nil {
			t.Errorf("GET %s: %d, %d bytes (%v), want %d and %d bytes", tt.target, r.status, len(r.body), r.err, tt.status, len(want))
		}
	}
}

// One chunk per batch: every chunk but the last reaches the batch size, and
// every chunk ends on a record boundary.
func TestWireChunkPerBatch(t *testing.T) {
	t.Parallel()
	for _, batch := range []int{0, 1000, 64 << 10} {
		t.Run(strconv.Itoa(batch), func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.BatchSize = batch
			s := startServer(t, cfg)
			batch := s.cfg.BatchSize
			for _, path := range []string{"/transactions/0/700", "/state_snapshot/1500", "/epoch_ending_ledger_infos/0/12"} {
				r := rawGet(t, s.Addr(), path)
				matchHead(t, r.head, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ndate: <date>\r\n\r\n")
				if r.err != nil || !r.terminated {
					t.Fatalf("%s: not a clean end: %v", path, r.err)
				}
				if _, want := s.Chain().Body(mustParse(t, path)); !bytes.Equal(r.body, want) {
					t.Fatalf("%s: the wire differs from Body()", path)
				}
				sc := upstream.NewRecordScanner(maxRecord)
				for i, ch := range r.chunks {
					sc.Write(ch)
					if !sc.AtBoundary() {
						t.Fatalf("%s: chunk %d ends inside a record", path, i)
					}
					if i < len(r.chunks)-1 && len(ch) < batch {
						t.Fatalf("%s: chunk %d has %d bytes, below the batch size %d", path, i, len(ch), batch)
					}
				}
			}
		})
	}
}

// Chunk sizes are uppercase hex, as hyper writes them.
func TestWireChunkSizeHex(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	c := dial(t, s.Addr())
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	sendGet(t, c, "/transactions/0/50")
	br := bufio.NewReader(c)
	if _, err := readHead(br); err != nil {
		t.Fatal(err)
	}
	line, _ := br.ReadString('\n')
	if !regexp.MustCompile(`^[0-9A-F]+\r\n$`).MatchString(line) {
		t.Fatalf("chunk size line %q is not uppercase hex", line)
	}
}

func TestWireKeepAlive(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	c := dial(t, s.Addr())
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for _, path := range []string{"/db_state", "/transactions/10/200", "/state_item_count/500", "/state_snapshot_chunk/500/10/20"} {
		sendGet(t, c, path)
		r, err := readResponse(br)
		if err != nil || r.err != nil || r.status != 200 {
			t.Fatalf("%s: %v %v %d", path, err, r.err, r.status)
		}
		if _, want := s.Chain().Body(mustParse(t, path)); !bytes.Equal(r.body, want) {
			t.Fatalf("%s: body differs", path)
		}
	}
	if got := s.Stats().Connections; got != 1 {
		t.Errorf("%d connections, want 1", got)
	}
}

func TestWireConnectionClose(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	for _, path := range []string{"/db_state", "/transactions/0/20"} {
		c := dial(t, s.Addr())
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		sendGet(t, c, path, "connection: close")
		br := bufio.NewReader(c)
		r, err := readResponse(br)
		if err != nil || r.err != nil || r.status != 200 {
			t.Fatalf("%s: %v %v", path, err, r.err)
		}
		if strings.Contains(r.head, "connection") {
			t.Errorf("hyper adds no connection header: %q", r.head)
		}
		if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Errorf("%s: connection not closed after the response: %d %v", path, n, err)
		}
	}
}

// HTTP/1.0 gets a close-delimited stream: no chunking, the end is the close.
func TestWireHTTP10(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	c := dial(t, s.Addr())
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /transactions/5/300 HTTP/1.0\r\n\r\n")
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := bytes.Cut(all, []byte("\r\n\r\n"))
	matchHead(t, string(head)+"\r\n\r\n", "HTTP/1.0 200 OK\r\ndate: <date>\r\n\r\n")
	if _, want := s.Chain().Body(mustParse(t, "/transactions/5/300")); !bytes.Equal(body, want) {
		t.Fatal("HTTP/1.0 body differs")
	}

	// A small response to an HTTP/1.0 keep-alive request keeps the connection.
	c = dial(t, s.Addr())
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for range 2 {
		io.WriteString(c, "GET /db_state HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		r, err := readResponse(br)
		if err != nil || r.err != nil {
			t.Fatal(err, r.err)
		}
		matchHead(t, r.head, "HTTP/1.0 200 OK\r\ncontent-type: application/octet-stream\r\nconnection: keep-alive\r\ncontent-length: 17\r\ndate: <date>\r\n\r\n")
	}
}

// Every endpoint through Go's client: the body equals Body(), counts match
// upstream's rules, and two servers with one config serve the same bytes.
func TestWireAllEndpoints(t *testing.T) {
	t.Parallel()
	a, b := startServer(t, testConfig()), startServer(t, testConfig())
	client := newClient(t)
	key := strings.Repeat("7e", 32)
	for _, path := range []string{
		"/db_state", "/state_item_count/2000", "/state_range_proof/1000/" + key, "/state_root_proof/1999",
		"/transaction_range_proof/0/1999", "/state_snapshot/1000", "/state_snapshot_chunk/2000/300/200",
		"/epoch_ending_ledger_infos/0/100", "/transactions/1500/600", "/transactions/0/0",
	} {
		req := mustParse(t, path)
		status, want := a.Chain().Body(req)
		var got [2][]byte
		for i, s := range []*Server{a, b} {
			resp, body, err := httpGet(t, client, s.URL(), path)
			if err != nil || resp.StatusCode != status {
				t.Fatalf("%s: %v, status %v", path, err, resp)
			}
			got[i] = body
		}
		if !bytes.Equal(got[0], want) || !bytes.Equal(got[1], want) {
			t.Fatalf("%s: wire bodies differ from Body() or from each other", path)
		}
		if req.Endpoint.Streaming() {
			count, _ := a.Chain().StateItemCount(req.Args[0])
			if n := scan(t, got[0]).Records(); !req.ExpectedRecords(a.Chain().DBState(), count).Contains(n) {
				t.Fatalf("%s: %d records outside the expected bounds", path, n)
			}
		}
	}
	st := a.Stats()
	if st.Requests["transactions"] != 2 || st.Streams != 5 || st.Responses[200] != 10 {
		t.Errorf("stats %+v", st)
	}
}

// Older nodes appended a prefix and its payload separately: a batch can end
// right after a prefix, and the stream is still well formed as a whole.
func TestWirePrefixSplit(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.PrefixSplit = true
	cfg.BatchSize = 300
	s := startServer(t, cfg)
	r := rawGet(t, s.Addr(), "/state_snapshot/2000")
	if _, want := s.Chain().Body(mustParse(t, "/state_snapshot/2000")); !bytes.Equal(r.body, want) || !r.terminated {
		t.Fatal("body differs")
	}
	sc := upstream.NewRecordScanner(maxRecord)
	splits := 0
	for _, ch := range r.chunks {
		sc.Write(ch)
		if !sc.AtBoundary() {
			splits++
		}
	}
	if splits == 0 {
		t.Fatal("no batch ended after a prefix")
	}
	t.Logf("%d of %d batches end after a prefix", splits, len(r.chunks))
}

func TestWireHTTPClientSmall(t *testing.T) {
	t.Parallel()
	s := startServer(t, testConfig())
	resp, err := http.Get(s.URL() + "/db_state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ContentLength != 17 || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("%+v", resp)
	}
}
