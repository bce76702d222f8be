package procstat

import (
	"errors"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/prometheus/procfs"
)

// fakeProc writes a /proc with nginx's master (4241) and a worker (4242)
// whose command name has a space and a ')' inside, and a TCP table.
func fakeProc(t *testing.T) (fs procfs.FS, mountPoint string) {
	t.Helper()
	dir := t.TempDir()
	files := fstest.MapFS{}
	for name, body := range map[string]string{
		"4241/stat":   "4241 (nginx) S 1 4241 4241 0 -1 4194624 100 0 0 0 10 20 0 0 20 0 1 0 99 10000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		"4241/status": "Name:\tnginx\nVmPeak:\t    4000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t1\n",
		"4242/stat":   "4242 (nginx: worker (x) ) S 4241 4241 4241 0 -1 4194624 100 0 0 0 1234 567 0 0 20 0 1 0 99 10000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		"4242/status": "Name:\tnginx\nVmPeak:\t    1000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t7\n",
		"4242/io":     "rchar: 100\nwchar: 200\nsyscr: 3\nsyscw: 4\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
		"9/stat":      "9 (sh) S 1 9 9 0 -1 4194624 100 0 0 0 1 1 0 0 20 0 1 0 99 10000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		"net/tcp": `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:D432 06 00000000:00000000 00:00000000 00000000     0        0 0 3 0000000000000000
`,
		"net/tcp6": `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D433 01 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 20 4 30 10 -1
`,
	} {
		files[name] = &fstest.MapFile{Data: []byte(body), Mode: 0o644}
	}
	errCopy := os.CopyFS(dir, files)
	fs, err := procfs.NewFS(dir)
	if err := errors.Join(errCopy, err); err != nil {
		t.Fatal(err)
	}
	return fs, dir
}

func TestRead(t *testing.T) {
	fs, _ := fakeProc(t)
	s, err := read(fs, 4242)
	if err != nil {
		t.Fatal(err)
	}
	want := Snapshot{
		User: 1234 * clockTick, Sys: 567 * clockTick, RSS: 10 << 20, HWM: 20 << 20,
		IO: IO{RChar: 100, WChar: 200, SyscR: 3, SyscW: 4},
	}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	// No io file (another user's process): IO stays zero.
	if s, err := read(fs, 4241); err != nil || s.IO != (IO{}) || s.RSS != 1<<20 {
		t.Fatalf("master: %+v, %v", s, err)
	}
	if _, err := read(fs, 77); err == nil {
		t.Fatal("a missing process read")
	}
}

func TestTree(t *testing.T) {
	fs, _ := fakeProc(t)
	got := tree(fs, 4241)
	if len(got) != 2 || got[0] != 4241 || got[1] != 4242 {
		t.Fatalf("tree(4241) = %v, want [4241 4242]", got)
	}
	sum, err := readTree(fs, append(got, 4243)) // 4243 vanished: skipped
	if err != nil {
		t.Fatal(err)
	}
	if sum.CPU() != (10+20+1234+567)*clockTick || sum.RSS != 11<<20 || sum.HWM != 22<<20 || sum.IO.SyscW != 4 {
		t.Fatalf("sum %+v", sum)
	}
	if _, err := readTree(fs, []int{4243, 4241}); err == nil {
		t.Fatal("a tree whose first process vanished read")
	}
}

func TestEstablished(t *testing.T) {
	_, dir := fakeProc(t)
	if n := established(dir, 8080); n != 2 {
		t.Fatalf("got %d established on :8080, want 2 (one IPv4, one IPv6; listener, client side and TIME_WAIT excluded)", n)
	}
}

func TestSampler(t *testing.T) {
	fs, _ := fakeProc(t)
	sm := startSampler(fs, []int{4241, 4242, 4243}, time.Millisecond) // samples at once
	if m, n := sm.Stop(); m != 11<<20 || n == 0 {
		t.Fatalf("sampler: max %d after %d samples, want %d", m, n, 11<<20)
	}
}

func TestReadSelf(t *testing.T) {
	pid := os.Getpid()
	s, err := Read(pid)
	if err != nil {
		t.Skip("no /proc:", err)
	}
	if s.RSS == 0 || s.HWM < s.RSS {
		t.Fatalf("implausible self snapshot %+v", s)
	}
	if tree := Tree(pid); len(tree) == 0 || tree[0] != pid {
		t.Fatalf("Tree(self) = %v", tree)
	}
}
