package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/backseal/backseal/internal/procstat"
)

// Keys of the content verification runs.
const (
	keyContentOff = "content-off"
	keyContentOn  = "content-on"
)

// contentRun is content verification's cost (issue 13): one chain of
// genuine Aptos records (`backseal sim --genuine`) streamed framed through
// two sidecars, one with verify_content, in interleaved rounds; the client
// verifies the framing of both, so a run counts only if its stream ended ok.
type contentRun struct {
	bytes   int64
	records uint64
	targets []*target
	runs    []runResult
	idle    map[string]uint64
}

func runContent(rep *report, dir, bin string) error {
	o := rep.opts
	// Genuine transactions average about 1 KiB; the chain is built once at start.
	committed := uint64(o.contentSize/800 + 20_000)
	logf("content: starting a genuine simulator (C = %d; it builds its accumulator first)", committed)
	sim, err := startSim(dir, "sim-genuine", bin, simConfig{committed: committed, batch: o.batch, maxProducers: 64, genuine: true})
	if err != nil {
		return err
	}
	defer sim.stop()
	counts, sizes, err := calibrate(sim.url(), committed, []int64{o.contentSize})
	if err != nil {
		return err
	}
	path := fmt.Sprintf("/transactions/0/%d", counts[0])
	cr := &contentRun{bytes: sizes[0], records: counts[0], idle: map[string]uint64{}}
	off, err := startBackseal(dir, "backseal-content-off", bin, sim.url())
	if err != nil {
		return err
	}
	on, err := startBackseal(dir, "backseal-content-on", bin, sim.url(), "--verify-content")
	if err != nil {
		return err
	}
	cr.targets = []*target{
		{key: keyContentOff, label: "backseal framed, verify_content off", base: off.url(), svc: off, mode: framedVerify},
		{key: keyContentOn, label: "backseal framed, verify_content on", base: on.url(), svc: on, mode: framedVerify},
	}
	buf := make([]byte, 256<<10)
	for _, t := range cr.targets {
		t.client = newClient(4)
		if r := measure(t, sim, path, sizes[0], 0, buf); r.err != nil {
			return fmt.Errorf("content warm-up %s: %w", t.key, r.err)
		}
		s, _ := procstat.ReadTree(t.svc.tree())
		cr.idle[t.key] = s.RSS
	}
	for r := range o.rounds {
		for _, t := range rotate(cr.targets, r) {
			time.Sleep(200 * time.Millisecond)
			res := measure(t, sim, path, sizes[0], r+1, buf)
			if res.err != nil {
				logf("content round %d %-12s ERROR %v", r+1, t.key, res.err)
			} else {
				logf("content round %d %-12s %6.3f GB/s  proxy %5.2f s/GiB  peak %5.1f MiB",
					r+1, t.key, res.gbps(), res.perGiB(res.proxy.CPU()), float64(res.peakRSS)/(1<<20))
			}
			cr.runs = append(cr.runs, res)
		}
	}
	rep.content = cr
	return nil
}

// contentMedians returns a key's median throughput, proxy CPU per GiB and
// largest peak RSS (MiB), and its error count.
func (cr *contentRun) medians(key string) (gbps, cpu, peak float64, errs int) {
	var g, c []float64
	for _, r := range cr.runs {
		if r.key != key {
			continue
		}
		if r.err != nil {
			errs++
			continue
		}
		g = append(g, r.gbps())
		c = append(c, r.perGiB(r.proxy.CPU()))
		peak = math.Max(peak, float64(r.peakRSS)/(1<<20))
	}
	return median(g), median(c), peak, errs
}

// goalContentCPU is issue 13's target: verify_content at most doubles the
// proxy CPU of framed mode.
const goalContentCPU = 2.0

func (cr *contentRun) markdown() string {
	var b strings.Builder
	offG, offC, offP, offE := cr.medians(keyContentOff)
	onG, onC, onP, onE := cr.medians(keyContentOn)
	fmt.Fprintf(&b, "**Content verification** (issue 13): `/transactions/0/%d` of a genuine chain (`backseal sim --genuine`, %.0f MiB, %d records), framed, through two sidecars, one with `verify_content`, in the same interleaved rounds; medians.\n\n",
		cr.records, float64(cr.bytes)/(1<<20), cr.records)
	b.WriteString("| sidecar | GB/s | proxy CPU s/GiB | peak RSS MiB | errors |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| verify_content off | %s | %s | %.1f | %d |\n", f2(offG), f2(offC), offP, offE)
	fmt.Fprintf(&b, "| verify_content on | %s | %s | %.1f | %d |\n\n", f2(onG), f2(onC), onP, onE)
	ratio := onC / offC
	fmt.Fprintf(&b, "| goal | target | measured | |\n|---|---|---|---|\n")
	fmt.Fprintf(&b, "| proxy CPU with verify_content | ≤ %.0f × framed | %.2f × (%s vs %s s/GiB) | %s |\n", goalContentCPU, ratio, f2(onC), f2(offC), mark(ratio <= goalContentCPU))
	fmt.Fprintf(&b, "| throughput with verify_content | (reported) | %.2f × framed (%s vs %s GB/s) | |\n", onG/offG, f2(onG), f2(offG))
	fmt.Fprintf(&b, "| memory still bounded | peak RSS within 16 MiB of framed | +%.1f MiB | %s |\n\n", onP-offP, mark(onP-offP <= 16))
	return b.String()
}
