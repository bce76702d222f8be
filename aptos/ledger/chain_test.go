package ledger

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

// testChain returns epoch-ending ledger infos for epochs first..first+n-1,
// each signed by a quorum of its epoch's validators, and those validators.
func testChain(t testing.TB, first uint64, n int) ([]*LedgerInfoWithSignatures, []*Signers) {
	t.Helper()
	sets := make([]*Signers, n+1)
	for i := range sets {
		sets[i] = GenerateSigners(fmt.Appendf(nil, "epoch %d", first+uint64(i)), powers(4+i, uint64(10+i)))
	}
	lis := make([]*LedgerInfoWithSignatures, n)
	for i := range lis {
		li := epochEnding(first+uint64(i), 100*(first+uint64(i)), sets[i+1])
		// Leave one validator out: a quorum, not everyone.
		signed, err := sets[i].Sign(li, seq(len(sets[i].Keys))[1:])
		if err != nil {
			t.Fatal(err)
		}
		lis[i] = signed
	}
	return lis, sets
}

func TestEpochChain(t *testing.T) {
	lis, sets := testChain(t, 0, 6)

	t.Run("from waypoint", func(t *testing.T) {
		c := NewEpochChainFromWaypoint(WaypointFromLedgerInfo(&lis[0].LedgerInfo))
		if c.Current() != nil {
			t.Error("Current before the first record")
		}
		for i, li := range lis {
			if err := c.Add(li); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
		if c.Current().Epoch != 6 || c.Added() != 6 {
			t.Errorf("Current epoch %d after %d records", c.Current().Epoch, c.Added())
		}
		// The newest set verifies a later ledger info (a range proof's).
		later, _ := sets[6].Sign(&LedgerInfo{CommitInfo: BlockInfo{Epoch: 6, Version: 777}}, seq(len(sets[6].Keys)))
		if err := c.Current().Verify(later); err != nil {
			t.Error(err)
		}
	})

	t.Run("from epoch state", func(t *testing.T) {
		c := NewEpochChain(sets[2].EpochState(2))
		for i, li := range lis[2:] {
			if err := c.Add(li); err != nil {
				t.Fatalf("record %d: %v", i+2, err)
			}
		}
	})

	t.Run("waypoint mismatch", func(t *testing.T) {
		wp := WaypointFromLedgerInfo(&lis[0].LedgerInfo)
		wp.Value[0] ^= 1
		if err := NewEpochChainFromWaypoint(wp).Add(lis[0]); !errors.Is(err, ErrWaypointMismatch) {
			t.Errorf("got %v", err)
		}
		// A record before the waypoint cannot be trusted.
		wp = WaypointFromLedgerInfo(&lis[1].LedgerInfo)
		if err := NewEpochChainFromWaypoint(wp).Add(lis[0]); !errors.Is(err, ErrWaypointMismatch) {
			t.Errorf("record before the waypoint: got %v", err)
		}
	})

	t.Run("gap", func(t *testing.T) {
		c := NewEpochChain(sets[0].EpochState(0))
		if err := c.Add(lis[0]); err != nil {
			t.Fatal(err)
		}
		if err := c.Add(lis[2]); !errors.Is(err, ErrEpochGap) {
			t.Errorf("got %v, want ErrEpochGap", err)
		}
		if err := c.Add(lis[0]); !errors.Is(err, ErrEpochGap) {
			t.Errorf("repeat: got %v, want ErrEpochGap", err)
		}
		// A failed Add leaves the chain where it was.
		if err := c.Add(lis[1]); err != nil {
			t.Errorf("after failures: %v", err)
		}
	})

	t.Run("first record from another epoch", func(t *testing.T) {
		if err := NewEpochChain(sets[0].EpochState(0)).Add(lis[1]); !errors.Is(err, ErrWrongEpoch) {
			t.Errorf("got %v, want ErrWrongEpoch", err)
		}
	})

	t.Run("signed by the wrong validators", func(t *testing.T) {
		forged, _ := sets[3].Sign(&lis[1].LedgerInfo, seq(len(sets[3].Keys)))
		c := NewEpochChain(sets[0].EpochState(0))
		if err := c.Add(lis[0]); err != nil {
			t.Fatal(err)
		}
		if err := c.Add(forged); err == nil {
			t.Error("record signed by another epoch's validators accepted")
		}
	})

	t.Run("not epoch ending", func(t *testing.T) {
		li := *lis[0]
		li.LedgerInfo.CommitInfo.NextEpochState = nil
		if err := NewEpochChain(sets[0].EpochState(0)).Add(&li); !errors.Is(err, ErrNotEpochEnding) {
			t.Errorf("got %v", err)
		}
	})
}

// TestEpochChainStream feeds the chain from size-prefixed records, as the
// /epoch_ending_ledger_infos endpoint streams them (u32 big-endian length,
// then the BCS bytes: backup-cli utils/read_record_bytes.rs).
func TestEpochChainStream(t *testing.T) {
	lis, _ := testChain(t, 0, 4)
	var stream bytes.Buffer
	for _, li := range lis {
		w := bcs.NewWriter(nil)
		li.Encode(w)
		n := len(w.Encoded())
		stream.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		stream.Write(w.Encoded())
	}
	c := NewEpochChainFromWaypoint(WaypointFromLedgerInfo(&lis[0].LedgerInfo))
	b := stream.Bytes()
	for len(b) > 0 {
		n := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		li, err := ParseLedgerInfoWithSignatures(b[4 : 4+n])
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Add(li); err != nil {
			t.Fatal(err)
		}
		b = b[4+n:]
	}
	if c.Added() != len(lis) {
		t.Errorf("added %d of %d", c.Added(), len(lis))
	}
}

func TestWaypointText(t *testing.T) {
	f, err := os.Open("testdata/waypoints.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	n := 0
	for s.Scan() {
		wp, err := ParseWaypoint(s.Text())
		if err != nil {
			t.Fatal(err)
		}
		if wp.String() != s.Text() || wp.Version != 0 {
			t.Errorf("%q parsed as %v", s.Text(), wp)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no waypoints")
	}
	for _, bad := range []string{
		"", "0", "0:", "x:6072b68a942aace147e0655c5704beaa255c84a7829baa4e72a500f1516584c4",
		"0:6072b68a942aace147e0655c5704beaa255c84a7829baa4e72a500f1516584",
		"0:0x6072b68a942aace147e0655c5704beaa255c84a7829baa4e72a500f1516584c4",
		"-1:6072b68a942aace147e0655c5704beaa255c84a7829baa4e72a500f1516584c4",
		"0:6072b68a942aace147e0655c5704beaa255c84a7829baa4e72a500f1516584c4:1",
	} {
		if _, err := ParseWaypoint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestWaypointValue checks the waypoint hash against an independent
// encoding of Ledger2WaypointConverter.
func TestWaypointValue(t *testing.T) {
	next := GenerateSigners([]byte("wp"), powers(2, 5))
	li := epochEnding(12, 123456, next)
	full := encodeByHand(li)
	// The converter is epoch, root hash, version, timestamp, next epoch
	// state: LedgerInfo's BlockInfo without round and id, and no consensus
	// data hash. Slice them out of the hand encoding.
	var conv []byte
	conv = append(conv, full[0:8]...)         // epoch
	conv = append(conv, full[16+32:16+64]...) // executed_state_id
	conv = append(conv, full[16+64:len(full)-32]...)
	seed := sha3Of([]byte("APTOS::Ledger2WaypointConverter"))
	want, _ := hash.FromSlice(sha3Of(seed, conv))
	wp := WaypointFromLedgerInfo(li)
	if wp.Value != want || wp.Version != 123456 {
		t.Fatalf("waypoint %v, want 123456:%v", wp, want)
	}
	if err := wp.Verify(li); err != nil {
		t.Error(err)
	}
	// Fields outside the converter do not change the waypoint.
	other := *li
	other.CommitInfo.Round++
	other.ConsensusDataHash[0] ^= 1
	if err := wp.Verify(&other); err != nil {
		t.Errorf("round and consensus data hash changed the waypoint: %v", err)
	}
	other.CommitInfo.TimestampUsecs++
	if err := wp.Verify(&other); !errors.Is(err, ErrWaypointMismatch) {
		t.Errorf("timestamp change: got %v", err)
	}
	other = *li
	other.CommitInfo.Version++
	if err := wp.Verify(&other); !errors.Is(err, ErrWaypointMismatch) {
		t.Errorf("version change: got %v", err)
	}

	w := bcs.NewWriter(nil)
	wp.Encode(w)
	var back Waypoint
	r := bcs.NewReader(w.Encoded())
	back.Decode(r)
	if r.Done() != nil || back != wp {
		t.Errorf("BCS round trip: %v, %v", back, r.Err())
	}
}
