package promtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const text = `# HELP reqs_total Requests.
# TYPE reqs_total counter
reqs_total{code="ok",path="/a"} 3
reqs_total{code="err",path="/a"} 1
reqs_total{code="ok",path="/b"} 2
# TYPE lat_seconds histogram
lat_seconds_bucket{le="0.1"} 1
lat_seconds_bucket{le="1"} 2
lat_seconds_bucket{le="+Inf"} 2
lat_seconds_sum 0.6
lat_seconds_count 2
`

func TestParse(t *testing.T) {
	f, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := f.Sum("reqs_total", "code", "ok"); !ok || got != 5 {
		t.Errorf("sum ok = %v %v", got, ok)
	}
	if got, _ := f.Sum("reqs_total"); got != 6 {
		t.Errorf("sum = %v", got)
	}
	if _, ok := f.Sum("reqs_total", "code", "nope"); ok {
		t.Error("matched a missing label value")
	}
	if f.Type("reqs_total") != "counter" || f.Type("lat_seconds") != "histogram" || f.Type("nope") != "" {
		t.Error("types")
	}
	h, err := f.Histogram("lat_seconds")
	if err != nil || h.GetSampleCount() != 2 || h.GetSampleSum() != 0.6 {
		t.Errorf("histogram %v %v", h, err)
	}
	if got := strings.Join(f.LabelNames("reqs_total"), ","); got != "code,path" {
		t.Errorf("labels %s", got)
	}
	if _, err := Parse(strings.NewReader("bad metric{")); err == nil {
		t.Error("no parse error")
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/json" {
			w.Header().Set("Content-Type", "application/json")
		} else {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		}
		w.Write([]byte(text))
	}))
	defer srv.Close()
	if f, err := Scrape(srv.URL + "/metrics"); err != nil || len(f) != 2 {
		t.Errorf("%v %v", f.Names(), err)
	}
	if _, err := Scrape(srv.URL + "/json"); err == nil {
		t.Error("accepted a non-text answer")
	}
}
