package types

import (
	"bytes"
	"errors"

	"github.com/backseal/backseal/aptos/bcs"
)

// StateKeyKind is the variant index of a StateKey in BCS.
type StateKeyKind uint32

// StateKey variants as serialized (StateKeyInner, serde-renamed StateKey).
const (
	StateKeyAccessPath StateKeyKind = iota
	StateKeyTableItem
	StateKeyRaw
)

// StateKey names one slot of the global state. AccessPath uses Address
// and Path (the BCS of an access_path::Path: Code, Resource or
// ResourceGroup, checked on decode as the Rust deserializer does);
// TableItem uses Address (the table handle) and Key; Raw uses Key.
//
// Rust: types/src/state_store/state_key/inner.rs, StateKeyInner;
// types/src/access_path.rs, AccessPath and Path.
type StateKey struct {
	Kind    StateKeyKind
	Address Address
	Path    []byte
	Key     []byte
}

// Decode reads a StateKey.
func (k *StateKey) Decode(r *bcs.Reader) {
	v := r.Variant()
	k.Kind = StateKeyKind(v)
	switch k.Kind {
	case StateKeyAccessPath:
		k.Address = readAddress(r)
		k.Path = readBytes(r)
		if r.Err() == nil {
			checkPath(r, k.Path)
		}
	case StateKeyTableItem:
		k.Address = readAddress(r)
		k.Key = readBytes(r)
	case StateKeyRaw:
		k.Key = readBytes(r)
	default:
		r.Unknown("StateKey", v)
	}
}

// checkPath fails r unless path is a whole BCS access_path::Path:
// 0 Code(ModuleId), 1 Resource(StructTag), 2 ResourceGroup(StructTag).
func checkPath(r *bcs.Reader, path []byte) {
	p := bcs.NewReader(path)
	switch v := p.Variant(); v {
	case 0:
		p.Fixed(AddressLength)
		readIdentifier(p)
	case 1, 2:
		skipStructTag(p)
	default:
		p.Unknown("Path", v)
	}
	if err := p.Done(); err != nil {
		var cause error = err
		if e := (*bcs.Error)(nil); errors.As(err, &e) {
			cause = e.Cause
		}
		r.Fail(cause)
	}
}

// Encode writes a StateKey.
func (k *StateKey) Encode(w *bcs.Writer) {
	w.Variant(uint32(k.Kind))
	switch k.Kind {
	case StateKeyAccessPath:
		writeAddress(w, k.Address)
		w.Bytes(k.Path)
	case StateKeyTableItem:
		writeAddress(w, k.Address)
		w.Bytes(k.Key)
	case StateKeyRaw:
		w.Bytes(k.Key)
	}
}

// StateValueMetadata is the deposit a slot holds and when it was created.
// V0 has one deposit (SlotDeposit here); V1 splits slot and bytes deposits.
//
// Rust: types/src/state_store/state_value.rs, PersistedStateValueMetadata
// (serde-renamed StateValueMetadata).
type StateValueMetadata struct {
	Version           uint32 // 0 or 1
	SlotDeposit       uint64
	BytesDeposit      uint64 // V1 only
	CreationTimeUsecs uint64
}

// Decode reads a StateValueMetadata.
func (m *StateValueMetadata) Decode(r *bcs.Reader) {
	m.Version = r.Variant()
	switch m.Version {
	case 0:
		m.SlotDeposit = r.U64()
		m.CreationTimeUsecs = r.U64()
	case 1:
		m.SlotDeposit = r.U64()
		m.BytesDeposit = r.U64()
		m.CreationTimeUsecs = r.U64()
	default:
		r.Unknown("StateValueMetadata", m.Version)
	}
}

// Encode writes a StateValueMetadata.
func (m *StateValueMetadata) Encode(w *bcs.Writer) {
	w.Variant(m.Version)
	w.U64(m.SlotDeposit)
	if m.Version == 1 {
		w.U64(m.BytesDeposit)
	}
	w.U64(m.CreationTimeUsecs)
}

// WriteOpKind is the variant index of a WriteOp.
type WriteOpKind uint32

// WriteOp variants (aptos.yaml).
const (
	WriteOpCreation WriteOpKind = iota
	WriteOpModification
	WriteOpDeletion
	WriteOpCreationWithMetadata
	WriteOpModificationWithMetadata
	WriteOpDeletionWithMetadata
)

// WriteOp is what a transaction did to one state slot. Data is set for
// creations and modifications, Metadata for the WithMetadata kinds.
//
// Rust: types/src/write_set.rs, WriteOp (serialized in the persisted form
// aptos.yaml records: six variants, the last three with StateValueMetadata).
type WriteOp struct {
	Kind     WriteOpKind
	Data     []byte
	Metadata StateValueMetadata
}

// HasData reports whether the op carries a value.
func (o *WriteOp) HasData() bool {
	switch o.Kind {
	case WriteOpCreation, WriteOpModification, WriteOpCreationWithMetadata, WriteOpModificationWithMetadata:
		return true
	}
	return false
}

// HasMetadata reports whether the op carries a StateValueMetadata.
func (o *WriteOp) HasMetadata() bool { return o.Kind >= WriteOpCreationWithMetadata }

// Decode reads a WriteOp.
func (o *WriteOp) Decode(r *bcs.Reader) {
	v := r.Variant()
	o.Kind = WriteOpKind(v)
	if o.Kind > WriteOpDeletionWithMetadata {
		r.Unknown("WriteOp", v)
		return
	}
	if o.HasData() {
		o.Data = readBytes(r)
	}
	if o.HasMetadata() {
		o.Metadata.Decode(r)
	}
}

// Encode writes a WriteOp.
func (o *WriteOp) Encode(w *bcs.Writer) {
	w.Variant(uint32(o.Kind))
	if o.HasData() {
		w.Bytes(o.Data)
	}
	if o.HasMetadata() {
		o.Metadata.Encode(w)
	}
}

// WriteSetEntry is one (StateKey, WriteOp) of a WriteSet.
type WriteSetEntry struct {
	Key StateKey
	Op  WriteOp
}

// WriteSet is a transaction's writes: WriteSet::V0 of a WriteSetMut, a
// BTreeMap<StateKey, WriteOp> whose keys BCS orders by their encoded bytes.
// Decode refuses keys that are not strictly increasing, as the Rust bcs
// crate does; Encode writes Entries in the order given.
//
// Rust: types/src/write_set.rs, WriteSet (serialized as SerdeWriteSet::V0),
// WriteSetV0, WriteSetMut.
type WriteSet struct {
	Entries []WriteSetEntry
}

// minWriteSetEntry is the fewest bytes an entry takes: a Raw key of no
// bytes (2) and a Deletion (1).
const minWriteSetEntry = 3

// Decode reads a WriteSet.
func (s *WriteSet) Decode(r *bcs.Reader) {
	s.Entries = walkWriteSet(r, s.Entries[:0], true)
}

// walkWriteSet reads a WriteSet, appending its entries to dst when keep.
func walkWriteSet(r *bcs.Reader, dst []WriteSetEntry, keep bool) []WriteSetEntry {
	if v := r.Variant(); v != 0 {
		r.Unknown("WriteSet", v)
		return dst
	}
	n := r.Len(minWriteSetEntry)
	if keep && n > 0 && cap(dst) < n {
		dst = make([]WriteSetEntry, 0, n)
	}
	var prev []byte
	for i := 0; i < n && r.Err() == nil; i++ {
		var e WriteSetEntry
		from := r.Offset()
		e.Key.Decode(r)
		key := r.Raw(from)
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			r.Fail(errMapOrder)
			break
		}
		prev = key
		e.Op.Decode(r)
		if keep {
			dst = append(dst, e)
		}
	}
	return dst
}

// Encode writes a WriteSet.
func (s *WriteSet) Encode(w *bcs.Writer) {
	w.Variant(0)
	w.Len(len(s.Entries))
	for i := range s.Entries {
		s.Entries[i].Key.Encode(w)
		s.Entries[i].Op.Encode(w)
	}
}

// DecodeWriteSet decodes a whole BCS WriteSet.
func DecodeWriteSet(b []byte) (WriteSet, error) {
	var s WriteSet
	err := decodeWhole(b, s.Decode)
	return s, err
}

// StateValue is a slot's value as serialized: PersistedStateValue, V0 of
// bare bytes or WithMetadata.
//
// Rust: types/src/state_store/state_value.rs, PersistedStateValue
// (serde-renamed StateValue; StateValue serializes through it).
type StateValue struct {
	WithMetadata bool // variant 1
	Data         []byte
	Metadata     StateValueMetadata
}

// Decode reads a StateValue.
func (v *StateValue) Decode(r *bcs.Reader) {
	switch k := r.Variant(); k {
	case 0:
		v.Data = readBytes(r)
	case 1:
		v.WithMetadata = true
		v.Data = readBytes(r)
		v.Metadata.Decode(r)
	default:
		r.Unknown("StateValue", k)
	}
}

// Encode writes a StateValue.
func (v *StateValue) Encode(w *bcs.Writer) {
	if !v.WithMetadata {
		w.Variant(0)
		w.Bytes(v.Data)
		return
	}
	w.Variant(1)
	w.Bytes(v.Data)
	v.Metadata.Encode(w)
}

// DecodeStateKey decodes a whole BCS StateKey.
func DecodeStateKey(b []byte) (StateKey, error) {
	var k StateKey
	err := decodeWhole(b, k.Decode)
	return k, err
}

// DecodeStateValue decodes a whole BCS StateValue.
func DecodeStateValue(b []byte) (StateValue, error) {
	var v StateValue
	err := decodeWhole(b, v.Decode)
	return v, err
}
