package content

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/backseal/backseal/aptos/accumulator"
	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
	"github.com/backseal/backseal/aptos/ledger"
	"github.com/backseal/backseal/aptos/smt"
	"github.com/backseal/backseal/aptos/types"
	"github.com/backseal/backseal/upstream"
)

// stateChecker verifies /state_snapshot/{v} and /state_snapshot_chunk/{v}/{i}/{l}:
// records (StateKey, StateValue) in increasing key-hash order, each a leaf
// of the sparse Merkle tree whose root the TransactionInfo at v commits to
// (its state_checkpoint_hash), proven by /state_root_proof/{v} under a
// ledger info the Trust checks. A whole snapshot is checked by its root. A
// chunk is checked as restore checks it (JellyfishMerkleRestore): every leaf
// from index 0 through the chunk's last, against the range proof of that
// last key. The leaves before a chunk are not in it, so a chunk continues
// the tree the earlier chunks of the same snapshot built through this
// sidecar (backup-cli asks for them in order); a chunk with no such
// predecessor is checked for decoding and key order only, and says so.
type stateChecker struct {
	req     upstream.Request
	src     Source
	trust   *Trust
	version uint64
	first   uint64 // the chunk's start index; 0 for a whole snapshot

	tree    *smt.Builder // nil: key order only
	lastKey hash.Value
	r       bcs.Reader
	key     types.StateKey
	value   types.StateValue
}

func newStateChecker(req upstream.Request, src Source, trust *Trust) *stateChecker {
	c := &stateChecker{req: req, src: src, trust: trust, version: req.Args[0]}
	if req.Endpoint == upstream.StateSnapshotChunk {
		c.first = req.Args[1]
	}
	if c.first == 0 {
		c.tree = smt.NewBuilder()
	} else {
		c.tree = trust.snapshots.take(c.version, c.first)
	}
	return c
}

func (c *stateChecker) record(_ context.Context, i uint64, payload []byte) error {
	r := &c.r
	r.Reset(payload)
	c.key.Decode(r)
	keyEnd := r.Offset()
	c.value.Decode(r)
	if err := r.Done(); err != nil {
		return decodeFailure(err, fmt.Sprintf("record %d (state item %d)", i, c.first+i))
	}
	keyHash := c.key.Hash()
	valueHash := types.HashStateValue(payload[keyEnd:])
	if c.tree == nil {
		if i > 0 && !less(c.lastKey, keyHash) {
			return mismatch(int64(i), "state key hash %v is not above the previous %v", keyHash, c.lastKey)
		}
	} else if err := c.tree.Add(keyHash, valueHash); err != nil {
		if errors.Is(err, smt.ErrKeyOrder) {
			return mismatch(int64(i), "state key hash %v is not above the previous %v", keyHash, c.lastKey)
		}
		return mismatch(int64(i), "%v", err)
	}
	c.lastKey = keyHash
	return nil
}

func less(a, b hash.Value) bool {
	for k := range a {
		if a[k] != b[k] {
			return a[k] < b[k]
		}
	}
	return false
}

func (c *stateChecker) finish(ctx context.Context, n uint64) (Verified, error) {
	if c.tree == nil {
		return Verified{Proof: fmt.Sprintf("state items %d..%d of version %d: decoding and key order only (no earlier chunk of this snapshot came through this sidecar, and a chunk past the first cannot be proven alone)",
			c.first, c.first+n-1, c.version)}, nil
	}
	root, how, err := c.stateRoot(ctx)
	if err != nil {
		return Verified{}, err
	}
	if c.req.Endpoint == upstream.StateSnapshot {
		if got := c.tree.Root(); got != root {
			return Verified{}, mismatch(-1, "the %d state items fold to root %v, the ledger's state at version %d is %v (an item altered, stale, missing or extra)", n, got, c.version, root)
		}
		return Verified{Root: root, Proof: fmt.Sprintf("state root of version %d (state_root_proof/%d), %s", c.version, c.version, how)}, nil
	}
	if n == 0 {
		return Verified{Proof: "no records"}, nil
	}
	last, _ := c.tree.Last()
	req := upstream.Request{Endpoint: upstream.StateRangeProof, Args: [3]uint64{c.version}, Key: last.Key}
	b, err := c.src.Fetch(ctx, req)
	if err != nil {
		return Verified{}, unproven("fetching %s: %v", req.Path(), err)
	}
	var proof smt.SparseMerkleRangeProof
	r := bcs.NewReader(b)
	proof.Decode(r)
	if err := r.Done(); err != nil {
		return Verified{}, decodeFailure(err, req.Path())
	}
	if err := c.tree.VerifyRangeProof(root, &proof); err != nil {
		return Verified{}, mismatch(-1, "state items 0..%d of version %d are not the leftmost leaves under the state root %v (an item altered, stale, missing or extra): %v",
			c.first+n-1, c.version, root, err)
	}
	c.trust.snapshots.put(c.version, c.tree)
	return Verified{Root: root, Proof: fmt.Sprintf("state root of version %d (state_root_proof/%d), items 0..%d against state_range_proof of the last key, %s",
		c.version, c.version, c.first+n-1, how)}, nil
}

// stateRoot fetches and checks /state_root_proof/{v}: the TransactionInfo
// at v under the ledger info's accumulator root, and that ledger info.
func (c *stateChecker) stateRoot(ctx context.Context) (hash.Value, string, error) {
	req := upstream.Request{Endpoint: upstream.StateRootProof, Args: [3]uint64{c.version}}
	b, err := c.src.Fetch(ctx, req)
	if err != nil {
		return hash.Value{}, "", unproven("fetching %s: %v", req.Path(), err)
	}
	var tp accumulator.TransactionInfoWithProof
	var li ledger.LedgerInfoWithSignatures
	r := bcs.NewReader(b)
	tp.Decode(r, func(r *bcs.Reader) { var ti types.TransactionInfo; ti.Decode(r) })
	li.Decode(r)
	if err := r.Done(); err != nil {
		return hash.Value{}, "", decodeFailure(err, req.Path())
	}
	info, err := types.DecodeTransactionInfo(tp.TransactionInfo)
	if err != nil {
		return hash.Value{}, "", decodeFailure(err, req.Path())
	}
	commit := &li.LedgerInfo.CommitInfo
	if err := tp.Verify(commit.Version, commit.ExecutedStateID, c.version); err != nil {
		return hash.Value{}, "", mismatch(-1, "%s: the TransactionInfo of version %d is not under its ledger info: %v", req.Path(), c.version, err)
	}
	if info.StateCheckpointHash == nil {
		return hash.Value{}, "", unproven("the TransactionInfo of version %d carries no state checkpoint hash", c.version)
	}
	how, err := c.trust.VerifyLedgerInfo(ctx, &li)
	if err != nil {
		return hash.Value{}, "", err
	}
	return *info.StateCheckpointHash, how, nil
}

// snapshotPrefixes keeps, per snapshot version, the tree of the leaves the
// chunks verified so far, so that the next chunk continues it. One per
// version, taken by the stream that continues it (a chunk that fails
// drops it); at most maxSnapshotPrefixes, about 18 KiB each.
type snapshotPrefixes struct {
	mu    sync.Mutex
	trees map[uint64]*smt.Builder
}

const maxSnapshotPrefixes = 16

// take returns the tree of version's first `next` leaves, or nil.
func (s *snapshotPrefixes) take(version, next uint64) *smt.Builder {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.trees[version]
	if t == nil || t.Len() != next {
		return nil
	}
	delete(s.trees, version)
	return t
}

func (s *snapshotPrefixes) put(version uint64, t *smt.Builder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.trees == nil {
		s.trees = map[uint64]*smt.Builder{}
	}
	if _, ok := s.trees[version]; !ok && len(s.trees) >= maxSnapshotPrefixes {
		for v := range s.trees { // any: an abandoned backup's tree
			delete(s.trees, v)
			break
		}
	}
	s.trees[version] = t
}
