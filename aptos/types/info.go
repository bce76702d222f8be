package types

import (
	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

// TransactionInfo is what the transaction accumulator commits to for one
// transaction: its hash, its effects' hashes and its status. It is the
// enum's only variant, V0.
//
// Rust: types/src/transaction/mod.rs, TransactionInfo and TransactionInfoV0
// (the last field was state_cemetery_hash before it became
// auxiliary_info_hash; both are Option<HashValue>, so the bytes agree).
type TransactionInfo struct {
	GasUsed             uint64
	Status              ExecutionStatus
	TransactionHash     hash.Value
	EventRootHash       hash.Value
	StateChangeHash     hash.Value
	StateCheckpointHash *hash.Value
	AuxiliaryInfoHash   *hash.Value
}

// Decode reads a TransactionInfo.
func (t *TransactionInfo) Decode(r *bcs.Reader) {
	if v := r.Variant(); v != 0 {
		r.Unknown("TransactionInfo", v)
		return
	}
	t.GasUsed = r.U64()
	t.Status.Decode(r)
	t.TransactionHash = readHash(r)
	t.EventRootHash = readHash(r)
	t.StateChangeHash = readHash(r)
	t.StateCheckpointHash = readOptionHash(r)
	t.AuxiliaryInfoHash = readOptionHash(r)
}

// Encode writes a TransactionInfo.
func (t *TransactionInfo) Encode(w *bcs.Writer) {
	w.Variant(0)
	w.U64(t.GasUsed)
	t.Status.Encode(w)
	writeHash(w, t.TransactionHash)
	writeHash(w, t.EventRootHash)
	writeHash(w, t.StateChangeHash)
	writeOptionHash(w, t.StateCheckpointHash)
	writeOptionHash(w, t.AuxiliaryInfoHash)
}

// DecodeTransactionInfo decodes a whole BCS TransactionInfo.
func DecodeTransactionInfo(b []byte) (TransactionInfo, error) {
	var t TransactionInfo
	err := decodeWhole(b, t.Decode)
	return t, err
}

// ExecutionStatusKind is the variant index of an ExecutionStatus.
type ExecutionStatusKind uint32

// ExecutionStatus variants (types/src/transaction/mod.rs).
const (
	StatusSuccess ExecutionStatusKind = iota
	StatusOutOfGas
	StatusMoveAbort
	StatusExecutionFailure
	StatusMiscellaneousError
)

// ExecutionStatus is how a kept transaction ended. MoveAbort uses
// Location, Code and AbortInfo; ExecutionFailure uses Location, Function
// and CodeOffset; MiscellaneousError uses StatusCode (a move-core
// StatusCode, serialized as u64), nil for None.
//
// Rust: types/src/transaction/mod.rs, ExecutionStatus and AbortInfo;
// third_party/move/move-core/types/src/vm_status.rs, AbortLocation and
// StatusCode (its Serialize writes a u64).
type ExecutionStatus struct {
	Kind       ExecutionStatusKind
	Location   AbortLocation
	Code       uint64
	AbortInfo  *AbortInfo
	Function   uint16
	CodeOffset uint16
	StatusCode *uint64
}

// AbortLocation is where a Move abort happened: a module, or a script
// when Module is nil.
type AbortLocation struct {
	Module *ModuleID
}

// AbortInfo is the abort code's name and description from the module's
// error map.
type AbortInfo struct {
	ReasonName  []byte // String
	Description []byte // String
}

func (l *AbortLocation) decode(r *bcs.Reader) {
	switch v := r.Variant(); v {
	case 0:
		l.Module = new(ModuleID)
		l.Module.Decode(r)
	case 1:
	default:
		r.Unknown("AbortLocation", v)
	}
}

func (l *AbortLocation) encode(w *bcs.Writer) {
	if l.Module == nil {
		w.Variant(1)
		return
	}
	w.Variant(0)
	l.Module.Encode(w)
}

// Decode reads an ExecutionStatus.
func (s *ExecutionStatus) Decode(r *bcs.Reader) {
	v := r.Variant()
	s.Kind = ExecutionStatusKind(v)
	switch s.Kind {
	case StatusSuccess, StatusOutOfGas:
	case StatusMoveAbort:
		s.Location.decode(r)
		s.Code = r.U64()
		if r.Option() {
			s.AbortInfo = &AbortInfo{ReasonName: readStr(r), Description: readStr(r)}
		}
	case StatusExecutionFailure:
		s.Location.decode(r)
		s.Function = r.U16()
		s.CodeOffset = r.U16()
	case StatusMiscellaneousError:
		if r.Option() {
			c := r.U64()
			s.StatusCode = &c
		}
	default:
		r.Unknown("ExecutionStatus", v)
	}
}

// Encode writes an ExecutionStatus.
func (s *ExecutionStatus) Encode(w *bcs.Writer) {
	w.Variant(uint32(s.Kind))
	switch s.Kind {
	case StatusMoveAbort:
		s.Location.encode(w)
		w.U64(s.Code)
		w.Option(s.AbortInfo != nil)
		if s.AbortInfo != nil {
			w.Bytes(s.AbortInfo.ReasonName)
			w.Bytes(s.AbortInfo.Description)
		}
	case StatusExecutionFailure:
		s.Location.encode(w)
		w.U16(s.Function)
		w.U16(s.CodeOffset)
	case StatusMiscellaneousError:
		w.Option(s.StatusCode != nil)
		if s.StatusCode != nil {
			w.U64(*s.StatusCode)
		}
	}
}

// PersistedAuxiliaryInfoKind is the variant index of a PersistedAuxiliaryInfo.
type PersistedAuxiliaryInfoKind uint32

// PersistedAuxiliaryInfo variants. TimestampNotYetAssignedV1 (2) is used
// for simulation and validation and is newer than some nodes.
const (
	AuxInfoNone PersistedAuxiliaryInfoKind = iota
	AuxInfoV1
	AuxInfoTimestampNotYetAssignedV1
)

// PersistedAuxiliaryInfo is per-transaction data kept beside the ledger:
// the transaction's index in its block. TransactionInfo commits to its hash
// unless it is None.
//
// Rust: types/src/transaction/mod.rs, PersistedAuxiliaryInfo.
type PersistedAuxiliaryInfo struct {
	Kind             PersistedAuxiliaryInfoKind
	TransactionIndex uint32
}

// Decode reads a PersistedAuxiliaryInfo.
func (a *PersistedAuxiliaryInfo) Decode(r *bcs.Reader) {
	v := r.Variant()
	a.Kind = PersistedAuxiliaryInfoKind(v)
	switch a.Kind {
	case AuxInfoNone:
	case AuxInfoV1, AuxInfoTimestampNotYetAssignedV1:
		a.TransactionIndex = r.U32()
	default:
		r.Unknown("PersistedAuxiliaryInfo", v)
	}
}

// Encode writes a PersistedAuxiliaryInfo.
func (a *PersistedAuxiliaryInfo) Encode(w *bcs.Writer) {
	w.Variant(uint32(a.Kind))
	if a.Kind != AuxInfoNone {
		w.U32(a.TransactionIndex)
	}
}
