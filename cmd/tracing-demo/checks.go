package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/backseal/backseal/internal/promtest"
	"github.com/backseal/backseal/telemetry"
)

const routeTransactions = "/transactions/{start_version}/{num_transactions}"

// checkTraces finds each request's trace in what Jaeger returned and checks
// it; it prints every trace as a tree and returns the healed one.
func checkTraces(ctx context.Context, jc jaegerClient, traces []jaegerTrace) (jaegerTrace, error) {
	byPath := map[string]jaegerTrace{}
	for _, t := range traces {
		if root, ok := t.root(); ok {
			byPath[root.tag("url.path")] = t
		}
	}
	var errs []error
	check := func(cond bool, format string, args ...any) {
		if !cond {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	get := func(path string) (jaegerTrace, jaegerSpan, bool) {
		t, ok := byPath[path]
		if !ok {
			errs = append(errs, fmt.Errorf("no trace for %s", path))
			return t, jaegerSpan{}, false
		}
		// The search result may be partial; read the whole trace.
		if full, err := jc.trace(ctx, t.TraceID); err == nil {
			t = full
		}
		root, _ := t.root()
		fmt.Fprintf(os.Stderr, "\n  trace %s (%s)\n", t.TraceID, path)
		printTree(os.Stderr, t)
		return t, root, true
	}

	healed, root, ok := get("/transactions/1000/1000")
	if ok {
		check(root.OperationName == "GET "+routeTransactions, "healed: server span %q", root.OperationName)
		check(root.tag("span.kind") == "server", "healed: kind %q", root.tag("span.kind"))
		check(root.tag("http.route") == routeTransactions, "healed: http.route %q", root.tag("http.route"))
		check(root.tag("http.response.status_code") == "200", "healed: status %q", root.tag("http.response.status_code"))
		check(root.tag(telemetry.AttrOutcome) == "ok", "healed: outcome %q", root.tag(telemetry.AttrOutcome))
		check(root.tag(telemetry.AttrResumes) == "1", "healed: resumes %q", root.tag(telemetry.AttrResumes))
		check(root.tag(telemetry.AttrRecords) == "1000", "healed: records %q", root.tag(telemetry.AttrRecords))
		check(!root.isError(), "healed: the server span is an error")
		var attempts []string
		for _, c := range healed.children(root.SpanID) {
			attempts = append(attempts, c.tag(telemetry.AttrAttempt))
			check(strings.HasPrefix(c.OperationName, "upstream GET /"), "healed: child %q", c.OperationName)
		}
		check(slices.Contains(attempts, telemetry.AttemptStream) && slices.Contains(attempts, telemetry.AttemptResume),
			"healed: attempts %v, want a stream and a resume", attempts)
		ev, found := findEvent(healed, telemetry.EventFailureDetected)
		check(found, "healed: no %s event", telemetry.EventFailureDetected)
		if found {
			check(lookup(ev, telemetry.AttrOutcome) == "truncated", "healed: failure %q", lookup(ev, telemetry.AttrOutcome))
			check(lookup(ev, telemetry.AttrRecordIndex) != "", "healed: failure without %s", telemetry.AttrRecordIndex)
			check(lookup(ev, telemetry.AttrByteOffset) != "", "healed: failure without %s", telemetry.AttrByteOffset)
		}
		for _, name := range []string{telemetry.EventFirstByte, telemetry.EventResumeStart, telemetry.EventResumeSuccess} {
			_, found := findEvent(healed, name)
			check(found, "healed: no %s event", name)
		}
	}

	if _, root, ok := get("/transactions/5000/300"); ok {
		check(root.tag(telemetry.AttrOutcome) == "ok" && root.tag(telemetry.AttrMode) == "framed",
			"reset: outcome %q mode %q", root.tag(telemetry.AttrOutcome), root.tag(telemetry.AttrMode))
		check(root.tag(telemetry.AttrResumes) != "0" && root.tag(telemetry.AttrFrames) != "", "reset: resumes %q frames %q",
			root.tag(telemetry.AttrResumes), root.tag(telemetry.AttrFrames))
	}
	if _, root, ok := get("/transactions/9000/50"); ok {
		check(root.isError(), "excess: the server span is not an error")
		check(root.tag(telemetry.AttrOutcome) == "excess-records", "excess: outcome %q", root.tag(telemetry.AttrOutcome))
	}
	if _, root, ok := get("/db_state"); ok {
		check(root.tag(telemetry.AttrOutcome) == "ok", "db_state: outcome %q", root.tag(telemetry.AttrOutcome))
	}
	if _, root, ok := get("/nope"); ok {
		check(root.tag("http.response.status_code") == "404" && !root.isError(), "404: status %q error %v",
			root.tag("http.response.status_code"), root.isError())
	}
	if t, _, ok := get("/epoch_ending_ledger_infos/0/10"); ok {
		check(t.TraceID == callerTraceID, "caller's trace: id %s, want %s", t.TraceID, callerTraceID)
	}
	fmt.Fprintln(os.Stderr)
	return healed, errors.Join(errs...)
}

func findEvent(t jaegerTrace, name string) ([]keyValue, bool) {
	for _, s := range t.Spans {
		if ev, ok := s.event(name); ok {
			return ev, true
		}
	}
	return nil, false
}

// metricsSummary scrapes /metrics and lists backseal's counters that moved.
func metricsSummary(ctx context.Context, url string) (string, error) {
	fams, err := promtest.Scrape(url)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, name := range fams.Names() {
		if !strings.HasPrefix(name, "backseal_") || fams.Type(name) == "histogram" {
			continue
		}
		for _, m := range fams.Series(name) {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+fmt.Sprintf("%q", l.GetValue()))
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			fmt.Fprintf(&b, "    %s{%s} %g\n", name, strings.Join(labels, ","), v)
		}
	}
	return b.String(), nil
}
