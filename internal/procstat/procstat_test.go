package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name with a space and a ')' inside, as nginx's workers have.
	line := "4242 (nginx: worker (x) ) S 4241 4241 4241 0 -1 4194624 100 0 0 0 1234 567 0 0 20 0 1 0 99 10000 200 18446744073709551615\n"
	st, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if st.PPID != 4241 || st.UTime != 1234 || st.STime != 567 {
		t.Fatalf("got %+v, want ppid 4241, utime 1234, stime 567", st)
	}
	if _, err := ParseStat([]byte("1 (x) S 0")); err == nil {
		t.Fatal("short stat accepted")
	}
}

func TestParseStatus(t *testing.T) {
	b := []byte("Name:\tbackseal\nVmPeak:\t 1000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t7\n")
	rss, hwm, err := ParseStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	if rss != 10<<20 || hwm != 20<<20 {
		t.Fatalf("rss %d hwm %d", rss, hwm)
	}
	if _, _, err := ParseStatus([]byte("VmRSS:\t12 MB\n")); err == nil {
		t.Fatal("unit other than kB accepted")
	}
}

func TestParseIO(t *testing.T) {
	io, err := ParseIO([]byte("rchar: 100\nwchar: 200\nsyscr: 3\nsyscw: 4\nread_bytes: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if io != (IO{RChar: 100, WChar: 200, SyscR: 3, SyscW: 4}) {
		t.Fatalf("got %+v", io)
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
	sm := StartSampler([]int{pid}, time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if m, n := sm.Stop(); m == 0 || n == 0 {
		t.Fatalf("sampler: max %d after %d samples", m, n)
	}
}

func TestCountEstablished(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:D431 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:1F90 0100007F:D432 06 00000000:00000000 00:00000000 00000000     0        0 0 3 0000000000000000
`
	if n := CountEstablished([]byte(table), 8080); n != 1 {
		t.Fatalf("got %d established on :8080, want 1 (listener, client side and TIME_WAIT excluded)", n)
	}
}
