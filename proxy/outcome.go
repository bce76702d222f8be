package proxy

import (
	"context"
	"errors"
	"io"
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
	// errUpstreamBusy: every upstream stream slot stayed taken for the
	// queue timeout; the request is refused before anything was sent.
	errUpstreamBusy = errors.New("all upstream stream slots busy")
)

// classify maps anything that ended an upstream exchange to a stream
// outcome: the one place where errors become the codes clients, trailers,
// logs and metrics see.
func classify(err error) *framing.StreamError {
	var se *framing.StreamError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, errShutdown):
		return framing.Errorf(framing.CodeShutdown, "the sidecar was shut down before the stream finished")
	case errors.Is(err, errStalled):
		return framing.Errorf(framing.CodeUpstreamStalled, "%v", err)
	case errors.Is(err, upstream.ErrRecordTooLarge):
		return framing.Errorf(framing.CodeRecordTooLarge, "%v", err)
	case errors.Is(err, upstream.ErrUnavailable), errors.Is(err, errUpstreamBusy):
		return framing.Errorf(framing.CodeUpstreamUnavailable, "%v", err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return framing.Errorf(framing.CodeUpstreamAborted, "upstream cut the body without its terminating chunk")
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return framing.Errorf(framing.CodeUpstreamReset, "upstream connection reset")
	case errors.Is(err, context.DeadlineExceeded):
		return framing.Errorf(framing.CodeUpstreamStalled, "%v", err)
	}
	return framing.Errorf(framing.CodeUpstreamProtocol, "%v", err)
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
