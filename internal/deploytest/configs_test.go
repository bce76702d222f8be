package deploytest

import (
	"net"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/backseal/backseal/internal/testkit/program"
	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/upstream"
)

// configKeys are the sidecar's settings, as YAML keys.
func configKeys() map[string]bool {
	keys := map[string]bool{}
	typ := reflect.TypeFor[proxy.Config]()
	for i := range typ.NumField() {
		if k, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys[k] = true
		}
	}
	return keys
}

// The parts of a Kubernetes manifest the example must get right.
type (
	k8sObject struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			Selector map[string]any `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
			Template struct {
				Metadata struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					TerminationGracePeriodSeconds int            `yaml:"terminationGracePeriodSeconds"`
					Containers                    []k8sContainer `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	k8sContainer struct {
		Name    string   `yaml:"name"`
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
		LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
		Lifecycle      struct {
			PreStop struct {
				Sleep *struct {
					Seconds int `yaml:"seconds"`
				} `yaml:"sleep"`
			} `yaml:"preStop"`
		} `yaml:"lifecycle"`
		Resources struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			RunAsNonRoot bool `yaml:"runAsNonRoot"`
			RunAsUser    int  `yaml:"runAsUser"`
		} `yaml:"securityContext"`
	}
	k8sProbe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
)

type k8sManifest struct {
	service, statefulSet k8sObject
}

const k8sFile = "configs/kubernetes/aptos-node-with-backseal.yaml"

func readKubernetes(t testing.TB) k8sManifest {
	t.Helper()
	var m k8sManifest
	dec := yaml.NewDecoder(strings.NewReader(readRepoFile(t, k8sFile)))
	for {
		var o k8sObject
		if err := dec.Decode(&o); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("%s: %v", k8sFile, err)
		}
		switch o.Kind {
		case "Service":
			m.service = o
		case "StatefulSet":
			m.statefulSet = o
		default:
			t.Fatalf("%s: unexpected kind %q", k8sFile, o.Kind)
		}
	}
	if m.service.Kind == "" || m.statefulSet.Kind == "" {
		t.Fatalf("%s: want a Service and a StatefulSet", k8sFile)
	}
	return m
}

func (m k8sManifest) container(t testing.TB, name string) k8sContainer {
	t.Helper()
	for _, c := range m.statefulSet.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s: no container %q", k8sFile, name)
	return k8sContainer{}
}

func (c k8sContainer) env(name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func (c k8sContainer) port(name string) int {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKubernetesExample: the pod runs the node and backseal; probes hit the
// admin port, which listens on the pod IP; the shutdown timeline lets
// draining finish before the node stops; the Service targets backseal.
// (TestDockerfile runs the binary with this container's args and env.)
func TestKubernetesExample(t *testing.T) {
	m := readKubernetes(t)
	def := proxy.DefaultConfig()
	node, bs := m.container(t, "node"), m.container(t, "backseal")
	pod := m.statefulSet.Spec.Template

	keys := configKeys()
	for _, e := range bs.Env {
		key, ok := strings.CutPrefix(e.Name, "BACKSEAL_")
		if ok && !keys[strings.ToLower(key)] {
			t.Errorf("env %s is no backseal setting", e.Name)
		}
	}
	adminListen, _ := bs.env("BACKSEAL_ADMIN_LISTEN")
	host, _, err := net.SplitHostPort(adminListen)
	if err != nil || (host != "0.0.0.0" && host != "" && host != "::") {
		t.Errorf("BACKSEAL_ADMIN_LISTEN=%q: the kubelet probes the pod IP, so listen on all addresses", adminListen)
	} else if portOf(t, adminListen) != bs.port("admin") {
		t.Errorf("admin listens on %s, container port admin is %d", adminListen, bs.port("admin"))
	}
	if bs.port("backup") != portOf(t, def.Listen) {
		t.Errorf("container port backup %d, backseal listens on %s", bs.port("backup"), def.Listen)
	}
	for name, pr := range map[string]struct {
		probe *k8sProbe
		path  string
	}{"readiness": {bs.ReadinessProbe, "/readyz"}, "liveness": {bs.LivenessProbe, "/healthz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil || pr.probe.HTTPGet.Path != pr.path || pr.probe.HTTPGet.Port != "admin" {
			t.Errorf("%s probe: want httpGet %s on port admin", name, pr.path)
		}
	}

	drain := def.DrainTimeout
	if v, ok := bs.env("BACKSEAL_DRAIN_TIMEOUT"); ok {
		if drain, err = time.ParseDuration(v); err != nil {
			t.Fatal(err)
		}
	}
	if bs.Lifecycle.PreStop.Sleep == nil || node.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("both containers need a preStop sleep")
	}
	bsStop := time.Duration(bs.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	nodeStop := time.Duration(node.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	grace := time.Duration(pod.Spec.TerminationGracePeriodSeconds) * time.Second
	if bsStop <= 0 || bsStop+drain >= nodeStop || nodeStop >= grace {
		t.Errorf("shutdown timeline: backseal preStop %v + drain %v must end before the node's preStop %v, which must end before the grace period %v",
			bsStop, drain, nodeStop, grace)
	}

	if bs.Resources.Requests["cpu"] == "" || bs.Resources.Requests["memory"] == "" || bs.Resources.Limits["memory"] == "" {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", bs.Resources)
	}
	uid, _, _ := strings.Cut(readDockerfileUser(t), ":")
	if !bs.SecurityContext.RunAsNonRoot || strconv.Itoa(bs.SecurityContext.RunAsUser) != uid {
		t.Errorf("securityContext %+v: want runAsNonRoot and the image's user %s", bs.SecurityContext, uid)
	}

	svc := m.service.Spec
	for k, v := range svc.Selector {
		if pod.Metadata.Labels[k] != v {
			t.Errorf("the Service selects %s=%v, the pod is labelled %v", k, v, pod.Metadata.Labels)
		}
	}
	if len(svc.Ports) != 1 || svc.Ports[0].TargetPort != "backup" || bs.port("backup") == 0 {
		t.Errorf("Service ports %+v: want one, targeting backseal's port backup", svc.Ports)
	}
}

func readDockerfileUser(t testing.TB) string {
	t.Helper()
	df := parseDockerfile(t, readRepoFile(t, "Dockerfile"))
	return df.stages[len(df.stages)-1].one(t, "USER").args
}

// unitFile maps "Section.Key" to its values, in order.
func readUnit(t testing.TB, text string) map[string][]string {
	t.Helper()
	u := map[string][]string{}
	section := ""
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("unit line %q", line)
			}
			u[section+"."+k] = append(u[section+"."+k], v)
		}
	}
	return u
}

// TestSystemdUnit: the unit runs what the image runs, stops with SIGTERM,
// waits longer than the drain, orders itself after the node (so it stops
// first); and systemd-analyze accepts it.
func TestSystemdUnit(t *testing.T) {
	const name = "configs/systemd/backseal.service"
	text := readRepoFile(t, name)
	u := readUnit(t, text)
	exec0 := strings.Fields(strings.Join(u["Service.ExecStart"], " "))
	img := readDockerfile(t)
	if len(exec0) < 2 || !slices.Equal(exec0[1:], img.cmd) {
		t.Errorf("ExecStart %q: want the binary and the image's CMD %q", exec0, img.cmd)
	}
	if got := strings.Join(u["Service.KillSignal"], ""); got != "SIGTERM" {
		t.Errorf("KillSignal %q, want SIGTERM (drain)", got)
	}
	stop, err := time.ParseDuration(strings.Join(u["Service.TimeoutStopSec"], ""))
	if err != nil || stop <= proxy.DefaultConfig().DrainTimeout {
		t.Errorf("TimeoutStopSec %v (%v): must exceed drain_timeout %v", u["Service.TimeoutStopSec"], err, proxy.DefaultConfig().DrainTimeout)
	}
	if !strings.Contains(strings.Join(u["Unit.After"], " "), "aptos-node.service") {
		t.Error("After= must name the node's unit, so that backseal stops before the node")
	}

	t.Run("systemd-analyze verify", func(t *testing.T) {
		analyze := program.Need(t, "systemd-analyze", "systemd")
		// verify wants ExecStart to exist; /bin/true stands in for the binary.
		unit := filepath.Join(t.TempDir(), "backseal.service")
		writeFile(t, unit, render(t, name, text, sub{"ExecStart=" + exec0[0], "ExecStart=/bin/true"}))
		out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
}

// TestOTelCollectorExample: every pipeline uses defined components, and the
// scrape target is backseal's admin listener.
func TestOTelCollectorExample(t *testing.T) {
	const name = "configs/otel/otel-collector.yaml"
	var cfg struct {
		Receivers  map[string]any `yaml:"receivers"`
		Processors map[string]any `yaml:"processors"`
		Exporters  map[string]any `yaml:"exporters"`
		Service    struct {
			Pipelines map[string]struct {
				Receivers  []string `yaml:"receivers"`
				Processors []string `yaml:"processors"`
				Exporters  []string `yaml:"exporters"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	text := readRepoFile(t, name)
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, want := range []string{"traces", "metrics"} {
		p, ok := cfg.Service.Pipelines[want]
		if !ok {
			t.Errorf("no %s pipeline", want)
			continue
		}
		for kind, list := range map[string][]string{"receiver": p.Receivers, "processor": p.Processors, "exporter": p.Exporters} {
			defined := map[string]map[string]any{"receiver": cfg.Receivers, "processor": cfg.Processors, "exporter": cfg.Exporters}[kind]
			if len(list) == 0 && kind != "processor" {
				t.Errorf("%s pipeline: no %s", want, kind)
			}
			for _, c := range list {
				if _, ok := defined[c]; !ok {
					t.Errorf("%s pipeline: %s %q is not defined", want, kind, c)
				}
			}
		}
	}
	target := `targets: ["` + proxy.DefaultConfig().AdminListen + `"]`
	if !strings.Contains(text, target) || !strings.Contains(text, "metrics_path: /metrics") {
		t.Errorf("%s: want the scrape of %s and /metrics", name, target)
	}
}

// TestBalancerRoutes: the nginx and HAProxy configs route exactly the
// legacy service's endpoints (TestBalancers sends a request to each).
func TestBalancerRoutes(t *testing.T) {
	var want []string
	for _, e := range upstream.Endpoints() {
		want = append(want, e.String())
	}
	slices.Sort(want)
	for _, name := range []string{"configs/nginx/backseal.conf", "configs/haproxy/backseal.cfg"} {
		m := regexp.MustCompile(`\^/\(([a-z_|]+)\)\(/\|\$\)`).FindStringSubmatch(readRepoFile(t, name))
		if m == nil {
			t.Errorf("%s: no ^/(a|b|...)(/|$) route", name)
			continue
		}
		got := strings.Split(m[1], "|")
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s routes %v, the legacy service has %v", name, got, want)
		}
	}
}
