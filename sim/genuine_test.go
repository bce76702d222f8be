package sim

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/backseal/backseal/aptos/accumulator"
	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
	"github.com/backseal/backseal/aptos/ledger"
	"github.com/backseal/backseal/aptos/smt"
	"github.com/backseal/backseal/aptos/types"
)

// The default chain in genuine mode, built once for the whole package's tests.
var (
	defaultGenuineOnce sync.Once
	defaultGenuine     *Chain
)

func genuineDefault(t testing.TB) *Chain {
	t.Helper()
	defaultGenuineOnce.Do(func() {
		cfg := DefaultConfig()
		cfg.Genuine = true
		if err := cfg.Validate(); err != nil {
			panic(err)
		}
		defaultGenuine = NewChain(cfg)
		defaultGenuine.Build()
	})
	return defaultGenuine
}

// smallGenuine is a small genuine chain for the fault tests.
func smallGenuine() Config {
	cfg := testConfig()
	cfg.Genuine = true
	return cfg
}

func payloads(t testing.TB, c *Chain, path string) [][]byte {
	t.Helper()
	status, body := c.Body(mustParse(t, path))
	if status != 200 {
		t.Fatalf("%s: status %d", path, status)
	}
	recs := splitRecords(t, body)
	for i := range recs {
		recs[i] = recs[i][4:]
	}
	return recs
}

// checkRecord decodes a transaction record and checks every hash its
// TransactionInfo commits to, independently of the generator.
func checkRecord(t testing.TB, p []byte, format types.RecordFormat) types.TransactionRecord {
	t.Helper()
	rec, err := types.DecodeTransactionRecord(p)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if rec.Format != format {
		t.Fatalf("format %v, want %v", rec.Format, format)
	}
	info := rec.TransactionInfo
	if got := types.HashTransaction(rec.TransactionBytes); got != info.TransactionHash {
		t.Fatalf("transaction hash %s, info says %s", got, info.TransactionHash)
	}
	if got := types.HashWriteSet(rec.WriteSetBytes); got != info.StateChangeHash {
		t.Fatalf("write set hash %s, info says %s", got, info.StateChangeHash)
	}
	leaves := make([]hash.Value, len(rec.EventBytes))
	for i, e := range rec.EventBytes {
		leaves[i] = types.HashContractEvent(e)
	}
	if got := eventRootIndependent(leaves); got != info.EventRootHash {
		t.Fatalf("event root %s, info says %s", got, info.EventRootHash)
	}
	switch {
	case format == types.RecordV0 || rec.AuxiliaryInfo.Kind == types.AuxInfoNone:
		if info.AuxiliaryInfoHash != nil {
			t.Fatal("auxiliary info hash without auxiliary info")
		}
	case info.AuxiliaryInfoHash == nil || *info.AuxiliaryInfoHash != types.HashPersistedAuxiliaryInfo(rec.AuxiliaryInfoBytes):
		t.Fatal("auxiliary info hash does not match")
	}
	if _, err := rec.WriteSet(); err != nil {
		t.Fatalf("write set: %v", err)
	}
	if _, err := rec.Events(); err != nil {
		t.Fatalf("events: %v", err)
	}
	return rec
}

// eventRootIndependent is the event accumulator root computed the plain way:
// pad the leaves to a power of two with placeholders, fold pairwise.
func eventRootIndependent(leaves []hash.Value) hash.Value {
	if len(leaves) == 0 {
		return hash.AccumulatorPlaceholder
	}
	level := append([]hash.Value(nil), leaves...)
	for len(level) > 1 {
		if len(level)%2 == 1 {
			level = append(level, hash.AccumulatorPlaceholder)
		}
		up := make([]hash.Value, len(level)/2)
		for i := range up {
			l, r := level[2*i], level[2*i+1]
			if l == hash.AccumulatorPlaceholder && r == hash.AccumulatorPlaceholder {
				up[i] = hash.AccumulatorPlaceholder
			} else {
				up[i] = hash.EventAccumulator.Sum(l[:], r[:])
			}
		}
		level = up
	}
	return level[0]
}

func TestGenuineTransactions(t *testing.T) {
	c := genuineDefault(t)
	C := c.Config().CommittedVersion
	kinds := map[types.TransactionKind]int{}
	statuses := map[types.ExecutionStatusKind]int{}
	auths := map[types.TransactionAuthenticatorKind]int{}
	payloadKinds := map[types.TransactionPayloadKind]int{}
	noEvents, checkpoints := 0, 0
	for _, r := range [][2]uint64{{0, 300}, {9900, 200}, {25_000, 300}, {C - 200, 300}} {
		recs := payloads(t, c, fmt.Sprintf("/transactions/%d/%d", r[0], r[1]))
		for i, p := range recs {
			v := r[0] + uint64(i)
			rec := checkRecord(t, p, types.RecordV1)
			kinds[rec.Transaction.Kind]++
			statuses[rec.TransactionInfo.Status.Kind]++
			if u := rec.Transaction.User; u != nil {
				auths[u.Authenticator.Kind]++
				payloadKinds[u.RawTxn.Payload.Kind]++
			}
			if len(rec.EventBytes) == 0 {
				noEvents++
			}
			if rec.TransactionInfo.StateCheckpointHash != nil {
				checkpoints++
			}
			if c.IsSnapshot(v) && rec.TransactionInfo.StateCheckpointHash == nil {
				t.Fatalf("version %d: a snapshot version without a state checkpoint", v)
			}
		}
	}
	if kinds[types.TxnGenesis] != 1 || kinds[types.TxnUser] < 500 || kinds[types.TxnBlockMetadata] == 0 ||
		kinds[types.TxnBlockMetadataExt] == 0 || kinds[types.TxnBlockEpilogue] == 0 {
		t.Errorf("transaction kinds %v", kinds)
	}
	if statuses[types.StatusMoveAbort] == 0 || auths[types.TxnAuthFeePayer] == 0 || auths[types.TxnAuthSingleSender] == 0 ||
		payloadKinds[types.PayloadScript] == 0 || payloadKinds[types.PayloadMultisig] == 0 {
		t.Errorf("statuses %v authenticators %v payloads %v", statuses, auths, payloadKinds)
	}
	if noEvents == 0 || checkpoints == 0 {
		t.Errorf("%d records without events, %d checkpoints", noEvents, checkpoints)
	}
}

func TestGenuineRecordV0(t *testing.T) {
	cfg := smallGenuine()
	cfg.RecordV0 = true
	c := NewChain(cfg)
	for _, p := range payloads(t, c, "/transactions/0/500") {
		checkRecord(t, p, types.RecordV0)
	}
}

// epochChain verifies /epoch_ending_ledger_infos/0/E from the genesis
// waypoint and returns the validator set of every epoch 1..E.
func epochChain(t testing.TB, c *Chain) []*ledger.EpochState {
	t.Helper()
	E := c.Config().Epochs
	ec := ledger.NewEpochChainFromWaypoint(c.GenesisWaypoint())
	sets := make([]*ledger.EpochState, E+1)
	recs := payloads(t, c, fmt.Sprintf("/epoch_ending_ledger_infos/0/%d", E))
	if uint64(len(recs)) != E {
		t.Fatalf("%d epoch endings, want %d", len(recs), E)
	}
	prev := uint64(0)
	for e, p := range recs {
		li, err := ledger.ParseLedgerInfoWithSignatures(p)
		if err != nil {
			t.Fatalf("epoch %d: %v", e, err)
		}
		if err := ec.Add(li); err != nil {
			t.Fatalf("epoch %d: %v", e, err)
		}
		if v := li.LedgerInfo.CommitInfo.Version; e > 0 && v <= prev {
			t.Fatalf("epoch %d ends at %d, not after %d", e, v, prev)
		}
		prev = li.LedgerInfo.CommitInfo.Version
		sets[e+1] = ec.Current()
		// An epoch ends a block: its last version is a state checkpoint.
		rec, err := types.DecodeTransactionRecord(payloads(t, c, fmt.Sprintf("/transactions/%d/1", prev))[0])
		if err != nil || rec.TransactionInfo.StateCheckpointHash == nil {
			t.Fatalf("epoch %d ends at %d, not a block end (%v)", e, prev, err)
		}
	}
	return sets
}

func TestGenuineTransactionRangeProof(t *testing.T) {
	c := genuineDefault(t)
	sets := epochChain(t, c)
	C := c.Config().CommittedVersion
	for _, r := range [][2]uint64{{C - 999, C}, {12_345, 12_400}, {0, 10}, {C, C}} {
		status, body := c.Body(mustParse(t, fmt.Sprintf("/transaction_range_proof/%d/%d", r[0], r[1])))
		if status != 200 {
			t.Fatalf("%v: status %d", r, status)
		}
		br := bcs.NewReader(body)
		var proof accumulator.AccumulatorRangeProof
		proof.Decode(br)
		var li ledger.LedgerInfoWithSignatures
		li.Decode(br)
		if err := br.Done(); err != nil {
			t.Fatalf("%v: %v", r, err)
		}
		ci := li.LedgerInfo.CommitInfo
		if ci.Epoch == 0 {
			if err := c.GenesisWaypoint().Verify(&li.LedgerInfo); err != nil {
				t.Fatalf("%v: %v", r, err)
			}
		} else if err := sets[ci.Epoch].Verify(&li); err != nil {
			t.Fatalf("%v: epoch %d: %v", r, ci.Epoch, err)
		}
		if ci.Version < r[1] {
			t.Fatalf("%v: ledger info at %d", r, ci.Version)
		}
		first := r[0]
		v := accumulator.NewRangeVerifier(hash.TransactionAccumulator, ci.ExecutedStateID, &first, &proof)
		for _, p := range payloads(t, c, fmt.Sprintf("/transactions/%d/%d", r[0], r[1]-r[0]+1)) {
			rec := checkRecord(t, p, types.RecordV1)
			v.Add(types.HashTransactionInfo(rec.TransactionInfoBytes))
		}
		if err := v.Finish(); err != nil {
			t.Fatalf("%v: %v", r, err)
		}
	}
	if status, _ := c.Body(mustParse(t, fmt.Sprintf("/transaction_range_proof/%d/%d", C, C+1))); status != 500 {
		t.Errorf("past C: status %d", status)
	}
}

func TestGenuineStateSnapshot(t *testing.T) {
	c := genuineDefault(t)
	sets := epochChain(t, c)
	for _, v := range []uint64{0, 20_000, c.Config().CommittedVersion} {
		status, body := c.Body(mustParse(t, fmt.Sprintf("/state_root_proof/%d", v)))
		if status != 200 {
			t.Fatalf("%d: status %d", v, status)
		}
		br := bcs.NewReader(body)
		var twp accumulator.TransactionInfoWithProof
		var info types.TransactionInfo
		twp.Decode(br, info.Decode)
		var li ledger.LedgerInfoWithSignatures
		li.Decode(br)
		if err := br.Done(); err != nil {
			t.Fatalf("%d: %v", v, err)
		}
		ci := li.LedgerInfo.CommitInfo
		if ci.Epoch == 0 {
			if err := c.GenesisWaypoint().Verify(&li.LedgerInfo); err != nil {
				t.Fatal(err)
			}
		} else if err := sets[ci.Epoch].Verify(&li); err != nil {
			t.Fatalf("%d: %v", v, err)
		}
		if err := twp.Verify(ci.Version, ci.ExecutedStateID, v); err != nil {
			t.Fatalf("%d: %v", v, err)
		}
		if info.StateCheckpointHash == nil {
			t.Fatalf("%d: no state checkpoint hash", v)
		}
		rec := checkRecord(t, payloads(t, c, fmt.Sprintf("/transactions/%d/1", v))[0], types.RecordV1)
		if !bytes.Equal(rec.TransactionInfoBytes, twp.TransactionInfo) {
			t.Fatalf("%d: the proof's TransactionInfo is not the record's", v)
		}
		recs := payloads(t, c, fmt.Sprintf("/state_snapshot/%d", v))
		n, _ := c.StateItemCount(v)
		if uint64(len(recs)) != n {
			t.Fatalf("%d: %d items, want %d", v, len(recs), n)
		}
		b := smt.NewBuilder()
		for i, p := range recs {
			br := bcs.NewReader(p)
			var key types.StateKey
			var val types.StateValue
			key.Decode(br)
			from := br.Offset()
			val.Decode(br)
			if err := br.Done(); err != nil {
				t.Fatalf("%d: item %d: %v", v, i, err)
			}
			if err := b.Add(key.Hash(), types.HashStateValue(br.Raw(from))); err != nil {
				t.Fatalf("%d: item %d: %v", v, i, err)
			}
			if i == len(recs)/3 || i == len(recs)-1 { // a chunk's end: its range proof
				last, _ := b.Last()
				status, body := c.Body(mustParse(t, fmt.Sprintf("/state_range_proof/%d/%s", v, last.Key)))
				if status != 200 {
					t.Fatalf("%d: range proof status %d", v, status)
				}
				var proof smt.SparseMerkleRangeProof
				pr := bcs.NewReader(body)
				proof.Decode(pr)
				if err := pr.Done(); err != nil {
					t.Fatal(err)
				}
				if err := b.VerifyRangeProof(*info.StateCheckpointHash, &proof); err != nil {
					t.Fatalf("%d: item %d: %v", v, i, err)
				}
			}
		}
		if b.Root() != *info.StateCheckpointHash {
			t.Fatalf("%d: root %s, state checkpoint hash %s", v, b.Root(), *info.StateCheckpointHash)
		}
	}
	// A key the tree does not hold: the node's get_range_proof refuses it.
	if status, _ := c.Body(mustParse(t, "/state_range_proof/0/"+hash.Zero.String())); status != 500 {
		t.Errorf("absent key: status %d", status)
	}
}

func TestGenuineResume(t *testing.T) {
	c := NewChain(smallGenuine())
	all := payloads(t, c, "/transactions/1000/300")
	for _, i := range []int{0, 1, 77, 299} {
		one := payloads(t, c, fmt.Sprintf("/transactions/%d/1", 1000+i))
		if !bytes.Equal(one[0], all[i]) {
			t.Fatalf("transaction %d differs on resume", 1000+i)
		}
	}
	v := c.Config().CommittedVersion
	snap := payloads(t, c, fmt.Sprintf("/state_snapshot/%d", v))
	chunk := payloads(t, c, fmt.Sprintf("/state_snapshot_chunk/%d/%d/%d", v, 100, 50))
	for i := range chunk {
		if !bytes.Equal(chunk[i], snap[100+i]) {
			t.Fatalf("chunk record %d differs", i)
		}
	}
	// A second chain from the same config serves the same bytes.
	again := payloads(t, NewChain(smallGenuine()), "/transactions/1000/300")
	for i := range all {
		if !bytes.Equal(all[i], again[i]) {
			t.Fatalf("record %d differs between chains", i)
		}
	}
}

func TestGenuineValidate(t *testing.T) {
	cfg := smallGenuine()
	cfg.Epochs = cfg.CommittedVersion // far more epochs than blocks
	if err := cfg.Validate(); !errors.Is(err, ErrBadConfig) {
		t.Errorf("too many epochs: %v", err)
	}
	cfg = smallGenuine()
	cfg.Epochs = 0
	if err := cfg.Validate(); !errors.Is(err, ErrBadConfig) {
		t.Errorf("no epoch: %v", err)
	}
	s := startServer(t, smallGenuine())
	if _, err := s.Advance(10, 0); !errors.Is(err, ErrBadConfig) {
		t.Errorf("advance in genuine mode: %v", err)
	}
}

func TestGenuineEpochJustEnded(t *testing.T) {
	cfg := smallGenuine()
	cfg.EpochJustEnded = true
	c := NewChain(cfg)
	E := cfg.Epochs
	recs := payloads(t, c, fmt.Sprintf("/epoch_ending_ledger_infos/0/%d", E+1))
	ec := ledger.NewEpochChainFromWaypoint(c.GenesisWaypoint())
	for e, p := range recs {
		li, err := ledger.ParseLedgerInfoWithSignatures(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := ec.Add(li); err != nil {
			t.Fatalf("epoch %d: %v", e, err)
		}
		if uint64(e) == E && li.LedgerInfo.CommitInfo.Version != cfg.CommittedVersion {
			t.Fatalf("epoch E ends at %d, want C", li.LedgerInfo.CommitInfo.Version)
		}
	}
	if uint64(len(recs)) != E+1 {
		t.Fatalf("%d records", len(recs))
	}
}

// Content faults: the stream frames and counts right, one record is wrong.

func faultedPayloads(t *testing.T, s *Server, path string, f Fault) (clean, got [][]byte) {
	t.Helper()
	clean = payloads(t, s.Chain(), path)
	s.SetFaults(f)
	r := rawGet(t, s.Addr(), path)
	if r.err != nil || !r.terminated {
		t.Fatalf("%s: %v", f.Kind, r.err)
	}
	got = splitRecords(t, r.body)
	for i := range got {
		got[i] = got[i][4:]
	}
	if len(got) != len(clean) {
		t.Fatalf("%s: %d records, want %d", f.Kind, len(got), len(clean))
	}
	for i := range got {
		if uint64(i) != f.After && !bytes.Equal(got[i], clean[i]) {
			t.Fatalf("%s: record %d changed", f.Kind, i)
		}
	}
	if s.Stats().FaultsFired[f.Kind] == 0 {
		t.Fatalf("%s did not fire", f.Kind)
	}
	return clean, got
}

func TestFaultFlip(t *testing.T) {
	t.Parallel()
	for _, genuine := range []bool{false, true} {
		cfg := testConfig()
		cfg.Genuine = genuine
		s := startServer(t, cfg)
		for _, path := range []string{"/transactions/100/200", "/epoch_ending_ledger_infos/0/5", "/state_snapshot_chunk/2000/10/100"} {
			const after = 3
			clean, got := faultedPayloads(t, s, path, Fault{Kind: Flip, After: after})
			a, b := clean[after], got[after]
			if len(a) != len(b) {
				t.Fatalf("%s: flip changed the length", path)
			}
			diff := 0
			for i := range a {
				if a[i] != b[i] {
					diff++
				}
			}
			if diff != 1 {
				t.Fatalf("%s: %d bytes differ", path, diff)
			}
			if !genuine {
				continue
			}
			switch {
			case path[1] == 't':
				rec, err := types.DecodeTransactionRecord(b)
				if err != nil {
					t.Fatalf("flipped record does not decode: %v", err)
				}
				if types.HashWriteSet(rec.WriteSetBytes) == rec.TransactionInfo.StateChangeHash {
					t.Fatal("flip left the write set hash matching")
				}
			case path[1] == 'e':
				li, err := ledger.ParseLedgerInfoWithSignatures(b)
				if err != nil {
					t.Fatal(err)
				}
				if c := li.LedgerInfo.CommitInfo; c.Epoch != after {
					t.Fatalf("flipped ledger info of epoch %d", c.Epoch)
				}
			default:
				if _, err := stateItem(b); err != nil {
					t.Fatalf("flipped item does not decode: %v", err)
				}
			}
		}
	}
}

func stateItem(p []byte) (types.StateKey, error) {
	br := bcs.NewReader(p)
	var key types.StateKey
	var val types.StateValue
	key.Decode(br)
	val.Decode(br)
	return key, br.Done()
}

func TestFaultSwap(t *testing.T) {
	t.Parallel()
	for _, genuine := range []bool{false, true} {
		cfg := testConfig()
		cfg.Genuine = genuine
		s := startServer(t, cfg)
		for _, path := range []string{"/transactions/100/200", "/epoch_ending_ledger_infos/0/5", "/state_snapshot/2000"} {
			const after = 2
			clean, got := faultedPayloads(t, s, path, Fault{Kind: Swap, After: after})
			if !bytes.Equal(got[after], clean[after+1]) {
				t.Fatalf("%s: record %d is not record %d", path, after, after+1)
			}
		}
	}
}

func TestFaultStale(t *testing.T) {
	t.Parallel()
	for _, genuine := range []bool{false, true} {
		cfg := testConfig()
		cfg.Genuine = genuine
		s := startServer(t, cfg)
		const after = 7
		path := fmt.Sprintf("/state_snapshot/%d", cfg.CommittedVersion)
		clean, got := faultedPayloads(t, s, path, Fault{Kind: Stale, After: after})
		if bytes.Equal(got[after], clean[after]) {
			t.Fatal("stale left the item unchanged")
		}
		if !genuine {
			if !bytes.Equal(got[after][:idHashSize], clean[after][:idHashSize]) {
				t.Fatal("stale changed the identity")
			}
			continue
		}
		k1, err1 := stateItem(got[after])
		k0, err0 := stateItem(clean[after])
		if err0 != nil || err1 != nil || k0.Hash() != k1.Hash() {
			t.Fatalf("stale item: %v %v, same key %v", err0, err1, k0.Hash() == k1.Hash())
		}
	}
	if err := (Fault{Kind: Stale, Endpoint: "transactions"}).Validate(); !errors.Is(err, ErrBadFault) {
		t.Errorf("stale on transactions: %v", err)
	}
}

func TestFaultVariant(t *testing.T) {
	t.Parallel()
	s := startServer(t, smallGenuine())
	for _, path := range []string{"/transactions/100/200", "/epoch_ending_ledger_infos/0/5", "/state_snapshot/2000"} {
		const after = 3
		_, got := faultedPayloads(t, s, path, Fault{Kind: Variant, After: after})
		var err error
		switch path[1] {
		case 't':
			_, err = types.DecodeTransactionRecord(got[after])
		case 'e':
			_, err = ledger.ParseLedgerInfoWithSignatures(got[after])
		default:
			_, err = stateItem(got[after])
		}
		var uv *bcs.UnknownVariantError
		if !errors.As(err, &uv) || uv.Variant != variantUnknown {
			t.Fatalf("%s: %v, want an unknown variant 0x20", path, err)
		}
	}
}

func BenchmarkGenuineRecords(b *testing.B) {
	c := genuineDefault(b)
	var buf []byte
	var bytes, n uint64
	b.ReportAllocs()
	v := uint64(0)
	for b.Loop() {
		buf = c.appendRecord(buf[:0], kindTransaction, 0, v)
		bytes += uint64(len(buf))
		n++
		v = (v + 1) % (c.Config().CommittedVersion + 1)
	}
	b.ReportMetric(float64(bytes)/float64(n), "B/record")
}

func BenchmarkGenuineStateItems(b *testing.B) {
	c := genuineDefault(b)
	var buf []byte
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		buf = c.appendRecord(buf[:0], kindStateItem, 49_999, i)
		i = (i + 1) % 51_999
	}
}

// BenchmarkGenuineBuild is the one-time cost of the default genuine chain:
// layout, validator keys, snapshots, TransactionInfos, accumulator, signed
// ledger infos. Run it with -benchtime 1x.
func BenchmarkGenuineBuild(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Genuine = true
	b.ReportAllocs()
	for b.Loop() {
		NewChain(cfg).Build()
	}
}

func TestControlContentFaults(t *testing.T) {
	t.Parallel()
	s := startServer(t, smallGenuine())
	ctl := httptest.NewServer(s.ControlHandler())
	t.Cleanup(ctl.Close)
	do := func(method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, ctl.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for body, want := range map[string]int{
		`{"kind":"flip","after":3,"endpoint":"transactions"}`:          200,
		`{"kind":"swap","after":1}`:                                    200,
		`{"kind":"stale","after":2,"endpoint":"state_snapshot_chunk"}`: 200,
		`{"kind":"variant","endpoint":"epoch_ending_ledger_infos"}`:    200,
		`{"kind":"stale","endpoint":"transactions"}`:                   400,
		`{"kind":"flip","endpoint":"db_state"}`:                        400,
	} {
		if got := do("POST", "/faults", body); got != want {
			t.Errorf("POST %s: %d, want %d", body, got, want)
		}
	}
	if got := len(s.Faults()); got != 4 {
		t.Errorf("%d faults armed, want 4", got)
	}
	if got := do("POST", "/chain/advance?versions=10", ""); got != 400 {
		t.Errorf("advance of a genuine chain: %d, want 400", got)
	}
	// Through net/http: a flipped record is a clean, complete body of the right length.
	s.SetFaults(Fault{Kind: Flip, After: 10, Endpoint: "transactions"})
	want := cleanBody(t, s, "/transactions/0/100")
	resp, body, err := httpGet(t, newClient(t), s.URL(), "/transactions/0/100")
	if err != nil || resp.StatusCode != 200 || len(body) != len(want) || bytes.Equal(body, want) {
		t.Fatalf("net/http: %v, %d of %d bytes", err, len(body), len(want))
	}
}

// An empty snapshot (count(0) = 0) still serves an excess record.
func TestGenuineEmptySnapshot(t *testing.T) {
	t.Parallel()
	cfg := smallGenuine()
	cfg.StateItemsBase = 0
	s := startServer(t, cfg)
	if got := payloads(t, s.Chain(), "/state_snapshot/0"); len(got) != 0 {
		t.Fatalf("%d items", len(got))
	}
	s.SetFaults(Fault{Kind: Excess})
	r := rawGet(t, s.Addr(), "/state_snapshot/0")
	if r.err != nil || !r.terminated || len(splitRecords(t, r.body)) != 1 {
		t.Fatalf("excess on an empty snapshot: %v, %d bytes", r.err, len(r.body))
	}
	if _, err := stateItem(splitRecords(t, r.body)[0][4:]); err != nil {
		t.Fatal(err)
	}
}

func TestGenuineLimits(t *testing.T) {
	t.Parallel()
	cfg := smallGenuine()
	cfg.CommittedVersion = MaxGenuineVersion + 1
	if err := cfg.Validate(); !errors.Is(err, ErrBadConfig) {
		t.Errorf("too many versions: %v", err)
	}
	cfg = smallGenuine()
	cfg.StateItemsBase = MaxGenuineStateItems / 4 // five snapshots of the test chain
	if err := cfg.Validate(); !errors.Is(err, ErrBadConfig) {
		t.Errorf("too many state items: %v", err)
	}
}
