package sim

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Service limits of the real node's BytesSender and blocking pool.
const (
	// DefaultBatchSize is BytesSender's target batch in current builds.
	DefaultBatchSize = 10 << 10
	// OldBatchSize is the target batch of older builds (--batch-size 1048576).
	OldBatchSize = 1 << 20
	// DefaultQueueBatches is the depth of BytesSender's channel.
	DefaultQueueBatches = 100
	// DefaultMaxProducers is how many stream producers run at once.
	DefaultMaxProducers = 64
	// MaxBatchSize bounds BatchSize; batches this large only make sense for benchmarks.
	MaxBatchSize = 64 << 20
)

// Config describes the simulated node: its chain (the content, a pure function
// of these fields) and its service limits. Start from DefaultConfig: for the
// chain fields zero is a meaningful value (no pre-committed versions, nothing
// pruned), not "use the default".
type Config struct {
	// Seed selects the content. Two chains with equal chain fields serve
	// byte-identical responses.
	Seed uint64
	// Epochs is E, the epoch /db_state reports. Epoch ending ledger infos
	// exist for epochs 0..E-1 (0..E with EpochJustEnded).
	Epochs uint64
	// CommittedVersion is C, the latest certified version /db_state reports.
	CommittedVersion uint64
	// PreCommitted is how many versions past C exist and are served by
	// /transactions (uncertified, as a node mid-commit has them).
	PreCommitted uint64
	// PrunedBelow: transactions and state snapshots at versions below it are
	// pruned (streams abort, small endpoints answer 500). Zero prunes nothing.
	PrunedBelow uint64
	// SnapshotInterval: state snapshots exist at its multiples up to C, and
	// at C. If zero, only C has a snapshot.
	SnapshotInterval uint64
	// StateItemsBase is /state_item_count/0; StateItemsPer1000 items are added
	// per 1000 versions: count(v) = StateItemsBase + v*StateItemsPer1000/1000.
	StateItemsBase    uint64
	StateItemsPer1000 uint64

	// BatchSize is BytesSender's flush target in bytes. If zero,
	// DefaultBatchSize (10 KiB) is used; OldBatchSize (1 MiB) models older nodes.
	BatchSize int
	// QueueBatches is the depth of the queue between a stream's producer and
	// its connection. If zero, 100 is used.
	QueueBatches int
	// MaxProducers is how many streams produce at once; further streams get
	// their 200 and headers, then wait for a slot. If zero, 64 is used.
	MaxProducers int

	// LegacyDBState makes /db_state the older 25-byte form (a third u64,
	// synced_version = C + PreCommitted).
	LegacyDBState bool
	// EpochJustEnded makes the open epoch E already have its ending ledger
	// info, so /epoch_ending_ledger_infos/{s}/{e} with e > E returns E+1-s
	// records instead of E-s (the doc allows both).
	EpochJustEnded bool
	// PrefixSplit models older nodes that appended a record's length prefix
	// and its payload separately, so a batch may end right after a prefix.
	PrefixSplit bool
	// EmptyMethodNotAllowed answers non-GET requests with an empty 405. By
	// default the 405 carries warp's body, "HTTP method not allowed", with
	// content-type text/plain; charset=utf-8.
	EmptyMethodNotAllowed bool

	// Genuine makes every record and proof a real Aptos structure, consistent
	// with every commitment (hashes, accumulators, sparse Merkle roots,
	// BLS-signed ledger infos), for content verification; see
	// docs/SIMULATOR.md. It needs Epochs >= 1, enough blocks for the epochs,
	// C <= MaxGenuineVersion and at most MaxGenuineStateItems items over all
	// snapshots.
	Genuine bool
	// RecordV0 (genuine mode) makes transaction records the 4-tuple of older
	// nodes, without PersistedAuxiliaryInfo (and TransactionInfos without
	// auxiliary_info_hash).
	RecordV0 bool
}

// DefaultConfig returns the default chain (see docs/SIMULATOR.md): E = 40,
// C = 49,999 with 3 pre-committed versions, snapshots every 10,000 versions
// and at C (count(C) = 51,999 items, about 14 MB), nothing pruned, and the
// current node's limits.
func DefaultConfig() Config {
	return Config{
		Seed:              1,
		Epochs:            40,
		CommittedVersion:  49_999,
		PreCommitted:      3,
		PrunedBelow:       0,
		SnapshotInterval:  10_000,
		StateItemsBase:    2_000,
		StateItemsPer1000: 1_000,
		BatchSize:         DefaultBatchSize,
		QueueBatches:      DefaultQueueBatches,
		MaxProducers:      DefaultMaxProducers,
	}
}

// Config errors.
var (
	// ErrBadConfig: a Config field is out of range; the message names it.
	ErrBadConfig = errors.New("sim: bad config")
)

// Validate reports a config the simulator cannot serve faithfully.
func (c Config) Validate() error {
	switch {
	case c.CommittedVersion > math.MaxUint64-c.PreCommitted:
		return fmt.Errorf("%w: committed version %d + %d pre-committed overflows u64", ErrBadConfig, c.CommittedVersion, c.PreCommitted)
	case c.Epochs == math.MaxUint64:
		return fmt.Errorf("%w: epochs must be below 2^64-1", ErrBadConfig)
	case c.PrunedBelow > c.CommittedVersion:
		return fmt.Errorf("%w: pruned below %d leaves nothing of committed version %d", ErrBadConfig, c.PrunedBelow, c.CommittedVersion)
	case c.BatchSize < 0 || c.BatchSize > MaxBatchSize:
		return fmt.Errorf("%w: batch size %d not in [0, %d]", ErrBadConfig, c.BatchSize, MaxBatchSize)
	case c.QueueBatches < 0 || c.QueueBatches > 1<<16:
		return fmt.Errorf("%w: queue batches %d not in [0, 65536]", ErrBadConfig, c.QueueBatches)
	case c.MaxProducers < 0 || c.MaxProducers > 1<<16:
		return fmt.Errorf("%w: max producers %d not in [0, 65536]", ErrBadConfig, c.MaxProducers)
	}
	if c.Genuine {
		if _, err := layoutGenuine(&Chain{cfg: c}); err != nil {
			return fmt.Errorf("%w: %v", ErrBadConfig, err)
		}
	}
	return nil
}

// withDefaults fills the zero service limits.
func (c Config) withDefaults() Config {
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.QueueBatches == 0 {
		c.QueueBatches = DefaultQueueBatches
	}
	if c.MaxProducers == 0 {
		c.MaxProducers = DefaultMaxProducers
	}
	return c
}

// itemCount is count(v) for any v, saturating at 2^64-1.
func (c Config) itemCount(v uint64) uint64 {
	hi, lo := bits.Mul64(v, c.StateItemsPer1000)
	if hi >= 1000 {
		return math.MaxUint64
	}
	grow, _ := bits.Div64(hi, lo, 1000)
	sum, carry := bits.Add64(c.StateItemsBase, grow, 0)
	if carry != 0 {
		return math.MaxUint64
	}
	return sum
}
