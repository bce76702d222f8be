package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/backseal/backseal/client"
	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/sim"
)

// The examples start a simulator of the legacy backup service and a
// backseal sidecar in front of it on loopback; in real use the URL is the
// sidecar's, e.g. http://10.0.0.7:6187/transactions/0/1000.

func ExampleFetch() {
	st, stop, err := startStack()
	if err != nil {
		panic(err)
	}
	defer stop()

	var payload bytes.Buffer
	sum, err := client.Fetch(context.Background(), st.url("/transactions/0/100"), &payload)
	if err != nil {
		fmt.Println("fetch failed:", err, "exit status", client.ExitCode(err))
		return
	}
	fmt.Printf("%s: %d records, %d bytes, xxh64 %s\n", sum.Status, sum.Records, sum.Bytes, sum.Digest)
	// Output:
	// ok: 100 records, 129745 bytes, xxh64 2046983bc2e48823
}

// A stream the sidecar cannot complete verifies up to the failure, and the
// end frame says why: the error is a *framing.StreamError.
func ExampleFetch_failure() {
	st, stop, err := startStack()
	if err != nil {
		panic(err)
	}
	defer stop()
	// The node drops every stream after 7 records, cleanly: the silent truncation.
	st.sim.SetFaults(sim.Fault{Kind: sim.Drop, After: 7, Count: -1})

	_, err = client.Fetch(context.Background(), st.url("/transactions/0/100"), io.Discard)
	var se *framing.StreamError
	if errors.As(err, &se) {
		fmt.Println("the sidecar reports:", se.Code)
	}
	fmt.Println("exit status", client.ExitCode(err))
	// Output:
	// the sidecar reports: truncated
	// exit status 4
}

// WriteFile makes the file appear only when the whole stream verified.
func ExampleWriteFile() {
	st, stop, err := startStack()
	if err != nil {
		panic(err)
	}
	defer stop()
	dir, err := os.MkdirTemp("", "backseal-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	name := filepath.Join(dir, "epochs.bin")
	c := &client.Client{}
	sum, err := client.WriteFile(name, false, func(w io.Writer) (client.Summary, error) {
		return c.Fetch(context.Background(), st.url("/epoch_ending_ledger_infos/0/40"), w)
	})
	if err != nil {
		fmt.Println("no file:", err)
		return
	}
	fi, _ := os.Stat(name)
	fmt.Printf("%s: %d records, %d bytes\n", filepath.Base(name), sum.Records, fi.Size())
	// Output:
	// epochs.bin: 40 records, 314665 bytes
}

// Verify checks a framed stream saved earlier (here by a plain HTTP client
// that asked for the framed media type), then the same stream with one
// flipped bit.
func ExampleVerify() {
	st, stop, err := startStack()
	if err != nil {
		panic(err)
	}
	defer stop()
	req, _ := http.NewRequest(http.MethodGet, st.url("/state_snapshot_chunk/3000/0/20"), nil)
	req.Header.Set("Accept", framing.ContentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	saved, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		panic(err)
	}

	sum, err := client.Verify(context.Background(), bytes.NewReader(saved), io.Discard)
	fmt.Println(sum.Status, sum.Records, "records, exit status", client.ExitCode(err))

	saved[len(saved)/2] ^= 0x10
	_, err = client.Verify(context.Background(), bytes.NewReader(saved), io.Discard)
	fmt.Println(errors.Is(err, client.ErrIntegrity), "exit status", client.ExitCode(err))
	// Output:
	// ok 20 records, exit status 0
	// true exit status 5
}
