package sim

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strings"

	"github.com/backseal/backseal/aptos/ledger"
	"github.com/backseal/backseal/upstream"
)

// Chain is the simulated node's content: a deterministic chain, synthetic
// bytes or, with Config.Genuine, real Aptos structures (see genuine.go). Every
// record is a pure function of (Seed, kind, identity): the transaction at
// version v, the epoch ending ledger info of epoch e, state item i of the
// snapshot at version v. So record i of /transactions/{s}/{n} is record 0 of
// /transactions/{s+i}/1, and /state_snapshot_chunk/{v}/{i}/{l} carries records
// i..i+l-1 of /state_snapshot/{v}: exactly what a proxy needs to resume.
//
// A Chain is immutable and safe for concurrent use.
type Chain struct {
	cfg  Config
	pool []byte   // seeded random bytes records are sliced from; read-only
	gen  *genuine // genuine mode's layout and commitments; nil in synthetic mode
}

// NewChain returns the chain cfg describes. It does not validate cfg; NewServer
// does. A genuine config that Validate refuses makes it panic.
func NewChain(cfg Config) *Chain {
	cfg = cfg.withDefaults()
	c := &Chain{cfg: cfg, pool: poolFor(cfg.Seed)}
	if cfg.Genuine {
		g, err := newGenuine(c)
		if err != nil {
			panic(err)
		}
		c.gen = g
	}
	return c
}

// GenesisWaypoint returns the waypoint of the genesis ledger info (epoch 0,
// version 0), the trust anchor a verifier starts the epoch chain from
// (trusted_waypoint). In synthetic mode it is the zero Waypoint. In genuine
// mode the first call builds the chain's commitments (see docs/SIMULATOR.md
// for the cost).
func (c *Chain) GenesisWaypoint() ledger.Waypoint {
	if c.gen == nil {
		return ledger.Waypoint{}
	}
	li, err := ledger.ParseLedgerInfoWithSignatures(c.gen.epochEnding(0))
	if err != nil {
		panic(err) // our own encoding
	}
	return ledger.WaypointFromLedgerInfo(&li.LedgerInfo)
}

// Build builds a genuine chain's commitments now instead of on the first
// request that needs them; it does nothing in synthetic mode.
func (c *Chain) Build() {
	if c.gen != nil {
		c.gen.build()
	}
}

// Config returns the chain's configuration, zero limits filled with defaults.
func (c *Chain) Config() Config { return c.cfg }

// DBState returns (E, C) as /db_state carries it.
func (c *Chain) DBState() upstream.DBStateValue {
	return upstream.DBStateValue{Epoch: c.cfg.Epochs, CommittedVersion: c.cfg.CommittedVersion}
}

// LatestVersion is the last version /transactions serves: C + PreCommitted.
func (c *Chain) LatestVersion() uint64 { return c.cfg.CommittedVersion + c.cfg.PreCommitted }

// IsSnapshot reports whether version v has a persisted state tree: a multiple
// of SnapshotInterval or C itself, not past C, not pruned.
func (c *Chain) IsSnapshot(v uint64) bool {
	cfg := c.cfg
	if v > cfg.CommittedVersion || v < cfg.PrunedBelow {
		return false
	}
	return v == cfg.CommittedVersion || (cfg.SnapshotInterval > 0 && v%cfg.SnapshotInterval == 0)
}

// StateItemCount returns /state_item_count/{v}; ok is false where the node
// answers 500 (not a snapshot version, or pruned).
func (c *Chain) StateItemCount(v uint64) (n uint64, ok bool) {
	if !c.IsSnapshot(v) {
		return 0, false
	}
	return c.cfg.itemCount(v), true
}

// Summary describes the chain in one line, for logs: what an operator can request.
func (c *Chain) Summary() string {
	cfg := c.cfg
	var b strings.Builder
	fmt.Fprintf(&b, "seed=%d E=%d C=%d latest=%d", cfg.Seed, cfg.Epochs, cfg.CommittedVersion, c.LatestVersion())
	if cfg.PrunedBelow > 0 {
		fmt.Fprintf(&b, " pruned<%d", cfg.PrunedBelow)
	}
	b.WriteString(" snapshots=")
	b.WriteString(c.snapshotList())
	fmt.Fprintf(&b, " count(C)=%d batch=%d", cfg.itemCount(cfg.CommittedVersion), cfg.BatchSize)
	if c.gen != nil {
		b.WriteString(" genuine")
		if cfg.RecordV0 {
			b.WriteString(" record-v0")
		}
		fmt.Fprintf(&b, " waypoint=%s", c.GenesisWaypoint())
	}
	return b.String()
}

// snapshotList lists the snapshot versions, or describes them when there are many.
func (c *Chain) snapshotList() string {
	cfg := c.cfg
	C, iv := cfg.CommittedVersion, cfg.SnapshotInterval
	if iv == 0 {
		return fmt.Sprint(C)
	}
	first := cfg.PrunedBelow / iv * iv
	if first < cfg.PrunedBelow {
		first += iv // round up to a multiple; a wrap means none fits in u64
		if first < iv {
			return fmt.Sprint(C)
		}
	}
	last := C / iv * iv
	if first > last {
		return fmt.Sprint(C)
	}
	var list []string
	if (last-first)/iv >= 8 {
		list = append(list, fmt.Sprintf("every %d from %d to %d", iv, first, last))
	} else {
		for v := first; ; v += iv {
			list = append(list, fmt.Sprint(v))
			if v == last {
				break
			}
		}
	}
	if last != C {
		list = append(list, fmt.Sprint(C))
	}
	return strings.Join(list, ",")
}

// Records returns how many records a clean response to a streaming request
// carries, and whether the node instead aborts it before the first record
// (pruned range, no tree at that version, s+n overflowing). For small
// endpoints it returns (0, false).
func (c *Chain) Records(req upstream.Request) (n uint64, aborts bool) {
	p := c.plan(req)
	return p.n, p.abort
}

// Body returns the exact clean response: the status and, for small endpoints,
// the BCS value; for streams, the concatenated size-prefixed records without
// chunk framing. A stream the node aborts before its first record (see
// Records) returns 200 and an empty body: on the wire that 200 is followed by
// a cut, not a clean end.
func (c *Chain) Body(req upstream.Request) (status int, body []byte) {
	if !req.Endpoint.Streaming() {
		return c.small(req)
	}
	p := c.plan(req)
	if p.abort {
		return 200, nil
	}
	for k := uint64(0); k < p.n; k++ {
		body = c.appendRecord(body, p.kind, p.version, p.first+k)
	}
	return 200, body
}

// plan is what a streaming request yields: records of one kind with
// identities first..first+n-1 (state items of snapshot version), or an abort
// before any record.
type plan struct {
	kind     recordKind
	version  uint64 // the snapshot version, for state items
	first, n uint64
	abort    bool
}

func (c *Chain) plan(req upstream.Request) plan {
	a := req.Args
	cfg := c.cfg
	switch req.Endpoint {
	case upstream.Transactions:
		s, n := a[0], a[1]
		p := plan{kind: kindTransaction, first: s}
		switch {
		case n == 0:
		case s > math.MaxUint64-n: // s + n overflows: an error before any record
			p.abort = true
		case s < cfg.PrunedBelow:
			p.abort = true
		case s > c.LatestVersion():
		default:
			p.n = min(n-1, c.LatestVersion()-s) + 1
		}
		return p
	case upstream.EpochEndingLedgerInfos:
		s, e := a[0], a[1]
		avail := cfg.Epochs // epochs 0..E-1 have ended
		if cfg.EpochJustEnded {
			avail++
		}
		p := plan{kind: kindEpochEnding, first: s}
		if end := min(e, avail); s < end {
			p.n = end - s
		}
		return p
	case upstream.StateSnapshot, upstream.StateSnapshotChunk:
		v := a[0]
		p := plan{kind: kindStateItem, version: v}
		if !c.IsSnapshot(v) {
			p.abort = true
			return p
		}
		count := cfg.itemCount(v)
		if req.Endpoint == upstream.StateSnapshot {
			p.n = count
			return p
		}
		p.first = a[1]
		if p.first < count {
			p.n = min(a[2], count-p.first)
		}
		return p
	}
	return plan{}
}

// small answers the non-streaming endpoints.
func (c *Chain) small(req upstream.Request) (int, []byte) {
	a := req.Args
	cfg := c.cfg
	switch req.Endpoint {
	case upstream.DBState:
		b := make([]byte, 0, 25)
		b = append(b, 1)
		b = binary.LittleEndian.AppendUint64(b, cfg.Epochs)
		b = binary.LittleEndian.AppendUint64(b, cfg.CommittedVersion)
		if cfg.LegacyDBState {
			b = binary.LittleEndian.AppendUint64(b, c.LatestVersion()) // synced_version
		}
		return 200, b
	case upstream.StateItemCount:
		n, ok := c.StateItemCount(a[0])
		if !ok {
			return 500, nil
		}
		return 200, binary.LittleEndian.AppendUint64(nil, n)
	case upstream.StateRangeProof:
		// SparseMerkleRangeProof { right_siblings: Vec<HashValue> }.
		v := a[0]
		if !c.IsSnapshot(v) {
			return 500, nil
		}
		if c.gen != nil {
			return c.gen.small(req)
		}
		h := c.hash(kindProof, v, binary.LittleEndian.Uint64(req.Key[:8])^binary.LittleEndian.Uint64(req.Key[24:]))
		depth := bits.Len64(cfg.itemCount(v)) + int(h%5)
		return 200, c.appendHashes(nil, h, depth)
	case upstream.StateRootProof:
		// (TransactionInfoWithProof, LedgerInfoWithSignatures): needs the
		// transaction info at v, not a state tree.
		v := a[0]
		if v > cfg.CommittedVersion || v < cfg.PrunedBelow {
			return 500, nil
		}
		if c.gen != nil {
			return c.gen.small(req)
		}
		h := c.hash(kindProof, v, 1<<63)
		b := c.appendHashes(nil, h, bits.Len64(cfg.CommittedVersion+1)) // accumulator siblings
		b = c.appendBlob(b, mix(h^1), 137)                              // TransactionInfo
		return 200, c.appendLedgerInfo(b, mix(h^2))
	case upstream.TransactionRangeProof:
		// (TransactionAccumulatorRangeProof { left_siblings, right_siblings }, LedgerInfoWithSignatures).
		first, last := a[0], a[1]
		if last < first || last > cfg.CommittedVersion {
			return 500, nil
		}
		if c.gen != nil {
			return c.gen.small(req)
		}
		h := c.hash(kindProof, first, last)
		depth := bits.Len64(cfg.CommittedVersion + 1)
		b := c.appendHashes(nil, h, bits.OnesCount64(first)%depth)
		b = c.appendHashes(b, mix(h^1), bits.OnesCount64(^last)%depth)
		return 200, c.appendLedgerInfo(b, mix(h^2))
	}
	return 500, nil
}

// appendHashes appends a BCS Vec<HashValue> of n deterministic hashes.
func (c *Chain) appendHashes(b []byte, h uint64, n int) []byte {
	b = binary.AppendUvarint(b, uint64(n)) // BCS ULEB128 length
	return c.appendBlob(b, h, 32*n)
}

// appendLedgerInfo appends a plausible LedgerInfoWithSignatures: a few hundred bytes.
func (c *Chain) appendLedgerInfo(b []byte, h uint64) []byte {
	return c.appendBlob(b, h, 250+int(h%160))
}

// appendBlob appends n deterministic bytes chosen by h.
func (c *Chain) appendBlob(b []byte, h uint64, n int) []byte {
	off := mix(h^offsetSalt) % uint64(len(c.pool)-n+1)
	return append(b, c.pool[off:off+uint64(n)]...)
}
