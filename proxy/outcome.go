package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/upstream"
)

// Causes the proxy itself gives for ending an upstream exchange. They travel
// as context cancellation causes and are mapped to codes in classify.
var (
	errStalled    = errors.New("upstream sent no bytes within the stall timeout")
	errClientGone = errors.New("client went away")
	errShutdown   = errors.New("sidecar drain deadline passed")
	// errDeadline: the node gave no usable answer in the time the client
	// can wait for one (upstream_header_timeout, or a heal's resume_window).
	errDeadline = errors.New("no usable answer from the node in the time the client waits")
	// errHandoff: fasthttp could not hand the connection over for the
	// stream (flushing an earlier pipelined answer or clearing the
	// deadlines failed): the client is gone.
	errHandoff = errors.New("connection lost before the stream could start")
	// errUpstreamBusy: every upstream stream slot stayed taken for the
	// queue timeout; the request is refused before anything was sent.
	errUpstreamBusy = errors.New("all upstream stream slots busy")
)

// classify maps anything that ended an upstream exchange to a stream
// outcome: the one place where errors become the codes clients, trailers,
// logs and metrics see. The outcome wraps err, so errors.Is still finds
// the cause (upstream.ErrUnavailable, say).
func classify(err error) *framing.StreamError {
	var se *framing.StreamError
	outcome := func(code framing.Code, msg string) *framing.StreamError {
		return &framing.StreamError{Code: code, Message: msg, Err: err}
	}
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, errShutdown):
		return outcome(framing.CodeShutdown, "the sidecar was shut down before the stream finished")
	case errors.Is(err, errStalled):
		return outcome(framing.CodeUpstreamStalled, err.Error())
	case errors.Is(err, upstream.ErrRecordTooLarge):
		return outcome(framing.CodeRecordTooLarge, err.Error())
	case errors.Is(err, upstream.ErrUnavailable), errors.Is(err, errUpstreamBusy), errors.Is(err, errDeadline):
		return outcome(framing.CodeUpstreamUnavailable, err.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return outcome(framing.CodeUpstreamAborted, "upstream cut the body without its terminating chunk")
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return outcome(framing.CodeUpstreamReset, "upstream connection reset")
	case errors.Is(err, context.DeadlineExceeded):
		return outcome(framing.CodeUpstreamStalled, err.Error())
	}
	return outcome(framing.CodeUpstreamProtocol, err.Error())
}

// resumable reports whether an outcome is the kind of upstream accident a
// re-request of the exact continuation can heal. Answers the node gave on
// purpose (too many records, a record over the limit) and our own reasons to
// stop are final.
func resumable(code framing.Code) bool {
	switch code {
	case framing.CodeTruncated, framing.CodeIncompleteRecord, framing.CodeUpstreamAborted,
		framing.CodeUpstreamReset, framing.CodeUpstreamStalled, framing.CodeUpstreamProtocol,
		framing.CodeUpstreamUnavailable:
		return true
	}
	return false
}

// Outcome names beside the framing codes, for logs, metrics and spans
// (docs/TELEMETRY.md lists them).
const (
	outcomeOK         = "ok"
	outcomeClientGone = "client-gone" // the client left: nothing more could be said to it
	outcomeRejected   = "rejected"    // answered locally, without asking the node
)

// outcomeName is how a finished stream is reported.
func outcomeName(outcome *framing.StreamError, clientErr error) string {
	switch {
	case clientErr != nil:
		return outcomeClientGone
	case outcome != nil:
		return outcome.Code.String()
	}
	return outcomeOK
}

// classifyRead is classify for an error reading a body of declared length
// (negative: none declared) after read bytes: a cut says how short it fell.
func classifyRead(err error, declared int64, read uint64) *framing.StreamError {
	outcome := classify(err)
	if outcome.Code == framing.CodeUpstreamAborted && declared >= 0 {
		return &framing.StreamError{Code: outcome.Code, Err: outcome.Err,
			Message: fmt.Sprintf("upstream closed after %d of the %d bytes its Content-Length declared", read, declared)}
	}
	return outcome
}

// openFailureStatus is the status for a stream whose first request got no
// usable answer: 503 (retry elsewhere, soon) when the sidecar is draining or
// out of upstream slots, else 502.
func openFailureStatus(err error, draining bool) int {
	if draining || errors.Is(err, errShutdown) || errors.Is(err, errUpstreamBusy) {
		return http.StatusServiceUnavailable
	}
	return http.StatusBadGateway
}
