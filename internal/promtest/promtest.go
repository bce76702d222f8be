// Package promtest reads Prometheus text exposition for tests: it scrapes a
// /metrics URL or parses a body with the Prometheus text parser
// (github.com/prometheus/common/expfmt), and looks series up by name and
// labels.
package promtest

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are parsed metric families by name.
type Families map[string]*dto.MetricFamily

// Parse parses the Prometheus text format (version 0.0.4). Names and label
// names must be legacy (ASCII) Prometheus names, as backseal's are.
func Parse(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("promtest: parsing: %w", err)
	}
	return fams, nil
}

// Scrape GETs url, checks that the answer is 200 in the text format, and
// parses it.
func Scrape(url string) (Families, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, fmt.Errorf("promtest: scraping: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("promtest: %s answered %s: %s", url, resp.Status, b)
	}
	ct := resp.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "text/plain" || params["version"] != "0.0.4" {
		return nil, fmt.Errorf("promtest: %s: content type %q, want text/plain; version=0.0.4", url, ct)
	}
	return Parse(resp.Body)
}

// Series returns the series of the named family whose labels include the
// given name/value pairs (labels is name1, value1, name2, value2, …).
func (f Families) Series(name string, labels ...string) []*dto.Metric {
	if len(labels)%2 != 0 {
		panic("promtest: labels must come in name, value pairs")
	}
	fam := f[name]
	if fam == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range fam.GetMetric() {
		if hasLabels(m, labels) {
			out = append(out, m)
		}
	}
	return out
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i < len(labels); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Sum adds up the matching series' values: a counter's or gauge's value, a
// histogram's or summary's sample count. ok is false when no series matches.
func (f Families) Sum(name string, labels ...string) (sum float64, ok bool) {
	for _, m := range f.Series(name, labels...) {
		sum += value(m)
		ok = true
	}
	return sum, ok
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	case m.Summary != nil:
		return float64(m.GetSummary().GetSampleCount())
	}
	return 0
}

// Histogram returns the one matching histogram series.
func (f Families) Histogram(name string, labels ...string) (*dto.Histogram, error) {
	ms := f.Series(name, labels...)
	if len(ms) != 1 {
		return nil, fmt.Errorf("promtest: %d series of %s match %v, want 1", len(ms), name, labels)
	}
	if ms[0].Histogram == nil {
		return nil, fmt.Errorf("promtest: %s is a %s, not a histogram", name, f[name].GetType())
	}
	return ms[0].GetHistogram(), nil
}

// Type returns the named family's type, or "" when there is none.
func (f Families) Type(name string) string {
	if fam := f[name]; fam != nil {
		return strings.ToLower(fam.GetType().String())
	}
	return ""
}

// Names lists the families' names, sorted.
func (f Families) Names() []string {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// LabelNames lists the label names the named family's series carry, sorted
// and without repeats.
func (f Families) LabelNames(name string) []string {
	var names []string
	for _, m := range f[name].GetMetric() {
		for _, lp := range m.GetLabel() {
			if !slices.Contains(names, lp.GetName()) {
				names = append(names, lp.GetName())
			}
		}
	}
	slices.Sort(names)
	return names
}
