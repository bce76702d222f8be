package framing

import (
	"errors"
	"fmt"
)

// Damage errors. The Reader wraps them with context, such as
// "framing: frame 3: checksum mismatch"; test with errors.Is. Reader errors are
// sticky: once Read fails, it fails the same way forever.
var (
	// ErrBadMagic is returned when the stream does not start with Magic:
	// it is not a framed stream (a prefix of Magic followed by EOF is
	// ErrTruncated instead).
	ErrBadMagic = errors.New("not a framed stream (bad magic)")
	// ErrVersion is returned when the header frame announces a format
	// version other than Version.
	ErrVersion = errors.New("unsupported format version")
	// ErrMalformed is returned for a frame that breaks the layout: an unknown
	// kind, nonzero flags or reserved bytes, a header or end payload that does
	// not parse, an empty data frame, or a header or end frame where another
	// kind belongs.
	ErrMalformed = errors.New("malformed frame")
	// ErrFrameTooLarge is returned when a frame header announces a payload
	// above MaxPayload. The payload is not read.
	ErrFrameTooLarge = errors.New("frame payload too large")
	// ErrChecksum is returned when a frame's check does not match: flipped
	// bits, or a frame spliced from another stream.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrSequence is returned when a frame's seq is not the expected one:
	// a dropped, duplicated or reordered frame.
	ErrSequence = errors.New("frame out of sequence")
	// ErrTruncated is returned when the input ends before the end frame,
	// between frames or inside one. It comes together with
	// io.ErrUnexpectedEOF, so errors.Is matches both.
	ErrTruncated = errors.New("stream truncated")
	// ErrTrailingData is returned when any byte follows the end frame.
	ErrTrailingData = errors.New("data after end frame")
	// ErrSummary is returned when the end frame's byte count, frame count or
	// payload digest disagrees with the data frames read.
	ErrSummary = errors.New("end frame summary mismatch")
	// ErrClosed is returned by Writer.Write and Writer.End after End.
	ErrClosed = errors.New("framing: writer closed")
)

// StreamError is the outcome of a stream that did not complete: the one error
// type for stream outcomes that cross packages. The proxy builds them, the
// Writer encodes them in the end frame, the Reader returns them after a
// verified end frame with an error status. Find one with errors.As, or its
// code with CodeOf.
type StreamError struct {
	Code    Code   // never CodeOK in an error the Reader returns
	Message string // human-readable, UTF-8; carried in the end frame
	Err     error  // the cause, if any (never sent: only Message is)
}

// Error returns "<code name>: <message>", e.g. "truncated: 41 of 100 records".
func (e *StreamError) Error() string {
	msg := e.Message
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if msg == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + msg
}

// Unwrap returns the cause.
func (e *StreamError) Unwrap() error { return e.Err }

// Errorf returns a *StreamError with code and the formatted message. A %w verb
// wraps its operand into Err, as with fmt.Errorf.
func Errorf(code Code, format string, args ...any) *StreamError {
	err := fmt.Errorf(format, args...)
	e := &StreamError{Code: code, Message: err.Error()}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		e.Err = u.Unwrap()
	case interface{ Unwrap() []error }:
		e.Err = err // several %w: keep them all reachable
	}
	return e
}

// CodeOf returns the status code an error stands for: CodeOK for nil, the code
// of the first *StreamError in err's chain, CodeInternal for anything else.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var se *StreamError
	if errors.As(err, &se) {
		return se.Code
	}
	return CodeInternal
}
