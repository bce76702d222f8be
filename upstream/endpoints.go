package upstream

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Endpoint is one of the legacy backup service's nine GET endpoints.
type Endpoint uint8

const (
	DBState Endpoint = iota
	StateItemCount
	StateRangeProof
	StateRootProof
	TransactionRangeProof
	StateSnapshot
	StateSnapshotChunk
	EpochEndingLedgerInfos
	Transactions
	numEndpoints
)

// endpointSpec is the routing fact for one endpoint: its first path segment,
// its numeric parameters, and whether its body is a record stream.
var endpointSpec = [numEndpoints]struct {
	name      string
	params    int  // decimal u64 parameters
	key       bool // a trailing 64-hex-digit key follows the numbers
	streaming bool
	route     string // the path template, for traces and dashboards
}{
	DBState:                {"db_state", 0, false, false, "/db_state"},
	StateItemCount:         {"state_item_count", 1, false, false, "/state_item_count/{version}"},
	StateRangeProof:        {"state_range_proof", 1, true, false, "/state_range_proof/{version}/{end_key}"},
	StateRootProof:         {"state_root_proof", 1, false, false, "/state_root_proof/{version}"},
	TransactionRangeProof:  {"transaction_range_proof", 2, false, false, "/transaction_range_proof/{first_version}/{last_version}"},
	StateSnapshot:          {"state_snapshot", 1, false, true, "/state_snapshot/{version}"},
	StateSnapshotChunk:     {"state_snapshot_chunk", 3, false, true, "/state_snapshot_chunk/{version}/{start_idx}/{limit}"},
	EpochEndingLedgerInfos: {"epoch_ending_ledger_infos", 2, false, true, "/epoch_ending_ledger_infos/{start_epoch}/{end_epoch}"},
	Transactions:           {"transactions", 2, false, true, "/transactions/{start_version}/{num_transactions}"},
}

// Endpoints lists all endpoints in a stable order.
func Endpoints() []Endpoint {
	e := make([]Endpoint, numEndpoints)
	for i := range e {
		e[i] = Endpoint(i)
	}
	return e
}

// String returns the endpoint's path segment, e.g. "transactions".
func (e Endpoint) String() string {
	if e >= numEndpoints {
		return fmt.Sprintf("endpoint(%d)", uint8(e))
	}
	return endpointSpec[e].name
}

// Route returns the endpoint's path template, e.g.
// "/transactions/{start_version}/{num_transactions}".
func (e Endpoint) Route() string {
	if e >= numEndpoints {
		return ""
	}
	return endpointSpec[e].route
}

// Streaming reports whether the endpoint's body is a stream of size-prefixed
// records (chunked, no Content-Length) rather than one small BCS value.
func (e Endpoint) Streaming() bool { return e < numEndpoints && endpointSpec[e].streaming }

// Request is a parsed, validated request to the legacy service.
type Request struct {
	Endpoint Endpoint
	Args     [3]uint64 // the decimal parameters, in path order
	Key      [32]byte  // StateRangeProof's end key
}

// Path errors, matching the legacy service's rejections.
var (
	// ErrNotFound: the first path segment names no endpoint (the service answers 404).
	ErrNotFound = errors.New("upstream: no such endpoint")
	// ErrBadPath: a missing, extra or malformed segment (the service answers 400).
	ErrBadPath = errors.New("upstream: bad request path")
)

// TargetPath returns the path of a request target as hyper hands it to warp
// (http::Uri::path): origin-form as sent, absolute-form ("http://h/db_state",
// RFC 9112 §3.2.2) without its scheme and authority, and "/" for an
// absolute-form with no path. The query is dropped. Any other form comes
// back as it is, for ParsePath to reject.
func TargetPath(target string) string {
	if i := strings.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	if strings.HasPrefix(target, "/") {
		return target
	}
	scheme, rest, ok := strings.Cut(target, "://")
	if !ok || !isScheme(scheme) {
		return target
	}
	authority, path, hasPath := strings.Cut(rest, "/")
	if authority == "" {
		return target // http::Uri requires an authority after a scheme
	}
	if !hasPath {
		return "/"
	}
	return "/" + path
}

// isScheme reports whether s is a scheme as http::Uri takes one: up to 64
// letters, digits, '+', '-' or '.'.
func isScheme(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '+', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// ParsePath validates an origin-form path exactly as the legacy service's
// routes do: no percent-decoding, no empty or extra segments (one trailing
// '/' is allowed, as in warp), decimal u64 parameters as Rust's
// u64::from_str takes them (an optional '+', no other sign, no spaces, no
// overflow), and 64 hex digits for a key (the node's HashValue parser takes
// either case; Path sends lowercase). The query string, if any, must
// already be removed.
func ParsePath(path string) (Request, error) {
	rest, ok := strings.CutPrefix(path, "/")
	if !ok {
		return Request{}, fmt.Errorf("%w: %q does not start with /", ErrBadPath, path)
	}
	name, rest, hasArgs := strings.Cut(rest, "/")
	// warp (src/route.rs, Route::set_unmatched_path) lets each matched
	// segment also consume the '/' after it, so path::end() accepts
	// "/db_state/" and "/transactions/1/2/". A second '/' leaves "/" for
	// end() to reject, and an empty segment fails param(): one only.
	if hasArgs && rest == "" {
		hasArgs = false // "/db_state/"
	} else if hasArgs {
		rest = strings.TrimSuffix(rest, "/")
	}
	var req Request
	found := false
	for i, spec := range endpointSpec {
		if spec.name == name {
			req.Endpoint, found = Endpoint(i), true
			break
		}
	}
	if !found {
		return Request{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	spec := endpointSpec[req.Endpoint]
	want := spec.params
	if spec.key {
		want++
	}
	if want == 0 {
		if hasArgs {
			return Request{}, fmt.Errorf("%w: %s takes no parameters", ErrBadPath, name)
		}
		return req, nil
	}
	if !hasArgs {
		return Request{}, fmt.Errorf("%w: %s takes %d parameters", ErrBadPath, name, want)
	}
	var segs [4]string
	n := 0
	for seg := range strings.SplitSeq(rest, "/") {
		if n == want {
			return Request{}, fmt.Errorf("%w: %s takes %d parameters", ErrBadPath, name, want)
		}
		segs[n] = seg
		n++
	}
	if n != want {
		return Request{}, fmt.Errorf("%w: %s takes %d parameters", ErrBadPath, name, want)
	}
	for i := range spec.params {
		v, err := parseU64(segs[i])
		if err != nil {
			return Request{}, fmt.Errorf("%w: %s parameter %d: %v", ErrBadPath, name, i+1, err)
		}
		req.Args[i] = v
	}
	if spec.key {
		k := segs[spec.params]
		if len(k) != 64 {
			return Request{}, fmt.Errorf("%w: %s key must be 64 hex digits", ErrBadPath, name)
		}
		if _, err := hex.Decode(req.Key[:], []byte(k)); err != nil {
			return Request{}, fmt.Errorf("%w: %s key must be 64 hex digits", ErrBadPath, name)
		}
	}
	return req, nil
}

// parseU64 parses a decimal u64 as Rust's u64::from_str does.
func parseU64(s string) (uint64, error) {
	digits := strings.TrimPrefix(s, "+")
	if digits == "" {
		return 0, errors.New("empty number")
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q overflows u64", s)
	}
	return v, nil
}

// Path returns the request's canonical path, as sent upstream.
func (r Request) Path() string {
	spec := endpointSpec[r.Endpoint]
	b := make([]byte, 0, 96)
	b = append(b, '/')
	b = append(b, spec.name...)
	for i := range spec.params {
		b = append(b, '/')
		b = strconv.AppendUint(b, r.Args[i], 10)
	}
	if spec.key {
		b = append(b, '/')
		b = hex.AppendEncode(b, r.Key[:])
	}
	return string(b)
}

// DBStateValue is the node's Option<DbState> as /db_state returns it.
type DBStateValue struct {
	Epoch            uint64 // E: the epoch of the latest ledger info
	CommittedVersion uint64 // C: the latest committed (certified) version
}

// ErrBadDBState: a /db_state body is neither the 17-byte nor the older 25-byte
// form, or says the database is empty.
var ErrBadDBState = errors.New("upstream: bad db_state body")

// ParseDBState decodes a /db_state body: BCS Option<DbState>, 00 for none,
// or 01 + epoch u64 LE + committed_version u64 LE (+ a third u64 on older nodes).
func ParseDBState(b []byte) (DBStateValue, error) {
	if len(b) == 1 && b[0] == 0 {
		return DBStateValue{}, fmt.Errorf("%w: the node has no state yet", ErrBadDBState)
	}
	if (len(b) != 17 && len(b) != 25) || b[0] != 1 {
		return DBStateValue{}, fmt.Errorf("%w: %d bytes", ErrBadDBState, len(b))
	}
	le := func(p []byte) uint64 {
		return uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
			uint64(p[4])<<32 | uint64(p[5])<<40 | uint64(p[6])<<48 | uint64(p[7])<<56
	}
	return DBStateValue{Epoch: le(b[1:9]), CommittedVersion: le(b[9:17])}, nil
}

// Bounds is how many records a complete response has: Min <= n <= Max.
type Bounds struct{ Min, Max uint64 }

// Exact returns Bounds{n, n}.
func Exact(n uint64) Bounds { return Bounds{n, n} }

// Contains reports whether n records make a complete response.
func (b Bounds) Contains(n uint64) bool { return b.Min <= n && n <= b.Max }

// NeedsItemCount reports whether ExpectedRecords needs /state_item_count for
// the request's version (state snapshots and chunks do).
func (r Request) NeedsItemCount() bool {
	return r.Endpoint == StateSnapshot || r.Endpoint == StateSnapshotChunk
}

// ExpectedRecords returns how many records a complete response to r has,
// following the legacy service's semantics. itemCount is /state_item_count
// for r.Args[0]; it is used only when NeedsItemCount is true.
func (r Request) ExpectedRecords(db DBStateValue, itemCount uint64) Bounds {
	a := r.Args
	switch r.Endpoint {
	case Transactions:
		s, n := a[0], a[1]
		if n == 0 {
			return Exact(0)
		}
		if s+n-1 >= s && s+n-1 <= db.CommittedVersion { // no overflow, within C
			return Exact(n)
		}
		// Past C the node may end short; only the committed part is certain.
		return Bounds{min(n, satSub(db.CommittedVersion+1, s)), n}
	case EpochEndingLedgerInfos:
		s, e := a[0], a[1]
		if s >= e {
			return Exact(0)
		}
		if e <= db.Epoch {
			return Exact(e - s)
		}
		// The open epoch may just have ended.
		return Bounds{satSub(db.Epoch, s), min(e-s, satSub(db.Epoch+1, s))}
	case StateSnapshot:
		return Exact(itemCount)
	case StateSnapshotChunk:
		return Exact(min(a[2], satSub(itemCount, a[1])))
	}
	return Exact(0)
}

func satSub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// Continuation returns the request that yields exactly the records of r after
// its first k, so that a broken stream can be resumed after k complete
// records. ok is false where the protocol allows no exact continuation: small
// endpoints, and transactions past the committed version.
func (r Request) Continuation(k uint64, db DBStateValue, itemCount uint64) (next Request, ok bool) {
	next = r
	a := r.Args
	switch r.Endpoint {
	case Transactions:
		s, n := a[0], a[1]
		if k > n || s+k < s || s+k > db.CommittedVersion {
			return r, false
		}
		next.Args[0], next.Args[1] = s+k, n-k
	case EpochEndingLedgerInfos:
		if a[0]+k < a[0] {
			return r, false
		}
		next.Args[0] = a[0] + k
	case StateSnapshot:
		if k > itemCount {
			return r, false
		}
		next.Endpoint = StateSnapshotChunk
		next.Args = [3]uint64{a[0], k, itemCount - k}
	case StateSnapshotChunk:
		if k > a[2] || a[1]+k < a[1] {
			return r, false
		}
		next.Args[1], next.Args[2] = a[1]+k, a[2]-k
	default:
		return r, false
	}
	return next, true
}
