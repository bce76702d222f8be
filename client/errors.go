package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/backseal/backseal/framing"
)

// Exit statuses of backseal fetch and backseal verify; ExitCode maps an
// error of this package to one of them. ExitCodes says what each one means.
const (
	ExitOK          = 0
	ExitLocal       = 1
	ExitUsage       = 2
	ExitTransport   = 3
	ExitStream      = 4
	ExitIntegrity   = 5
	ExitInterrupted = 130
)

// ExitStatus describes one exit status of backseal fetch and backseal verify.
type ExitStatus struct {
	Code    int
	Name    string // a word or two, as in "FAILED (exit 4, stream failure)"
	Meaning string // one line, as -h prints it
	Detail  string // the full meaning, as the README's table gives it (Markdown)
}

// ExitCodes is the one table of exit statuses, by code. backseal fetch -h
// and verify -h print it, and the README's table is generated from it
// (go test ./client -run TestREADMEExitCodes -update).
var ExitCodes = []ExitStatus{
	{ExitOK, "ok",
		"the stream verified and is complete",
		"the stream verified and is complete"},
	{ExitLocal, "local I/O",
		"local I/O error: reading the input, writing or renaming the output",
		"local I/O error: reading the input, writing, syncing or renaming the output (disk full, closed pipe)"},
	{ExitUsage, "usage",
		"usage error, or the sidecar rejected the request (HTTP 4xx)",
		"usage error, or the sidecar rejected the request (HTTP 4xx: not a backup endpoint, bad parameter)"},
	{ExitTransport, "transport",
		"transport: connect failed or timed out, connection cut, stall, HTTP 5xx, not a framed answer",
		"transport: connecting failed or timed out, the connection was cut or reset, the stall timeout passed, " +
			"HTTP 5xx without a framed body (502/503: the sidecar's text is printed), " +
			"or an answer that is not framed (the URL is not the sidecar)"},
	{ExitStream, "stream failure",
		"the stream verified and its end frame reports a failure (code and message printed)",
		"the stream verified and its end frame reports a failure (`truncated`, `upstream-aborted`, " +
			"`upstream-status` for a node's 500, `content-mismatch` with --verify-content, ...): the code and message are printed; " +
			"the bytes before it are correct but incomplete"},
	{ExitIntegrity, "integrity",
		"integrity: the stream is damaged (checksum, sequence, truncation, trailing data, records)",
		"integrity: the stream is damaged (checksum, sequence, truncation, data after the end frame, " +
			"splices from another stream, records that disagree with the end frame)"},
	{ExitInterrupted, "interrupted",
		"interrupted (Ctrl-C); temporary files are removed",
		"interrupted (Ctrl-C, SIGTERM); temporary files are removed"},
}

// ExitName returns the Name of code in ExitCodes, or the number for a code
// not in the table.
func ExitName(code int) string {
	for _, st := range ExitCodes {
		if st.Code == code {
			return st.Name
		}
	}
	return strconv.Itoa(code)
}

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
