package types

import (
	"github.com/backseal/backseal/aptos/bcs"
)

// TypeTagKind is the variant index of a TypeTag.
type TypeTagKind uint32

// TypeTag variants, in the order of aptos.yaml (u16, u32 and u256 were
// appended after struct, Function last).
const (
	TypeTagBool TypeTagKind = iota
	TypeTagU8
	TypeTagU64
	TypeTagU128
	TypeTagAddress
	TypeTagSigner
	TypeTagVector
	TypeTagStruct
	TypeTagU16
	TypeTagU32
	TypeTagU256
	TypeTagFunction
)

// TypeTag is a Move type. Vector, Struct and Function are set only for
// their kinds. Decoding nests through bcs.Reader.Enter, so a deep tag fails
// at bcs.MaxContainerDepth instead of exhausting the stack.
//
// Rust: third_party/move/move-core/types/src/language_storage.rs, TypeTag.
type TypeTag struct {
	Kind     TypeTagKind
	Vector   *TypeTag     // TypeTagVector: the element type
	Struct   *StructTag   // TypeTagStruct
	Function *FunctionTag // TypeTagFunction
}

// StructTag names a Move struct type with its type arguments.
//
// Rust: third_party/move/move-core/types/src/language_storage.rs, StructTag.
type StructTag struct {
	Address  Address
	Module   Identifier
	Name     Identifier
	TypeArgs []TypeTag
}

// FunctionTag is the type of a Move function value.
//
// Rust: third_party/move/move-core/types/src/language_storage.rs, FunctionTag.
type FunctionTag struct {
	Args      []TypeTag
	Results   []TypeTag
	Abilities uint8 // AbilitySet, a newtype over u8
}

// ModuleID names a Move module.
//
// Rust: third_party/move/move-core/types/src/language_storage.rs, ModuleId.
type ModuleID struct {
	Address Address
	Name    Identifier
}

// Decode reads a TypeTag.
func (t *TypeTag) Decode(r *bcs.Reader) {
	r.Enter()
	defer r.Leave()
	v := r.Variant()
	if r.Err() != nil {
		return
	}
	t.Kind = TypeTagKind(v)
	switch t.Kind {
	case TypeTagBool, TypeTagU8, TypeTagU64, TypeTagU128, TypeTagAddress, TypeTagSigner,
		TypeTagU16, TypeTagU32, TypeTagU256:
	case TypeTagVector:
		t.Vector = new(TypeTag)
		t.Vector.Decode(r)
	case TypeTagStruct:
		t.Struct = new(StructTag)
		t.Struct.Decode(r)
	case TypeTagFunction:
		t.Function = new(FunctionTag)
		t.Function.Decode(r)
	default:
		r.Unknown("TypeTag", v)
	}
}

// Encode writes a TypeTag.
func (t *TypeTag) Encode(w *bcs.Writer) {
	w.Variant(uint32(t.Kind))
	switch t.Kind {
	case TypeTagVector:
		t.Vector.Encode(w)
	case TypeTagStruct:
		t.Struct.Encode(w)
	case TypeTagFunction:
		t.Function.Encode(w)
	}
}

// minTypeTag is the fewest bytes a TypeTag takes: its variant index.
const minTypeTag = 1

func readTypeTags(r *bcs.Reader) []TypeTag {
	n := r.Len(minTypeTag)
	if n == 0 {
		return nil
	}
	tags := make([]TypeTag, n)
	for i := range tags {
		tags[i].Decode(r)
	}
	return tags
}

func writeTypeTags(w *bcs.Writer, tags []TypeTag) {
	w.Len(len(tags))
	for i := range tags {
		tags[i].Encode(w)
	}
}

// Decode reads a StructTag.
func (s *StructTag) Decode(r *bcs.Reader) {
	s.Address = readAddress(r)
	s.Module = readIdentifier(r)
	s.Name = readIdentifier(r)
	s.TypeArgs = readTypeTags(r)
}

// Encode writes a StructTag.
func (s *StructTag) Encode(w *bcs.Writer) {
	writeAddress(w, s.Address)
	writeIdentifier(w, s.Module)
	writeIdentifier(w, s.Name)
	writeTypeTags(w, s.TypeArgs)
}

// Decode reads a FunctionTag.
func (f *FunctionTag) Decode(r *bcs.Reader) {
	f.Args = readTypeTags(r)
	f.Results = readTypeTags(r)
	f.Abilities = r.U8()
}

// Encode writes a FunctionTag.
func (f *FunctionTag) Encode(w *bcs.Writer) {
	writeTypeTags(w, f.Args)
	writeTypeTags(w, f.Results)
	w.U8(f.Abilities)
}

// Decode reads a ModuleId.
func (m *ModuleID) Decode(r *bcs.Reader) {
	m.Address = readAddress(r)
	m.Name = readIdentifier(r)
}

// Encode writes a ModuleId.
func (m *ModuleID) Encode(w *bcs.Writer) {
	writeAddress(w, m.Address)
	writeIdentifier(w, m.Name)
}

// DecodeTypeTag decodes a whole BCS TypeTag.
func DecodeTypeTag(b []byte) (TypeTag, error) {
	var t TypeTag
	err := decodeWhole(b, t.Decode)
	return t, err
}
