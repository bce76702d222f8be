package content

import (
	"context"
	"fmt"

	"github.com/backseal/backseal/aptos/hash"
	"github.com/backseal/backseal/aptos/ledger"
	"github.com/backseal/backseal/upstream"
)

// epochChecker verifies /epoch_ending_ledger_infos/{s}/{e}: records of
// epochs s, s+1, ..., each ending its epoch and signed by the validator set
// the one before named; the first is signed by the set the Trust verified
// for epoch s (or, at the anchor, is the waypoint's own ledger info).
// Without an anchor, the first record is taken on its face and only the
// chain after it is checked.
type epochChecker struct {
	req   upstream.Request
	trust *Trust
	chain *ledger.EpochChain
	how   string
	last  hash.Value
}

func newEpochChecker(req upstream.Request, _ Source, trust *Trust) *epochChecker {
	return &epochChecker{req: req, trust: trust}
}

func (c *epochChecker) record(ctx context.Context, i uint64, payload []byte) error {
	li, err := ledger.ParseLedgerInfoWithSignatures(payload)
	if err != nil {
		return decodeFailure(err, fmt.Sprintf("record %d", i))
	}
	info := &li.LedgerInfo.CommitInfo
	if want := c.req.Args[0] + i; info.Epoch != want {
		return mismatch(int64(i), "ledger info of epoch %d where epoch %d belongs", info.Epoch, want)
	}
	if c.chain == nil {
		if err := c.start(ctx, li); err != nil {
			return err
		}
	} else if err := c.chain.Add(li); err != nil {
		return mismatch(int64(i), "%v", err)
	}
	c.last = li.LedgerInfo.Hash()
	return nil
}

// start anchors the chain for the first record.
func (c *epochChecker) start(ctx context.Context, li *ledger.LedgerInfoWithSignatures) error {
	epoch := li.LedgerInfo.CommitInfo.Epoch
	switch {
	case !c.trust.Anchored():
		next := li.LedgerInfo.CommitInfo.NextEpochState
		if next == nil {
			return mismatch(0, "ledger info of epoch %d ends no epoch", epoch)
		}
		c.chain = ledger.NewEpochChain(next)
		c.how = fmt.Sprintf("epoch %d taken on its face (no trusted_waypoint), later epochs chained from it", epoch)
		return nil
	case c.trust.waypoint.Version == li.LedgerInfo.CommitInfo.Version:
		c.chain = ledger.NewEpochChainFromWaypoint(*c.trust.waypoint)
		c.how = "chained from trusted waypoint " + c.trust.Waypoint()
	default:
		state, err := c.trust.EpochState(ctx, epoch)
		if err != nil {
			return err
		}
		c.chain = ledger.NewEpochChain(state)
		c.how = fmt.Sprintf("chained from the epoch %d validators, trusted from waypoint %s", epoch, c.trust.Waypoint())
	}
	if err := c.chain.Add(li); err != nil {
		return mismatch(0, "%v", err)
	}
	return nil
}

func (c *epochChecker) finish(_ context.Context, n uint64) (Verified, error) {
	if n == 0 {
		return Verified{Proof: "no records"}, nil
	}
	s := c.req.Args[0]
	return Verified{Root: c.last, Proof: fmt.Sprintf("epoch_ending_ledger_infos %d..%d %s; root: the last ledger info's hash", s, s+n-1, c.how)}, nil
}
