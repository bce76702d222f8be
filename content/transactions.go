package content

import (
	"context"
	"fmt"
	"slices"

	"github.com/backseal/backseal/aptos/accumulator"
	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
	"github.com/backseal/backseal/aptos/ledger"
	"github.com/backseal/backseal/aptos/types"
	"github.com/backseal/backseal/upstream"
)

// transactionChecker verifies /transactions/{s}/{n}. Each record is split
// into its tuple and checked against its own TransactionInfo: the
// transaction's hash, the events' accumulator root, the write set's hash,
// the auxiliary info's hash. The TransactionInfo hashes are the ledger's
// accumulator leaves: they are folded, as they stream, onto the ledger's
// frozen subtrees before version s (the left siblings of a proof for s), and
// at the end the subtrees before the last version must be exactly those a
// proof for the last version gives, with the last leaf proven under the
// root of a ledger info the Trust checks. Memory: O(log n) hashes.
//
// Why that proves every record: each frozen subtree over versions >= s is a
// hash over those records' infos, and the final proof authenticates those
// subtrees under the signed root. Rust's restore does the same with a
// TransactionAccumulatorRangeProof over all infos at once
// (storage/backup/backup-cli/src/backup_types/transaction/restore.rs).
type transactionChecker struct {
	req   upstream.Request
	src   Source
	trust *Trust

	acc     *accumulator.Accumulator // the ledger's accumulator, up to the record before pending
	pending hash.Value               // the last record's info hash, not yet added
	rec     types.TransactionRecord
	events  []hash.Value
}

func newTransactionChecker(req upstream.Request, src Source, trust *Trust) *transactionChecker {
	return &transactionChecker{req: req, src: src, trust: trust}
}

func (c *transactionChecker) record(ctx context.Context, i uint64, payload []byte) error {
	if err := types.DecodeTransactionRecordInto(&c.rec, payload); err != nil {
		return decodeFailure(err, fmt.Sprintf("record %d (version %d)", i, c.req.Args[0]+i))
	}
	rec := &c.rec
	info := &rec.TransactionInfo
	at := int64(i)
	if got := types.HashTransaction(rec.TransactionBytes); got != info.TransactionHash {
		return mismatch(at, "transaction hash %v, its TransactionInfo says %v", got, info.TransactionHash)
	}
	if got := types.HashWriteSet(rec.WriteSetBytes); got != info.StateChangeHash {
		return mismatch(at, "write set hash %v, its TransactionInfo's state_change_hash says %v", got, info.StateChangeHash)
	}
	c.events = c.events[:0]
	for _, e := range rec.EventBytes {
		c.events = append(c.events, types.HashContractEvent(e))
	}
	if got := accumulator.EventRoot(c.events); got != info.EventRootHash {
		return mismatch(at, "event root %v over %d events, its TransactionInfo says %v", got, len(c.events), info.EventRootHash)
	}
	if err := checkAuxInfo(rec); err != nil {
		return mismatch(at, "%v", err)
	}
	leaf := types.HashTransactionInfo(rec.TransactionInfoBytes)
	if i == 0 {
		acc, err := c.ledgerBefore(ctx)
		if err != nil {
			return err
		}
		c.acc = acc
	} else {
		c.acc.Add(c.pending)
	}
	c.pending = leaf
	return nil
}

// checkAuxInfo holds the auxiliary info to the hash the info commits to:
// None has none (Rust: TransactionInfo::new asserts it), others match.
func checkAuxInfo(rec *types.TransactionRecord) error {
	want := rec.TransactionInfo.AuxiliaryInfoHash
	none := rec.Format == types.RecordV0 || rec.AuxiliaryInfo.Kind == types.AuxInfoNone
	switch {
	case none && want != nil:
		return fmt.Errorf("its TransactionInfo commits to auxiliary info %v, the record has none", *want)
	case !none && want == nil:
		return fmt.Errorf("the record has auxiliary info its TransactionInfo does not commit to")
	case !none:
		if got := types.HashPersistedAuxiliaryInfo(rec.AuxiliaryInfoBytes); got != *want {
			return fmt.Errorf("auxiliary info hash %v, its TransactionInfo says %v", got, *want)
		}
	}
	return nil
}

// ledgerBefore returns the ledger's accumulator of the versions before s,
// from the left siblings of a proof for s. They are not trusted here: the
// proof at the end authenticates what is built on them.
func (c *transactionChecker) ledgerBefore(ctx context.Context) (*accumulator.Accumulator, error) {
	s := c.req.Args[0]
	if s == 0 {
		return accumulator.New(hash.TransactionAccumulator), nil
	}
	proof, _, err := c.rangeProof(ctx, s)
	if err != nil {
		return nil, err
	}
	frozen := slices.Clone(proof.LeftSiblings)
	slices.Reverse(frozen) // bottom-up in the proof, left to right in an accumulator
	acc, err := accumulator.NewFromFrozen(hash.TransactionAccumulator, frozen, s)
	if err != nil {
		return nil, mismatch(-1, "the proof for version %d does not give the ledger before it: %v", s, err)
	}
	return acc, nil
}

// rangeProof fetches /transaction_range_proof/{v}/{v}.
func (c *transactionChecker) rangeProof(ctx context.Context, v uint64) (*accumulator.AccumulatorRangeProof, *ledger.LedgerInfoWithSignatures, error) {
	req := upstream.Request{Endpoint: upstream.TransactionRangeProof, Args: [3]uint64{v, v}}
	b, err := c.src.Fetch(ctx, req)
	if err != nil {
		return nil, nil, unproven("fetching %s: %v", req.Path(), err)
	}
	var proof accumulator.AccumulatorRangeProof
	var li ledger.LedgerInfoWithSignatures
	r := bcs.NewReader(b)
	proof.Decode(r)
	li.Decode(r)
	if err := r.Done(); err != nil {
		return nil, nil, decodeFailure(err, req.Path())
	}
	return &proof, &li, nil
}

func (c *transactionChecker) finish(ctx context.Context, n uint64) (Verified, error) {
	if n == 0 {
		return Verified{Proof: "no records"}, nil
	}
	last := c.req.Args[0] + n - 1
	proof, li, err := c.rangeProof(ctx, last)
	if err != nil {
		return Verified{}, err
	}
	frozen := c.acc.FrozenSubtreeRoots()
	if len(frozen) != len(proof.LeftSiblings) {
		return Verified{}, mismatch(-1, "versions %d..%d: the accumulator of the stream's infos has %d subtrees before version %d, the ledger's proof %d",
			c.req.Args[0], last, len(frozen), last, len(proof.LeftSiblings))
	}
	for k, sib := range proof.LeftSiblings {
		if frozen[len(frozen)-1-k] != sib {
			return Verified{}, mismatch(-1, "versions %d..%d: the stream's transaction infos do not fold into the ledger's accumulator (a record altered, swapped or missing)", c.req.Args[0], last)
		}
	}
	info := &li.LedgerInfo.CommitInfo
	if info.Version < last {
		return Verified{}, unproven("the proof's ledger info is at version %d, before version %d", info.Version, last)
	}
	root := info.ExecutedStateID
	if err := proof.Verify(hash.TransactionAccumulator, root, &last, []hash.Value{c.pending}); err != nil {
		return Verified{}, mismatch(-1, "version %d is not under the ledger info's accumulator root %v: %v", last, root, err)
	}
	how, err := c.trust.VerifyLedgerInfo(ctx, li)
	if err != nil {
		return Verified{}, err
	}
	return Verified{Root: root, Proof: fmt.Sprintf("transaction accumulator of ledger info version %d epoch %d (transaction_range_proof/%d/%d), %s",
		info.Version, info.Epoch, last, last, how)}, nil
}
