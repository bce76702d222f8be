package framing_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/backseal/backseal/framing"
)

// A sender frames a stream; a client reads the verified payload and learns
// in-band that the stream completed.
func ExampleWriter() {
	var stream bytes.Buffer
	bw := bufio.NewWriter(&stream) // the Writer makes three small writes per frame
	w, err := framing.NewWriter(bw, framing.Header{
		StreamID: framing.NewStreamID(),
		Meta:     []framing.Meta{{Key: "request", Value: "blocks/0-1"}},
	})
	if err != nil {
		panic(err)
	}
	w.Write([]byte("block 0\n"))
	w.Write([]byte("block 1\n"))
	if err := w.End(2, nil); err != nil {
		panic(err)
	}
	bw.Flush()

	r := framing.NewReader(&stream)
	h, err := r.Header()
	if err != nil {
		panic(err)
	}
	fmt.Println("request:", h.Get("request"))
	payload, err := io.ReadAll(r) // io.EOF only after a verified, ok end frame
	fmt.Printf("payload: %q, err: %v\n", payload, err)
	s, _ := r.Summary()
	fmt.Printf("status: %v, records: %d, bytes: %d, frames: %d\n", s.Code, s.Records, s.Bytes, s.Frames)
	// Output:
	// request: blocks/0-1
	// payload: "block 0\nblock 1\n", err: <nil>
	// status: ok, records: 2, bytes: 16, frames: 2
}

// The sender ends a stream early with an error status; the client gets the
// payload sent before it, then a *StreamError with the code and message.
func ExampleStreamError() {
	var stream bytes.Buffer
	w, _ := framing.NewWriter(&stream, framing.Header{})
	w.Write([]byte("block 0\n"))
	w.End(1, framing.Errorf(framing.CodeTruncated, "%d of %d records", 1, 3))

	payload, err := io.ReadAll(framing.NewReader(&stream))
	fmt.Printf("payload: %q\n", payload)
	var se *framing.StreamError
	if errors.As(err, &se) {
		fmt.Printf("code: %v (%d), message: %q\n", se.Code, se.Code, se.Message)
	}
	fmt.Println("error:", err)
	fmt.Println("CodeOf:", framing.CodeOf(err))
	// Output:
	// payload: "block 0\n"
	// code: truncated (1), message: "1 of 3 records"
	// error: truncated: 1 of 3 records
	// CodeOf: truncated
}

// A damaged stream fails with a damage error, never with io.EOF.
func ExampleReader_damage() {
	var stream bytes.Buffer
	w, _ := framing.NewWriter(&stream, framing.Header{})
	w.Write([]byte("block 0\n"))
	w.End(1, nil)
	b := stream.Bytes()
	b[len(b)-64-8-4] ^= 0x01 // a bit in the data payload (end frame: 64 bytes, check: 8)

	_, err := io.ReadAll(framing.NewReader(bytes.NewReader(b)))
	fmt.Println(err)
	fmt.Println(errors.Is(err, framing.ErrChecksum), framing.CodeOf(err))
	// Output:
	// framing: frame 1: checksum mismatch
	// true internal
}
