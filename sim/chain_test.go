package sim

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/backseal/backseal/upstream"
)

const maxU64 = "18446744073709551615"

// countCases covers the counting rules of docs/legacy-backup-service.md on
// testConfig: E=12, C=2000, 3 pre-committed, snapshots every 500,
// count(v) = 300 + v/2.
var countCases = []struct {
	name    string
	path    string
	want    uint64
	aborts  bool
	cfgEdit func(*Config)
}{
	{name: "txn within C", path: "/transactions/0/10", want: 10},
	{name: "txn up to C", path: "/transactions/1991/10", want: 10},
	{name: "txn past C ends short after pre-committed", path: "/transactions/1990/20", want: 14},
	{name: "txn latest only", path: "/transactions/2003/5", want: 1},
	{name: "txn start past latest", path: "/transactions/2004/5", want: 0},
	{name: "txn n=0", path: "/transactions/5/0", want: 0},
	{name: "txn s+n overflows", path: "/transactions/" + maxU64 + "/2", aborts: true},
	{name: "txn s+n at max", path: "/transactions/18446744073709551614/1", want: 0},
	{name: "txn pruned start", path: "/transactions/599/5", aborts: true, cfgEdit: prune600},
	{name: "txn at prune line", path: "/transactions/600/5", want: 5, cfgEdit: prune600},
	{name: "txn pruned n=0", path: "/transactions/5/0", want: 0, cfgEdit: prune600},
	{name: "epochs within E", path: "/epoch_ending_ledger_infos/0/12", want: 12},
	{name: "epochs past E", path: "/epoch_ending_ledger_infos/3/20", want: 9},
	{name: "epochs past E just ended", path: "/epoch_ending_ledger_infos/3/20", want: 10, cfgEdit: justEnded},
	{name: "epochs open epoch", path: "/epoch_ending_ledger_infos/12/13", want: 0},
	{name: "epochs open epoch just ended", path: "/epoch_ending_ledger_infos/12/13", want: 1, cfgEdit: justEnded},
	{name: "epochs s=e", path: "/epoch_ending_ledger_infos/5/5", want: 0},
	{name: "epochs s>e", path: "/epoch_ending_ledger_infos/7/3", want: 0},
	{name: "snapshot at C", path: "/state_snapshot/2000", want: 1300},
	{name: "snapshot at multiple", path: "/state_snapshot/1500", want: 1050},
	{name: "snapshot at 0", path: "/state_snapshot/0", want: 300},
	{name: "snapshot not a snapshot version", path: "/state_snapshot/1499", aborts: true},
	{name: "snapshot past C", path: "/state_snapshot/2500", aborts: true},
	{name: "snapshot pruned", path: "/state_snapshot/500", aborts: true, cfgEdit: prune600},
	{name: "snapshot kept", path: "/state_snapshot/1000", want: 800, cfgEdit: prune600},
	{name: "chunk inside", path: "/state_snapshot_chunk/1000/100/50", want: 50},
	{name: "chunk over the end", path: "/state_snapshot_chunk/1000/780/100", want: 20},
	{name: "chunk at the end", path: "/state_snapshot_chunk/1000/800/10", want: 0},
	{name: "chunk past the end", path: "/state_snapshot_chunk/1000/900/10", want: 0},
	{name: "chunk unbounded limit", path: "/state_snapshot_chunk/1000/0/" + maxU64, want: 800},
	{name: "chunk not a snapshot version", path: "/state_snapshot_chunk/1001/0/10", aborts: true},
}

func prune600(c *Config)  { c.PrunedBelow = 600 }
func justEnded(c *Config) { c.EpochJustEnded = true }

func TestChainCounts(t *testing.T) {
	t.Parallel()
	for _, tc := range countCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			if tc.cfgEdit != nil {
				tc.cfgEdit(&cfg)
			}
			ch := NewChain(cfg)
			req := mustParse(t, tc.path)
			n, aborts := ch.Records(req)
			if n != tc.want || aborts != tc.aborts {
				t.Fatalf("Records = (%d, %v), want (%d, %v)", n, aborts, tc.want, tc.aborts)
			}
			status, body := ch.Body(req)
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			sc := scan(t, body)
			if !sc.AtBoundary() || sc.Records() != tc.want {
				t.Fatalf("body has %d records (boundary %v), want %d", sc.Records(), sc.AtBoundary(), tc.want)
			}
			if tc.aborts {
				return
			}
			count, _ := ch.StateItemCount(req.Args[0])
			if b := req.ExpectedRecords(ch.DBState(), count); !b.Contains(n) {
				t.Fatalf("%d records outside upstream's expected %+v", n, b)
			}
		})
	}
}

func TestChainDeterministic(t *testing.T) {
	t.Parallel()
	a, b := NewChain(testConfig()), NewChain(testConfig())
	other := testConfig()
	other.Seed++
	c := NewChain(other)
	for _, path := range []string{"/transactions/100/50", "/state_snapshot/500", "/epoch_ending_ledger_infos/0/12", "/db_state",
		"/state_root_proof/700", "/transaction_range_proof/10/99", "/state_range_proof/1000/" + strings.Repeat("ab", 32)} {
		req := mustParse(t, path)
		_, ba := a.Body(req)
		_, bb := b.Body(req)
		_, bc := c.Body(req)
		if !bytes.Equal(ba, bb) {
			t.Errorf("%s: two chains with one config differ", path)
		}
		if req.Endpoint != upstream.DBState && bytes.Equal(ba, bc) {
			t.Errorf("%s: another seed gives the same bytes", path)
		}
	}
}

// Record identity: a record is a function of its kind and identity only.
func TestChainRecordIdentity(t *testing.T) {
	t.Parallel()
	ch := NewChain(testConfig())
	body := func(path string) [][]byte {
		_, b := ch.Body(mustParse(t, path))
		return splitRecords(t, b)
	}
	txns := body("/transactions/1000/40")
	for i, rec := range txns {
		one := body("/transactions/" + itoa(1000+uint64(i)) + "/1")
		if len(one) != 1 || !bytes.Equal(one[0], rec) {
			t.Fatalf("transaction %d differs between ranges", 1000+i)
		}
	}
	epochs := body("/epoch_ending_ledger_infos/0/12")
	if tail := body("/epoch_ending_ledger_infos/5/100"); !equalRecords(tail, epochs[5:]) {
		t.Fatal("epoch ending records depend on the range")
	}
	snap := body("/state_snapshot/1500")
	for _, c := range [][2]uint64{{0, 1}, {7, 100}, {1000, 50}, {1049, 1}} {
		chunk := body("/state_snapshot_chunk/1500/" + itoa(c[0]) + "/" + itoa(c[1]))
		if !equalRecords(chunk, snap[c[0]:c[0]+c[1]]) {
			t.Fatalf("chunk %v differs from the snapshot", c)
		}
	}
	// Distinct identities give distinct records, even across snapshots.
	other := body("/state_snapshot_chunk/2000/0/1050")
	seen := map[string]bool{}
	for _, r := range append(append(append(txns, snap...), other...), epochs...) {
		if seen[string(r)] {
			t.Fatal("two distinct records are equal")
		}
		seen[string(r)] = true
	}
}

func equalRecords(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// The resume property: the records of a continuation are the tail of the original.
func TestChainContinuation(t *testing.T) {
	t.Parallel()
	ch := NewChain(testConfig())
	db := ch.DBState()
	for _, path := range []string{
		"/transactions/0/300", "/transactions/1900/101", "/transactions/1990/20",
		"/epoch_ending_ledger_infos/0/12", "/epoch_ending_ledger_infos/2/40",
		"/state_snapshot/1000", "/state_snapshot_chunk/1500/100/400", "/state_snapshot_chunk/2000/1200/500",
	} {
		req := mustParse(t, path)
		_, body := ch.Body(req)
		recs := splitRecords(t, body)
		count, _ := ch.StateItemCount(req.Args[0])
		n := uint64(len(recs))
		tried := 0
		for _, k := range []uint64{0, 1, n / 3, n / 2, n - 1, n} {
			next, ok := req.Continuation(k, db, count)
			if !ok {
				continue // e.g. transactions past C: no exact continuation
			}
			tried++
			_, tail := ch.Body(next)
			if !equalRecords(splitRecords(t, tail), recs[k:]) {
				t.Fatalf("%s after %d records: %s is not the tail", path, k, next.Path())
			}
		}
		if tried == 0 {
			t.Fatalf("%s: no continuation tried", path)
		}
	}
}

func TestChainSmallEndpoints(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.PrunedBelow = 600
	ch := NewChain(cfg)
	key := strings.Repeat("0f", 32)
	cases := []struct {
		path   string
		status int
		check  func([]byte) bool
	}{
		{"/db_state", 200, func(b []byte) bool {
			db, err := upstream.ParseDBState(b)
			return len(b) == 17 && err == nil && db == upstream.DBStateValue{Epoch: 12, CommittedVersion: 2000}
		}},
		{"/state_item_count/1000", 200, func(b []byte) bool { return len(b) == 8 && binary.LittleEndian.Uint64(b) == 800 }},
		{"/state_item_count/2000", 200, func(b []byte) bool { return binary.LittleEndian.Uint64(b) == 1300 }},
		{"/state_item_count/1001", 500, nil},
		{"/state_item_count/500", 500, nil}, // pruned
		{"/state_item_count/2500", 500, nil},
		{"/state_range_proof/1000/" + key, 200, plausibleProof},
		{"/state_range_proof/1001/" + key, 500, nil},
		{"/state_root_proof/1000", 200, plausibleProof},
		{"/state_root_proof/1001", 200, plausibleProof}, // any committed version has a transaction info
		{"/state_root_proof/599", 500, nil},
		{"/state_root_proof/2001", 500, nil},
		{"/transaction_range_proof/10/20", 200, plausibleProof},
		{"/transaction_range_proof/20/20", 200, plausibleProof},
		{"/transaction_range_proof/21/20", 500, nil},
		{"/transaction_range_proof/0/2001", 500, nil},
	}
	for _, tc := range cases {
		status, body := ch.Body(mustParse(t, tc.path))
		if status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.path, status, tc.status)
			continue
		}
		if tc.check == nil && len(body) != 0 {
			t.Errorf("%s: error with a body", tc.path)
		}
		if tc.check != nil && !tc.check(body) {
			t.Errorf("%s: unexpected body %x", tc.path, body)
		}
	}
	cfg.LegacyDBState = true
	_, b := NewChain(cfg).Body(mustParse(t, "/db_state"))
	if db, err := upstream.ParseDBState(b); len(b) != 25 || err != nil || db.CommittedVersion != 2000 || binary.LittleEndian.Uint64(b[17:]) != 2003 {
		t.Errorf("legacy db_state %x: %v", b, err)
	}
}

// plausibleProof: starts with a ULEB128 hash count whose hashes fit, and is
// at most a few KiB.
func plausibleProof(b []byte) bool {
	n, k := binary.Uvarint(b)
	return k > 0 && uint64(len(b)-k) >= 32*n && len(b) < 8<<10
}

func TestChainRecordSizes(t *testing.T) {
	t.Parallel()
	ch := NewChain(DefaultConfig())
	stat := func(k recordKind, a uint64, n int) (mean float64, lo, hi, large int) {
		lo = 1 << 30
		total := 0
		for i := range n {
			_, size := ch.record(k, a, uint64(i))
			total += size
			lo, hi = min(lo, size), max(hi, size)
			if size >= 100<<10 {
				large++
			}
		}
		return float64(total) / float64(n), lo, hi, large
	}
	tm, tlo, thi, tlarge := stat(kindTransaction, 0, 50_000)
	sm, slo, shi, _ := stat(kindStateItem, 49_999, 50_000)
	em, elo, ehi, _ := stat(kindEpochEnding, 0, 1_000)
	t.Logf("transactions: mean %.0f min %d max %d, %d >= 100 KiB; state items: mean %.0f min %d max %d; epochs: mean %.0f", tm, tlo, thi, tlarge, sm, slo, shi, em)
	if tlo < minRecord || slo < minRecord || elo < minRecord || max(thi, shi, ehi) > maxRecord {
		t.Fatal("record size outside [minRecord, maxRecord]")
	}
	if tlarge < 10 || tlarge > 80 {
		t.Errorf("%d large transactions in 50,000, want about 33", tlarge)
	}
	if !(sm < tm && tm < em) || tm < 1000 || tm > 3000 || sm < 150 || sm > 600 {
		t.Errorf("means: state %.0f, transactions %.0f, epochs %.0f", sm, tm, em)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, edit := range []func(*Config){
		func(c *Config) { c.PrunedBelow = c.CommittedVersion + 1 },
		func(c *Config) { c.CommittedVersion, c.PreCommitted = 1<<63, 1<<63 },
		func(c *Config) { c.BatchSize = -1 },
		func(c *Config) { c.BatchSize = MaxBatchSize + 1 },
		func(c *Config) { c.MaxProducers = -1 },
	} {
		cfg := DefaultConfig()
		edit(&cfg)
		if _, err := NewServer(cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if got := NewChain(DefaultConfig()).Summary(); !strings.Contains(got, "snapshots=0,10000,20000,30000,40000,49999") {
		t.Errorf("summary %q", got)
	}
}
