package deploytest

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/backseal/backseal/proxy"
	"github.com/backseal/backseal/sim"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// stage is one FROM and what follows it.
type stage struct {
	from, name string
	ins        []instruction
}

// dockerfile is the parsed Dockerfile: the ARGs before the first FROM, and the stages.
type dockerfile struct {
	globalArgs map[string]string
	stages     []stage
}

func parseDockerfile(t testing.TB, text string) dockerfile {
	t.Helper()
	df := dockerfile{globalArgs: map[string]string{}}
	var pending string
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		trimmed := strings.TrimSpace(line)
		if pending == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			pending += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		full := strings.TrimSpace(pending + trimmed)
		pending = ""
		cmd, args, _ := strings.Cut(full, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		switch {
		case in.cmd == "FROM":
			f := strings.Fields(in.args)
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			df.stages = append(df.stages, st)
		case len(df.stages) == 0 && in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			df.globalArgs[k] = v
		case len(df.stages) == 0:
			t.Fatalf("Dockerfile: %s before the first FROM", in.cmd)
		default:
			st := &df.stages[len(df.stages)-1]
			st.ins = append(st.ins, in)
		}
	}
	return df
}

// all returns the stage's instructions of one kind.
func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// one returns the stage's only instruction of a kind.
func (s stage) one(t testing.TB, cmd string) instruction {
	t.Helper()
	ins := s.all(cmd)
	if len(ins) != 1 {
		t.Fatalf("Dockerfile stage %q: %d %s instructions, want 1", s.from, len(ins), cmd)
	}
	return ins[0]
}

func jsonArgs(t testing.TB, what, text string) []string {
	t.Helper()
	var args []string
	if err := json.Unmarshal([]byte(text), &args); err != nil || len(args) == 0 {
		t.Fatalf("%s %s: want the exec (JSON array) form, so that signals reach backseal directly: %v", what, text, err)
	}
	return args
}

// image is what the Dockerfile promises about the runtime image.
type image struct {
	buildLine   string            // the RUN line that builds the binary
	buildOutput string            // its -o path in the build stage
	binary      string            // where the binary lands in the image
	copies      map[string]string // image path -> context path (COPY from the context)
	user        string
	expose      []string
	healthcheck []string
	stopSignal  string
	entrypoint  []string
	cmd         []string
}

// readDockerfile parses the Dockerfile and checks what every deployment
// relies on: a Go image matching go.mod, the build flags of `make build`, a
// static non-root final stage, the ports, the health check and the
// entrypoint in exec form.
func readDockerfile(t testing.TB) image {
	t.Helper()
	df := parseDockerfile(t, readRepoFile(t, "Dockerfile"))
	if len(df.stages) != 2 {
		t.Fatalf("Dockerfile: %d stages, want 2 (build, runtime)", len(df.stages))
	}
	build, final := df.stages[0], df.stages[1]

	goMod := readRepoFile(t, "go.mod")
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(goMod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if build.from != "golang:${GO_VERSION}" || df.globalArgs["GO_VERSION"] != m[1] {
		t.Errorf("build stage FROM %s with GO_VERSION=%s, want golang:${GO_VERSION} with %s (go.mod)", build.from, df.globalArgs["GO_VERSION"], m[1])
	}

	var img image
	for _, in := range build.all("RUN") {
		if strings.Contains(in.args, "go build") {
			img.buildLine = in.args
		}
	}
	if img.buildLine == "" {
		t.Fatal("Dockerfile: no RUN ... go build in the build stage")
	}
	if !slices.ContainsFunc(build.all("ARG"), func(in instruction) bool { return strings.HasPrefix(in.args, "VERSION") }) {
		t.Error("Dockerfile: the build stage does not declare ARG VERSION")
	}
	// The same flags as `make build`.
	mk := readRepoFile(t, "Makefile")
	ld := regexp.MustCompile(`(?m)^LDFLAGS\s*:?=\s*(.*)$`).FindStringSubmatch(mk)
	recipe := regexp.MustCompile(`(?m)^build:.*\n\t(.*)$`).FindStringSubmatch(mk)
	if ld == nil || recipe == nil {
		t.Fatal("Makefile: no LDFLAGS or no build recipe")
	}
	wantLD := strings.ReplaceAll(strings.TrimSpace(ld[1]), "$(VERSION)", "${VERSION}")
	for _, flag := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "` + wantLD + `"`} {
		if !strings.Contains(img.buildLine, flag) {
			t.Errorf("Dockerfile build line lacks %s (make build has it):\n%s", flag, img.buildLine)
		}
	}
	for _, flag := range []string{"CGO_ENABLED=0", "-trimpath", "-ldflags '$(LDFLAGS)'"} {
		if !strings.Contains(recipe[1], flag) {
			t.Errorf("make build lacks %s, which the Dockerfile uses: %s", flag, recipe[1])
		}
	}
	if f := strings.Fields(img.buildLine); slices.Index(f, "-o") >= 0 && slices.Index(f, "-o")+1 < len(f) {
		img.buildOutput = f[slices.Index(f, "-o")+1]
	} else {
		t.Fatal("Dockerfile build line has no -o")
	}

	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("runtime stage FROM %s, want distroless static or scratch", final.from)
	}
	img.copies = map[string]string{}
	for _, in := range final.all("COPY") {
		f := strings.Fields(in.args)
		if len(f) == 3 && f[0] == "--from="+build.name && f[1] == img.buildOutput {
			img.binary = f[2]
		} else if len(f) == 2 {
			img.copies[f[1]] = f[0]
		}
	}
	if img.binary == "" {
		t.Fatalf("runtime stage does not COPY --from=%s %s", build.name, img.buildOutput)
	}
	img.user = final.one(t, "USER").args
	if u, _, _ := strings.Cut(img.user, ":"); u == "root" || u == "0" || u == "" {
		t.Errorf("USER %q: want a non-root user", img.user)
	}
	for _, in := range final.all("EXPOSE") {
		img.expose = append(img.expose, strings.Fields(in.args)...)
	}
	def := proxy.DefaultConfig()
	for _, addr := range []string{def.Listen, def.AdminListen} {
		_, port, _ := net.SplitHostPort(addr)
		if !slices.Contains(img.expose, port) && !slices.Contains(img.expose, port+"/tcp") {
			t.Errorf("EXPOSE %v lacks %s (default %s)", img.expose, port, addr)
		}
	}
	hc := final.one(t, "HEALTHCHECK").args
	_, hcCmd, ok := strings.Cut(hc, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %s: no CMD", hc)
	}
	img.healthcheck = jsonArgs(t, "HEALTHCHECK CMD", hcCmd)
	wantURL := "http://" + def.AdminListen + "/healthz"
	if img.healthcheck[0] != img.binary || img.healthcheck[1] != "health" || img.healthcheck[len(img.healthcheck)-1] != wantURL {
		t.Errorf("HEALTHCHECK CMD %q: want %s health ... %s", img.healthcheck, img.binary, wantURL)
	}
	img.stopSignal = final.one(t, "STOPSIGNAL").args
	if img.stopSignal != "SIGTERM" {
		t.Errorf("STOPSIGNAL %s: backseal drains on SIGTERM", img.stopSignal)
	}
	img.entrypoint = jsonArgs(t, "ENTRYPOINT", final.one(t, "ENTRYPOINT").args)
	img.cmd = jsonArgs(t, "CMD", final.one(t, "CMD").args)
	if !slices.Equal(img.entrypoint, []string{img.binary}) {
		t.Errorf("ENTRYPOINT %q, want [%q]", img.entrypoint, img.binary)
	}
	return img
}

// dockerignore is the subset of .dockerignore syntax the file uses: paths
// and globs relative to the context root, ** for any directories; no "!".
type dockerignore []string

func readDockerignore(t testing.TB) dockerignore {
	t.Helper()
	var d dockerignore
	for line := range strings.Lines(readRepoFile(t, ".dockerignore")) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf(".dockerignore: exceptions (%s) are not supported by this test", line)
		}
		d = append(d, strings.TrimPrefix(line, "/"))
	}
	return d
}

func (d dockerignore) excludes(rel string) bool {
	parts := strings.Split(rel, "/")
	for _, p := range d {
		suffixes := [][]string{parts}
		if rest, ok := strings.CutPrefix(p, "**/"); ok {
			p = rest
			suffixes = nil
			for i := range parts {
				suffixes = append(suffixes, parts[i:])
			}
		}
		for _, s := range suffixes {
			// A pattern matching a directory excludes what is under it.
			for n := 1; n <= len(s); n++ {
				if ok, _ := path.Match(p, strings.Join(s[:n], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

// buildContext copies the repository into dir as `docker build` would send
// it: .dockerignore applied.
func buildContext(t testing.TB, dir string) {
	t.Helper()
	ignore := readDockerignore(t)
	root := repoRoot(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		if ignore.excludes(filepath.ToSlash(rel)) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		if !e.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// dockerBuild runs the Dockerfile's build line, as the build stage does, on
// a fresh build context in a directory of its own, and returns the binary.
func dockerBuild(t testing.TB, img image, version string) (binary, ctx string) {
	t.Helper()
	base := t.TempDir()
	ctx = filepath.Join(base, "src")
	buildContext(t, ctx)
	binary = filepath.Join(base, "out", "backseal")
	line := strings.ReplaceAll(img.buildLine, img.buildOutput, binary)
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), "VERSION="+version)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build line failed: %v\n%s\n%s", err, line, out)
	}
	return binary, ctx
}

// TestDockerfile builds the binary with the Dockerfile's own build line on a
// .dockerignore'd context (no Docker engine needed), and checks it: static,
// trimmed, stamped, reproducible; then runs the image's ENTRYPOINT with the
// Kubernetes example's args and env, and the HEALTHCHECK command against it.
func TestDockerfile(t *testing.T) {
	img := readDockerfile(t)
	const stamp = "v9.8.7-deploytest"
	bin, ctx := dockerBuild(t, img, stamp)

	t.Run("static", func(t *testing.T) {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("program header %v: the binary is dynamically linked", p.Type)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("imports shared libraries %v", libs)
		}
		if f.Section(".symtab") != nil {
			t.Error("symbol table present: -s did not apply")
		}
		if f.Section(".debug_info") != nil {
			t.Error("DWARF present: -w did not apply")
		}
	})
	t.Run("build info", func(t *testing.T) {
		info, err := buildinfo.ReadFile(bin) // what `go version -m` prints
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, s := range info.Settings {
			got[s.Key] = s.Value
		}
		// (With -trimpath, Go leaves -ldflags out of the build info: the
		// version subtest checks the stamp, "static" the -s -w.)
		if got["CGO_ENABLED"] != "0" || got["-trimpath"] != "true" {
			t.Errorf("build settings %v: want CGO_ENABLED=0 and -trimpath=true", got)
		}
		if _, ok := got["vcs.revision"]; ok {
			t.Errorf("VCS stamp %s in a build from the Docker context, which has no .git", got["vcs.revision"])
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(ctx)) {
			t.Errorf("the binary contains its build directory %s", ctx)
		}
	})
	t.Run("version", func(t *testing.T) {
		out, err := exec.Command(bin, "version").CombinedOutput()
		if err != nil || string(out) != "backseal "+stamp+"\n" {
			t.Errorf("backseal version: %q, %v; want the stamp %s", out, err, stamp)
		}
	})
	t.Run("reproducible", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short: one build only")
		}
		again, _ := dockerBuild(t, img, stamp) // another directory: -trimpath must hide it
		if a, b := fileHash(t, bin), fileHash(t, again); a != b {
			t.Errorf("two builds of the same context in different directories differ: %x vs %x", a, b)
		}
	})
	t.Run("entrypoint", func(t *testing.T) {
		runEntrypoint(t, img, bin, ctx)
	})
}

func fileHash(t testing.TB, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// runEntrypoint starts the binary as Kubernetes starts the image with the
// example manifest (ENTRYPOINT, the container's args, its env), on free
// loopback ports, in front of a simulator; then the HEALTHCHECK command
// must pass, backup requests must work, and SIGTERM must drain and exit 0.
func runEntrypoint(t *testing.T, img image, bin, ctx string) {
	k8s := readKubernetes(t)
	c := k8s.container(t, "backseal")
	args := c.Args
	if len(c.Command) > 0 {
		t.Fatalf("the backseal container overrides the image's ENTRYPOINT (%q)", c.Command)
	}
	if !slices.Equal(args, img.cmd) {
		t.Errorf("Kubernetes args %q differ from the image's CMD %q", args, img.cmd)
	}
	// Paths inside the image map to the build context.
	for i, a := range args {
		if src, ok := img.copies[a]; ok {
			args[i] = filepath.Join(ctx, filepath.FromSlash(src))
		}
	}
	up := startSim(t)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env := append(os.Environ(), "BACKSEAL_UPSTREAM="+up.URL())
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	// Last wins: the test's own addresses instead of 0.0.0.0:9187 and :6187.
	env = append(env, "BACKSEAL_LISTEN="+listen, "BACKSEAL_ADMIN_LISTEN="+admin)
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	p := startProcess(t, cmd)

	health := slices.Clone(img.healthcheck)
	health[0] = bin
	health[len(health)-1] = strings.Replace(health[len(health)-1], proxy.DefaultConfig().AdminListen, admin, 1)
	healthy := func() (int, string) {
		out, err := exec.Command(health[0], health[1:]...).CombinedOutput()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return 0, string(out)
		case errors.As(err, &exit):
			return exit.ExitCode(), string(out)
		}
		t.Fatal(err)
		return -1, ""
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out := healthy()
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("HEALTHCHECK never passed: exit %d %s\nbackseal output:\n%s", code, out, p.out.String())
		}
		select {
		case <-p.done:
			t.Fatalf("backseal exited: %v\n%s", p.cmd.ProcessState, p.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	path := "/transactions/0/300"
	_, want := sim.NewChain(testChain()).Body(mustParse(t, path))
	if r := wireGet(t, listen, path); r.status != 200 || !r.terminated || !bytes.Equal(r.body, want) {
		t.Errorf("GET %s through the container's entrypoint: %d, terminated %v, %d bytes (want %d)", path, r.status, r.terminated, len(r.body), len(want))
	}
	if resp, err := http.Get("http://" + admin + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/readyz: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("no exit within 10 s of SIGTERM with nothing in flight\n%s", p.out.String())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0 (drained)\n%s", code, p.out.String())
	}
	if code, out := healthy(); code != 1 {
		t.Errorf("HEALTHCHECK with backseal gone: exit %d (%s), want 1", code, out)
	}
}
