package sim

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backseal/backseal/upstream"
)

// testConfig is a small chain: every stream is at most a few MB, so that
// tests under -race stay fast.
func testConfig() Config {
	return Config{
		Seed:              7,
		Epochs:            12,
		CommittedVersion:  2_000,
		PreCommitted:      3,
		SnapshotInterval:  500,
		StateItemsBase:    300,
		StateItemsPer1000: 500,
	}
}

func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustParse(t testing.TB, path string) upstream.Request {
	t.Helper()
	r, err := upstream.ParsePath(path)
	if err != nil {
		t.Fatalf("ParsePath(%q): %v", path, err)
	}
	return r
}

// splitRecords splits a well-formed body into its records (with prefixes).
func splitRecords(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			t.Fatalf("body ends inside a prefix")
		}
		n := int(binary.BigEndian.Uint32(b)) + 4
		if len(b) < n {
			t.Fatalf("body ends inside a record")
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// scan runs upstream.RecordScanner over b.
func scan(t testing.TB, b []byte) *upstream.RecordScanner {
	t.Helper()
	sc := upstream.NewRecordScanner(maxRecord)
	if _, err := sc.Write(b); err != nil {
		t.Fatal(err)
	}
	return sc
}

// rawResp is a response as read off the socket by hand.
type rawResp struct {
	head       string // status line and header lines, through the blank line
	status     int
	headers    map[string]string // keys as sent (must be lowercase)
	chunks     [][]byte          // chunk payloads, for chunked bodies
	terminated bool              // the zero-size chunk arrived
	body       []byte
	err        error // what ended the read when the body did not end by itself
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sendGet(t testing.TB, c net.Conn, path string, extra ...string) {
	t.Helper()
	req := "GET " + path + " HTTP/1.1\r\nhost: sim\r\n"
	for _, h := range extra {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
}

// readHead reads a response head from br.
func readHead(br *bufio.Reader) (rawResp, error) {
	var r rawResp
	r.headers = map[string]string{}
	var head strings.Builder
	for first := true; ; first = false {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if err != nil {
			return r, err
		}
		line = strings.TrimSuffix(line, "\r\n")
		if first {
			f := strings.SplitN(line, " ", 3)
			if len(f) < 2 {
				return r, fmt.Errorf("bad status line %q", line)
			}
			r.status, _ = strconv.Atoi(f[1])
			continue
		}
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ": ")
		r.headers[k] = v
	}
	r.head = head.String()
	return r, nil
}

// readResponse reads one response (head and body) from br by hand.
func readResponse(br *bufio.Reader) (rawResp, error) {
	r, err := readHead(br)
	if err != nil {
		return r, err
	}
	r.err = readBody(br, &r)
	return r, nil
}

func readBody(br *bufio.Reader, r *rawResp) error {
	if cl, ok := r.headers["content-length"]; ok {
		n, _ := strconv.Atoi(cl)
		r.body = make([]byte, n)
		_, err := io.ReadFull(br, r.body)
		return err
	}
	if r.headers["transfer-encoding"] != "chunked" {
		b, err := io.ReadAll(br)
		r.body = b
		return err
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return err
		}
		n, perr := strconv.ParseUint(strings.TrimSuffix(line, "\r\n"), 16, 32)
		if perr != nil || !strings.HasSuffix(line, "\r\n") {
			return fmt.Errorf("bad chunk size line %q", line)
		}
		if n == 0 {
			if end, err := br.ReadString('\n'); err != nil || end != "\r\n" {
				return fmt.Errorf("bad end of body %q: %v", end, err)
			}
			r.terminated = true
			return nil
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(br, chunk); err != nil {
			r.body = append(r.body, chunk...)
			return err
		}
		r.chunks = append(r.chunks, chunk)
		r.body = append(r.body, chunk...)
		var crlf [2]byte
		if _, err := io.ReadFull(br, crlf[:]); err != nil || string(crlf[:]) != "\r\n" {
			return fmt.Errorf("chunk not followed by CRLF: %v", err)
		}
	}
}

// rawGet sends one GET on a new connection and reads the response by hand.
func rawGet(t testing.TB, addr, path string, extra ...string) rawResp {
	t.Helper()
	c := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	sendGet(t, c, path, extra...)
	r, err := readResponse(bufio.NewReader(c))
	if err != nil {
		t.Fatalf("GET %s: reading head: %v", path, err)
	}
	return r
}

// httpGet fetches path with Go's client; it returns the body read so far and
// the error that ended the read.
func httpGet(t testing.TB, client *http.Client, base, path string) (*http.Response, []byte, error) {
	t.Helper()
	resp, err := client.Get(base + path)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// isPrefixOnBoundary reports whether got is a prefix of want that ends on a
// record boundary.
func isPrefixOnBoundary(t testing.TB, got, want []byte) bool {
	t.Helper()
	if !bytes.HasPrefix(want, got) {
		return false
	}
	return scan(t, got).AtBoundary()
}
