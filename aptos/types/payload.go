package types

import (
	"github.com/backseal/backseal/aptos/bcs"
)

// Script is a transaction script: Move bytecode with its arguments.
//
// Rust: types/src/transaction/script.rs, Script.
type Script struct {
	Code   []byte
	TyArgs []TypeTag
	Args   []TransactionArgument
}

// EntryFunction is a call of a public entry function; Args are each
// argument's BCS bytes.
//
// Rust: types/src/transaction/script.rs, EntryFunction.
type EntryFunction struct {
	Module   ModuleID
	Function Identifier
	TyArgs   []TypeTag
	Args     [][]byte
}

// TransactionArgumentKind is the variant index of a TransactionArgument.
type TransactionArgumentKind uint32

// TransactionArgument variants (aptos.yaml).
const (
	ArgU8 TransactionArgumentKind = iota
	ArgU64
	ArgU128
	ArgAddress
	ArgU8Vector
	ArgBool
	ArgU16
	ArgU32
	ArgU256
	ArgSerialized
)

// TransactionArgument is one argument of a Script. The integer kinds keep
// their value in Int (u8..u64) or Wide (u128, u256, little-endian), Address
// in Address, U8Vector and Serialized in Bytes, Bool in Bool.
//
// Rust: third_party/move/move-core/types/src/transaction_argument.rs, TransactionArgument.
type TransactionArgument struct {
	Kind    TransactionArgumentKind
	Int     uint64
	Wide    [32]byte
	Address Address
	Bytes   []byte
	Bool    bool
}

// Decode reads a TransactionArgument.
func (a *TransactionArgument) Decode(r *bcs.Reader) {
	v := r.Variant()
	a.Kind = TransactionArgumentKind(v)
	switch a.Kind {
	case ArgU8:
		a.Int = uint64(r.U8())
	case ArgU64:
		a.Int = r.U64()
	case ArgU128:
		copy(a.Wide[:16], r.Fixed(16))
	case ArgAddress:
		a.Address = readAddress(r)
	case ArgU8Vector, ArgSerialized:
		a.Bytes = readBytes(r)
	case ArgBool:
		a.Bool = r.Bool()
	case ArgU16:
		a.Int = uint64(r.U16())
	case ArgU32:
		a.Int = uint64(r.U32())
	case ArgU256:
		copy(a.Wide[:], r.Fixed(32))
	default:
		r.Unknown("TransactionArgument", v)
	}
}

// Encode writes a TransactionArgument.
func (a *TransactionArgument) Encode(w *bcs.Writer) {
	w.Variant(uint32(a.Kind))
	switch a.Kind {
	case ArgU8:
		w.U8(uint8(a.Int))
	case ArgU64:
		w.U64(a.Int)
	case ArgU128:
		w.Fixed(a.Wide[:16])
	case ArgAddress:
		writeAddress(w, a.Address)
	case ArgU8Vector, ArgSerialized:
		w.Bytes(a.Bytes)
	case ArgBool:
		w.Bool(a.Bool)
	case ArgU16:
		w.U16(uint16(a.Int))
	case ArgU32:
		w.U32(uint32(a.Int))
	case ArgU256:
		w.Fixed(a.Wide[:])
	}
}

// Decode reads a Script.
func (s *Script) Decode(r *bcs.Reader) {
	s.Code = readBytes(r)
	s.TyArgs = readTypeTags(r)
	if n := r.Len(1); n > 0 {
		s.Args = make([]TransactionArgument, n)
		for i := range s.Args {
			s.Args[i].Decode(r)
		}
	}
}

// Encode writes a Script.
func (s *Script) Encode(w *bcs.Writer) {
	w.Bytes(s.Code)
	writeTypeTags(w, s.TyArgs)
	w.Len(len(s.Args))
	for i := range s.Args {
		s.Args[i].Encode(w)
	}
}

// Decode reads an EntryFunction.
func (e *EntryFunction) Decode(r *bcs.Reader) {
	e.Module.Decode(r)
	e.Function = readIdentifier(r)
	e.TyArgs = readTypeTags(r)
	if n := r.Len(1); n > 0 {
		e.Args = make([][]byte, n)
		for i := range e.Args {
			e.Args[i] = readBytes(r)
		}
	}
}

// Encode writes an EntryFunction.
func (e *EntryFunction) Encode(w *bcs.Writer) {
	e.Module.Encode(w)
	writeIdentifier(w, e.Function)
	writeTypeTags(w, e.TyArgs)
	w.Len(len(e.Args))
	for _, a := range e.Args {
		w.Bytes(a)
	}
}

// Multisig is a payload executed on behalf of a multisig account; a nil
// EntryFunction means the payload is stored on chain.
//
// Rust: types/src/transaction/multisig.rs, Multisig (its payload is
// MultisigTransactionPayload, whose only variant 0 is EntryFunction).
type Multisig struct {
	MultisigAddress Address
	EntryFunction   *EntryFunction
}

// Decode reads a Multisig.
func (m *Multisig) Decode(r *bcs.Reader) {
	m.MultisigAddress = readAddress(r)
	if r.Option() {
		if v := r.Variant(); v != 0 {
			r.Unknown("MultisigTransactionPayload", v)
			return
		}
		m.EntryFunction = new(EntryFunction)
		m.EntryFunction.Decode(r)
	}
}

// Encode writes a Multisig.
func (m *Multisig) Encode(w *bcs.Writer) {
	writeAddress(w, m.MultisigAddress)
	w.Option(m.EntryFunction != nil)
	if m.EntryFunction != nil {
		w.Variant(0)
		m.EntryFunction.Encode(w)
	}
}

// TransactionPayloadKind is the variant index of a TransactionPayload.
type TransactionPayloadKind uint32

// TransactionPayload variants (aptos.yaml).
const (
	PayloadScript TransactionPayloadKind = iota
	PayloadModuleBundle
	PayloadEntryFunction
	PayloadMultisig
	PayloadV1 // Payload(TransactionPayloadInner::V1)
)

// TransactionPayload is what a user transaction runs. One field is set,
// per Kind; ModuleBundle is deprecated and carries only DeprecatedPayload's
// dummy u64.
//
// Rust: types/src/transaction/mod.rs, TransactionPayload.
type TransactionPayload struct {
	Kind          TransactionPayloadKind
	Script        *Script
	ModuleBundle  uint64 // DeprecatedPayload.dummy_value
	EntryFunction *EntryFunction
	Multisig      *Multisig
	V1            *TransactionPayloadV1
}

// TransactionPayloadV1 is TransactionPayloadInner::V1, the newer payload
// form that carries replay-protection nonces and multisig in one place.
//
// Rust: types/src/transaction/mod.rs, TransactionPayloadInner.
type TransactionPayloadV1 struct {
	Executable  TransactionExecutable
	ExtraConfig TransactionExtraConfig
}

// TransactionExecutableKind is the variant index of a TransactionExecutable.
type TransactionExecutableKind uint32

// TransactionExecutable variants (aptos.yaml).
const (
	ExecutableScript TransactionExecutableKind = iota
	ExecutableEntryFunction
	ExecutableEmpty
)

// TransactionExecutable is the code a V1 payload runs.
//
// Rust: types/src/transaction/mod.rs, TransactionExecutable.
type TransactionExecutable struct {
	Kind          TransactionExecutableKind
	Script        *Script
	EntryFunction *EntryFunction
}

// TransactionExtraConfig is TransactionExtraConfig::V1, its only variant.
//
// Rust: types/src/transaction/mod.rs, TransactionExtraConfig.
type TransactionExtraConfig struct {
	MultisigAddress       *Address
	ReplayProtectionNonce *uint64
}

// Decode reads a TransactionPayload.
func (p *TransactionPayload) Decode(r *bcs.Reader) {
	v := r.Variant()
	p.Kind = TransactionPayloadKind(v)
	switch p.Kind {
	case PayloadScript:
		p.Script = new(Script)
		p.Script.Decode(r)
	case PayloadModuleBundle:
		p.ModuleBundle = r.U64()
	case PayloadEntryFunction:
		p.EntryFunction = new(EntryFunction)
		p.EntryFunction.Decode(r)
	case PayloadMultisig:
		p.Multisig = new(Multisig)
		p.Multisig.Decode(r)
	case PayloadV1:
		if v := r.Variant(); v != 0 {
			r.Unknown("TransactionPayloadInner", v)
			return
		}
		p.V1 = new(TransactionPayloadV1)
		p.V1.Executable.Decode(r)
		p.V1.ExtraConfig.Decode(r)
	default:
		r.Unknown("TransactionPayload", v)
	}
}

// Encode writes a TransactionPayload.
func (p *TransactionPayload) Encode(w *bcs.Writer) {
	w.Variant(uint32(p.Kind))
	switch p.Kind {
	case PayloadScript:
		p.Script.Encode(w)
	case PayloadModuleBundle:
		w.U64(p.ModuleBundle)
	case PayloadEntryFunction:
		p.EntryFunction.Encode(w)
	case PayloadMultisig:
		p.Multisig.Encode(w)
	case PayloadV1:
		w.Variant(0)
		p.V1.Executable.Encode(w)
		p.V1.ExtraConfig.Encode(w)
	}
}

// Decode reads a TransactionExecutable.
func (e *TransactionExecutable) Decode(r *bcs.Reader) {
	v := r.Variant()
	e.Kind = TransactionExecutableKind(v)
	switch e.Kind {
	case ExecutableScript:
		e.Script = new(Script)
		e.Script.Decode(r)
	case ExecutableEntryFunction:
		e.EntryFunction = new(EntryFunction)
		e.EntryFunction.Decode(r)
	case ExecutableEmpty:
	default:
		r.Unknown("TransactionExecutable", v)
	}
}

// Encode writes a TransactionExecutable.
func (e *TransactionExecutable) Encode(w *bcs.Writer) {
	w.Variant(uint32(e.Kind))
	switch e.Kind {
	case ExecutableScript:
		e.Script.Encode(w)
	case ExecutableEntryFunction:
		e.EntryFunction.Encode(w)
	}
}

// Decode reads a TransactionExtraConfig.
func (c *TransactionExtraConfig) Decode(r *bcs.Reader) {
	if v := r.Variant(); v != 0 {
		r.Unknown("TransactionExtraConfig", v)
		return
	}
	if r.Option() {
		a := readAddress(r)
		c.MultisigAddress = &a
	}
	if r.Option() {
		n := r.U64()
		c.ReplayProtectionNonce = &n
	}
}

// Encode writes a TransactionExtraConfig.
func (c *TransactionExtraConfig) Encode(w *bcs.Writer) {
	w.Variant(0)
	w.Option(c.MultisigAddress != nil)
	if c.MultisigAddress != nil {
		writeAddress(w, *c.MultisigAddress)
	}
	w.Option(c.ReplayProtectionNonce != nil)
	if c.ReplayProtectionNonce != nil {
		w.U64(*c.ReplayProtectionNonce)
	}
}
