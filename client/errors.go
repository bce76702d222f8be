package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/backseal/backseal/framing"
)

// Exit statuses of backseal fetch and backseal verify; ExitCode maps an
// error of this package to one of them.
const (
	// ExitOK: the stream verified and is complete.
	ExitOK = 0
	// ExitLocal: a local I/O error: reading the input file, writing the
	// payload (disk full, closed pipe), creating or renaming the output.
	ExitLocal = 1
	// ExitUsage: bad flags or arguments, or the sidecar rejected the request
	// (HTTP 4xx: not a backup endpoint, bad parameters, not GET).
	ExitUsage = 2
	// ExitTransport: no usable answer: connecting failed or timed out, the
	// connection was cut or reset, nothing arrived for the stall timeout, the
	// sidecar answered 5xx without a framed body, or the answer is not a
	// framed stream (the URL is not the sidecar).
	ExitTransport = 3
	// ExitStream: the stream verified, and its end frame reports a failure
	// (truncated, upstream-aborted, upstream-status, ...). The payload before
	// it is correct but incomplete.
	ExitStream = 4
	// ExitIntegrity: the stream failed verification: damaged, truncated,
	// reordered or spliced frames, data after the end frame, or records that
	// disagree with the end frame.
	ExitIntegrity = 5
	// ExitInterrupted: the context was canceled (Ctrl-C).
	ExitInterrupted = 130
)

// Error classes. Every error Fetch, Verify and WriteFile return matches one
// of them with errors.Is, is or wraps a *framing.StreamError (errors.As), or
// wraps context.Canceled when the caller's context was canceled.
var (
	// ErrTransport is returned when no usable answer arrived: a dial, TLS or
	// HTTP error, a connection cut or reset mid-stream, a stall (ErrStalled),
	// a 5xx status without a framed body (*StatusError), or an answer that is
	// not a framed stream (ErrNotFramed).
	ErrTransport = errors.New("transport failure")
	// ErrStalled is returned, together with ErrTransport, when no byte
	// arrived for the stall timeout.
	ErrStalled = errors.New("stalled")
	// ErrNotFramed is returned, together with ErrTransport, when the server
	// answered 200 without the framed media type: the URL is not the sidecar,
	// or something in between rewrote the answer.
	ErrNotFramed = errors.New("not a framed stream")
	// ErrRejected is returned (in a *StatusError) when the server answered a
	// 4xx status: the request itself is wrong and a retry will not help.
	ErrRejected = errors.New("request rejected")
	// ErrIntegrity is returned when the stream fails verification. It wraps
	// the framing error (framing.ErrChecksum, framing.ErrTruncated, ...) or
	// ErrRecordCount, so errors.Is finds the reason too.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrRecordCount is returned, together with ErrIntegrity, when the
	// verified payload of a record stream does not end on a record boundary,
	// or its record count differs from the end frame's or from the count
	// the sidecar announced in the Backseal-Expected-Records header.
	ErrRecordCount = errors.New("record count mismatch")
	// ErrInput is returned when reading the framed input of Verify fails
	// (not at EOF: an I/O error).
	ErrInput = errors.New("reading input")
	// ErrOutput is returned when writing the payload fails, or creating,
	// syncing or renaming the output file.
	ErrOutput = errors.New("writing output")
	// ErrInvalidURL is returned by Fetch for a URL that is not http:// or
	// https:// with a host.
	ErrInvalidURL = errors.New("invalid URL")
)

// classed gives err an error class (ErrTransport, ...) that errors.Is finds,
// without repeating the class's text in the message.
type classed struct{ err, class error }

func (c *classed) Error() string   { return c.err.Error() }
func (c *classed) Unwrap() []error { return []error{c.err, c.class} }

func withClass(class, err error) error { return &classed{err: err, class: class} }

// StatusError is a non-200 answer without a framed body that explains it.
// It unwraps to ErrRejected for 4xx statuses and to ErrTransport otherwise.
type StatusError struct {
	StatusCode int
	Body       string // the start of a text body, trimmed; "" if none
}

func (e *StatusError) Error() string {
	s := "HTTP " + strings.TrimSpace(fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode)))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// Unwrap returns the error class: ErrRejected or ErrTransport.
func (e *StatusError) Unwrap() error {
	if e.StatusCode >= 400 && e.StatusCode < 500 {
		return ErrRejected
	}
	return ErrTransport
}

// ExitCode returns the exit status for an error of this package: ExitOK for
// nil, ExitInterrupted for a canceled context, ExitIntegrity, ExitStream,
// ExitTransport, ExitUsage (ErrRejected, ErrInvalidURL), and ExitLocal for
// ErrInput, ErrOutput and anything else.
func ExitCode(err error) int {
	var se *framing.StreamError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, ErrIntegrity):
		return ExitIntegrity
	case errors.As(err, &se):
		return ExitStream
	case errors.Is(err, ErrTransport), errors.Is(err, context.DeadlineExceeded):
		return ExitTransport
	case errors.Is(err, ErrRejected), errors.Is(err, ErrInvalidURL):
		return ExitUsage
	}
	return ExitLocal
}
