package proxy

import (
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/telemetry"
)

// finish reports the stream's end once: the log line, the metrics and the
// server span.
func (s *stream) finish(status int, outcome *framing.StreamError, clientErr error) {
	s.finishOnce.Do(func() {
		code := outcomeName(outcome, clientErr)
		level := s.p.log.InfoContext
		attrs := []any{"endpoint", s.req.Endpoint.String(), "path", s.req.Path(), "mode", s.mode, "status", status}
		switch {
		case clientErr != nil:
			level = s.p.log.WarnContext
			attrs = append(attrs, "error", clientErr.Error())
		case outcome != nil:
			level = s.p.log.WarnContext
			attrs = append(attrs, "error", outcome.Message)
		}
		d := time.Since(s.start)
		records := s.scanner.Records()
		attrs = append(attrs, "outcome", code, "records", records, "bytes", s.sent, "resumes", s.resumes,
			"duration_ms", float64(d.Microseconds())/1000, "client", s.client)
		if s.framed && s.streamID != (framing.StreamID{}) {
			attrs = append(attrs, "stream_id", s.streamID.String())
		}
		if s.verified != nil && outcome == nil && clientErr == nil {
			// The log keeps what each backup was verified against.
			attrs = append(attrs, "content_root", s.verified.Root.String(), "content_proof", s.verified.Proof)
		}
		level(s.ctx, "request", attrs...)
		s.p.tel.Metrics.StreamFinished(s.req.Endpoint.String(), s.mode, code, status, records, s.sent, d)
		s.span.SetAttributes(
			attribute.String(telemetry.AttrMode, s.mode),
			attribute.Int64(telemetry.AttrRecords, int64(records)),
			attribute.Int64(telemetry.AttrBytes, int64(s.sent)),
			attribute.Int64(telemetry.AttrFrames, int64(s.frames)),
			attribute.Int(telemetry.AttrResumes, s.resumes))
		if outcome != nil {
			s.span.SetAttributes(attribute.String("error.type", outcome.Code.String()))
		}
		endServerSpan(s.span, status, code)
	})
}
