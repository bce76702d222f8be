package types

import (
	"github.com/backseal/backseal/aptos/bcs"
)

// EventKey names a V1 event stream: the account and a creation number.
//
// Rust: types/src/event.rs, EventKey.
type EventKey struct {
	CreationNumber uint64
	AccountAddress Address
}

// ContractEvent is an event a transaction emitted. V1 events belong to an
// EventKey stream with a sequence number; V2 (module) events do not, and
// leave Key and SequenceNumber zero.
//
// Rust: types/src/contract_event.rs, ContractEvent, ContractEventV1, ContractEventV2.
type ContractEvent struct {
	Version        uint32 // 0 is V1, 1 is V2
	Key            EventKey
	SequenceNumber uint64
	TypeTag        TypeTag
	EventData      []byte
}

// Decode reads a ContractEvent.
func (e *ContractEvent) Decode(r *bcs.Reader) {
	e.Version = r.Variant()
	switch e.Version {
	case 0:
		e.Key.CreationNumber = r.U64()
		e.Key.AccountAddress = readAddress(r)
		e.SequenceNumber = r.U64()
	case 1:
	default:
		r.Unknown("ContractEvent", e.Version)
		return
	}
	e.TypeTag.Decode(r)
	e.EventData = readBytes(r)
}

// Encode writes a ContractEvent.
func (e *ContractEvent) Encode(w *bcs.Writer) {
	w.Variant(e.Version)
	if e.Version == 0 {
		w.U64(e.Key.CreationNumber)
		writeAddress(w, e.Key.AccountAddress)
		w.U64(e.SequenceNumber)
	}
	e.TypeTag.Encode(w)
	w.Bytes(e.EventData)
}

// DecodeContractEvent decodes a whole BCS ContractEvent.
func DecodeContractEvent(b []byte) (ContractEvent, error) {
	var e ContractEvent
	err := decodeWhole(b, e.Decode)
	return e, err
}

// minEvent is the fewest bytes a ContractEvent takes (V2 of a bool tag
// and no data).
const minEvent = 3

// readEvents reads a Vec<ContractEvent>, reusing dst's capacity.
func readEvents(r *bcs.Reader, dst []ContractEvent) []ContractEvent {
	n := r.Len(minEvent)
	if n == 0 {
		return dst[:0]
	}
	if cap(dst) < n {
		dst = make([]ContractEvent, n)
	}
	dst = dst[:n]
	for i := range dst {
		dst[i] = ContractEvent{}
		dst[i].Decode(r)
	}
	return dst
}

// skipEvent checks a ContractEvent without building it, for the record
// decoder, which keeps only the event's bytes.
func skipEvent(r *bcs.Reader) {
	switch v := r.Variant(); v {
	case 0:
		r.Fixed(8 + AddressLength + 8)
	case 1:
	default:
		r.Unknown("ContractEvent", v)
		return
	}
	skipTypeTag(r)
	r.Bytes()
}

// skipTypeTag checks a TypeTag without allocating.
func skipTypeTag(r *bcs.Reader) {
	r.Enter()
	defer r.Leave()
	v := r.Variant()
	if r.Err() != nil {
		return
	}
	switch TypeTagKind(v) {
	case TypeTagBool, TypeTagU8, TypeTagU64, TypeTagU128, TypeTagAddress, TypeTagSigner,
		TypeTagU16, TypeTagU32, TypeTagU256:
	case TypeTagVector:
		skipTypeTag(r)
	case TypeTagStruct:
		skipStructTag(r)
	case TypeTagFunction:
		skipTypeTags(r)
		skipTypeTags(r)
		r.U8()
	default:
		r.Unknown("TypeTag", v)
	}
}

func skipStructTag(r *bcs.Reader) {
	r.Fixed(AddressLength)
	readIdentifier(r)
	readIdentifier(r)
	skipTypeTags(r)
}

func skipTypeTags(r *bcs.Reader) {
	n := r.Len(minTypeTag)
	for i := 0; i < n && r.Err() == nil; i++ {
		skipTypeTag(r)
	}
}
