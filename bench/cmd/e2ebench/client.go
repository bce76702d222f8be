package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/internal/procstat"
)

// clientMode is what the benchmark client does with a response body.
type clientMode int

const (
	// raw: read and discard the bytes (the legacy client's work, minus parsing).
	raw clientMode = iota
	// framedVerify: ask for framed mode and decode it with framing.Reader,
	// which checks every frame's xxhash64, sequence and the whole-stream
	// digest (backseal fetch's work).
	framedVerify
	// framedDiscard: ask for framed mode and discard the bytes unchecked, so
	// the client does the same work as on the raw paths.
	framedDiscard
)

// target is one measured path: a base URL, the process behind it (nil for
// direct), and the client's mode.
type target struct {
	key    string
	label  string
	base   string
	svc    *service
	mode   clientMode
	client *http.Client
}

// newClient returns a keep-alive HTTP/1.1 client; every path uses the same
// settings (64 KiB read buffer, no compression).
func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DisableCompression:  true,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     5 * time.Minute,
		ReadBufferSize:      64 << 10,
		WriteBufferSize:     4 << 10,
	}}
}

func (t *target) request(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+path, nil)
	if err != nil {
		return nil, err
	}
	if t.mode != raw {
		req.Header.Set("Accept", framing.ContentType)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return resp, nil
}

// bodyReader returns what the client reads: the body, or the verified
// payload of a framed body.
func (t *target) bodyReader(resp *http.Response) (r io.Reader, payload func(n int64) int64) {
	if t.mode == framedVerify {
		fr := framing.NewReader(bufio.NewReaderSize(resp.Body, 64<<10))
		return fr, func(int64) int64 { return int64(fr.Bytes()) }
	}
	return resp.Body, func(n int64) int64 { return n }
}

// stream GETs path and reads the whole body. It returns the payload bytes
// (framedDiscard: the framed bytes read) and the time to the first payload
// byte.
func (t *target) stream(ctx context.Context, path string, buf []byte, firstByte func()) (n int64, ttfb time.Duration, err error) {
	t0 := time.Now()
	resp, err := t.request(ctx, path)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	r, payload := t.bodyReader(resp)
	var read int64
	for {
		m, err := r.Read(buf)
		if m > 0 {
			if read == 0 {
				ttfb = time.Since(t0)
				if firstByte != nil {
					firstByte()
				}
			}
			read += int64(m)
		}
		if err == io.EOF {
			return payload(read), ttfb, nil
		}
		if err != nil {
			return payload(read), ttfb, fmt.Errorf("GET %s after %d bytes: %w", path, read, err)
		}
	}
}

// runResult is one measured stream.
type runResult struct {
	key      string
	round    int
	bytes    int64
	dur      time.Duration
	ttfb     time.Duration
	proxy    procstat.Snapshot // CPU and IO deltas; HWM peak during the run
	peakRSS  uint64            // max(VmHWM after reset, sampled VmRSS), summed over the process tree
	sim      procstat.Snapshot
	clientSn procstat.Snapshot
	err      error
}

func (r runResult) gbps() float64 { return float64(r.bytes) / r.dur.Seconds() / 1e9 }

// perGiB converts a CPU time for r's bytes into seconds per GiB.
func (r runResult) perGiB(d time.Duration) float64 {
	return d.Seconds() / (float64(r.bytes) / (1 << 30))
}

// measure streams path through t once, with the proxy's (and the
// simulator's, and this process's) CPU and memory measured around it.
func measure(t *target, sim *service, path string, want int64, round int, buf []byte) runResult {
	res := runResult{key: t.key, round: round}
	var tree []int
	if t.svc != nil {
		tree = t.svc.tree()
		_ = procstat.ResetPeak(tree)
	}
	self := os.Getpid()
	var pBefore procstat.Snapshot
	var sampler *procstat.Sampler
	if tree != nil {
		pBefore, _ = procstat.ReadTree(tree)
		sampler = procstat.StartSampler(tree, 20*time.Millisecond)
	}
	sBefore, _ := procstat.Read(sim.pid())
	cBefore, _ := procstat.Read(self)
	t0 := time.Now()
	n, ttfb, err := t.stream(context.Background(), path, buf, nil)
	res.dur = time.Since(t0)
	cAfter, _ := procstat.Read(self)
	sAfter, _ := procstat.Read(sim.pid())
	res.bytes, res.ttfb, res.err = n, ttfb, err
	if err == nil && t.mode != framedDiscard && n != want {
		res.err = fmt.Errorf("%s: read %d payload bytes, want %d", t.key, n, want)
	}
	if t.mode == framedDiscard {
		if err == nil && n < want {
			res.err = fmt.Errorf("%s: read %d framed bytes, fewer than the %d payload bytes", t.key, n, want)
		}
		res.bytes = want // rates are of payload bytes on every path
	}
	if tree != nil {
		sampled, _ := sampler.Stop()
		pAfter, _ := procstat.ReadTree(tree)
		res.proxy = pAfter.Sub(pBefore)
		res.peakRSS = max(pAfter.HWM, sampled)
	}
	res.sim = sAfter.Sub(sBefore)
	res.clientSn = cAfter.Sub(cBefore)
	return res
}

// ttfbOnce fetches a one-record stream and returns the time from sending
// the request to the first payload byte (for framed mode: of the first data
// frame, verified).
func ttfbOnce(t *target, path string, buf []byte) (time.Duration, error) {
	_, ttfb, err := t.stream(context.Background(), path, buf, nil)
	return ttfb, err
}

// calibrate reads /transactions/0/committed straight from the simulator,
// parsing record lengths, and returns for each target byte count the
// smallest record count whose records reach it and their exact byte count.
func calibrate(base string, committed uint64, targets []int64) (counts []uint64, sizes []int64, err error) {
	c := newClient(1)
	defer c.CloseIdleConnections()
	resp, err := c.Get(fmt.Sprintf("%s/transactions/0/%d", base, committed))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 1<<20)
	counts = make([]uint64, len(targets))
	sizes = make([]int64, len(targets))
	var got int64
	var records uint64
	var hdr [4]byte
	left := len(targets)
	for left > 0 {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, nil, fmt.Errorf("calibrate: after %d records (%d bytes): %w; raise the committed version", records, got, err)
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if _, err := br.Discard(int(n)); err != nil {
			return nil, nil, fmt.Errorf("calibrate: record %d: %w", records, err)
		}
		got += 4 + int64(n)
		records++
		for i, tg := range targets {
			if counts[i] == 0 && got >= tg {
				counts[i], sizes[i] = records, got
				left--
			}
		}
	}
	return counts, sizes, nil
}

// latencyResult is a paced run of small requests.
type latencyResult struct {
	lat      []time.Duration
	sent     int
	errs     int
	firstErr error
	elapsed  time.Duration
}

// paced sends GET path at rate per second for dur, open loop: a dispatcher
// hands each request to a pool of workers at its scheduled time whether or
// not earlier ones have finished. Latency is from send to the last body byte.
func paced(t *target, path string, rate int, dur time.Duration, workers int) latencyResult {
	interval := time.Second / time.Duration(rate)
	total := int(dur / interval)
	jobs := make(chan struct{}, total)
	var mu sync.Mutex
	res := latencyResult{lat: make([]time.Duration, 0, total)}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				t0 := time.Now()
				resp, err := t.request(context.Background(), path)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					res.errs++
					if res.firstErr == nil {
						res.firstErr = err
					}
				} else {
					res.lat = append(res.lat, d)
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		jobs <- struct{}{}
		res.sent++
	}
	close(jobs)
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// concResult is n streams at once through one proxy.
type concResult struct {
	n         int
	bytes     int64
	dur       time.Duration
	idleRSS   uint64
	peakRSS   uint64
	maxActive int64 // most streams receiving bytes at the same moment
	maxUp     int   // most established connections on the simulator's port
	ttfb      []time.Duration
	errs      int
	firstErr  error
	proxy     procstat.Snapshot
}

func (c concResult) gbps() float64 { return float64(c.bytes) / c.dur.Seconds() / 1e9 }

// concurrent starts n streams of path through t at once and waits for all,
// counting the connections the simulator (on upstreamPort) has meanwhile.
func concurrent(t *target, path string, want int64, n int, idleRSS uint64, upstreamPort int) concResult {
	res := concResult{n: n, idleRSS: idleRSS}
	stopUp, upDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(upDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			res.maxUp = max(res.maxUp, procstat.Established(upstreamPort))
			select {
			case <-stopUp:
				return
			case <-tick.C:
			}
		}
	}()
	tree := t.svc.tree()
	_ = procstat.ResetPeak(tree)
	before, _ := procstat.ReadTree(tree)
	sampler := procstat.StartSampler(tree, 20*time.Millisecond)
	var active, maxActive atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			buf := make([]byte, 128<<10)
			<-start
			counted := false
			got, ttfb, err := t.stream(context.Background(), path, buf, func() {
				counted = true
				a := active.Add(1)
				for m := maxActive.Load(); a > m && !maxActive.CompareAndSwap(m, a); m = maxActive.Load() {
				}
			})
			if counted {
				active.Add(-1)
			}
			if err == nil && t.mode != framedDiscard && got != want {
				err = fmt.Errorf("read %d payload bytes, want %d", got, want)
			}
			mu.Lock()
			if counted {
				res.ttfb = append(res.ttfb, ttfb)
			}
			if err != nil {
				res.errs++
				if res.firstErr == nil {
					res.firstErr = err
				}
			} else {
				res.bytes += want
			}
			mu.Unlock()
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	res.dur = time.Since(t0)
	close(stopUp)
	<-upDone
	sampled, _ := sampler.Stop()
	after, _ := procstat.ReadTree(tree)
	res.proxy = after.Sub(before)
	res.peakRSS = max(after.HWM, sampled)
	res.maxActive = maxActive.Load()
	return res
}
