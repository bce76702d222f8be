package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/telemetry"
	"github.com/backseal/backseal/upstream"
)

// refusedStart recognises a node that refuses a stream's start: 200, then
// an abort before the first byte, twice at the same record. That is what
// a pruned range (or a tree it no longer has) looks like; a crash does not
// repeat itself, and re-asking cannot help.
func (s *stream) refusedStart(a *attempt, failure *framing.StreamError) *framing.StreamError {
	if failure.Code != framing.CodeUpstreamAborted || a.read > 0 || !s.req.Endpoint.Streaming() {
		return nil
	}
	k := int64(s.scanner.Records())
	if s.emptyAbortAt != k {
		s.emptyAbortAt = k
		return nil
	}
	return framing.Errorf(framing.CodeUpstreamAborted, "pruned: the node refuses to serve %s from record %d: it answered 200 and aborted before the first byte, twice (pruned, or no longer kept)", s.req.Path(), k)
}

// endHeal notes that the client was sent a byte: a later failure starts a
// heal of its own, with a whole resume_window.
func (s *stream) endHeal() {
	if s.healDeadline.Load() != 0 {
		s.healDeadline.Store(0)
	}
}

// resume re-requests the exact continuation after the last complete record,
// or returns the failure when the protocol, the budget or the clock forbid.
// The clock is resume_window from the failure that began the heal: the
// client hears nothing while it lasts, and the legacy one gives up after
// 60 s of silence. Every wait, retry and response head of the heal, and the
// first byte after it, must come within it.
func (s *stream) resume(failure *framing.StreamError) *framing.StreamError {
	cfg := s.p.cfg
	s.cur.Load().close(failure)
	if s.healDeadline.Load() == 0 {
		s.healCause = failure
		s.healDeadline.Store(time.Now().Add(cfg.ResumeWindow).UnixNano())
	}
	deadline := time.Unix(0, s.healDeadline.Load())
	spent := errors.Is(failure, errDeadline)
	for {
		// A small value has no records to resume after: it is asked for
		// again whole, and only while none of it was sent.
		if !resumable(failure.Code) || (!s.req.Endpoint.Streaming() && s.sent > 0) {
			return failure
		}
		if s.resumes >= cfg.ResumeAttempts {
			return withNote(failure, fmt.Sprintf("gave up after %d resumes", s.resumes))
		}
		wait := upstream.Backoff(s.resumes, cfg.ResumeBackoff, 5*time.Second)
		if spent || time.Now().Add(wait).After(deadline) {
			note := fmt.Sprintf("gave up after %d resumes: resume_window (%v) spent", s.resumes, cfg.ResumeWindow)
			if failure != s.healCause {
				note += "; last: " + failure.Message
			}
			return withNote(s.healCause, note)
		}
		k, next := s.scanner.Records(), s.req
		if s.req.Endpoint.Streaming() {
			// C may have grown since the stream opened (Continuation needs
			// the committed version now, not then).
			db, items, err := s.counts.refresh(s.ctx, min(cfg.CountTimeout, time.Until(deadline)))
			if err != nil && s.req.Endpoint != upstream.EpochEndingLedgerInfos {
				return withNote(failure, "cannot resume without the record count: "+err.Error())
			}
			var ok bool
			if next, ok = s.req.Continuation(k, db, items); !ok {
				return failure
			}
		}
		s.resumes++
		s.span.AddEvent(telemetry.EventResumeStart, trace.WithAttributes(
			attribute.String(telemetry.AttrContinuation, next.Path()),
			attribute.Int64(telemetry.AttrRecordIndex, int64(k)),
			attribute.Int(telemetry.AttrResumes, s.resumes),
			attribute.String(telemetry.AttrCause, failure.Code.String())))
		select {
		case <-time.After(wait):
		case <-s.ctx.Done():
			return classify(context.Cause(s.ctx))
		}
		a, err := s.p.openAttempt(s.ctx, next, "resume", deadline)
		if err != nil {
			if s.ctx.Err() != nil {
				return classify(context.Cause(s.ctx))
			}
			failure, spent = withNote(failure, "resume failed: "+err.Error()), errors.Is(err, errDeadline)
			continue
		}
		if a.resp.StatusCode != http.StatusOK {
			failure = withNote(failure, "resume answered "+upstreamStatusText(a.resp.StatusCode))
			a.close(failure)
			continue
		}
		s.cur.Store(a)
		s.overlap.begin(s.scanner.Offset() - s.scanner.Boundary())
		s.span.AddEvent(telemetry.EventResumeSuccess, trace.WithAttributes(
			attribute.String(telemetry.AttrContinuation, next.Path()),
			attribute.String(telemetry.AttrCause, failure.Code.String())))
		s.p.tel.Metrics.Resumed(s.req.Endpoint.String(), failure.Code.String())
		s.p.log.InfoContext(s.ctx, "resuming stream", "path", s.req.Path(), "continuation", next.Path(), "after_records", k,
			"overlap_bytes", s.overlap.skip, "cause", failure.Code.String(), "resumes", s.resumes)
		return nil
	}
}

func withNote(e *framing.StreamError, note string) *framing.StreamError {
	return &framing.StreamError{Code: e.Code, Message: e.Message + "; " + note, Err: e.Err}
}

// overlap checks a resumed response against what was already sent: the
// continuation restarts at the last record boundary, so its first bytes
// repeat the partial record the client has. They are compared by hash,
// not sent again; a node that answers differently is caught
// (resume-mismatch), never spliced in.
type overlap struct {
	tail xxhash.Digest // of the bytes scanned since the last record boundary
	seen xxhash.Digest // of the resumed bytes compared so far
	skip uint64        // resumed bytes still to compare instead of send
	want uint64        // tail's sum when the resume began
}

func (o *overlap) reset() {
	// A zero xxhash.Digest is not a valid state: Reset sets the seed lanes.
	o.tail.Reset()
	o.seen.Reset()
}

// scanned notes p, just scanned, of which the last partial bytes are the
// start of a record not yet complete.
func (o *overlap) scanned(p []byte, partial uint64) {
	if partial < uint64(len(p)) {
		o.tail.Reset()
		p = p[len(p)-int(partial):]
	}
	o.tail.Write(p)
}

// begin starts the check of a resumed response that repeats partial bytes.
func (o *overlap) begin(partial uint64) {
	o.skip, o.want = partial, o.tail.Sum64()
	o.seen.Reset()
}

// pending reports whether repeated bytes are still to come.
func (o *overlap) pending() bool { return o.skip > 0 }

// compare takes the repeated bytes at the start of p and returns how many
// it took; ok is false once they are all in and differ from those sent.
func (o *overlap) compare(p []byte) (n int, ok bool) {
	n = int(min(o.skip, uint64(len(p))))
	o.seen.Write(p[:n])
	o.skip -= uint64(n)
	return n, o.skip > 0 || o.seen.Sum64() == o.want
}
