package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/backseal/backseal/upstream"
)

// FaultKind names a failure the simulator can inject.
type FaultKind string

// Fault kinds the node itself can produce. All but Status500 apply to
// streams; After counts the records the producer has appended when the
// fault fires.
const (
	// Drop: the producer is dropped after After records, as in a panic or a
	// cancelled task. Its unflushed partial batch is lost, batches already
	// queued are delivered, then the body ends CLEANLY (0\r\n\r\n): the silent
	// truncation. With After 0 the body is empty.
	Drop FaultKind = "drop"
	// Abort: as Drop, but the connection is then closed without the
	// terminating chunk (what BytesSender.abort does).
	Abort FaultKind = "abort"
	// Reset: as Abort, but the connection is reset (TCP RST, SO_LINGER 0).
	Reset FaultKind = "reset"
	// PrefixCut: after After records, a batch ends right after the next
	// record's 4-byte length prefix and the body ends cleanly.
	PrefixCut FaultKind = "prefixcut"
	// Stall: after After records (flushed), no bytes for Stall, then the
	// stream continues normally.
	Stall FaultKind = "stall"
	// Slow: from record After on, the body is written at Rate bytes/s.
	Slow FaultKind = "slow"
	// Excess: one record too many (the next identity) before a clean end.
	Excess FaultKind = "excess"
	// Status500: a small endpoint answers 500 with an empty body.
	Status500 FaultKind = "status500"
	// Restart: after After records of a stream, every connection is cut and
	// the listener goes away for Restart, then listens again on the same address.
	Restart FaultKind = "restart"
)

// Lies: what the real node never sends, but a broken node, a middlebox or an
// impostor on the port could. They test that a client of the upstream maps
// each to a failure and allocates nothing by what the upstream claims.
const (
	// HugePrefix (streams): after After records, the next record goes out
	// with its length prefix replaced by HugePrefixLength (its real payload
	// follows), then the body ends cleanly.
	HugePrefix FaultKind = "hugeprefix"
	// BadChunk (streams): after After records (flushed), a malformed
	// chunk-size line (BadChunkLine), then the connection closes. On a
	// close-delimited (HTTP/1.0) body there is no chunk to break: it just
	// closes, as Abort.
	BadChunk FaultKind = "badchunk"
	// CLLong (small endpoints): content-length is CLLongExtra more than the
	// body that follows; then the connection closes.
	CLLong FaultKind = "cllong"
	// CLShort (small endpoints): the head declares the value's true length,
	// then the value is written twice (more bytes than declared); the
	// connection stays open, so the surplus is what the next response on it
	// would start with.
	CLShort FaultKind = "clshort"
	// HTTP10 (streams): the response is HTTP/1.0 and close-delimited even to
	// an HTTP/1.1 request; if After is within the stream, it is cut there as
	// Abort, which on such a body looks exactly like a clean end.
	HTTP10 FaultKind = "http10"
	// Garbage (any endpoint): a garbage status line (GarbageHead), then close.
	Garbage FaultKind = "garbage"
	// Silent (any endpoint): the request is read and never answered; the
	// connection closes after Stall (zero: only when the client or the
	// server closes it).
	Silent FaultKind = "silent"
	// EndlessHeaders (any endpoint): a 200 status line, then header lines
	// that never end, until the peer closes or EndlessHeadersCap bytes.
	EndlessHeaders FaultKind = "endlessheaders"
	// BodyStall (small endpoints): the head and the first half of the value,
	// then no byte for Stall, then the rest on the same connection: what a
	// stopped process or a congested path looks like from the client.
	BodyStall FaultKind = "bodystall"
)

// Content faults: records that frame and count right but whose content is
// wrong, which only a content verifier sees. They apply to streams in both
// modes (in synthetic mode they just alter bytes); After is the index of the
// record they alter, and the stream goes on to its clean end.
const (
	// Flip: one byte of record After's payload inverted. In genuine mode the
	// byte is inside data a decoder does not interpret (a write-set value,
	// a state value, a ledger info's block id), so the record still decodes
	// and the damage is a hash or signature mismatch.
	Flip FaultKind = "flip"
	// Swap: record After replaced, whole and well-formed, by the record of
	// the next identity (version+1, epoch+1, the snapshot's item After+1).
	Swap FaultKind = "swap"
	// Stale (state snapshots): item After's value replaced by an older value
	// of the same key, so the key order holds and only the root disagrees.
	Stale FaultKind = "stale"
	// Variant: the first byte of record After's payload, the variant index
	// of its Transaction, LedgerInfoWithSignatures or StateKey, set to 0x20,
	// a variant no decoder knows.
	Variant FaultKind = "variant"
)

// What the lies put on the wire.
const (
	HugePrefixLength  = 0xFFFFFFF0
	BadChunkLine      = "zz\r\n"
	CLLongExtra       = 1 << 32 // bytes declared beyond the body
	GarbageHead       = "HTTP/1.1 2OO OK\r\n\r\n"
	EndlessHeadersCap = 64 << 20
)

// FaultKinds lists the kinds in a stable order.
var FaultKinds = []FaultKind{Drop, Abort, Reset, PrefixCut, Stall, Slow, Excess, Status500, Restart,
	HugePrefix, BadChunk, CLLong, CLShort, HTTP10, Garbage, Silent, EndlessHeaders, BodyStall,
	Flip, Swap, Stale, Variant}

// Fault defaults for zero fields.
const (
	DefaultStall   = 5 * time.Second
	DefaultRate    = 64 << 10 // bytes/s
	DefaultRestart = 2 * time.Second
)

// Fault is one injected failure. It applies to the next Count responses it
// matches (Status500, CLLong, CLShort and BodyStall small responses; Garbage, Silent and
// EndlessHeaders any response; every other kind streams; Endpoint, if set,
// narrows it to one endpoint), then disarms. Several faults may be armed
// at once; a response collects every armed fault that matches it, and of the
// ones that end a stream the one with the lowest After wins.
//
// In JSON, field names are lowercase and durations are Go duration strings:
// {"kind":"stall","after":1000,"stall":"3s","endpoint":"transactions"}.
type Fault struct {
	Kind FaultKind
	// After is the number of records appended before the fault fires. A
	// fault with After past the end of a stream never fires (After equal to
	// the record count fires just before the end).
	After uint64
	// Count is how many matching responses to fault: -1 for all of them; if
	// zero, 1.
	Count int
	// Stall is how long a Stall fault withholds bytes (if zero, 5s), and how
	// long a Silent fault keeps the connection unanswered (if zero, until the
	// client or the server closes it).
	Stall time.Duration
	// Rate is a Slow fault's rate in bytes per second. If zero, 64 KiB/s.
	Rate int64
	// Restart is how long a Restart fault keeps the listener away. If zero, 2s.
	Restart time.Duration
	// Endpoint, if not empty, limits the fault to one endpoint, named as in
	// the path ("transactions", "state_snapshot_chunk", ...).
	Endpoint string
}

// ErrBadFault: a fault's kind, count, endpoint or parameters are invalid.
var ErrBadFault = errors.New("sim: bad fault")

// Validate reports a fault that could never fire as described.
func (f Fault) Validate() error {
	if !slices.Contains(FaultKinds, f.Kind) {
		return fmt.Errorf("%w: unknown kind %q", ErrBadFault, f.Kind)
	}
	if f.Count < -1 {
		return fmt.Errorf("%w: count %d (want -1, 0 or more)", ErrBadFault, f.Count)
	}
	if f.Stall < 0 || f.Restart < 0 || f.Rate < 0 {
		return fmt.Errorf("%w: negative stall, restart or rate", ErrBadFault)
	}
	if f.Endpoint != "" {
		e, ok := endpointByName(f.Endpoint)
		if !ok {
			return fmt.Errorf("%w: unknown endpoint %q", ErrBadFault, f.Endpoint)
		}
		if !f.Kind.appliesTo(e) {
			return fmt.Errorf("%w: %s does not apply to %s", ErrBadFault, f.Kind, f.Endpoint)
		}
	}
	return nil
}

func endpointByName(name string) (upstream.Endpoint, bool) {
	for _, e := range upstream.Endpoints() {
		if e.String() == name {
			return e, true
		}
	}
	return 0, false
}

// withDefaults fills zero fields.
func (f Fault) withDefaults() Fault {
	if f.Count == 0 {
		f.Count = 1
	}
	if f.Stall == 0 && f.Kind != Silent {
		f.Stall = DefaultStall
	}
	if f.Rate == 0 {
		f.Rate = DefaultRate
	}
	if f.Restart == 0 {
		f.Restart = DefaultRestart
	}
	return f
}

// matches reports whether f applies to a response of endpoint e.
func (f Fault) matches(e upstream.Endpoint) bool {
	if f.Endpoint != "" && f.Endpoint != e.String() {
		return false
	}
	return f.Kind.appliesTo(e)
}

// appliesTo reports whether the kind can fault a response of endpoint e.
func (k FaultKind) appliesTo(e upstream.Endpoint) bool {
	switch k {
	case Garbage, Silent, EndlessHeaders:
		return true
	case Status500, CLLong, CLShort, BodyStall:
		return !e.Streaming()
	case Stale:
		return e == upstream.StateSnapshot || e == upstream.StateSnapshotChunk
	}
	return e.Streaming()
}

// replacesResponse reports whether the kind decides the whole response
// before any body is produced (the first such fault of a response wins).
func (k FaultKind) replacesResponse() bool {
	switch k {
	case Garbage, Silent, EndlessHeaders, Status500, CLLong, CLShort, BodyStall:
		return true
	}
	return false
}

// mutation is what a content fault does to its record (mutNone for the others).
func (k FaultKind) mutation() mutation {
	switch k {
	case Flip:
		return mutFlip
	case Swap:
		return mutSwap
	case Stale:
		return mutStale
	case Variant:
		return mutVariant
	}
	return mutNone
}

// terminal reports whether the kind ends the stream when it fires.
func (k FaultKind) terminal() bool {
	switch k {
	case Drop, Abort, Reset, PrefixCut, Restart, HugePrefix, BadChunk, HTTP10:
		return true
	}
	return false
}

// faultJSON is Fault's wire form for the control API.
type faultJSON struct {
	Kind     FaultKind `json:"kind"`
	After    uint64    `json:"after,omitempty"`
	Count    int       `json:"count,omitempty"`
	Stall    string    `json:"stall,omitempty"`
	Rate     int64     `json:"rate,omitempty"`
	Restart  string    `json:"restart,omitempty"`
	Endpoint string    `json:"endpoint,omitempty"`
}

// MarshalJSON writes durations as Go duration strings.
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{Kind: f.Kind, After: f.After, Count: f.Count, Rate: f.Rate, Endpoint: f.Endpoint}
	if f.Stall != 0 {
		j.Stall = f.Stall.String()
	}
	if f.Restart != 0 {
		j.Restart = f.Restart.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads durations as Go duration strings ("1.5s", "300ms").
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := Fault{Kind: j.Kind, After: j.After, Count: j.Count, Rate: j.Rate, Endpoint: j.Endpoint}
	for _, d := range []struct {
		s   string
		dst *time.Duration
	}{{j.Stall, &out.Stall}, {j.Restart, &out.Restart}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadFault, err)
		}
		*d.dst = v
	}
	*f = out
	return nil
}

// ArmedFault is a fault as the server holds it: how many responses it still
// applies to and how often it has fired.
type ArmedFault struct {
	Fault
	Remaining int    // responses it still applies to; -1 for unlimited
	Applied   uint64 // responses it was applied to
	Fired     uint64 // times it fired (a fault applied past a stream's end does not)
}

// MarshalJSON flattens the fault and its counters into one object.
func (a ArmedFault) MarshalJSON() ([]byte, error) {
	f, err := a.Fault.MarshalJSON()
	if err != nil {
		return nil, err
	}
	extra, err := json.Marshal(struct {
		Remaining int    `json:"remaining"`
		Applied   uint64 `json:"applied"`
		Fired     uint64 `json:"fired"`
	}{a.Remaining, a.Applied, a.Fired})
	if err != nil {
		return nil, err
	}
	// Both are non-empty objects: splice them.
	return append(append(f[:len(f)-1], ','), extra[1:]...), nil
}

// UnmarshalJSON reads what MarshalJSON writes (Fault's own UnmarshalJSON
// would otherwise be promoted and drop the counters).
func (a *ArmedFault) UnmarshalJSON(b []byte) error {
	var counters struct {
		Remaining int    `json:"remaining"`
		Applied   uint64 `json:"applied"`
		Fired     uint64 `json:"fired"`
	}
	if err := json.Unmarshal(b, &counters); err != nil {
		return err
	}
	if err := a.Fault.UnmarshalJSON(b); err != nil {
		return err
	}
	a.Remaining, a.Applied, a.Fired = counters.Remaining, counters.Applied, counters.Fired
	return nil
}

// faultSet is the armed faults, shared by all connections.
type faultSet struct {
	mu    sync.Mutex
	armed []*armed
}

type armed struct {
	f         Fault // with defaults filled
	orig      Fault // as given
	remaining int
	applied   uint64
	fired     uint64
}

// appliedFault is a fault picked for one response; fire records its firing.
type appliedFault struct {
	Fault
	a   *armed
	set *faultSet
}

func (af appliedFault) fire() {
	af.set.mu.Lock()
	af.a.fired++
	af.set.mu.Unlock()
}

func (s *faultSet) set(fs []Fault, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		s.armed = nil
	}
	for _, f := range fs {
		if f.Validate() != nil {
			continue // never matches: keep the set clean
		}
		d := f.withDefaults()
		s.armed = append(s.armed, &armed{f: d, orig: f, remaining: d.Count})
	}
}

func (s *faultSet) list() []ArmedFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ArmedFault, 0, len(s.armed))
	for _, a := range s.armed {
		out = append(out, ArmedFault{Fault: a.orig, Remaining: a.remaining, Applied: a.applied, Fired: a.fired})
	}
	return out
}

// take picks the faults for one response of endpoint e and counts them down.
// Exhausted faults stay listed (Remaining 0) until replaced or cleared.
func (s *faultSet) take(e upstream.Endpoint) []appliedFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []appliedFault
	for _, a := range s.armed {
		if a.remaining == 0 || !a.f.matches(e) {
			continue
		}
		if a.remaining > 0 {
			a.remaining--
		}
		a.applied++
		out = append(out, appliedFault{Fault: a.f, a: a, set: s})
	}
	return out
}
