package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

const jaegerModule = "github.com/jaegertracing/jaeger"

// buildJaeger builds the jaeger binary of the given module version from the
// Go module proxy, unless out exists. go install cannot build it (the module
// has a replace directive), so it is built inside the downloaded module, as
// its own main module, with its own go.sum.
func buildJaeger(ctx context.Context, version, out string) error {
	if _, err := os.Stat(out); err == nil {
		return nil
	}
	logf("building jaeger %s from the Go module proxy (once; a few minutes)", version)
	tmp, err := os.MkdirTemp("", "jaeger-download")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dl := exec.CommandContext(ctx, "go", "mod", "download", "-json", jaegerModule+"@"+version)
	dl.Dir = tmp // outside any module: go.mod and go.sum of this repo stay as they are
	dl.Stderr = os.Stderr
	b, err := dl.Output()
	if err != nil {
		return fmt.Errorf("downloading %s@%s: %w", jaegerModule, version, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(b, &mod); err != nil || mod.Dir == "" {
		return fmt.Errorf("downloading %s@%s: %s %v", jaegerModule, version, mod.Error, err)
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", abs, "./cmd/jaeger")
	build.Dir = mod.Dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building jaeger: %w", err)
	}
	return nil
}

// jaegerTrace is one trace as Jaeger's HTTP query API (/api/traces) returns it.
type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
}

type jaegerProcess struct {
	ServiceName string     `json:"serviceName"`
	Tags        []keyValue `json:"tags"`
}

type jaegerSpan struct {
	TraceID       string `json:"traceID"`
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64      `json:"startTime"` // µs since the epoch
	Duration  int64      `json:"duration"`  // µs
	Tags      []keyValue `json:"tags"`
	Logs      []struct {
		Timestamp int64      `json:"timestamp"`
		Fields    []keyValue `json:"fields"`
	} `json:"logs"`
	ProcessID string   `json:"processID"`
	Warnings  []string `json:"warnings"`
}

type keyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

func (s jaegerSpan) tag(key string) string { return lookup(s.Tags, key) }

func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// event returns the fields of the first log whose event field is name.
func (s jaegerSpan) event(name string) ([]keyValue, bool) {
	for _, l := range s.Logs {
		if lookup(l.Fields, "event") == name {
			return l.Fields, true
		}
	}
	return nil, false
}

func (s jaegerSpan) isError() bool {
	return s.tag("error") == "true" || s.tag("otel.status_code") == "ERROR"
}

func lookup(kvs []keyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return fmt.Sprint(kv.Value)
		}
	}
	return ""
}

// root returns the trace's server span that has no parent in the trace.
func (t jaegerTrace) root() (jaegerSpan, bool) {
	ids := map[string]bool{}
	for _, s := range t.Spans {
		ids[s.SpanID] = true
	}
	for _, s := range t.Spans {
		if !ids[s.parent()] {
			return s, true
		}
	}
	return jaegerSpan{}, false
}

func (t jaegerTrace) children(id string) []jaegerSpan {
	var out []jaegerSpan
	for _, s := range t.Spans {
		if s.parent() == id {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartTime < out[j].StartTime })
	return out
}

type jaegerClient struct{ base string }

func (c jaegerClient) get(ctx context.Context, path string, v any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("jaeger %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // int64 tags print as integers, not 1.7e+06
	return dec.Decode(v)
}

func (c jaegerClient) services(ctx context.Context) ([]string, error) {
	var out struct{ Data []string }
	err := c.get(ctx, "/api/services", &out)
	return out.Data, err
}

func (c jaegerClient) traces(ctx context.Context, service string) ([]jaegerTrace, error) {
	var out struct{ Data []jaegerTrace }
	q := url.Values{"service": {service}, "limit": {"100"}, "lookback": {"1h"}}
	err := c.get(ctx, "/api/traces?"+q.Encode(), &out)
	return out.Data, err
}

func (c jaegerClient) trace(ctx context.Context, id string) (jaegerTrace, error) {
	var out struct{ Data []jaegerTrace }
	if err := c.get(ctx, "/api/traces/"+id, &out); err != nil {
		return jaegerTrace{}, err
	}
	if len(out.Data) != 1 {
		return jaegerTrace{}, fmt.Errorf("jaeger: %d traces for id %s", len(out.Data), id)
	}
	return out.Data[0], nil
}

// waitTraces polls until want traces of service are stored.
func (c jaegerClient) waitTraces(ctx context.Context, service string, want int) ([]jaegerTrace, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		ts, err := c.traces(ctx, service)
		if err == nil && len(ts) >= want {
			return ts, nil
		}
		if time.Now().After(deadline) {
			return ts, fmt.Errorf("jaeger has %d traces of %s after 15 s, want %d (last error: %v)", len(ts), service, want, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// printTree writes the trace as an indented tree with events and key tags.
func printTree(w io.Writer, t jaegerTrace) {
	root, ok := t.root()
	if !ok {
		return
	}
	var walk func(s jaegerSpan, depth int)
	walk = func(s jaegerSpan, depth int) {
		status := ""
		if s.isError() {
			status = "  ERROR " + s.tag("otel.status_description")
		}
		var tags []string
		for _, k := range []string{"backseal.attempt", "url.path", "http.response.status_code", "backseal.outcome", "backseal.records", "backseal.resumes"} {
			if v := s.tag(k); v != "" {
				tags = append(tags, k+"="+v)
			}
		}
		fmt.Fprintf(w, "    %s%s  %s  [%s]%s\n", strings.Repeat("  ", depth), s.OperationName, time.Duration(s.Duration)*time.Microsecond, strings.Join(tags, " "), status)
		for _, l := range s.Logs {
			var fields []string
			for _, f := range l.Fields {
				if f.Key != "event" {
					fields = append(fields, fmt.Sprintf("%s=%v", f.Key, f.Value))
				}
			}
			slices.Sort(fields)
			fmt.Fprintf(w, "    %s  · +%s %s %s\n", strings.Repeat("  ", depth), time.Duration(l.Timestamp-root.StartTime)*time.Microsecond,
				lookup(l.Fields, "event"), strings.Join(fields, " "))
		}
		for _, c := range t.children(s.SpanID) {
			walk(c, depth+1)
		}
	}
	walk(root, 0)
}
