// Package content checks what a node's backup stream says against the
// chain's own commitments, while it streams: each record's hashes, the
// range against the accumulator or state root a proof gives, and the
// ledger info behind that root against the validators that signed it.
//
// A Stream takes the legacy payload bytes as they go to the client (length
// prefixes included, in order, each byte once), splits them into records
// and hands each whole record to the endpoint's checker. Memory is the
// checker's bounded state plus one record when a record spans writes.
// Proofs the stream does not carry are fetched from the node through a
// Source; which proof a verified stream rests on is in its Verified.
//
// Failures are *framing.StreamError with the content codes:
// content-mismatch (the record index and what differed), content-unknown-variant
// (a record this version cannot decode, refused rather than guessed) and
// content-unproven (no proof to check against).
package content

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
	"github.com/backseal/backseal/framing"
	"github.com/backseal/backseal/upstream"
)

// Source fetches the node's small values: proofs, /db_state.
type Source interface {
	Fetch(ctx context.Context, req upstream.Request) ([]byte, error)
}

// Verified is what a verified stream matched.
type Verified struct {
	Root    hash.Value // the commitment the records were checked against; zero when none could be (Proof says why)
	Proof   string     // which proof and trust it rests on, for people
	Records uint64     // records checked
}

// Meta is v as end frame metadata (docs/FRAMING.md).
func (v Verified) Meta() []framing.Meta {
	var meta []framing.Meta
	if v.Root != (hash.Value{}) {
		meta = append(meta, framing.Meta{Key: "content-root", Value: v.Root.String()})
	}
	return append(meta,
		framing.Meta{Key: "content-proof", Value: v.Proof},
		framing.Meta{Key: "content-records", Value: fmt.Sprint(v.Records)})
}

// checker verifies one endpoint's records.
type checker interface {
	// record checks record i; payload is borrowed for the call only.
	record(ctx context.Context, i uint64, payload []byte) error
	// finish checks what spans the whole response of n records.
	finish(ctx context.Context, n uint64) (Verified, error)
}

// Stream verifies one response's content as its bytes pass.
type Stream struct {
	ctx     context.Context
	chk     checker
	records uint64
	// The record being assembled: its length prefix, then its payload,
	// kept only when it spans writes.
	prefix    [upstream.PrefixSize]byte
	prefixLen int
	size      int
	partial   []byte
	maxRecord uint32
	err       error
}

// ErrNotVerifiable is returned by New for endpoints whose content has no
// commitment to check (the small values, checked by their own proofs).
var ErrNotVerifiable = errors.New("content: endpoint carries no records to verify")

// New returns the Stream verifying req's response, fetching proofs from
// src, trusting what trust trusts. ctx bounds those fetches.
func New(ctx context.Context, req upstream.Request, src Source, trust *Trust, maxRecord uint32) (*Stream, error) {
	var chk checker
	switch req.Endpoint {
	case upstream.Transactions:
		chk = newTransactionChecker(req, src, trust)
	case upstream.EpochEndingLedgerInfos:
		chk = newEpochChecker(req, src, trust)
	case upstream.StateSnapshot, upstream.StateSnapshotChunk:
		chk = newStateChecker(req, src, trust)
	default:
		return nil, ErrNotVerifiable
	}
	return &Stream{ctx: ctx, chk: chk, maxRecord: maxRecord}, nil
}

// Write takes the next payload bytes. After a failure it keeps returning it.
func (s *Stream) Write(p []byte) error {
	for len(p) > 0 && s.err == nil {
		if s.prefixLen < upstream.PrefixSize {
			n := copy(s.prefix[s.prefixLen:], p)
			s.prefixLen += n
			p = p[n:]
			if s.prefixLen < upstream.PrefixSize {
				return nil
			}
			size := binary.BigEndian.Uint32(s.prefix[:])
			if size > s.maxRecord {
				// The proxy refuses the record at its prefix; a client
				// reading a stream that carries one says so here.
				s.err = framing.Errorf(framing.CodeRecordTooLarge, "record %d claims %d bytes, limit %d", s.records, size, s.maxRecord)
				return s.err
			}
			s.size = int(size)
			s.partial = s.partial[:0]
			if s.size == 0 {
				s.complete(nil)
				continue
			}
		}
		need := s.size - len(s.partial)
		if len(s.partial) == 0 && len(p) >= need {
			s.complete(p[:need]) // whole in this write: no copy
			p = p[need:]
			continue
		}
		n := min(need, len(p))
		s.partial = append(s.partial, p[:n]...)
		p = p[n:]
		if len(s.partial) == s.size {
			s.complete(s.partial)
		}
	}
	return s.err
}

// complete checks one whole record and starts the next.
func (s *Stream) complete(payload []byte) {
	if err := s.chk.record(s.ctx, s.records, payload); err != nil {
		s.err = asOutcome(err, s.records)
		return
	}
	s.records++
	s.prefixLen = 0
	if cap(s.partial) > 1<<20 {
		s.partial = nil // a rare huge record's buffer is not kept for the rest
	}
	s.partial = s.partial[:0]
}

// Records returns how many records have been verified.
func (s *Stream) Records() uint64 { return s.records }

// Finish checks the range once the stream has ended cleanly on a record
// boundary, and returns what it was verified against.
func (s *Stream) Finish(ctx context.Context) (Verified, error) {
	if s.err != nil {
		return Verified{}, s.err
	}
	if s.prefixLen != 0 {
		return Verified{}, framing.Errorf(framing.CodeIncompleteRecord, "content: the stream ended inside record %d", s.records)
	}
	v, err := s.chk.finish(ctx, s.records)
	if err != nil {
		s.err = asOutcome(err, s.records)
		return Verified{}, s.err
	}
	v.Records = s.records
	return v, nil
}

// mismatch is a content-mismatch of record i (or of the range, i < 0).
func mismatch(i int64, format string, args ...any) *framing.StreamError {
	what := fmt.Sprintf(format, args...)
	if i < 0 {
		return framing.Errorf(framing.CodeContentMismatch, "content: %s", what)
	}
	return framing.Errorf(framing.CodeContentMismatch, "content: record %d: %s", i, what)
}

// unproven is a content-unproven outcome.
func unproven(format string, args ...any) *framing.StreamError {
	return framing.Errorf(framing.CodeContentUnproven, "content: "+format, args...)
}

// asOutcome gives a checker's error for record i its content code.
func asOutcome(err error, i uint64) *framing.StreamError {
	var se *framing.StreamError
	if errors.As(err, &se) {
		return se
	}
	return decodeFailure(err, fmt.Sprintf("record %d", i))
}

// decodeFailure names what did not decode: bytes that are not a record
// are a mismatch (the node sent something else), a variant this version
// has no decoder for is content-unknown-variant.
func decodeFailure(err error, what string) *framing.StreamError {
	var uv *bcs.UnknownVariantError
	if errors.As(err, &uv) {
		return &framing.StreamError{Code: framing.CodeContentUnknownVariant,
			Message: fmt.Sprintf("content: %s: %v", what, err), Err: err}
	}
	return &framing.StreamError{Code: framing.CodeContentMismatch,
		Message: fmt.Sprintf("content: %s does not decode: %v", what, err), Err: err}
}
