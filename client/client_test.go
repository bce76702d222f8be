package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/backseal/backseal/client"
	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/sim"
	"github.com/backseal/backseal/upstream"
)

func countRecords(t *testing.T, b []byte) uint64 {
	t.Helper()
	s := upstream.NewRecordScanner(math.MaxUint32)
	s.Write(b)
	if !s.AtBoundary() {
		t.Fatal("reference body does not end on a record boundary")
	}
	return s.Records()
}

func TestFetchIsByteIdentical(t *testing.T) {
	st := newStack(t)
	for _, path := range []string{
		"/db_state",
		"/state_item_count/3000",
		"/transaction_range_proof/10/20",
		"/transactions/0/300",
		"/transactions/5/0",
		"/epoch_ending_ledger_infos/0/40",
		"/state_snapshot/1000",
		"/state_snapshot_chunk/3000/100/50",
	} {
		t.Run(path, func(t *testing.T) {
			want := st.direct(t, path)
			var got bytes.Buffer
			var last client.Progress
			calls := 0
			c := &client.Client{Progress: func(p client.Progress) { last = p; calls++ }}
			sum, err := c.Fetch(context.Background(), st.url(path), &got)
			if err != nil {
				t.Fatalf("Fetch: %v (exit %d)", err, client.ExitCode(err))
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Fatalf("payload: %d bytes, direct fetch %d bytes, not identical", got.Len(), len(want))
			}
			req, _ := upstream.ParsePath(path)
			wantRecords := uint64(0)
			if req.Endpoint.Streaming() {
				wantRecords = countRecords(t, want)
			}
			wantSum := client.Summary{
				StreamID: sum.StreamID, Path: path, Status: "ok", Records: wantRecords,
				Bytes: uint64(len(want)), Frames: sum.Frames, Digest: fmt.Sprintf("%016x", xxhash.Sum64(want)), Duration: sum.Duration,
			}
			if sum != wantSum {
				t.Errorf("summary\n got %+v\nwant %+v", sum, wantSum)
			}
			if len(sum.StreamID) != 32 || sum.Duration <= 0 || (len(want) > 0) != (sum.Frames > 0) {
				t.Errorf("summary %+v: want a stream id, a duration and frames", sum)
			}
			if calls == 0 || last.Bytes != uint64(len(want)) || last.Records != wantRecords {
				t.Errorf("last progress %+v after %d calls, want %d bytes, %d records", last, calls, len(want), wantRecords)
			}
			// The sidecar announces a count only when its lookup finished in time.
			if last.ExpectedRecords != -1 && (!req.Endpoint.Streaming() || last.ExpectedRecords != int64(wantRecords)) {
				t.Errorf("progress: expected records %d, want %d or -1 (Backseal-Expected-Records)", last.ExpectedRecords, wantRecords)
			}
		})
	}
}

func TestFetchFailures(t *testing.T) {
	st := newStack(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String() + "/db_state"
	closed.Close()

	tests := []struct {
		name     string
		url      string
		wantExit int
		wantIs   error
		wantCode string // *framing.StreamError's code
		wantHTTP int    // *StatusError's status
	}{
		{"upstream 500 on a small endpoint", st.url("/state_root_proof/9999"), client.ExitStream, nil, "upstream-status", 0},
		{"no such endpoint", st.url("/nope"), client.ExitUsage, client.ErrRejected, "", 404},
		{"bad parameter", st.url("/transactions/x/1"), client.ExitUsage, client.ErrRejected, "", 400},
		{"not the sidecar", st.sim.URL() + "/db_state", client.ExitTransport, client.ErrNotFramed, "", 0},
		{"connection refused", refused, client.ExitTransport, client.ErrTransport, "", 0},
		{"not http", "ftp://127.0.0.1/db_state", client.ExitUsage, client.ErrInvalidURL, "", 0},
		{"no scheme", "127.0.0.1:6187/db_state", client.ExitUsage, client.ErrInvalidURL, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got bytes.Buffer
			_, err := client.Fetch(context.Background(), tt.url, &got)
			if code := client.ExitCode(err); code != tt.wantExit {
				t.Fatalf("exit %d, want %d (err %v)", code, tt.wantExit, err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err %v is not %v", err, tt.wantIs)
			}
			var se *framing.StreamError
			if errors.As(err, &se) != (tt.wantCode != "") || (se != nil && se.Code.String() != tt.wantCode) {
				t.Errorf("err %v: want stream failure %q", err, tt.wantCode)
			}
			var he *client.StatusError
			if errors.As(err, &he) != (tt.wantHTTP != 0) || (he != nil && he.StatusCode != tt.wantHTTP) {
				t.Errorf("err %v: want HTTP status %d", err, tt.wantHTTP)
			}
			if got.Len() != 0 {
				t.Errorf("%d payload bytes written for a failed request", got.Len())
			}
		})
	}
}

// TestFetchUnhealedFault: a fault the sidecar cannot heal reaches the
// caller as the end frame's failure, after a correct prefix.
func TestFetchUnhealedFault(t *testing.T) {
	st := newStack(t)
	path := "/transactions/100/400"
	want := st.direct(t, path)
	for _, tt := range []struct {
		kind sim.FaultKind
		code string
	}{
		{sim.Drop, "truncated"},
		{sim.Abort, "upstream-aborted"},
		{sim.Excess, "excess-records"},
	} {
		t.Run(string(tt.kind), func(t *testing.T) {
			st.sim.SetFaults(sim.Fault{Kind: tt.kind, After: 7, Count: -1})
			defer st.sim.ClearFaults()
			var got bytes.Buffer
			sum, err := client.Fetch(context.Background(), st.url(path), &got)
			var se *framing.StreamError
			if !errors.As(err, &se) || se.Code.String() != tt.code || client.ExitCode(err) != client.ExitStream {
				t.Fatalf("err %v (exit %d), want stream failure %s", err, client.ExitCode(err), tt.code)
			}
			if sum.Status != tt.code || sum.Bytes != uint64(got.Len()) {
				t.Errorf("summary %+v, want status %s and %d bytes", sum, tt.code, got.Len())
			}
			n := min(got.Len(), len(want))
			if !bytes.Equal(got.Bytes()[:n], want[:n]) {
				t.Errorf("the verified prefix differs from the clean body")
			}
		})
	}
}

// TestFetchOnTheWire drives Fetch against a server that misbehaves on the
// wire in ways the sidecar never does: the client must still tell a broken
// transport from a damaged stream.
func TestFetchOnTheWire(t *testing.T) {
	path := "/transactions/0/3"
	data := records("aaaa", "bbbbbbbb", "cc")
	good := frame(t, path, data, 5, 3, nil)
	tests := []struct {
		name     string
		reply    func(c net.Conn)
		wantExit int
		wantIs   error
	}{
		{"clean", func(c net.Conn) {
			fmt.Fprint(c, framedHead+"\r\n")
			c.Write(chunk(good))
			fmt.Fprint(c, "0\r\n\r\n")
		}, client.ExitOK, nil},
		{"clean, count announced", func(c net.Conn) {
			fmt.Fprint(c, framedHead+"Backseal-Expected-Records: 3\r\n\r\n")
			c.Write(chunk(good))
			fmt.Fprint(c, "0\r\n\r\n")
		}, client.ExitOK, nil},
		{"cut inside a chunk", func(c net.Conn) {
			fmt.Fprint(c, framedHead+"\r\n")
			c.Write(chunk(good)[:40])
		}, client.ExitTransport, client.ErrTransport},
		{"cut after a chunk", func(c net.Conn) {
			fmt.Fprint(c, framedHead+"\r\n")
			c.Write(chunk(good[:60]))
		}, client.ExitTransport, client.ErrTransport},
		{"clean end of a truncated stream", func(c net.Conn) {
			fmt.Fprint(c, framedHead+"\r\n")
			c.Write(chunk(good[:len(good)-30]))
			fmt.Fprint(c, "0\r\n\r\n")
		}, client.ExitIntegrity, framing.ErrTruncated},
		{"bit flip", func(c net.Conn) {
			bad := bytes.Clone(good)
			bad[len(bad)/2] ^= 4
			fmt.Fprint(c, framedHead+"\r\n")
			c.Write(chunk(bad))
			fmt.Fprint(c, "0\r\n\r\n")
		}, client.ExitIntegrity, client.ErrIntegrity},
		{"fewer records than the end frame", func(c net.Conn) {
			fmt.Fprint(c, framedHead+"\r\n")
			c.Write(chunk(frame(t, path, data, 5, 4, nil)))
			fmt.Fprint(c, "0\r\n\r\n")
		}, client.ExitIntegrity, client.ErrRecordCount},
		{"ok end inside a record", func(c net.Conn) {
			fmt.Fprint(c, framedHead+"\r\n")
			c.Write(chunk(frame(t, path, data[:len(data)-1], 5, 2, nil)))
			fmt.Fprint(c, "0\r\n\r\n")
		}, client.ExitIntegrity, client.ErrRecordCount},
		{"fewer records than announced", func(c net.Conn) {
			fmt.Fprint(c, framedHead+"Backseal-Expected-Records: 4\r\n\r\n")
			c.Write(chunk(good))
			fmt.Fprint(c, "0\r\n\r\n")
		}, client.ExitIntegrity, client.ErrRecordCount},
		{"another stream's id in the header", func(c net.Conn) {
			fmt.Fprint(c, framedHead+"Backseal-Stream-Id: 000102030405060708090a0b0c0d0e0f\r\n\r\n")
			c.Write(chunk(good))
			fmt.Fprint(c, "0\r\n\r\n")
		}, client.ExitIntegrity, client.ErrIntegrity},
		{"502 with a text body", func(c net.Conn) {
			fmt.Fprint(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n\r\nupstream unavailable: x")
		}, client.ExitTransport, client.ErrTransport},
		{"framed 500 whose end frame says ok", func(c net.Conn) {
			b := frame(t, "/db_state", nil, 1, 0, nil)
			fmt.Fprintf(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", framing.ContentType, len(b))
			c.Write(b)
		}, client.ExitTransport, client.ErrTransport},
		{"no response headers", func(c net.Conn) {
			io.Copy(io.Discard, c) // until the client gives up
		}, client.ExitTransport, client.ErrTransport},
		{"stall mid-stream", func(c net.Conn) {
			fmt.Fprint(c, framedHead+"\r\n")
			c.Write(chunk(good[:60]))
			io.Copy(io.Discard, c)
		}, client.ExitTransport, client.ErrStalled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := rawServer(t, tt.reply) + path
			var last client.Progress
			c := &client.Client{StallTimeout: 200 * time.Millisecond, Progress: func(p client.Progress) { last = p }}
			var got bytes.Buffer
			_, err := c.Fetch(context.Background(), url, &got)
			if strings.HasPrefix(tt.name, "clean") && (last.Records != 3 || last.ExpectedRecords != map[bool]int64{true: 3, false: -1}[strings.Contains(tt.name, "announced")]) {
				t.Errorf("last progress %+v", last)
			}
			if code := client.ExitCode(err); code != tt.wantExit {
				t.Fatalf("exit %d, want %d (err %v)", code, tt.wantExit, err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err %v is not %v", err, tt.wantIs)
			}
			if err == nil && !bytes.Equal(got.Bytes(), data) {
				t.Errorf("payload %q, want %q", got.Bytes(), data)
			}
			if err != nil && !bytes.HasPrefix(data, got.Bytes()) {
				t.Errorf("payload %q written before the failure is not a prefix of %q", got.Bytes(), data)
			}
		})
	}
}

func TestStatusErrorText(t *testing.T) {
	url := rawServer(t, func(c net.Conn) {
		body := "backseal is draining;\n retry on another instance\n"
		fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	})
	_, err := client.Fetch(context.Background(), url+"/db_state", io.Discard)
	if got, want := err.Error(), "client: HTTP 503 Service Unavailable: backseal is draining; retry on another instance"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}

// TestFetchCanceled: Ctrl-C is a canceled context; WriteFile leaves nothing.
func TestFetchCanceled(t *testing.T) {
	st := newStack(t)
	dir := t.TempDir()
	name := filepath.Join(dir, "out.bin")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sawTemp := false
	c := &client.Client{Progress: func(p client.Progress) {
		if p.Bytes > 0 {
			entries, _ := os.ReadDir(dir)
			sawTemp = len(entries) == 1
			cancel()
		}
	}}
	_, err := client.WriteFile(name, false, func(w io.Writer) (client.Summary, error) {
		return c.Fetch(ctx, st.url("/transactions/0/2000"), w)
	})
	if !errors.Is(err, context.Canceled) || client.ExitCode(err) != client.ExitInterrupted {
		t.Fatalf("err %v (exit %d), want context.Canceled (exit %d)", err, client.ExitCode(err), client.ExitInterrupted)
	}
	if !sawTemp {
		t.Error("no temporary file while fetching")
	}
	assertDir(t, dir)
}

// assertDir checks that dir holds exactly the named files.
func assertDir(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("directory holds %q, want %q", got, names)
	}
}

func TestWriteFile(t *testing.T) {
	payload := []byte("verified bytes")
	failure := framing.Errorf(framing.CodeTruncated, "1 of 3 records")
	fill := func(err error) func(io.Writer) (client.Summary, error) {
		return func(w io.Writer) (client.Summary, error) {
			w.Write(payload)
			return client.Summary{Bytes: uint64(len(payload))}, err
		}
	}
	t.Run("success", func(t *testing.T) {
		dir := t.TempDir()
		name := filepath.Join(dir, "out")
		os.WriteFile(name, []byte("old"), 0o644)
		if _, err := client.WriteFile(name, false, fill(nil)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(name); !bytes.Equal(b, payload) {
			t.Errorf("file holds %q", b)
		}
		assertDir(t, dir, "out")
	})
	t.Run("failure", func(t *testing.T) {
		dir := t.TempDir()
		name := filepath.Join(dir, "out")
		if _, err := client.WriteFile(name, false, fill(failure)); err != failure {
			t.Fatalf("err %v, want fill's", err)
		}
		assertDir(t, dir)
	})
	t.Run("failure leaves an existing file", func(t *testing.T) {
		dir := t.TempDir()
		name := filepath.Join(dir, "out")
		os.WriteFile(name, []byte("old"), 0o644)
		client.WriteFile(name, true, fill(failure))
		if b, _ := os.ReadFile(name); string(b) != "old" {
			t.Errorf("file holds %q, want the old content", b)
		}
		assertDir(t, dir, "out", "out.partial")
	})
	t.Run("keep partial", func(t *testing.T) {
		dir := t.TempDir()
		name := filepath.Join(dir, "out")
		if _, err := client.WriteFile(name, true, fill(failure)); err != failure {
			t.Fatalf("err %v, want fill's", err)
		}
		if b, _ := os.ReadFile(name + client.PartialSuffix); !bytes.Equal(b, payload) {
			t.Errorf("partial file holds %q", b)
		}
		assertDir(t, dir, "out.partial")
	})
	t.Run("panic", func(t *testing.T) {
		dir := t.TempDir()
		func() {
			defer func() { recover() }()
			client.WriteFile(filepath.Join(dir, "out"), true, func(io.Writer) (client.Summary, error) { panic("boom") })
		}()
		assertDir(t, dir)
	})
	t.Run("no such directory", func(t *testing.T) {
		_, err := client.WriteFile(filepath.Join(t.TempDir(), "missing", "out"), false, fill(nil))
		if !errors.Is(err, client.ErrOutput) || client.ExitCode(err) != client.ExitLocal {
			t.Errorf("err %v (exit %d), want ErrOutput", err, client.ExitCode(err))
		}
	})
}

func TestVerify(t *testing.T) {
	path := "/epoch_ending_ledger_infos/0/4"
	data := records("e0", "e1e1", "e2e2e2", "e3")
	good := frame(t, path, data, 3, 4, nil)
	t.Run("intact", func(t *testing.T) {
		var got bytes.Buffer
		sum, err := client.Verify(context.Background(), bytes.NewReader(good), &got)
		if err != nil || !bytes.Equal(got.Bytes(), data) || sum.Records != 4 || sum.Status != "ok" || sum.Path != path {
			t.Fatalf("err %v, payload %q, summary %+v", err, got.Bytes(), sum)
		}
	})
	t.Run("one byte at a time", func(t *testing.T) {
		var got bytes.Buffer
		if _, err := client.Verify(context.Background(), iotest.OneByteReader(bytes.NewReader(good)), &got); err != nil || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("err %v, payload %q", err, got.Bytes())
		}
	})
	t.Run("end frame failure", func(t *testing.T) {
		b := frame(t, path, data[:14], 3, 2, framing.Errorf(framing.CodeTruncated, "2 of 4 records"))
		sum, err := client.Verify(context.Background(), bytes.NewReader(b), io.Discard)
		var se *framing.StreamError
		if !errors.As(err, &se) || se.Message != "2 of 4 records" || sum.Status != "truncated" || sum.Records != 2 {
			t.Fatalf("err %v, summary %+v", err, sum)
		}
	})
	t.Run("input error", func(t *testing.T) {
		r := io.MultiReader(bytes.NewReader(good[:50]), errReader{errors.New("disk on fire")})
		_, err := client.Verify(context.Background(), r, io.Discard)
		if !errors.Is(err, client.ErrInput) || errors.Is(err, client.ErrIntegrity) || client.ExitCode(err) != client.ExitLocal {
			t.Fatalf("err %v (exit %d), want ErrInput", err, client.ExitCode(err))
		}
	})
	t.Run("output error", func(t *testing.T) {
		_, err := client.Verify(context.Background(), bytes.NewReader(good), errWriter{})
		if !errors.Is(err, client.ErrOutput) || client.ExitCode(err) != client.ExitLocal {
			t.Fatalf("err %v (exit %d), want ErrOutput", err, client.ExitCode(err))
		}
	})
	t.Run("not framed", func(t *testing.T) {
		_, err := client.Verify(context.Background(), bytes.NewReader(data), io.Discard)
		if !errors.Is(err, framing.ErrBadMagic) || client.ExitCode(err) != client.ExitIntegrity {
			t.Fatalf("err %v (exit %d), want ErrBadMagic", err, client.ExitCode(err))
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := client.Verify(ctx, bytes.NewReader(good), io.Discard)
		if client.ExitCode(err) != client.ExitInterrupted {
			t.Fatalf("err %v, want canceled", err)
		}
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type errWriter struct{}

func (errWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
