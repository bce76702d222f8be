package types

import (
	"errors"
	"fmt"

	"github.com/backseal/backseal/aptos/bcs"
)

// RecordFormat says which tuple a transaction backup record is.
type RecordFormat uint8

const (
	// RecordV0 is (Transaction, TransactionInfo, Vec<ContractEvent>,
	// WriteSet), written by nodes before persisted auxiliary info (2025).
	RecordV0 RecordFormat = iota
	// RecordV1 is (Transaction, PersistedAuxiliaryInfo, TransactionInfo,
	// Vec<ContractEvent>, WriteSet).
	RecordV1
)

func (f RecordFormat) String() string {
	switch f {
	case RecordV0:
		return "v0"
	case RecordV1:
		return "v1"
	}
	return fmt.Sprintf("RecordFormat(%d)", uint8(f))
}

// TransactionRecord is one record of a /transactions/{start}/{n} backup
// stream, split into its parts. The byte fields are the exact BCS spans of
// each part, borrowed from the payload passed to DecodeTransactionRecord,
// so hashes are computed over the bytes received; they are valid as long
// as the payload is. Every part is checked to be well-formed; the
// Transaction, the auxiliary info and the TransactionInfo are also decoded.
//
// Rust: storage/aptosdb/src/backup/backup_handler.rs (get_transaction_iter
// yields the tuple) and storage/backup/backup-cli/src/backup_types/
// transaction/restore.rs (LoadedChunk::load decodes it).
type TransactionRecord struct {
	Format RecordFormat

	TransactionBytes     []byte
	AuxiliaryInfoBytes   []byte // nil in RecordV0
	TransactionInfoBytes []byte
	EventBytes           [][]byte // one span per ContractEvent
	WriteSetBytes        []byte

	Transaction     Transaction
	AuxiliaryInfo   PersistedAuxiliaryInfo // AuxInfoNone in RecordV0
	TransactionInfo TransactionInfo
}

// ErrRecord wraps every DecodeTransactionRecord failure.
var ErrRecord = errors.New("types: transaction record does not decode")

// DecodeTransactionRecord splits a record's payload (without its 4-byte
// size prefix). It tries the 5-tuple, then the 4-tuple, each of which must
// consume the whole payload. On failure the error wraps ErrRecord and the
// *bcs.Error of the attempt that read further (its Cause an
// *bcs.UnknownVariantError where a variant is unknown), the 5-tuple's on a tie.
func DecodeTransactionRecord(payload []byte) (TransactionRecord, error) {
	var rec TransactionRecord
	err := DecodeTransactionRecordInto(&rec, payload)
	return rec, err
}

// DecodeTransactionRecordInto is DecodeTransactionRecord into rec, reusing
// its EventBytes capacity so a loop over records allocates little.
func DecodeTransactionRecordInto(rec *TransactionRecord, payload []byte) error {
	events := rec.EventBytes[:0]
	var r bcs.Reader
	r.Reset(payload)
	err1 := rec.decode(&r, RecordV1, events)
	if err1 == nil {
		return nil
	}
	r.Reset(payload)
	err0 := rec.decode(&r, RecordV0, rec.EventBytes[:0])
	if err0 == nil {
		return nil
	}
	// Report the attempt that read further: the other one went astray
	// early. On a tie, the 5-tuple, the format of current nodes.
	if offset(err0) > offset(err1) {
		return fmt.Errorf("%w: as %v: %w", ErrRecord, RecordV0, err0)
	}
	return fmt.Errorf("%w: as %v: %w", ErrRecord, RecordV1, err1)
}

func offset(err error) int {
	var e *bcs.Error
	if errors.As(err, &e) {
		return e.Offset
	}
	return -1
}

func (rec *TransactionRecord) decode(r *bcs.Reader, format RecordFormat, events [][]byte) error {
	*rec = TransactionRecord{Format: format, EventBytes: events}

	from := r.Offset()
	rec.Transaction.Decode(r)
	rec.TransactionBytes = r.Raw(from)

	if format == RecordV1 {
		from = r.Offset()
		rec.AuxiliaryInfo.Decode(r)
		rec.AuxiliaryInfoBytes = r.Raw(from)
	}

	from = r.Offset()
	rec.TransactionInfo.Decode(r)
	rec.TransactionInfoBytes = r.Raw(from)

	n := r.Len(minEvent)
	for i := 0; i < n && r.Err() == nil; i++ {
		from = r.Offset()
		skipEvent(r)
		rec.EventBytes = append(rec.EventBytes, r.Raw(from))
	}

	from = r.Offset()
	walkWriteSet(r, nil, false)
	rec.WriteSetBytes = r.Raw(from)
	return r.Done()
}

// Events decodes the record's events.
func (rec *TransactionRecord) Events() ([]ContractEvent, error) {
	events := make([]ContractEvent, len(rec.EventBytes))
	for i, b := range rec.EventBytes {
		if err := decodeWhole(b, events[i].Decode); err != nil {
			return nil, fmt.Errorf("types: event %d: %w", i, err)
		}
	}
	return events, nil
}

// WriteSet decodes the record's write set.
func (rec *TransactionRecord) WriteSet() (WriteSet, error) { return DecodeWriteSet(rec.WriteSetBytes) }

// TransactionRecordParts is what EncodeTransactionRecord writes: the
// decoded parts of a record, for a simulator building genuine records.
type TransactionRecordParts struct {
	Format          RecordFormat
	Transaction     Transaction
	AuxiliaryInfo   PersistedAuxiliaryInfo // written only for RecordV1
	TransactionInfo TransactionInfo
	Events          []ContractEvent
	WriteSet        WriteSet
}

// EncodeTransactionRecord writes a record's payload (without the 4-byte
// size prefix) in the tuple of p.Format.
func EncodeTransactionRecord(w *bcs.Writer, p *TransactionRecordParts) {
	p.Transaction.Encode(w)
	if p.Format == RecordV1 {
		p.AuxiliaryInfo.Encode(w)
	}
	p.TransactionInfo.Encode(w)
	w.Len(len(p.Events))
	for i := range p.Events {
		p.Events[i].Encode(w)
	}
	p.WriteSet.Encode(w)
}
