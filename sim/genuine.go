package sim

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/backseal/backseal/aptos/accumulator"
	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
	"github.com/backseal/backseal/aptos/ledger"
	"github.com/backseal/backseal/aptos/smt"
	"github.com/backseal/backseal/aptos/types"
)

// Genuine mode (Config.Genuine): every record and proof is a real Aptos
// structure consistent with every commitment, so a verifier can check a
// backup end to end. The chain is laid out once (blocks, epochs, validator
// sets), then built once, lazily: the state snapshots (their roots are the
// state checkpoint hashes of the snapshot versions' TransactionInfos), the
// transaction accumulator over every TransactionInfo up to C, and the signed
// ledger infos. Records are regenerated per request from their identity, as
// pure functions of (seed, kind, identity) and the layout, so resumes see
// identical bytes.

// Limits of genuine mode: it holds every TransactionInfo and the accumulator
// (about 220 bytes per version) and every snapshot's sorted leaves (68 bytes
// per item, summed over all snapshots) in memory.
const (
	MaxGenuineVersion    = 1 << 20
	MaxGenuineStateItems = 1 << 22
)

// Salts of the genuine generators, so their draws are independent.
const (
	kindBlock      recordKind = 10
	kindAccount    recordKind = 11
	kindStateKey   recordKind = 12
	kindStateVal   recordKind = 13
	kindValidator  recordKind = 14
	accountCount              = 64
	blockMaxExtra             = 24 // block lengths 2..25 transactions
	timestampBase             = 1_700_000_000_000_000
	blockInterval             = 400_000 // µs between blocks
	chainID                   = 4       // a local testnet's chain id
	variantUnknown            = 0x20    // the variant fault's index: no Aptos enum has 32 variants
)

// genuine is the genuine chain's layout and lazily built commitments.
type genuine struct {
	c *Chain

	blockEnds []uint64 // last version of each block, increasing; block 0 is genesis (version 0)
	epochEnds []uint64 // epochEnds[e] = V_e, the last version of ended epoch e
	accounts  [accountCount]account
	signers   []*ledger.Signers // signers[e]: validators of epoch e (index 0 unused)

	once      sync.Once
	snapshots map[uint64]*snapshot // every snapshot version of 0..C
	tree      *accumulator.Tree    // over the TransactionInfo hashes of versions 0..C
	infos     []byte               // BCS TransactionInfos of versions 0..LatestVersion()+2, concatenated
	infoEnds  []uint32             // infoEnds[v]: where version v's ends in infos
	endings   [][]byte             // BCS LedgerInfoWithSignatures ending epoch e
	latest    []byte               // the ledger info at C (epoch E) when E is open
}

type account struct {
	addr types.Address
	pub  []byte // a real Ed25519 public key
}

// snapshot is the state at a snapshot version: items in key-hash order.
type snapshot struct {
	version uint64
	order   []uint32 // order[i]: the item identity (key index j) of record i
	leaves  []smt.SparseMerkleLeafNode
	root    hash.Value

	treeOnce sync.Once
	tree     *smt.Tree
}

var errGenuineLayout = errors.New("sim: genuine chain layout")

// newGenuine lays the chain out (layoutGenuine) and derives its accounts and
// validator sets.
func newGenuine(c *Chain) (*genuine, error) {
	g, err := layoutGenuine(c)
	if err != nil {
		return nil, err
	}
	cfg := c.cfg
	for i := range g.accounts {
		var seed [32]byte
		binary.LittleEndian.PutUint64(seed[:], c.hash(kindAccount, uint64(i), 0))
		binary.LittleEndian.PutUint64(seed[8:], cfg.Seed)
		pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
		// The address is the Ed25519 authentication key: SHA3-256(pub || 0x00).
		g.accounts[i] = account{pub: pub, addr: types.Address(hash.SHA3(append(append([]byte(nil), pub...), 0)))}
	}
	ended := uint64(len(g.epochEnds))
	g.signers = make([]*ledger.Signers, ended+1)
	for e := uint64(1); e <= ended; e++ {
		h := c.hash(kindValidator, e, 0)
		powers := make([]uint64, 4+h%4)
		for i := range powers {
			powers[i] = 1 + mix(h+uint64(i))%100
		}
		seed := binary.LittleEndian.AppendUint64([]byte("backseal sim validators"), cfg.Seed)
		g.signers[e] = ledger.GenerateSigners(binary.LittleEndian.AppendUint64(seed, e), powers)
	}
	return g, nil
}

// layoutGenuine lays the blocks and the epoch endings out, or says why the
// config cannot hold a genuine chain.
func layoutGenuine(c *Chain) (*genuine, error) {
	cfg := c.cfg
	if cfg.Epochs == 0 {
		return nil, fmt.Errorf("%w: genuine mode needs at least one epoch", errGenuineLayout)
	}
	if cfg.CommittedVersion > MaxGenuineVersion || cfg.PreCommitted > 1<<16 {
		return nil, fmt.Errorf("%w: genuine mode holds at most %d committed and 65536 pre-committed versions", errGenuineLayout, MaxGenuineVersion)
	}
	g := &genuine{c: c}
	items := uint64(0)
	for v := uint64(0); ; {
		if g.isSnapshotVersion(v) {
			items += min(cfg.itemCount(v), MaxGenuineStateItems+1)
			if items > MaxGenuineStateItems {
				return nil, fmt.Errorf("%w: genuine mode holds at most %d state items over all snapshots", errGenuineLayout, MaxGenuineStateItems)
			}
		}
		next, ok := g.nextSnapshotVersion(v)
		if !ok {
			break
		}
		v = next
	}
	C := cfg.CommittedVersion
	forced := func(s uint64) (uint64, bool) { // the next snapshot version at or after s
		if s > C {
			return 0, false
		}
		f := C
		if iv := cfg.SnapshotInterval; iv > 0 {
			f = min(C, (s+iv-1)/iv*iv)
		}
		return f, true
	}
	g.blockEnds = []uint64{0}
	end := c.LatestVersion() + 2 // room for the excess and swap faults' next identity
	for s := uint64(1); s <= end; {
		last := s + 1 + c.hash(kindBlock, s, 0)%blockMaxExtra
		if f, ok := forced(s); ok && (f < last || f == last+1) {
			last = f // a snapshot ends its block; never leave a one-version block before it
		}
		g.blockEnds = append(g.blockEnds, last)
		s = last + 1
	}
	ended := cfg.Epochs
	if cfg.EpochJustEnded {
		ended++
	}
	g.epochEnds = make([]uint64, ended)
	for e := uint64(1); e < ended; e++ {
		if e == cfg.Epochs { // EpochJustEnded: epoch E ended at C
			g.epochEnds[e] = C
			continue
		}
		target := max(e*(C/cfg.Epochs), g.epochEnds[e-1]+1)
		i := sort.Search(len(g.blockEnds), func(i int) bool { return g.blockEnds[i] >= target })
		if i == len(g.blockEnds) || g.blockEnds[i] >= C {
			return nil, fmt.Errorf("%w: %d versions hold too few blocks for %d epochs", errGenuineLayout, C+1, cfg.Epochs)
		}
		g.epochEnds[e] = g.blockEnds[i]
	}
	return g, nil
}

// build computes the snapshots, the accumulator and the ledger infos, once.
func (g *genuine) build() {
	g.once.Do(func() {
		cfg := g.c.cfg
		workers := max(1, runtime.GOMAXPROCS(0))
		var versions []uint64
		for v := uint64(0); ; {
			if g.isSnapshotVersion(v) {
				versions = append(versions, v)
			}
			next, ok := g.nextSnapshotVersion(v)
			if !ok {
				break
			}
			v = next
		}
		built := make([]*snapshot, len(versions))
		parallel(workers, len(versions), func(i int) { built[i] = g.buildSnapshot(versions[i]) })
		g.snapshots = make(map[uint64]*snapshot, len(versions))
		for i, v := range versions {
			g.snapshots[v] = built[i]
		}
		// Every TransactionInfo is kept (about 150 bytes a version), so
		// serving a record hashes nothing. Versions are independent: build
		// them in spans, one worker a span.
		n := g.c.LatestVersion() + 3
		const span = 4096
		spans := int((n + span - 1) / span)
		infos := make([][]byte, spans)
		ends := make([][]uint32, spans)
		leaves := make([]hash.Value, cfg.CommittedVersion+1)
		parallel(workers, spans, func(i int) {
			var buf, scratch []byte
			for v := uint64(i) * span; v < min(n, uint64(i+1)*span); v++ {
				var info []byte
				scratch, info = g.transaction(scratch[:0], v)
				if v < uint64(len(leaves)) {
					leaves[v] = types.HashTransactionInfo(info)
				}
				buf = append(buf, info...)
				ends[i] = append(ends[i], uint32(len(buf)))
			}
			infos[i] = buf
		})
		g.infoEnds = make([]uint32, 0, n)
		for i := range spans {
			base := uint32(len(g.infos))
			g.infos = append(g.infos, infos[i]...)
			for _, e := range ends[i] {
				g.infoEnds = append(g.infoEnds, base+e)
			}
		}
		g.tree = accumulator.NewTree(hash.TransactionAccumulator, leaves)
		g.endings = make([][]byte, len(g.epochEnds))
		for e := range g.epochEnds {
			g.endings[e] = g.ledgerInfo(uint64(e), g.epochEnds[e], true)
		}
		if !cfg.EpochJustEnded {
			g.latest = g.ledgerInfo(cfg.Epochs, cfg.CommittedVersion, false)
		}
	})
}

// parallel runs f(0..n-1) on up to workers goroutines.
func parallel(workers, n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// cachedInfo returns version v's TransactionInfo once build has kept them.
func (g *genuine) cachedInfo(v uint64) ([]byte, bool) {
	if v >= uint64(len(g.infoEnds)) {
		return nil, false
	}
	from := uint32(0)
	if v > 0 {
		from = g.infoEnds[v-1]
	}
	return g.infos[from:g.infoEnds[v]], true
}

func (g *genuine) isSnapshotVersion(v uint64) bool {
	cfg := g.c.cfg
	return v <= cfg.CommittedVersion && (v == cfg.CommittedVersion || (cfg.SnapshotInterval > 0 && v%cfg.SnapshotInterval == 0))
}

func (g *genuine) nextSnapshotVersion(v uint64) (uint64, bool) {
	cfg := g.c.cfg
	if v >= cfg.CommittedVersion {
		return 0, false
	}
	if cfg.SnapshotInterval == 0 {
		return cfg.CommittedVersion, true
	}
	return min(cfg.CommittedVersion, (v/cfg.SnapshotInterval+1)*cfg.SnapshotInterval), true
}

// block returns the index of the block holding v, its first and last versions.
func (g *genuine) block(v uint64) (idx int, first, last uint64) {
	idx = sort.Search(len(g.blockEnds), func(i int) bool { return g.blockEnds[i] >= v })
	if idx == 0 {
		return 0, 0, 0
	}
	return idx, g.blockEnds[idx-1] + 1, g.blockEnds[idx]
}

// epoch returns the epoch version v belongs to: the first ended epoch whose
// last version is at or after v, or the open one.
func (g *genuine) epoch(v uint64) uint64 {
	return uint64(sort.Search(len(g.epochEnds), func(i int) bool { return g.epochEnds[i] >= v }))
}

func (g *genuine) blockID(idx int) hash.Value {
	var b [24]byte
	copy(b[:], "sim block")
	binary.LittleEndian.PutUint64(b[16:], g.c.hash(kindBlock, uint64(idx), 1))
	return hash.SHA3(b[:])
}

func blockTimestamp(idx int) uint64 {
	if idx == 0 {
		return 0
	}
	return timestampBase + uint64(idx)*blockInterval
}

// pseudoHash is a deterministic hash for what the simulator does not model
// (the state root of a version without a snapshot, consensus data).
func (g *genuine) pseudoHash(k recordKind, a, b uint64) hash.Value {
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:], g.c.hash(k, a, b))
	binary.LittleEndian.PutUint64(buf[8:], g.c.hash(k, b, a))
	return hash.SHA3(buf[:])
}

// ledgerInfo builds the signed ledger info of epoch e at version v.
func (g *genuine) ledgerInfo(e, v uint64, ending bool) []byte {
	idx, _, _ := g.block(v)
	root, err := g.tree.RootAt(v + 1)
	if err != nil {
		panic(err) // v <= C by construction
	}
	li := ledger.LedgerInfo{
		CommitInfo: ledger.BlockInfo{
			Epoch:           e,
			Round:           uint64(idx),
			ID:              g.blockID(idx),
			ExecutedStateID: root,
			Version:         v,
			TimestampUsecs:  blockTimestamp(idx),
		},
		ConsensusDataHash: g.pseudoHash(kindProof, e, v),
	}
	if e == 0 { // genesis: round 0, the zero block id, as BlockInfo::genesis
		li.CommitInfo.ID, li.CommitInfo.Round = hash.Zero, 0
		li.ConsensusDataHash = hash.Zero
	}
	if ending {
		li.CommitInfo.NextEpochState = g.signers[e+1].EpochState(e + 1)
	}
	var signed *ledger.LedgerInfoWithSignatures
	if e == 0 {
		signed = &ledger.LedgerInfoWithSignatures{LedgerInfo: li} // genesis carries no signature
	} else {
		s := g.signers[e]
		signed, err = s.Sign(&li, quorum(s, g.c.hash(kindValidator, e, v)))
		if err != nil {
			panic(err)
		}
	}
	w := bcs.NewWriter(nil)
	signed.Encode(w)
	return w.Encoded()
}

// quorum picks signers holding more than two thirds of the voting power,
// starting at a drawn validator, so the bitmasks vary.
func quorum(s *ledger.Signers, h uint64) []int {
	vs := s.Verifier.Validators
	need := s.Verifier.QuorumVotingPower()
	var who []int
	var got uint64
	for k := range vs {
		i := (int(h%uint64(len(vs))) + k) % len(vs)
		who = append(who, i)
		got += vs[i].VotingPower
		if !(ledger.VotingPower{Lo: got}).Less(need) {
			break
		}
	}
	sort.Ints(who)
	return who
}

// ledgerInfoFor is the ledger info the node proves version v against: the
// latest in v's epoch (backup_handler.rs, get_transaction_range_proof and
// get_state_root_proof), and its version.
func (g *genuine) ledgerInfoFor(v uint64) (li []byte, version uint64) {
	e := g.epoch(v)
	if e < uint64(len(g.endings)) {
		return g.endings[e], g.epochEnds[e]
	}
	return g.latest, g.c.cfg.CommittedVersion
}

// epochEnding returns the record of epoch e; past the ended epochs (the
// excess and swap faults) the ledger info at C.
func (g *genuine) epochEnding(e uint64) []byte {
	g.build()
	if e < uint64(len(g.endings)) {
		return g.endings[e]
	}
	if g.latest != nil {
		return g.latest
	}
	return g.endings[len(g.endings)-1]
}
