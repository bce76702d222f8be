package deploytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backseal/backseal/internal/testkit/program"
	"github.com/backseal/backseal/sim"
)

const (
	promConfig = "configs/prometheus/prometheus.yml"
	promRules  = "configs/prometheus/backseal.rules.yml"
)

// TestPrometheus runs Debian's Prometheus from configs/prometheus/ (the
// test's addresses and a 200 ms interval substituted) against a sidecar
// whose node truncates a stream silently, with resume off so that the
// failure reaches the client. Prometheus must scrape the stream while it
// runs, store the caught truncation, load every shipped rule with health
// ok, and fire the truncation and failed-stream alerts for that one event.
func TestPrometheus(t *testing.T) {
	bin := program.Need(t, "prometheus", "prometheus")
	up := startSim(t)
	px := startSidecar(t, up.URL())
	prom := startPrometheus(t, bin, px.AdminAddr())

	// The first scrapes see the sidecar before any stream, as in
	// production: the failure series appear later, at 1.
	prom.waitValue(t, `up{job="backseal"}`, 1)

	// About a second of stream, slow enough for several scrapes, cut
	// cleanly after 400 records (the silent truncation).
	up.SetFaults(
		sim.Fault{Kind: sim.Slow, Rate: 512 << 10, Endpoint: "transactions"},
		sim.Fault{Kind: sim.Drop, After: 400, Endpoint: "transactions"},
	)
	r := wireGet(t, px.Addr(), "/transactions/0/1000")
	up.ClearFaults()
	if r.status != http.StatusOK || r.terminated {
		t.Fatalf("the truncated stream reached the client as status %d, terminated=%v: want 200, cut", r.status, r.terminated)
	}

	// The stream was scraped while it ran.
	prom.waitValue(t, `max_over_time(backseal_active_streams{job="backseal",endpoint="transactions"}[1m])`, 1)
	// The caught truncation, and the failure the client got.
	prom.waitValue(t, `backseal_failures_caught_total{job="backseal",endpoint="transactions",code="truncated"}`, 1)
	prom.waitValue(t, `backseal_requests_total{job="backseal",endpoint="transactions",outcome="truncated"}`, 1)

	prom.waitRulesHealthy(t, shippedRuleNames(t))

	instance := px.AdminAddr()
	prom.waitAlert(t, "BacksealTruncationCaught", map[string]string{"instance": instance, "severity": "warning"})
	prom.waitAlert(t, "BacksealStreamFailed", map[string]string{"instance": instance, "outcome": "truncated", "severity": "page"})

	// Every dashboard query runs, and the overview shows the event: the
	// two alerts, the truncation caught and the failed response.
	queries := dashboardQueries(t)
	for where, q := range queries {
		if _, err := prom.query(q); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
	for title, min := range map[string]float64{"Backseal alerts firing": 2, "Truncations caught": 1, "Failed responses to clients": 1} {
		n := 0
		for where, q := range queries {
			if strings.Contains(where, strconv.Quote(title)) {
				prom.waitValue(t, q, min)
				n++
			}
		}
		if n != 1 {
			t.Errorf("dashboard: %d queries in panels titled %q, want 1", n, title)
		}
	}
}

// promServer is a Prometheus the test started.
type promServer struct {
	base string // http://127.0.0.1:port
	proc *process
}

// startPrometheus runs the shipped configuration, scraping admin, with its
// storage in a temporary directory and its API on a loopback port.
func startPrometheus(t *testing.T, bin, admin string) *promServer {
	t.Helper()
	dir := t.TempDir()
	cfg := render(t, promConfig, readRepoFile(t, promConfig),
		sub{"scrape_interval: 15s", "scrape_interval: 200ms"},
		sub{"evaluation_interval: 15s", "evaluation_interval: 200ms"},
		sub{`targets: ["127.0.0.1:9187"]`, `targets: ["` + admin + `"]`},
		sub{"- backseal.rules.yml", "- " + filepath.Join(repoRoot(t), filepath.FromSlash(promRules))})
	path := filepath.Join(dir, "prometheus.yml")
	writeFile(t, path, cfg)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	proc := startProcess(t, exec.Command(bin,
		"--config.file="+path,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	))
	p := &promServer{base: "http://" + addr, proc: proc}
	waitHTTP(t, p.base+"/-/ready", http.StatusOK, proc.out)
	return p
}

// promTimeout bounds each wait: Prometheus evaluates every 200 ms, but CI
// machines are shared.
const promTimeout = 30 * time.Second

// api GETs a Prometheus HTTP API path and decodes its data into v.
func (p *promServer) api(path string, v any) error {
	resp, err := http.Get(p.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %s: %w", path, body, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, env.Status, env.Error)
	}
	return json.Unmarshal(env.Data, v)
}

// promSample is one element of an instant vector.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [unix time, "value"]
}

// query runs an instant query that must return a vector.
func (p *promServer) query(q string) ([]promSample, error) {
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	if err := p.api("/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("%s: result type %s, want vector", q, data.ResultType)
	}
	return data.Result, nil
}

// waitValue polls q until it returns exactly one sample of at least min.
func (p *promServer) waitValue(t *testing.T, q string, min float64) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(promTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		res, err := p.query(q)
		switch {
		case err != nil:
			last = err.Error()
		case len(res) != 1:
			last = fmt.Sprintf("%d samples: %v", len(res), res)
		default:
			s, _ := res[0].Value[1].(string)
			v, err := strconv.ParseFloat(s, 64)
			if err == nil && v >= min {
				return
			}
			last = fmt.Sprintf("value %q", s)
		}
	}
	t.Fatalf("query %s never returned one sample >= %g (last: %s); Prometheus output:\n%s", q, min, last, p.proc.out.String())
}

// promRule is a rule as /api/v1/rules reports it.
type promRule struct {
	Name      string `json:"name"`
	Type      string `json:"type"` // recording, alerting
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

// waitRulesHealthy polls /api/v1/rules until every rule has been evaluated
// and the loaded rules are exactly want, each with health ok.
func (p *promServer) waitRulesHealthy(t *testing.T, want []string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(promTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var data struct {
			Groups []struct {
				Name  string     `json:"name"`
				Rules []promRule `json:"rules"`
			} `json:"groups"`
		}
		if err := p.api("/api/v1/rules", &data); err != nil {
			last = err.Error()
			continue
		}
		var got, bad []string
		for _, g := range data.Groups {
			for _, r := range g.Rules {
				got = append(got, r.Name)
				if r.Health != "ok" {
					bad = append(bad, fmt.Sprintf("%s %s: health %q %s", r.Type, r.Name, r.Health, r.LastError))
				}
			}
		}
		slices.Sort(got)
		switch {
		case !slices.Equal(got, want):
			last = fmt.Sprintf("loaded %v, want %v", got, want)
		case len(bad) > 0:
			last = strings.Join(bad, "; ")
		default:
			return
		}
	}
	t.Fatalf("rules of %s not all loaded and healthy: %s; Prometheus output:\n%s", promRules, last, p.proc.out.String())
}

// waitAlert polls /api/v1/alerts until the named alert fires with labels
// including want.
func (p *promServer) waitAlert(t *testing.T, name string, want map[string]string) {
	t.Helper()
	var last string
	for deadline := time.Now().Add(promTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		}
		if err := p.api("/api/v1/alerts", &data); err != nil {
			last = err.Error()
			continue
		}
		last = fmt.Sprintf("%+v", data.Alerts)
	alerts:
		for _, a := range data.Alerts {
			if a.Labels["alertname"] != name || a.State != "firing" {
				continue
			}
			for k, v := range want {
				if a.Labels[k] != v {
					continue alerts
				}
			}
			return
		}
	}
	t.Fatalf("alert %s with %v never fired (alerts: %s)", name, want, last)
}

// shippedRules is the rule file as written.
type shippedRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readShippedRules(t testing.TB) shippedRules {
	t.Helper()
	var rf shippedRules
	if err := yaml.Unmarshal([]byte(readRepoFile(t, promRules)), &rf); err != nil {
		t.Fatalf("%s: %v", promRules, err)
	}
	return rf
}

// shippedRuleNames lists the names of the shipped rules, sorted.
func shippedRuleNames(t testing.TB) []string {
	t.Helper()
	var names []string
	for _, g := range readShippedRules(t).Groups {
		for _, r := range g.Rules {
			names = append(names, r.Record+r.Alert)
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s holds no rules", promRules)
	}
	slices.Sort(names)
	return names
}
