// Package procstat reads what the end-to-end benchmark measures of a running
// process from /proc: CPU time (utime and stime of every thread), resident
// memory (VmRSS now, VmHWM the peak since the last reset), and read/write
// syscall counts. Functions taking a pid cover that process only; the Tree
// variants add its descendants (nginx runs a master and workers).
//
// The /proc/PID files are parsed by github.com/prometheus/procfs; this
// package picks the fields, sums them over a process tree, resets the peak
// and counts connections in /proc/net/tcp.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/procfs"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux build that matters; procfs assumes the same).
const clockTick = 10 * time.Millisecond

// tcpEstablished is TCP_ESTABLISHED as the st column of /proc/net/tcp shows it.
const tcpEstablished = "01"

// Snapshot is one reading of a process (or the sum over a tree).
type Snapshot struct {
	User, Sys time.Duration // CPU time since the process started
	RSS       uint64        // bytes resident now (VmRSS)
	HWM       uint64        // peak resident bytes since start or the last ResetPeak (VmHWM)
	IO        IO
}

// CPU is user plus system time.
func (s Snapshot) CPU() time.Duration { return s.User + s.Sys }

// IO is /proc/PID/io's character counts: every read(2)/write(2)-family call,
// sockets included.
type IO struct {
	RChar, WChar uint64 // bytes
	SyscR, SyscW uint64 // calls
}

// Sub returns s - o field by field (for the CPU and IO counters; RSS and HWM
// are taken from s).
func (s Snapshot) Sub(o Snapshot) Snapshot {
	return Snapshot{
		User: s.User - o.User, Sys: s.Sys - o.Sys, RSS: s.RSS, HWM: s.HWM,
		IO: IO{RChar: s.IO.RChar - o.IO.RChar, WChar: s.IO.WChar - o.IO.WChar, SyscR: s.IO.SyscR - o.IO.SyscR, SyscW: s.IO.SyscW - o.IO.SyscW},
	}
}

// add returns s + o field by field.
func (s Snapshot) add(o Snapshot) Snapshot {
	return Snapshot{
		User: s.User + o.User, Sys: s.Sys + o.Sys, RSS: s.RSS + o.RSS, HWM: s.HWM + o.HWM,
		IO: IO{RChar: s.IO.RChar + o.IO.RChar, WChar: s.IO.WChar + o.IO.WChar, SyscR: s.IO.SyscR + o.IO.SyscR, SyscW: s.IO.SyscW + o.IO.SyscW},
	}
}

// procFS is /proc, opened once.
var procFS = sync.OnceValues(procfs.NewDefaultFS)

// Read takes a snapshot of one process. IO is left zero when /proc/PID/io
// is not readable (another user's process without privileges).
func Read(pid int) (Snapshot, error) {
	fs, err := procFS()
	if err != nil {
		return Snapshot{}, fmt.Errorf("procstat: %w", err)
	}
	return read(fs, pid)
}

func read(fs procfs.FS, pid int) (Snapshot, error) {
	p, err := fs.Proc(pid)
	if err != nil {
		return Snapshot{}, fmt.Errorf("procstat: %w", err)
	}
	st, err := p.Stat()
	if err != nil {
		return Snapshot{}, fmt.Errorf("procstat: reading stat of %d: %w", pid, err)
	}
	status, err := p.NewStatus()
	if err != nil {
		return Snapshot{}, fmt.Errorf("procstat: reading status of %d: %w", pid, err)
	}
	s := Snapshot{
		User: time.Duration(st.UTime) * clockTick,
		Sys:  time.Duration(st.STime) * clockTick,
		RSS:  status.VmRSS, // a zombie or kernel thread has neither: 0
		HWM:  status.VmHWM,
	}
	if io, err := p.IO(); err == nil {
		s.IO = IO{RChar: io.RChar, WChar: io.WChar, SyscR: io.SyscR, SyscW: io.SyscW}
	}
	return s, nil
}

// Tree returns pid and its live descendants, pid first.
func Tree(pid int) []int {
	fs, err := procFS()
	if err != nil {
		return []int{pid}
	}
	return tree(fs, pid)
}

func tree(fs procfs.FS, pid int) []int {
	procs, err := fs.AllProcs()
	if err != nil {
		return []int{pid}
	}
	children := map[int][]int{}
	for _, p := range procs {
		if st, err := p.Stat(); err == nil {
			children[st.PPID] = append(children[st.PPID], p.PID)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// ReadTree sums Read over pids (see Tree); processes that vanished are
// skipped. It fails only if the first pid cannot be read.
func ReadTree(pids []int) (Snapshot, error) {
	fs, err := procFS()
	if err != nil {
		return Snapshot{}, fmt.Errorf("procstat: %w", err)
	}
	return readTree(fs, pids)
}

func readTree(fs procfs.FS, pids []int) (Snapshot, error) {
	var sum Snapshot
	for i, p := range pids {
		s, err := read(fs, p)
		if err != nil {
			if i == 0 {
				return Snapshot{}, err
			}
			continue
		}
		sum = sum.add(s)
	}
	return sum, nil
}

// ResetPeak sets each process's VmHWM to its current VmRSS (writes "5" to
// /proc/PID/clear_refs; needs the same user or root).
func ResetPeak(pids []int) error {
	var errs []error
	for _, p := range pids {
		if err := os.WriteFile(filepath.Join(procfs.DefaultMountPoint, strconv.Itoa(p), "clear_refs"), []byte("5"), 0); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Sampler polls the summed VmRSS of a set of processes and keeps the
// largest value: a second opinion on VmHWM, and the only one when
// clear_refs is not permitted.
type Sampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	max  uint64
	n    int
}

// StartSampler polls pids every interval until Stop.
func StartSampler(pids []int, interval time.Duration) *Sampler {
	fs, _ := procFS() // on error, every read fails and the maximum stays 0
	return startSampler(fs, pids, interval)
}

func startSampler(fs procfs.FS, pids []int, interval time.Duration) *Sampler {
	s := &Sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			var rss uint64
			for _, pid := range pids {
				if p, err := fs.Proc(pid); err == nil {
					if status, err := p.NewStatus(); err == nil {
						rss += status.VmRSS
					}
				}
			}
			s.mu.Lock()
			s.max = max(s.max, rss)
			s.n++
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends the polling and returns the largest summed VmRSS seen and the
// number of samples.
func (s *Sampler) Stop() (maxRSS uint64, samples int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max, s.n
}

// Established counts established IPv4 and IPv6 TCP connections accepted on
// local port port (the server side of connections to a listener on it).
func Established(port int) int { return established(procfs.DefaultMountPoint, port) }

// established reads /proc/net/tcp{,6} under the proc mount point itself:
// procfs deprecates its readers of those tables for netlink's sock_diag,
// which would be a new dependency to count a benchmark's connections.
func established(mountPoint string, port int) int {
	n := 0
	for _, f := range []string{"net/tcp", "net/tcp6"} {
		if b, err := os.ReadFile(filepath.Join(mountPoint, f)); err == nil {
			n += countEstablished(b, port)
		}
	}
	return n
}

// countEstablished counts the lines of a /proc/net/tcp-format table whose
// local port (hex, after the address) is port and whose state is established.
func countEstablished(b []byte, port int) int {
	n := 0
	for i, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if i == 0 || len(f) < 4 {
			continue
		}
		_, hexPort, ok := bytes.Cut(f[1], []byte(":"))
		if !ok {
			continue
		}
		p, err := strconv.ParseUint(string(hexPort), 16, 16)
		if err == nil && int(p) == port && string(f[3]) == tcpEstablished {
			n++
		}
	}
	return n
}
