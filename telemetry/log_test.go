package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/backseal/backseal/telemetry"
)

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil)))
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)

	for _, tt := range []struct {
		name      string
		log       func()
		wantTrace bool
	}{
		{"with a span", func() { log.InfoContext(ctx, "request", "a", 1, "b", 2, "c", 3, "d", 4, "e", 5, "f", 6) }, true},
		{"through WithAttrs", func() { log.With("component", "proxy").WarnContext(ctx, "request") }, true},
		{"without a span", func() { log.InfoContext(context.Background(), "request") }, false},
		{"without a context", func() { log.Info("request") }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			buf.Reset()
			tt.log()
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if !tt.wantTrace {
				if _, ok := got[telemetry.LogTraceID]; ok {
					t.Errorf("trace_id on a line without a span: %s", buf.Bytes())
				}
				return
			}
			if got["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || got["span_id"] != "00f067aa0ba902b7" {
				t.Errorf("line %s", buf.Bytes())
			}
		})
	}

	buf.Reset()
	log.WithGroup("g").InfoContext(ctx, "grouped")
	if !bytes.Contains(buf.Bytes(), []byte(`"g":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`)) {
		t.Errorf("under a group: %s", buf.Bytes())
	}
	if !log.Handler().Enabled(ctx, slog.LevelInfo) || log.Handler().Enabled(ctx, slog.LevelDebug) {
		t.Error("Enabled does not follow the wrapped handler")
	}
}
