package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/telemetry"
	"github.com/backseal/backseal/upstream"
)

// writeBody streams the whole response body to out and decides how it ends.
func (s *stream) writeBody(out sink) (int64, error) {
	defer s.release()
	go s.watch()

	var data emitter = out
	var fw *framing.Writer
	var bw *bufio.Writer
	if s.framed {
		// The header and end frames are small writes gathered here; data
		// frames are sealed in the copy buffer and sent from there.
		bw = s.p.getFrameBuffer(out)
		defer s.p.putFrameBuffer(bw)
		var err error
		fw, err = framing.NewWriter(bw, framing.Header{StreamID: s.streamID, Meta: []framing.Meta{{Key: "path", Value: s.req.Path()}}})
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			s.finish(http.StatusOK, nil, err)
			return 0, err
		}
		data = sealedFrames{fw: fw, sink: out}
	}

	outcome, clientErr := s.pump(data)
	if fw != nil {
		s.frames = fw.Frames()
	}
	if clientErr != nil {
		s.span.AddEvent(telemetry.EventClientGone)
		s.finish(http.StatusOK, outcome, clientErr)
		return int64(s.sent), clientErr
	}
	if s.trailers {
		s.setTrailers(out, outcome, fw)
	}
	defer s.finish(http.StatusOK, outcome, nil)
	if s.framed {
		var endErr error // not a typed nil: End must see nil for success
		if outcome != nil {
			endErr = outcome
		}
		var meta []framing.Meta
		if s.verified != nil && outcome == nil {
			meta = s.verified.Meta()
		}
		if err := fw.EndWith(s.scanner.Records(), endErr, meta); err != nil {
			return int64(s.sent), err
		}
		if err := bw.Flush(); err != nil {
			return int64(s.sent), err
		}
		return int64(s.sent), out.terminate()
	}
	if outcome != nil && !s.trailers {
		// The legacy client ignores trailers: only a body without its
		// terminating chunk makes it see the failure.
		return int64(s.sent), outcome
	}
	return int64(s.sent), out.terminate()
}

// emitter sends payload bytes to the client. The payload is buf[lo:hi] of
// the copy buffer, which has room for a chunk size line and a frame header
// before lo and a frame check and a CRLF after hi.
type emitter interface {
	emit(buf []byte, lo, hi int) error
}

// pump copies upstream bytes to out until the response is complete or has
// failed for good. It returns the stream's outcome (nil: complete) and,
// separately, an error writing to the client, which ends everything.
func (s *stream) pump(out emitter) (outcome *framing.StreamError, clientErr error) {
	lent := s.p.buffers.get()
	defer s.p.buffers.put(lent)
	buf := *lent.buf
	for {
		a := s.cur.Load()
		failure, clientErr := s.copyAttempt(a, buf, out)
		if clientErr != nil {
			return nil, clientErr
		}
		if failure == nil {
			failure = s.checkComplete()
		}
		if failure == nil {
			return nil, nil
		}
		failureEvent(s.span, failure, s.scanner.Records(), s.scanner.Offset())
		s.p.tel.Metrics.FailureCaught(s.req.Endpoint.String(), failure.Code.String())
		if refused := s.refusedStart(a, failure); refused != nil {
			return refused, nil
		}
		if err := s.resume(failure); err != nil {
			return err, nil
		}
	}
}

// copyAttempt copies one upstream response body until it ends.
func (s *stream) copyAttempt(a *attempt, buf []byte, out emitter) (failure *framing.StreamError, clientErr error) {
	body := a.resp.Body
	for {
		s.readingSince.Store(time.Now().UnixNano())
		n, rerr := body.Read(buf[readOffset : len(buf)-framing.CheckSize-chunkTail])
		s.readingSince.Store(0)
		if n > 0 {
			a.read += uint64(n)
			if !s.firstByte {
				s.firstByte = true
				s.span.AddEvent(telemetry.EventFirstByte)
				s.p.tel.Metrics.FirstByte(s.req.Endpoint.String(), s.mode, time.Since(s.start))
			}
			if err := s.forward(buf, readOffset, readOffset+n, out); err != nil {
				var se *framing.StreamError
				if errors.As(err, &se) {
					return se, nil
				}
				return nil, err
			}
		}
		if rerr == io.EOF {
			if s.overlap.pending() {
				return framing.Errorf(framing.CodeIncompleteRecord, "resumed response ended inside the bytes already sent"), nil
			}
			return nil, nil
		}
		if rerr != nil {
			if a.ctx.Err() != nil {
				rerr = context.Cause(a.ctx)
			}
			if errors.Is(rerr, errClientGone) {
				return nil, rerr
			}
			return classifyRead(rerr, a.resp.ContentLength, a.read), nil
		}
	}
}

// forward validates one read of upstream bytes, buf[lo:hi], and sends what
// is new. A *framing.StreamError means the upstream failed; any other error
// is the client's.
func (s *stream) forward(buf []byte, lo, hi int, out emitter) error {
	if s.overlap.pending() {
		m, ok := s.overlap.compare(buf[lo:hi])
		lo += m
		if !ok {
			return framing.Errorf(framing.CodeResumeMismatch, "the resumed response differs from the %d bytes of record %d already sent",
				s.scanner.Offset()-s.scanner.Boundary(), s.scanner.Records())
		}
		if lo == hi {
			return nil
		}
	}
	// What is sent starts with the carried prefix bytes, laid just before
	// the read (the copy buffer keeps room for them).
	send := lo
	var tooLarge error
	if s.req.Endpoint.Streaming() {
		send -= copy(buf[lo-s.carryLen:lo], s.carry[:s.carryLen])
		s.carryLen = 0
		sendFrom := s.scanner.Offset() - uint64(lo-send) // the stream offset of buf[send]
		if _, err := s.scanner.Write(buf[lo:hi]); err != nil {
			tooLarge = classify(err)
		}
		s.overlap.scanned(buf[lo:hi], s.scanner.Offset()-s.scanner.Boundary())
		// A length prefix the read ends inside waits for the next read, and
		// one that claims too much is never sent: the payload then ends
		// with the last record the client is told of.
		end := hi
		if tooLarge != nil || s.scanner.InPrefix() {
			end = send + int(s.scanner.Boundary()-sendFrom)
		}
		if tooLarge == nil {
			s.carryLen = copy(s.carry[:], buf[end:hi])
		}
		hi = end
	}
	if hi > send {
		if s.content != nil {
			// Checked before it is sent: a record found wrong never reaches
			// the client whole.
			if err := s.content.Write(buf[send:hi]); err != nil {
				return err
			}
		}
		if s.trailers && !s.framed {
			s.digest.Write(buf[send:hi]) // for Backseal-Xxh64; the framed writer keeps its own
		}
		if err := out.emit(buf, send, hi); err != nil {
			return fmt.Errorf("writing client: %w", err)
		}
		s.sent += uint64(hi - send)
		s.endHeal()
	}
	return tooLarge
}

// checkComplete decides whether a body that ended cleanly is complete.
func (s *stream) checkComplete() *framing.StreamError {
	if !s.req.Endpoint.Streaming() {
		return nil // Content-Length or the terminating chunk already vouched
	}
	if !s.scanner.AtBoundary() {
		where := "payload"
		if s.scanner.InPrefix() {
			where = "length prefix"
		}
		return framing.Errorf(framing.CodeIncompleteRecord, "upstream ended cleanly inside the %s of record %d", where, s.scanner.Records())
	}
	timeout := s.p.cfg.CountTimeout
	bounds, err := s.counts.bounds(s.ctx, timeout)
	n := s.scanner.Records()
	if err == nil && n < bounds.Max && s.counts.needDB {
		// Short of the range: only the C of now says whether it may be.
		var db upstream.DBStateValue
		db, _, err = s.counts.refresh(s.ctx, timeout)
		bounds = s.req.ExpectedRecords(db, 0)
		if err != nil && n < bounds.Min {
			err = nil // short even of the stale C: truncated whatever C is now
		}
	}
	if err != nil {
		return framing.Errorf(framing.CodeCountUnavailable, "cannot tell whether the stream is complete: %v", err)
	}
	switch {
	case n < bounds.Min:
		return framing.Errorf(framing.CodeTruncated, "upstream ended cleanly after %d records; a complete response has %s", n, boundsText(bounds))
	case n > bounds.Max:
		return framing.Errorf(framing.CodeExcessRecords, "upstream sent %d records; a complete response has %s", n, boundsText(bounds))
	}
	return s.checkContent()
}

func boundsText(b upstream.Bounds) string {
	if b.Min == b.Max {
		return strconv.FormatUint(b.Min, 10)
	}
	return fmt.Sprintf("%d to %d", b.Min, b.Max)
}
