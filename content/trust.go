package content

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/backseal/backseal/aptos/ledger"
	"github.com/backseal/backseal/upstream"
)

// Trust is what a verifier believes about who signs the chain: the
// validator sets it has verified, epoch by epoch, from a trusted waypoint
// forward (the waypoint's ledger info, then each epoch-ending ledger info
// signed by the set the one before named). A sidecar has one Trust for all
// its streams, and it grows as they need later epochs. Without a waypoint
// nothing is signed-checked: hashes and proofs still are, against the
// node's own ledger infos, which catches a corrupted database but not a
// lying node. Safe for concurrent use.
type Trust struct {
	waypoint *ledger.Waypoint
	src      Source

	mu     sync.Mutex
	anchor int64                         // epoch of the waypoint's ledger info; -1 until found
	states map[uint64]*ledger.EpochState // verified validator sets, by the epoch they sign
	newest uint64                        // the newest epoch in states

	snapshots snapshotPrefixes // the state trees chunks have verified so far
}

// maxTrustedStates bounds the validator sets kept: the newest ones, which
// is what live streams ask for; an older one is walked to again from the
// anchor.
const maxTrustedStates = 64

// NewTrust returns a Trust anchored at waypoint (nil: none), fetching
// epoch-ending ledger infos from src as it needs them.
func NewTrust(waypoint *ledger.Waypoint, src Source) *Trust {
	return &Trust{waypoint: waypoint, src: src, anchor: -1, states: map[uint64]*ledger.EpochState{}}
}

// Anchored reports whether signatures are checked.
func (t *Trust) Anchored() bool { return t.waypoint != nil }

// Waypoint returns the anchor, for reports; "" without one.
func (t *Trust) Waypoint() string {
	if !t.Anchored() {
		return ""
	}
	return t.waypoint.String()
}

// VerifyLedgerInfo checks li's signatures against the validators of its
// epoch, and returns how it was trusted, for the Verified proof text.
func (t *Trust) VerifyLedgerInfo(ctx context.Context, li *ledger.LedgerInfoWithSignatures) (string, error) {
	if !t.Anchored() {
		return "signatures unchecked (no trusted_waypoint)", nil
	}
	epoch := li.LedgerInfo.CommitInfo.Epoch
	state, err := t.EpochState(ctx, epoch)
	if err != nil {
		return "", err
	}
	if err := state.Verify(li); err != nil {
		return "", mismatch(-1, "ledger info of version %d: %v", li.LedgerInfo.CommitInfo.Version, err)
	}
	return fmt.Sprintf("signed by the epoch %d validators, trusted from waypoint %s", epoch, t.waypoint), nil
}

// EpochState returns the verified validator set that signs epoch's ledger
// infos, walking the epoch chain from what is already verified.
func (t *Trust) EpochState(ctx context.Context, epoch uint64) (*ledger.EpochState, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.states[epoch]; ok {
		return s, nil
	}
	if t.anchor < 0 {
		if err := t.findAnchor(ctx); err != nil {
			return nil, err
		}
	}
	// The anchor's ledger info ends epoch anchor and names the set of
	// anchor+1: epochs before that cannot be reached from it.
	first := uint64(t.anchor) + 1
	if epoch < first {
		return nil, unproven("epoch %d is before the trusted waypoint %s (which ends epoch %d)", epoch, t.waypoint, t.anchor)
	}
	from := t.newest
	if epoch < from {
		from = first // evicted: walk again from the anchor
	}
	state := t.states[from]
	for e := from; e < epoch; {
		// Fetch what is missing in pieces, so memory stays small whatever the gap.
		end := min(epoch, e+32)
		lis, err := t.fetchEpochEndings(ctx, e, end)
		if err != nil {
			return nil, err
		}
		if len(lis) == 0 {
			return nil, unproven("the node has no ending ledger info for epoch %d", e)
		}
		chain := ledger.NewEpochChain(state)
		for _, li := range lis {
			if err := chain.Add(li); err != nil {
				return nil, mismatch(-1, "epoch-ending ledger info of epoch %d: %v", li.LedgerInfo.CommitInfo.Epoch, err)
			}
			e = li.LedgerInfo.CommitInfo.Epoch + 1
			state = chain.Current()
			t.keep(e, state)
		}
	}
	return state, nil
}

// keep records a verified set, evicting the oldest beyond the bound.
func (t *Trust) keep(epoch uint64, s *ledger.EpochState) {
	t.states[epoch] = s
	t.newest = max(t.newest, epoch)
	if len(t.states) > maxTrustedStates {
		oldest := t.newest
		for e := range t.states {
			if e < oldest && e != uint64(t.anchor)+1 {
				oldest = e
			}
		}
		delete(t.states, oldest)
	}
}

// findAnchor finds the epoch whose ending ledger info the waypoint names:
// epoch-ending versions grow with the epoch, so a binary search over
// single ledger infos finds it in log2(E) small requests.
func (t *Trust) findAnchor(ctx context.Context) error {
	b, err := t.src.Fetch(ctx, upstream.Request{Endpoint: upstream.DBState})
	if err != nil {
		return unproven("reading /db_state to find the trusted waypoint's epoch: %v", err)
	}
	db, err := upstream.ParseDBState(b)
	if err != nil {
		return unproven("%v", err)
	}
	lo, hi := uint64(0), db.Epoch // the answer is in [lo, hi)
	for lo < hi {
		mid := lo + (hi-lo)/2
		lis, err := t.fetchEpochEndings(ctx, mid, mid+1)
		if err != nil {
			return err
		}
		if len(lis) != 1 {
			return unproven("the node has no ending ledger info for epoch %d", mid)
		}
		li := lis[0]
		switch v := li.LedgerInfo.CommitInfo.Version; {
		case v == t.waypoint.Version:
			if err := t.waypoint.Verify(&li.LedgerInfo); err != nil {
				return mismatch(-1, "the node's ledger info at the trusted waypoint's version: %v", err)
			}
			next := li.LedgerInfo.CommitInfo.NextEpochState
			if next == nil {
				return mismatch(-1, "the trusted waypoint's ledger info ends no epoch")
			}
			t.anchor = int64(mid)
			t.keep(mid+1, next)
			return nil
		case v < t.waypoint.Version:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return unproven("no epoch ends at the trusted waypoint's version %d", t.waypoint.Version)
}

// fetchEpochEndings reads /epoch_ending_ledger_infos/{start}/{end} whole.
// The caller bounds end-start; each record is a few KiB.
func (t *Trust) fetchEpochEndings(ctx context.Context, start, end uint64) ([]*ledger.LedgerInfoWithSignatures, error) {
	req := upstream.Request{Endpoint: upstream.EpochEndingLedgerInfos, Args: [3]uint64{start, end}}
	b, err := t.src.Fetch(ctx, req)
	if err != nil {
		return nil, unproven("fetching %s: %v", req.Path(), err)
	}
	var lis []*ledger.LedgerInfoWithSignatures
	for len(b) > 0 {
		payload, rest, err := splitRecord(b)
		if err != nil {
			return nil, unproven("%s: %v", req.Path(), err)
		}
		li, err := ledger.ParseLedgerInfoWithSignatures(payload)
		if err != nil {
			return nil, decodeFailure(err, fmt.Sprintf("%s record %d", req.Path(), len(lis)))
		}
		lis = append(lis, li)
		b = rest
	}
	return lis, nil
}

// splitRecord cuts the first size-prefixed record off b.
func splitRecord(b []byte) (payload, rest []byte, err error) {
	if len(b) < upstream.PrefixSize {
		return nil, nil, errors.New("ends inside a length prefix")
	}
	n := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	if uint64(len(b)-upstream.PrefixSize) < n {
		return nil, nil, errors.New("ends inside a record")
	}
	return b[upstream.PrefixSize : upstream.PrefixSize+n], b[upstream.PrefixSize+n:], nil
}
