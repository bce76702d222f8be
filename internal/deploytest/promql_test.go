package deploytest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/backseal/backseal/internal/promtest"
	"github.com/backseal/backseal/internal/testkit"
	"github.com/backseal/backseal/internal/testkit/program"
	"github.com/backseal/backseal/sim"
)

// Series Prometheus makes itself, which no exposition holds.
var prometheusSeries = map[string]bool{"up": true, "ALERTS": true, "ALERTS_FOR_STATE": true}

// exportedMetrics returns the metric names a running sidecar exposes after a
// truncated stream it healed: every backseal_* family has a series then. A
// histogram or summary family contributes the names Prometheus stores
// (_bucket, _sum, _count).
func exportedMetrics(t testing.TB) map[string]bool {
	t.Helper()
	up := testkit.StartSim(t, testChain())
	px := testkit.StartProxy(t, testkit.ProxyConfig(up.URL()), nil)
	up.SetFaults(sim.Fault{Kind: sim.Drop, After: 100, Endpoint: "transactions"})
	resp, err := http.Get("http://" + px.Addr() + "/transactions/0/300")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	// The stream's measurements are taken as its response ends, which the
	// client may see first.
	var fams promtest.Families
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if fams, err = promtest.Scrape("http://" + px.AdminAddr() + "/metrics"); err != nil {
			t.Fatal(err)
		}
		_, resumed := fams.Sum("backseal_resumes_total")
		_, finished := fams.Sum("backseal_requests_total", "outcome", "ok")
		if resumed && finished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no healed stream in the sidecar's metrics: %v", fams.Names())
		}
	}
	names := map[string]bool{}
	for name, fam := range fams {
		switch fam.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
		default:
			names[name] = true
		}
	}
	return names
}

var (
	// Dropped before metric names are looked for: string literals, label
	// matchers, ranges and subqueries, and grouping label lists.
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promqlMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promqlRanges   = regexp.MustCompile(`\[[^\[\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	// A number or duration, or an identifier, then whether "(" follows.
	promqlTokens = regexp.MustCompile(`(\d[\w.]*)|([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?`)
	promqlWords  = map[string]bool{"and": true, "or": true, "unless": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "offset": true, "bool": true,
		"atan2": true, "inf": true, "nan": true, "Inf": true, "NaN": true}
)

// promqlMetrics returns the metric names an expression selects, sorted. It
// is a tokenizer, not a parser (promtool parses the expressions): it drops
// strings, label matchers, ranges and grouping label lists; of the
// identifiers left, those followed by "(" are functions or aggregations, and
// the rest, keywords aside, are metric names. A selector by __name__ is an
// error, since its name would go unchecked.
func promqlMetrics(expr string) ([]string, error) {
	if strings.Contains(expr, "__name__") {
		return nil, fmt.Errorf("%q selects by __name__", expr)
	}
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlRanges.ReplaceAllString(e, " ")
	e = promqlGrouping.ReplaceAllString(e, " ")
	var names []string
	for _, m := range promqlTokens.FindAllStringSubmatch(e, -1) {
		if m[1] != "" || m[3] != "" || promqlWords[m[2]] {
			continue
		}
		names = append(names, m[2])
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

func TestPromqlMetrics(t *testing.T) {
	tests := []struct {
		name, expr string
		want       []string
	}{
		{"selector", `backseal_records_total`, []string{"backseal_records_total"}},
		{"matchers and range", `rate(backseal_records_total{endpoint!="-",mode=~"a|b"}[5m])`, []string{"backseal_records_total"}},
		{"aggregation clause first", `sum by (instance, le) (rate(x_bucket[5m]))`, []string{"x_bucket"}},
		{"aggregation clause after", `sum(rate(x[1h])) without (code) / on (instance) group_left (job) y`, []string{"x", "y"}},
		{"set operators and offset", `a > 0 or (b unless b offset 15m) and c == bool 1e-3`, []string{"a", "b", "c"}},
		{"recording rule name", `instance:backseal_active_streams:sum > 800`, []string{"instance:backseal_active_streams:sum"}},
		{"strings hold no names", `label_replace(up, "dst", "$1", "src", "(backseal_x)")`, []string{"up"}},
		{"functions only", `vector(0)`, nil},
		{"subquery", `max_over_time(rate(x[1m])[10m:1m])`, []string{"x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := promqlMetrics(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("promqlMetrics(%q) = %v, want %v", tc.expr, got, tc.want)
			}
		})
	}
	if _, err := promqlMetrics(`{__name__=~"backseal_.*"}`); err == nil {
		t.Error("a __name__ selector passed")
	}
}

// checkMetricNames reports each metric name of exprs (keyed by where they
// come from) that is neither exported, nor Prometheus's own, nor in extra.
func checkMetricNames(t *testing.T, exported, extra map[string]bool, exprs map[string]string) {
	t.Helper()
	var where []string
	for w := range exprs {
		where = append(where, w)
	}
	slices.Sort(where)
	for _, w := range where {
		names, err := promqlMetrics(exprs[w])
		if err != nil {
			t.Errorf("%s: %v", w, err)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s: %q selects no metric", w, exprs[w])
		}
		for _, n := range names {
			if !exported[n] && !prometheusSeries[n] && !extra[n] {
				t.Errorf("%s: metric %s is not in the sidecar's /metrics", w, n)
			}
		}
	}
}

// TestRulesUseExportedMetrics: every metric the shipped rules select, and
// every series the promtool unit tests feed them, is one a running sidecar
// exports (or a recording rule of the file, or a series Prometheus makes).
// promtool alone cannot tell: rules and tests could agree on a wrong name.
func TestRulesUseExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	recorded := map[string]bool{}
	exprs := map[string]string{}
	for _, g := range readShippedRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
			exprs[fmt.Sprintf("%s: rule %s%s", promRules, r.Record, r.Alert)] = r.Expr
		}
	}
	tests, err := filepath.Glob(filepath.Join(repoRoot(t), "configs", "prometheus", "tests", "*.yml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests in configs/prometheus/tests (%v)", err)
	}
	for _, path := range tests {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var unit struct {
			Tests []struct {
				Name   string `yaml:"name"`
				Series []struct {
					Series string `yaml:"series"`
				} `yaml:"input_series"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal(b, &unit); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, tc := range unit.Tests {
			for i, s := range tc.Series {
				exprs[fmt.Sprintf("%s: %q: series %d", filepath.Base(path), tc.Name, i)] = s.Series
			}
		}
	}
	checkMetricNames(t, exported, recorded, exprs)
}

// promtoolCheckExprs parses each expression with Prometheus's own parser:
// promtool check rules on a temporary file holding each as a recording rule.
func promtoolCheckExprs(t *testing.T, exprs map[string]string) {
	t.Helper()
	bin := program.Need(t, "promtool", "prometheus")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var where []string
	for w := range exprs {
		where = append(where, w)
	}
	slices.Sort(where)
	var rules []rule
	var index strings.Builder
	for i, w := range where {
		rules = append(rules, rule{Record: fmt.Sprintf("expr_%d", i), Expr: exprs[w]})
		fmt.Fprintf(&index, "expr_%d: %s\n", i, w)
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "exprs", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "exprs.rules.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules rejects an expression: %v\n%s\nwhich is which:\n%s", err, out, index.String())
	}
}
