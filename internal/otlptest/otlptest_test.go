package otlptest

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func request(t *testing.T) []byte {
	t.Helper()
	str := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	msg := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{str("service.name", "svc")}},
		ScopeSpans: []*tracepb.ScopeSpans{{
			Scope: &commonpb.InstrumentationScope{Name: "scope"},
			Spans: []*tracepb.Span{
				{TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{2}, 8), Name: "root",
					Kind: tracepb.Span_SPAN_KIND_SERVER, StartTimeUnixNano: 1, Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "x"},
					Attributes: []*commonpb.KeyValue{{Key: "n", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: 7}}}},
					Events:     []*tracepb.Span_Event{{Name: "ev", Attributes: []*commonpb.KeyValue{str("k", "v")}}}},
				{TraceId: bytes.Repeat([]byte{1}, 16), SpanId: bytes.Repeat([]byte{3}, 8), ParentSpanId: bytes.Repeat([]byte{2}, 8),
					Name: "child", Kind: tracepb.Span_SPAN_KIND_CLIENT, StartTimeUnixNano: 2},
			},
		}},
	}}}
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, url, ct, enc string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	if enc != "" {
		req.Header.Set("Content-Encoding", enc)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestReceiver(t *testing.T) {
	r := NewReceiver()
	defer r.Close()
	if _, err := r.WaitFor(1, 10*time.Millisecond); err == nil {
		t.Error("WaitFor on nothing succeeded")
	}
	body := request(t)
	if got := post(t, r.TracesURL(), "application/x-protobuf", "", body); got != 200 {
		t.Fatalf("status %d", got)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()
	if got := post(t, r.TracesURL(), "application/x-protobuf", "gzip", gz.Bytes()); got != 200 {
		t.Fatalf("gzip: status %d", got)
	}
	for _, bad := range []struct {
		url, ct string
		want    int
	}{
		{r.TracesURL(), "application/json", http.StatusUnsupportedMediaType},
		{r.URL() + "/v1/metrics", "application/x-protobuf", http.StatusNotFound},
	} {
		if got := post(t, bad.url, bad.ct, "", body); got != bad.want {
			t.Errorf("%s %s: %d, want %d", bad.url, bad.ct, got, bad.want)
		}
	}
	if got := post(t, r.TracesURL(), "application/x-protobuf", "", []byte{0xff, 0xff}); got != http.StatusBadRequest {
		t.Errorf("garbage: %d", got)
	}

	spans, err := r.WaitFor(4, time.Second)
	if err != nil || len(spans) != 4 {
		t.Fatal(err, spans)
	}
	if len(r.Errors()) != 2 || len(r.Requests()) != 2 || r.Requests()[1].ContentEncoding != "gzip" {
		t.Errorf("errors %v, requests %+v", r.Errors(), r.Requests())
	}
	root := r.ByName("root")[0]
	if root.TraceID != "01010101010101010101010101010101" || root.ParentSpanID != "" || root.Kind != "server" ||
		root.StatusCode != "error" || root.Attr("n") != int64(7) || root.Resource["service.name"] != "svc" || root.Scope != "scope" {
		t.Errorf("root %v %v", root, root.Attributes)
	}
	if ev, ok := root.Event("ev"); !ok || ev.Attr("k") != "v" {
		t.Errorf("event %+v", ev)
	}
	kids := spans[:2].Children(root)
	if len(kids) != 1 || kids[0].Name != "child" || kids[0].Kind != "client" {
		t.Errorf("children %v", kids)
	}
}
