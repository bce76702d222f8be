package ledger

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

// ErrWaypointMismatch is returned when a ledger info is not the one a
// waypoint names.
var ErrWaypointMismatch = errors.New("ledger: ledger info does not match the waypoint")

// Waypoint names a ledger info by version and a hash of the fields every
// node agrees on (Ledger2WaypointConverter). Its text form is
// "version:hex", as in the genesis_waypoint.txt files of aptos-networks.
//
// Rust: types/src/waypoint.rs, Waypoint.
type Waypoint struct {
	Version uint64
	Value   hash.Value
}

// WaypointFromLedgerInfo is Waypoint::new_any: the waypoint of any ledger
// info. (new_epoch_boundary also requires li.EndsEpoch.)
func WaypointFromLedgerInfo(li *LedgerInfo) Waypoint {
	return Waypoint{Version: li.CommitInfo.Version, Value: waypointValue(li)}
}

// waypointValue hashes Ledger2WaypointConverter{epoch, root_hash, version,
// timestamp_usecs, next_epoch_state}: the LedgerInfo without round, block id
// and consensus data hash, which may differ between nodes.
func waypointValue(li *LedgerInfo) hash.Value {
	b := &li.CommitInfo
	w := bcs.NewWriter(make([]byte, 0, 512))
	w.U64(b.Epoch)
	encodeHash(w, &b.ExecutedStateID)
	w.U64(b.Version)
	w.U64(b.TimestampUsecs)
	encodeOptionEpochState(w, b.NextEpochState)
	return waypointHasher.Sum(w.Encoded())
}

// Verify checks that li is the ledger info the waypoint names.
func (wp Waypoint) Verify(li *LedgerInfo) error {
	if li.CommitInfo.Version != wp.Version {
		return fmt.Errorf("%w: version %d, waypoint version %d", ErrWaypointMismatch, li.CommitInfo.Version, wp.Version)
	}
	if got := waypointValue(li); got != wp.Value {
		return fmt.Errorf("%w: value %v, waypoint value %v", ErrWaypointMismatch, got, wp.Value)
	}
	return nil
}

// String returns the "version:hex" form.
func (wp Waypoint) String() string {
	return strconv.FormatUint(wp.Version, 10) + ":" + wp.Value.String()
}

// ParseWaypoint reads the "version:hex" form: a decimal u64, a colon and 64
// hex digits. It is stricter than the Rust FromStr, which ignores text after
// a second colon.
func ParseWaypoint(s string) (Waypoint, error) {
	v, h, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return Waypoint{}, fmt.Errorf("ledger: waypoint %q has no ':'", s)
	}
	version, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return Waypoint{}, fmt.Errorf("ledger: waypoint %q: version: %w", s, err)
	}
	if strings.HasPrefix(h, "0x") {
		return Waypoint{}, fmt.Errorf("ledger: waypoint %q: value has a 0x prefix", s)
	}
	value, err := hash.Parse(h)
	if err != nil {
		return Waypoint{}, fmt.Errorf("ledger: waypoint %q: %w", s, err)
	}
	return Waypoint{Version: version, Value: value}, nil
}

// Decode reads a Waypoint in its BCS form: Waypoint(version, HashValue).
func (wp *Waypoint) Decode(r *bcs.Reader) {
	wp.Version = r.U64()
	decodeHash(r, &wp.Value)
}

// Encode writes the Waypoint's BCS form.
func (wp *Waypoint) Encode(w *bcs.Writer) {
	w.U64(wp.Version)
	encodeHash(w, &wp.Value)
}
