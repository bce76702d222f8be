package ledger

import (
	"errors"
	"fmt"
)

// Chain errors.
var (
	// ErrNotEpochEnding is returned for a record without next_epoch_state:
	// every epoch-ending ledger info must name the next validator set.
	ErrNotEpochEnding = errors.New("ledger: ledger info does not end an epoch")
	// ErrEpochGap is returned when a record's epoch is not the one after
	// the previous record's.
	ErrEpochGap = errors.New("ledger: epoch-ending ledger infos are not contiguous")
)

// EpochChain verifies a stream of epoch-ending ledger infos in order, as the
// backup CLI's epoch-ending restore does: the first record matches the
// trusted waypoint (when the waypoint's version is the record's) or is
// signed by the trusted epoch state; each later record is of the next epoch
// and signed by the validator set the previous record named. It keeps only
// the newest validator set, so memory does not grow with the stream.
//
// Start a stream that begins at genesis from the genesis waypoint: the
// genesis ledger info carries no signature. Unlike EpochChangeProof::verify,
// records older than the trust anchor are refused rather than skipped, and
// unlike the restore controller there is one waypoint, not a set.
//
// Rust: types/src/epoch_change.rs, EpochChangeProof::verify;
// storage/backup/backup-cli/src/backup_types/epoch_ending/restore.rs.
type EpochChain struct {
	waypoint *Waypoint
	current  *EpochState // nil until the first record when trusting a waypoint
	added    int
	last     uint64 // epoch of the last record added
}

// NewEpochChainFromWaypoint starts a chain whose first record must be the
// ledger info wp names.
func NewEpochChainFromWaypoint(wp Waypoint) *EpochChain {
	return &EpochChain{waypoint: &wp}
}

// NewEpochChain starts a chain whose first record must be signed by the
// validators of trusted (an epoch state known good, such as the one of the
// previous backup's last record).
func NewEpochChain(trusted *EpochState) *EpochChain {
	return &EpochChain{current: trusted}
}

// Add verifies the next record and, on success, moves the chain to the
// validator set it names. A failed Add leaves the chain as it was. Add
// retains li.LedgerInfo's next epoch state, not li itself.
func (c *EpochChain) Add(li *LedgerInfoWithSignatures) error {
	info := &li.LedgerInfo.CommitInfo
	if info.NextEpochState == nil {
		return fmt.Errorf("%w: epoch %d version %d", ErrNotEpochEnding, info.Epoch, info.Version)
	}
	switch {
	case c.added == 0 && c.waypoint != nil && c.waypoint.Version == info.Version:
		if err := c.waypoint.Verify(&li.LedgerInfo); err != nil {
			return err
		}
	case c.current == nil:
		return fmt.Errorf("%w: the first record, version %d, is not at waypoint version %d",
			ErrWaypointMismatch, info.Version, c.waypoint.Version)
	default:
		if c.added > 0 && info.Epoch != c.last+1 {
			return fmt.Errorf("%w: epoch %d after epoch %d", ErrEpochGap, info.Epoch, c.last)
		}
		if err := c.current.Verify(li); err != nil {
			return fmt.Errorf("ledger: epoch %d version %d: %w", info.Epoch, info.Version, err)
		}
	}
	c.current = info.NextEpochState
	c.last = info.Epoch
	c.added++
	return nil
}

// Current returns the newest verified validator set: the one that signs
// ledger infos of the epoch after the last record added (such as the ledger
// info ending a transaction range proof). It is nil before the first record
// of a chain started from a waypoint.
func (c *EpochChain) Current() *EpochState { return c.current }

// Added returns how many records have been verified.
func (c *EpochChain) Added() int { return c.added }
