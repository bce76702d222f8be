package main

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/backseal/backseal/telemetry"
)

// The Jaeger binary built from the Go module carries no UI assets (they are
// built from the jaeger-ui JavaScript project and embedded only in release
// builds), so its UI is a placeholder page. The screenshot shows the trace
// exactly as Jaeger's query API returns it, drawn as a waterfall by this page.
var page = template.Must(template.New("trace").Funcs(template.FuncMap{
	"pct": func(f float64) string { return fmt.Sprintf("%.3f%%", f*100) },
}).Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>trace {{.TraceID}}</title>
<style>
body { font: 13px/1.35 "DejaVu Sans", sans-serif; margin: 0; color: #222; background: #fff; }
header { background: #1f2937; color: #f9fafb; padding: 10px 16px; }
header h1 { font-size: 17px; margin: 0 0 3px; font-weight: 600; }
header .meta { color: #cbd5e1; font-size: 12px; }
.src { color: #94a3b8; font-size: 11px; }
.grid { display: grid; grid-template-columns: 500px 1fr; }
.ticks, .row { border-bottom: 1px solid #e5e7eb; }
.ticks div.tl { position: relative; height: 22px; }
.tick { position: absolute; top: 4px; font-size: 11px; color: #6b7280; border-left: 1px solid #d1d5db; padding-left: 3px; height: 18px; }
.name { padding: 5px 8px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; border-right: 1px solid #e5e7eb; }
.name .svc { color: #6b7280; font-size: 11px; }
.tl { position: relative; height: 30px; }
.bar { position: absolute; top: 7px; height: 14px; border-radius: 2px; min-width: 2px; }
.bar.server { background: #4e79a7; } .bar.stream { background: #59a14f; } .bar.resume { background: #f28e2b; } .bar.count { background: #a0a0a0; }
.bar.error { outline: 2px solid #d62728; }
.dur { position: absolute; top: 8px; font-size: 11px; color: #374151; white-space: nowrap; }
.ev { position: absolute; top: 3px; width: 2px; height: 22px; background: #111; }
.ev.failure_detected { background: #d62728; width: 3px; } .ev.resume_start { background: #f28e2b; } .ev.resume_success { background: #2ca02c; }
.evlabel { position: absolute; top: 22px; font-size: 10px; color: #b91c1c; white-space: nowrap; }
.err { color: #d62728; font-weight: 600; }
section { padding: 8px 16px; }
h2 { font-size: 14px; margin: 6px 0; }
table { border-collapse: collapse; font-size: 12px; }
td, th { border: 1px solid #e5e7eb; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; font-weight: 600; }
.cols { display: flex; gap: 24px; align-items: flex-start; }
.cols > div { min-width: 0; }
.cols > div.wide { flex: 1; }
td code { word-break: break-word; }
.legend { padding: 6px 16px; font-size: 11px; color: #4b5563; }
.legend i { display: inline-block; width: 14px; height: 10px; margin: 0 4px 0 12px; vertical-align: middle; border-radius: 2px; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 11.5px; }
</style></head><body>
<header>
<h1>{{.Service}}: {{.RootName}}</h1>
<div class="meta">Trace {{.TraceID}} · {{.Duration}} · {{len .Rows}} spans · {{.Started}}</div>
<div class="src">As stored in Jaeger {{.Version}} and returned by its query API ({{.API}}), drawn by cmd/tracing-demo</div>
</header>
<div class="grid ticks"><div class="name"><b>Service &amp; operation</b></div><div class="tl">{{range .Ticks}}<span class="tick" style="left:{{pct .At}}">{{.Label}}</span>{{end}}</div></div>
{{range .Rows}}<div class="grid row">
<div class="name" style="padding-left:{{.Indent}}px">{{if .Error}}<span class="err">!</span> {{end}}{{.Name}} <span class="svc">{{.Attempt}}</span></div>
<div class="tl"><div class="bar {{.Class}}{{if .Error}} error{{end}}" style="left:{{pct .Start}};width:{{pct .Width}}"></div>
<span class="dur" style="left:calc({{pct .End}} + 6px)">{{.Duration}}</span>
{{range .Events}}<div class="ev {{.Name}}" style="left:{{pct .At}}" title="{{.Name}}"></div>{{if .Label}}<span class="evlabel" style="left:{{pct .At}}">{{.Label}}</span>{{end}}{{end}}
</div></div>{{end}}
<div class="legend">spans:<i style="background:#4e79a7"></i>server<i style="background:#59a14f"></i>upstream stream<i style="background:#f28e2b"></i>upstream resume<i style="background:#a0a0a0"></i>count lookup<i style="outline:2px solid #d62728"></i>error
 &nbsp; events:<i style="background:#111;width:3px"></i>first_byte<i style="background:#d62728;width:3px"></i>failure_detected<i style="background:#f28e2b;width:3px"></i>resume_start<i style="background:#2ca02c;width:3px"></i>resume_success</div>
<section class="cols">
<div><h2>Server span attributes</h2><table>{{range .RootTags}}<tr><th>{{.Key}}</th><td><code>{{.Value}}</code></td></tr>{{end}}</table></div>
<div class="wide"><h2>Events</h2><table><tr><th>at</th><th>span</th><th>event</th><th>attributes</th></tr>
{{range .EventRows}}<tr><td>{{.At}}</td><td>{{.Span}}</td><td><b>{{.Name}}</b></td><td><code>{{.Attrs}}</code></td></tr>{{end}}</table>
<h2>Resource</h2><table>{{range .Resource}}<tr><th>{{.Key}}</th><td><code>{{.Value}}</code></td></tr>{{end}}</table></div>
</section></body></html>`))

type row struct {
	Name, Attempt, Class, Duration string
	Indent                         int
	Start, Width, End              float64
	Error                          bool
	Events                         []marker
}

type marker struct {
	Name, Label string
	At          float64
}

type eventRow struct {
	At, Span, Name, Attrs string
	us                    int64
}

type tick struct {
	At    float64
	Label string
}

type kv struct{ Key, Value string }

func renderHTML(t jaegerTrace, queryBase, version string) (string, error) {
	root, ok := t.root()
	if !ok {
		return "", fmt.Errorf("trace %s has no root span", t.TraceID)
	}
	start, end := root.StartTime, root.StartTime+root.Duration
	for _, s := range t.Spans {
		end = max(end, s.StartTime+s.Duration)
	}
	total := float64(max(end-start, 1))
	frac := func(us int64) float64 { return float64(us-start) / total }
	d := func(us int64) string {
		return (time.Duration(us) * time.Microsecond).Round(10 * time.Microsecond).String()
	}

	data := struct {
		Service, RootName, TraceID, Duration, Started, Version, API string
		Ticks                                                       []tick
		Rows                                                        []row
		RootTags, Resource                                          []kv
		EventRows                                                   []eventRow
	}{
		Service: t.Processes[root.ProcessID].ServiceName, RootName: root.OperationName, TraceID: t.TraceID,
		Duration: d(end - start), Started: time.UnixMicro(root.StartTime).UTC().Format("2006-01-02 15:04:05.000 UTC"),
		Version: version, API: queryBase + "/api/traces/" + t.TraceID,
	}
	for i := 0; i <= 4; i++ {
		data.Ticks = append(data.Ticks, tick{At: float64(i) / 4 * 0.9, Label: d(int64(float64(i) / 4 * 0.9 * total))})
	}
	var walk func(s jaegerSpan, depth int)
	walk = func(s jaegerSpan, depth int) {
		r := row{
			Name: s.OperationName, Attempt: s.tag(telemetry.AttrAttempt), Indent: 8 + 18*depth,
			Start: frac(s.StartTime) * 0.9, Width: float64(s.Duration) / total * 0.9, End: frac(s.StartTime+s.Duration) * 0.9,
			Duration: d(s.Duration), Error: s.isError(), Class: "server",
		}
		if r.Attempt != "" {
			r.Class = r.Attempt
		}
		for _, l := range s.Logs {
			name := lookup(l.Fields, "event")
			m := marker{Name: name, At: frac(l.Timestamp) * 0.9}
			var attrs []string
			for _, f := range l.Fields {
				if f.Key != "event" {
					attrs = append(attrs, fmt.Sprintf("%s=%v", f.Key, f.Value))
				}
			}
			slices.Sort(attrs)
			if name == telemetry.EventFailureDetected {
				m.Label = fmt.Sprintf("%s @ record %s", lookup(l.Fields, telemetry.AttrOutcome), lookup(l.Fields, telemetry.AttrRecordIndex))
			}
			r.Events = append(r.Events, m)
			data.EventRows = append(data.EventRows, eventRow{us: l.Timestamp, At: "+" + d(l.Timestamp-start), Span: s.OperationName, Name: name, Attrs: strings.Join(attrs, " ")})
		}
		data.Rows = append(data.Rows, r)
		for _, c := range t.children(s.SpanID) {
			walk(c, depth+1)
		}
	}
	walk(root, 0)
	slices.SortStableFunc(data.EventRows, func(a, b eventRow) int { return cmp.Compare(a.us, b.us) })
	for _, tag := range root.Tags {
		if tag.Key == "internal.span.format" {
			continue
		}
		data.RootTags = append(data.RootTags, kv{tag.Key, fmt.Sprint(tag.Value)})
	}
	for _, tag := range t.Processes[root.ProcessID].Tags {
		if strings.HasPrefix(tag.Key, "telemetry.sdk") || tag.Key == "host.name" || tag.Key == "process.pid" {
			continue
		}
		data.Resource = append(data.Resource, kv{tag.Key, fmt.Sprint(tag.Value)})
	}
	var b strings.Builder
	err := page.Execute(&b, data)
	return b.String(), err
}

// capture renders the trace and screenshots it with headless Chromium.
func capture(ctx context.Context, t jaegerTrace, queryBase, version, work, out, chromium string) error {
	html, err := renderHTML(t, queryBase, version)
	if err != nil {
		return err
	}
	htmlPath := filepath.Join(work, "trace.html")
	if err := os.WriteFile(htmlPath, []byte(html), 0o644); err != nil {
		return err
	}
	profile, err := os.MkdirTemp(work, "chromium")
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--hide-scrollbars", "--user-data-dir="+profile, "--window-size=1400,900",
		"--screenshot="+abs, "file://"+htmlPath)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("chromium: %w\n%s", err, b)
	}
	if fi, err := os.Stat(abs); err != nil || fi.Size() == 0 {
		return fmt.Errorf("chromium wrote no screenshot to %s", abs)
	}
	return nil
}
