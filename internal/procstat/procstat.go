// Package procstat reads what the end-to-end benchmark measures of a running
// process from /proc: CPU time (utime and stime of every thread), resident
// memory (VmRSS now, VmHWM the peak since the last reset), and read/write
// syscall counts. Functions taking a pid cover that process only; the Tree
// variants add its descendants (nginx runs a master and workers).
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
)

// ClockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux build that matters).
const ClockTick = 10 * time.Millisecond

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

// Stat is the part of /proc/PID/stat the benchmark uses.
type Stat struct {
	PPID         int
	UTime, STime uint64 // clock ticks
}

// ParseStat parses /proc/PID/stat. The command name (field 2) may contain
// spaces and parentheses, so fields are counted from the last ')'.
func ParseStat(b []byte) (Stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, errors.New("procstat: stat: no ')'")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return Stat{}, fmt.Errorf("procstat: stat: %d fields after the name, want at least 13", len(f))
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	ut, err2 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err3 := strconv.ParseUint(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Stat{}, fmt.Errorf("procstat: stat: %w", err)
	}
	return Stat{PPID: ppid, UTime: ut, STime: st}, nil
}

// ParseStatus returns VmRSS and VmHWM from /proc/PID/status, in bytes. A
// zombie or kernel thread has neither: both are 0.
func ParseStatus(b []byte) (rss, hwm uint64, err error) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(k) {
		case "VmRSS":
			dst = &rss
		case "VmHWM":
			dst = &hwm
		default:
			continue
		}
		f := bytes.Fields(v)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, 0, fmt.Errorf("procstat: status: bad %s line %q", k, line)
		}
		n, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("procstat: status: %s: %w", k, err)
		}
		*dst = n << 10
	}
	return rss, hwm, nil
}

// ParseIO parses /proc/PID/io.
func ParseIO(b []byte) (IO, error) {
	var io IO
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(k) {
		case "rchar":
			dst = &io.RChar
		case "wchar":
			dst = &io.WChar
		case "syscr":
			dst = &io.SyscR
		case "syscw":
			dst = &io.SyscW
		default:
			continue
		}
		n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil {
			return IO{}, fmt.Errorf("procstat: io: %s: %w", k, err)
		}
		*dst = n
	}
	return io, nil
}

func procFile(pid int, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), name))
}

// Read takes a snapshot of one process. IO is left zero when /proc/PID/io
// is not readable (another user's process without privileges).
func Read(pid int) (Snapshot, error) {
	b, err := procFile(pid, "stat")
	if err != nil {
		return Snapshot{}, err
	}
	st, err := ParseStat(b)
	if err != nil {
		return Snapshot{}, err
	}
	if b, err = procFile(pid, "status"); err != nil {
		return Snapshot{}, err
	}
	rss, hwm, err := ParseStatus(b)
	if err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{User: time.Duration(st.UTime) * ClockTick, Sys: time.Duration(st.STime) * ClockTick, RSS: rss, HWM: hwm}
	if b, err := procFile(pid, "io"); err == nil {
		s.IO, _ = ParseIO(b)
	}
	return s, nil
}

// Tree returns pid and its live descendants, pid first.
func Tree(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return []int{pid}
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := procFile(p, "stat")
		if err != nil {
			continue
		}
		if st, err := ParseStat(b); err == nil {
			children[st.PPID] = append(children[st.PPID], p)
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
	var sum Snapshot
	for i, p := range pids {
		s, err := Read(p)
		if err != nil {
			if i == 0 {
				return Snapshot{}, err
			}
			continue
		}
		sum.User += s.User
		sum.Sys += s.Sys
		sum.RSS += s.RSS
		sum.HWM += s.HWM
		sum.IO.RChar += s.IO.RChar
		sum.IO.WChar += s.IO.WChar
		sum.IO.SyscR += s.IO.SyscR
		sum.IO.SyscW += s.IO.SyscW
	}
	return sum, nil
}

// ResetPeak sets each process's VmHWM to its current VmRSS (writes "5" to
// /proc/PID/clear_refs; needs the same user or root).
func ResetPeak(pids []int) error {
	var errs []error
	for _, p := range pids {
		if err := os.WriteFile(filepath.Join("/proc", strconv.Itoa(p), "clear_refs"), []byte("5"), 0); err != nil {
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
	s := &Sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			var rss uint64
			for _, p := range pids {
				if b, err := procFile(p, "status"); err == nil {
					r, _, _ := ParseStatus(b)
					rss += r
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

// CountEstablished counts the established TCP connections whose local port is
// port in the /proc/net/tcp-format table b (the server side of connections
// to a listener on that port).
func CountEstablished(b []byte, port int) int {
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
		if err == nil && int(p) == port && string(f[3]) == "01" {
			n++
		}
	}
	return n
}

// Established counts established IPv4 and IPv6 TCP connections accepted on
// local port port.
func Established(port int) int {
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		if b, err := os.ReadFile(f); err == nil {
			n += CountEstablished(b, port)
		}
	}
	return n
}
