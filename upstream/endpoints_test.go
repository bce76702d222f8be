package upstream

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	key := strings.Repeat("ab", 32)
	tests := []struct {
		name  string
		path  string
		want  error // nil, ErrNotFound or ErrBadPath
		endp  Endpoint
		args  [3]uint64
		canon string
	}{
		{"db_state", "/db_state", nil, DBState, [3]uint64{}, "/db_state"},
		{"item count", "/state_item_count/42", nil, StateItemCount, [3]uint64{42}, ""},
		{"range proof", "/state_range_proof/7/" + key, nil, StateRangeProof, [3]uint64{7}, ""},
		{"root proof", "/state_root_proof/7", nil, StateRootProof, [3]uint64{7}, ""},
		{"txn proof", "/transaction_range_proof/1/2", nil, TransactionRangeProof, [3]uint64{1, 2}, ""},
		{"snapshot", "/state_snapshot/100", nil, StateSnapshot, [3]uint64{100}, ""},
		{"chunk", "/state_snapshot_chunk/100/5/10", nil, StateSnapshotChunk, [3]uint64{100, 5, 10}, ""},
		{"epochs", "/epoch_ending_ledger_infos/0/5", nil, EpochEndingLedgerInfos, [3]uint64{0, 5}, ""},
		{"transactions", "/transactions/0/18446744073709551615", nil, Transactions, [3]uint64{0, 1<<64 - 1}, ""},
		{"plus sign, as Rust parses", "/transactions/+5/010", nil, Transactions, [3]uint64{5, 10}, "/transactions/5/10"},
		{"unknown", "/nope", ErrNotFound, 0, [3]uint64{}, ""},
		{"unknown with args", "/nope/1/2", ErrNotFound, 0, [3]uint64{}, ""},
		{"root", "/", ErrNotFound, 0, [3]uint64{}, ""},
		{"no slash", "db_state", ErrBadPath, 0, [3]uint64{}, ""},
		{"extra on db_state", "/db_state/1", ErrBadPath, 0, [3]uint64{}, ""},
		{"trailing slash, as warp takes it", "/db_state/", nil, DBState, [3]uint64{}, "/db_state"},
		{"two trailing slashes", "/db_state//", ErrBadPath, 0, [3]uint64{}, ""},
		{"slash then segment", "/db_state//x", ErrBadPath, 0, [3]uint64{}, ""},
		{"empty first segment", "//db_state", ErrNotFound, 0, [3]uint64{}, ""},
		{"missing arg", "/transactions/1", ErrBadPath, 0, [3]uint64{}, ""},
		{"missing all args", "/transactions", ErrBadPath, 0, [3]uint64{}, ""},
		{"extra arg", "/transactions/1/2/3", ErrBadPath, 0, [3]uint64{}, ""},
		{"empty arg", "/transactions//2", ErrBadPath, 0, [3]uint64{}, ""},
		{"trailing slash after args, as warp takes it", "/transactions/1/2/", nil, Transactions, [3]uint64{1, 2}, "/transactions/1/2"},
		{"trailing slash after a key", "/state_range_proof/7/" + key + "/", nil, StateRangeProof, [3]uint64{7}, "/state_range_proof/7/" + key},
		{"two trailing slashes after args", "/transactions/1/2//", ErrBadPath, 0, [3]uint64{}, ""},
		{"trailing slash for a missing arg", "/transactions/1/", ErrBadPath, 0, [3]uint64{}, ""},
		{"only slashes for args", "/transactions//", ErrBadPath, 0, [3]uint64{}, ""},
		{"one slash for one arg", "/state_item_count/", ErrBadPath, 0, [3]uint64{}, ""},
		{"two slashes for one arg", "/state_item_count//", ErrBadPath, 0, [3]uint64{}, ""},
		{"trailing slash then extra", "/transactions/1/2/3/", ErrBadPath, 0, [3]uint64{}, ""},
		{"overflow", "/transactions/18446744073709551616/1", ErrBadPath, 0, [3]uint64{}, ""},
		{"negative", "/transactions/-1/1", ErrBadPath, 0, [3]uint64{}, ""},
		{"lone plus", "/transactions/+/1", ErrBadPath, 0, [3]uint64{}, ""},
		{"double plus", "/transactions/++1/1", ErrBadPath, 0, [3]uint64{}, ""},
		{"space", "/transactions/%201/1", ErrBadPath, 0, [3]uint64{}, ""},
		{"hex number", "/transactions/0x10/1", ErrBadPath, 0, [3]uint64{}, ""},
		{"encoded slash", "/transactions/1%2F2", ErrBadPath, 0, [3]uint64{}, ""},
		{"dot segment", "/transactions/../db_state", ErrBadPath, 0, [3]uint64{}, ""},
		{"short key", "/state_range_proof/7/abcd", ErrBadPath, 0, [3]uint64{}, ""},
		{"0x key", "/state_range_proof/7/0x" + key[2:], ErrBadPath, 0, [3]uint64{}, ""},
		{"upper key, as the node's parser takes it", "/state_range_proof/7/" + strings.ToUpper(key), nil, StateRangeProof, [3]uint64{7}, "/state_range_proof/7/" + key},
		{"non-hex key", "/state_range_proof/7/" + strings.Repeat("zz", 32), ErrBadPath, 0, [3]uint64{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePath(tt.path)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("ParsePath(%q) err = %v, want %v", tt.path, err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tt.path, err)
			}
			if got.Endpoint != tt.endp || got.Args != tt.args {
				t.Fatalf("ParsePath(%q) = %v %v, want %v %v", tt.path, got.Endpoint, got.Args, tt.endp, tt.args)
			}
			canon := tt.canon
			if canon == "" {
				canon = tt.path
			}
			if got.Path() != canon {
				t.Fatalf("Path() = %q, want %q", got.Path(), canon)
			}
		})
	}
}

func TestTargetPath(t *testing.T) {
	tests := []struct{ name, target, want string }{
		{"origin-form", "/db_state", "/db_state"},
		{"origin-form with query", "/transactions/1/2?x=1", "/transactions/1/2"},
		{"absolute-form", "http://node:6186/transactions/1/2", "/transactions/1/2"},
		{"absolute-form with query", "http://node/db_state?x=/y", "/db_state"},
		{"scheme in any case", "HTTPS://node/db_state", "/db_state"},
		{"other scheme", "git+ssh.x-1://node/db_state", "/db_state"},
		{"userinfo and IPv6", "http://u:p@[::1]:6186/db_state", "/db_state"},
		{"no path", "http://node", "/"},
		{"no path, a query", "http://node?/db_state", "/"},
		{"raw segments kept", "http://node/transactions/1%2F2//", "/transactions/1%2F2//"},
		{"no authority", "http:///db_state", "http:///db_state"},
		{"bad scheme char", "ht_tp://node/db_state", "ht_tp://node/db_state"},
		{"empty scheme", "://node/db_state", "://node/db_state"},
		{"authority-form", "node:6186", "node:6186"},
		{"asterisk", "*", "*"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TargetPath(tt.target); got != tt.want {
				t.Fatalf("TargetPath(%q) = %q, want %q", tt.target, got, tt.want)
			}
		})
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/db_state", "/transactions/1/2", "/state_range_proof/1/" + strings.Repeat("0", 64), "/x//", "/state_snapshot_chunk/+1/2/3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		req, err := ParsePath(path)
		if err != nil {
			if !errors.Is(err, ErrBadPath) && !errors.Is(err, ErrNotFound) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		// A valid request's canonical path parses back to the same request.
		again, err := ParsePath(req.Path())
		if err != nil || again != req {
			t.Fatalf("canonical %q of %q did not round-trip: %v %v", req.Path(), path, again, err)
		}
	})
}

func TestParseDBState(t *testing.T) {
	cur := []byte{1, 5, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x27, 0, 0, 0, 0, 0, 0}
	old := append(append([]byte{}, cur...), make([]byte, 8)...)
	for _, b := range [][]byte{cur, old} {
		got, err := ParseDBState(b)
		if err != nil || got != (DBStateValue{Epoch: 5, CommittedVersion: 10000}) {
			t.Fatalf("ParseDBState(%d bytes) = %v, %v", len(b), got, err)
		}
	}
	for _, b := range [][]byte{{0}, {}, cur[:16], append([]byte{2}, cur[1:]...)} {
		if _, err := ParseDBState(b); !errors.Is(err, ErrBadDBState) {
			t.Fatalf("ParseDBState(%x) err = %v, want ErrBadDBState", b, err)
		}
	}
}

func TestExpectedRecords(t *testing.T) {
	db := DBStateValue{Epoch: 10, CommittedVersion: 999}
	req := func(e Endpoint, a ...uint64) Request {
		r := Request{Endpoint: e}
		copy(r.Args[:], a)
		return r
	}
	tests := []struct {
		name  string
		req   Request
		count uint64
		want  Bounds
	}{
		{"txns within C", req(Transactions, 0, 1000), 0, Exact(1000)},
		{"txns n=0", req(Transactions, 5, 0), 0, Exact(0)},
		{"txns past C", req(Transactions, 990, 20), 0, Bounds{10, 20}},
		{"txns entirely past C", req(Transactions, 2000, 5), 0, Bounds{0, 5}},
		{"txns overflow", req(Transactions, 10, 1<<64-1), 0, Bounds{990, 1<<64 - 1}},
		{"epochs within E", req(EpochEndingLedgerInfos, 2, 10), 0, Exact(8)},
		{"epochs empty", req(EpochEndingLedgerInfos, 5, 5), 0, Exact(0)},
		{"epochs past E", req(EpochEndingLedgerInfos, 2, 100), 0, Bounds{8, 9}},
		{"epochs start past E", req(EpochEndingLedgerInfos, 12, 100), 0, Bounds{0, 0}},
		{"snapshot", req(StateSnapshot, 500), 1234, Exact(1234)},
		{"chunk", req(StateSnapshotChunk, 500, 1200, 100), 1234, Exact(34)},
		{"chunk past end", req(StateSnapshotChunk, 500, 2000, 100), 1234, Exact(0)},
		{"chunk inside", req(StateSnapshotChunk, 500, 0, 100), 1234, Exact(100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.req.ExpectedRecords(db, tt.count); got != tt.want {
				t.Fatalf("ExpectedRecords = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestContinuation(t *testing.T) {
	db := DBStateValue{Epoch: 10, CommittedVersion: 999}
	tests := []struct {
		name string
		path string
		k    uint64
		want string // "" when no exact continuation exists
	}{
		{"transactions", "/transactions/100/50", 20, "/transactions/120/30"},
		{"transactions past C", "/transactions/990/50", 20, ""},
		{"epochs", "/epoch_ending_ledger_infos/2/9", 3, "/epoch_ending_ledger_infos/5/9"},
		{"snapshot", "/state_snapshot/500", 7, "/state_snapshot_chunk/500/7/1227"},
		{"chunk", "/state_snapshot_chunk/500/100/50", 7, "/state_snapshot_chunk/500/107/43"},
		{"small endpoint", "/db_state", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParsePath(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			next, ok := r.Continuation(tt.k, db, 1234)
			if tt.want == "" {
				if ok {
					t.Fatalf("Continuation = %s, want none", next.Path())
				}
				return
			}
			if !ok || next.Path() != tt.want {
				t.Fatalf("Continuation = %s (%v), want %s", next.Path(), ok, tt.want)
			}
		})
	}
}
