package deploytest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

const grafanaDashboard = "configs/grafana/backseal.json"

// The parts of a Grafana dashboard the test checks.
type (
	dashboard struct {
		UID           string  `json:"uid"`
		Title         string  `json:"title"`
		SchemaVersion int     `json:"schemaVersion"`
		Panels        []panel `json:"panels"`
		Templating    struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"` // a string, or {"query": …}
			} `json:"list"`
		} `json:"templating"`
	}
	panel struct {
		ID         int                      `json:"id"`
		Type       string                   `json:"type"`
		Title      string                   `json:"title"`
		Datasource *dashDatasource          `json:"datasource"`
		GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
		Targets    []struct {
			RefID      string          `json:"refId"`
			Expr       string          `json:"expr"`
			Datasource *dashDatasource `json:"datasource"`
		} `json:"targets"`
		Panels []panel `json:"panels"` // a collapsed row's
	}
	dashDatasource struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
)

// allPanels lists the panels, those inside collapsed rows included.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// grafanaVars matches a Grafana variable in an expression: $name, ${name}
// or ${name:format}.
var grafanaVars = regexp.MustCompile(`\$(?:\{(\w+)(?::\w+)?\}|(\w+))`)

// grafanaBuiltins are Grafana's own interval variables, with a value each
// for parsing.
var grafanaBuiltins = map[string]string{"__rate_interval": "1m", "__interval": "1m", "__range": "6h"}

// TestGrafanaDashboard: the dashboard is one Grafana can load (unique panel
// ids, panels on the 24-column grid, every query on the datasource
// variable), every panel's PromQL parses with Prometheus's own parser
// (promtool), and every metric a panel uses is one a running sidecar exports.
// (TestPrometheus also runs every query against a live Prometheus.)
func TestGrafanaDashboard(t *testing.T) {
	exprs := dashboardQueries(t)
	t.Run("metrics exported", func(t *testing.T) {
		checkMetricNames(t, exportedMetrics(t), nil, exprs)
	})
	t.Run("promql parses", func(t *testing.T) {
		promtoolCheckExprs(t, exprs)
	})
}

// dashboardQueries reads the dashboard, checks its structure, and returns
// its PromQL by where it is (a panel's query, a variable's selector), with
// Grafana's variables replaced: template variables by a regex matching all,
// interval variables by a duration.
func dashboardQueries(t testing.TB) map[string]string {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal([]byte(readRepoFile(t, grafanaDashboard)), &d); err != nil {
		t.Fatalf("%s: %v", grafanaDashboard, err)
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Errorf("uid %q, title %q, schemaVersion %d: want all set", d.UID, d.Title, d.SchemaVersion)
	}

	// Template variables stand for label values: a regex that matches all.
	vars := map[string]string{}
	exprs := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = ".*"
		if v.Type == "query" {
			q, _ := v.Query.(string)
			if m, ok := v.Query.(map[string]any); ok {
				q, _ = m["query"].(string)
			}
			// label_values(selector, label) queries Prometheus's series API.
			sel, ok := strings.CutPrefix(q, "label_values(")
			i := strings.LastIndex(sel, ",")
			if !ok || i < 0 {
				t.Errorf("variable %s: query %q, want label_values(selector, label)", v.Name, q)
				continue
			}
			exprs["variable "+v.Name] = sel[:i]
		}
	}
	if _, ok := vars["datasource"]; !ok {
		t.Error(`no "datasource" variable: the queries need one to pick the Prometheus`)
	}
	expand := func(where, expr string) string {
		return grafanaVars.ReplaceAllStringFunc(expr, func(m string) string {
			sub := grafanaVars.FindStringSubmatch(m)
			name := sub[1] + sub[2]
			if v, ok := grafanaBuiltins[name]; ok {
				return v
			}
			if v, ok := vars[name]; ok {
				return v
			}
			t.Errorf("%s: unknown variable %s in %q", where, m, expr)
			return m
		})
	}

	ids := map[int]string{}
	queries := 0
	for _, p := range d.allPanels() {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if prev, ok := ids[p.ID]; ok {
			t.Errorf("%s: id also used by %s", where, prev)
		}
		ids[p.ID] = where
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v is off the 24-column grid", where, g)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		for _, tg := range p.Targets {
			tw := where + " query " + tg.RefID
			for _, ds := range []*dashDatasource{p.Datasource, tg.Datasource} {
				if ds == nil || ds.Type != "prometheus" || ds.UID != "${datasource}" {
					t.Errorf("%s: datasource %+v, want prometheus ${datasource}", tw, ds)
				}
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s: empty expr", tw)
				continue
			}
			exprs[tw] = expand(tw, tg.Expr)
			queries++
		}
	}
	if queries == 0 {
		t.Fatal("no panel queries")
	}
	return exprs
}
