package types

import (
	"bytes"
	"errors"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

// TransactionKind is the variant index of a Transaction.
type TransactionKind uint32

// Transaction variants (aptos.yaml).
const (
	TxnUser TransactionKind = iota
	TxnGenesis
	TxnBlockMetadata
	TxnStateCheckpoint
	TxnValidator
	TxnBlockMetadataExt
	TxnBlockEpilogue
)

// Transaction is one entry of the ledger. The field named after Kind is
// set; StateCheckpoint holds the block id.
//
// Rust: types/src/transaction/mod.rs, Transaction.
type Transaction struct {
	Kind             TransactionKind
	User             *SignedTransaction
	Genesis          *WriteSetPayload
	BlockMetadata    *BlockMetadata
	StateCheckpoint  hash.Value
	Validator        *ValidatorTransaction
	BlockMetadataExt *BlockMetadataExt
	BlockEpilogue    *BlockEpiloguePayload
}

// Decode reads a Transaction.
func (t *Transaction) Decode(r *bcs.Reader) {
	v := r.Variant()
	t.Kind = TransactionKind(v)
	switch t.Kind {
	case TxnUser:
		t.User = new(SignedTransaction)
		t.User.Decode(r)
	case TxnGenesis:
		t.Genesis = new(WriteSetPayload)
		t.Genesis.Decode(r)
	case TxnBlockMetadata:
		t.BlockMetadata = new(BlockMetadata)
		t.BlockMetadata.Decode(r)
	case TxnStateCheckpoint:
		t.StateCheckpoint = readHash(r)
	case TxnValidator:
		t.Validator = new(ValidatorTransaction)
		t.Validator.Decode(r)
	case TxnBlockMetadataExt:
		t.BlockMetadataExt = new(BlockMetadataExt)
		t.BlockMetadataExt.Decode(r)
	case TxnBlockEpilogue:
		t.BlockEpilogue = new(BlockEpiloguePayload)
		t.BlockEpilogue.Decode(r)
	default:
		r.Unknown("Transaction", v)
	}
}

// Encode writes a Transaction.
func (t *Transaction) Encode(w *bcs.Writer) {
	w.Variant(uint32(t.Kind))
	switch t.Kind {
	case TxnUser:
		t.User.Encode(w)
	case TxnGenesis:
		t.Genesis.Encode(w)
	case TxnBlockMetadata:
		t.BlockMetadata.Encode(w)
	case TxnStateCheckpoint:
		writeHash(w, t.StateCheckpoint)
	case TxnValidator:
		t.Validator.Encode(w)
	case TxnBlockMetadataExt:
		t.BlockMetadataExt.Encode(w)
	case TxnBlockEpilogue:
		t.BlockEpilogue.Encode(w)
	}
}

// DecodeTransaction decodes a whole BCS Transaction.
func DecodeTransaction(b []byte) (Transaction, error) {
	var t Transaction
	err := decodeWhole(b, t.Decode)
	return t, err
}

// SignedTransaction is a RawTransaction and its authenticator.
//
// Rust: types/src/transaction/mod.rs, SignedTransaction (its Serialize
// writes raw_txn and authenticator only; the cached sizes and hash are
// not serialized).
type SignedTransaction struct {
	RawTxn        RawTransaction
	Authenticator TransactionAuthenticator
}

// Decode reads a SignedTransaction.
func (s *SignedTransaction) Decode(r *bcs.Reader) {
	s.RawTxn.Decode(r)
	s.Authenticator.Decode(r)
}

// Encode writes a SignedTransaction.
func (s *SignedTransaction) Encode(w *bcs.Writer) {
	s.RawTxn.Encode(w)
	s.Authenticator.Encode(w)
}

// RawTransaction is the part of a user transaction its sender signs.
//
// Rust: types/src/transaction/mod.rs, RawTransaction.
type RawTransaction struct {
	Sender                  Address
	SequenceNumber          uint64
	Payload                 TransactionPayload
	MaxGasAmount            uint64
	GasUnitPrice            uint64
	ExpirationTimestampSecs uint64
	ChainID                 uint8 // ChainId, a newtype over u8
}

// Decode reads a RawTransaction.
func (t *RawTransaction) Decode(r *bcs.Reader) {
	t.Sender = readAddress(r)
	t.SequenceNumber = r.U64()
	t.Payload.Decode(r)
	t.MaxGasAmount = r.U64()
	t.GasUnitPrice = r.U64()
	t.ExpirationTimestampSecs = r.U64()
	t.ChainID = r.U8()
}

// Encode writes a RawTransaction.
func (t *RawTransaction) Encode(w *bcs.Writer) {
	writeAddress(w, t.Sender)
	w.U64(t.SequenceNumber)
	t.Payload.Encode(w)
	w.U64(t.MaxGasAmount)
	w.U64(t.GasUnitPrice)
	w.U64(t.ExpirationTimestampSecs)
	w.U8(t.ChainID)
}

// WriteSetPayloadKind is the variant index of a WriteSetPayload.
type WriteSetPayloadKind uint32

// WriteSetPayload variants (aptos.yaml).
const (
	WriteSetPayloadDirect WriteSetPayloadKind = iota
	WriteSetPayloadScript
)

// WriteSetPayload is a genesis transaction's content: a ChangeSet applied
// directly, or a script run as ExecuteAs.
//
// Rust: types/src/transaction/mod.rs, WriteSetPayload; change_set.rs, ChangeSet.
type WriteSetPayload struct {
	Kind WriteSetPayloadKind
	// Direct: ChangeSet { write_set, events }.
	WriteSet WriteSet
	Events   []ContractEvent
	// Script.
	ExecuteAs Address
	Script    *Script
}

// Decode reads a WriteSetPayload.
func (p *WriteSetPayload) Decode(r *bcs.Reader) {
	v := r.Variant()
	p.Kind = WriteSetPayloadKind(v)
	switch p.Kind {
	case WriteSetPayloadDirect:
		p.WriteSet.Decode(r)
		p.Events = readEvents(r, nil)
	case WriteSetPayloadScript:
		p.ExecuteAs = readAddress(r)
		p.Script = new(Script)
		p.Script.Decode(r)
	default:
		r.Unknown("WriteSetPayload", v)
	}
}

// Encode writes a WriteSetPayload.
func (p *WriteSetPayload) Encode(w *bcs.Writer) {
	w.Variant(uint32(p.Kind))
	switch p.Kind {
	case WriteSetPayloadDirect:
		p.WriteSet.Encode(w)
		w.Len(len(p.Events))
		for i := range p.Events {
			p.Events[i].Encode(w)
		}
	case WriteSetPayloadScript:
		writeAddress(w, p.ExecuteAs)
		p.Script.Encode(w)
	}
}

// BlockMetadata opens a block when on-chain randomness is off. It is also
// BlockMetadataWithRandomness without its last field.
//
// Rust: types/src/block_metadata.rs, BlockMetadata.
type BlockMetadata struct {
	ID                       hash.Value
	Epoch                    uint64
	Round                    uint64
	Proposer                 Address
	PreviousBlockVotesBitvec []byte
	FailedProposerIndices    []uint32
	TimestampUsecs           uint64
}

// Decode reads a BlockMetadata.
func (b *BlockMetadata) Decode(r *bcs.Reader) {
	b.ID = readHash(r)
	b.Epoch = r.U64()
	b.Round = r.U64()
	b.Proposer = readAddress(r)
	b.PreviousBlockVotesBitvec = readBytes(r)
	if n := r.Len(4); n > 0 {
		b.FailedProposerIndices = make([]uint32, n)
		for i := range b.FailedProposerIndices {
			b.FailedProposerIndices[i] = r.U32()
		}
	}
	b.TimestampUsecs = r.U64()
}

// Encode writes a BlockMetadata.
func (b *BlockMetadata) Encode(w *bcs.Writer) {
	writeHash(w, b.ID)
	w.U64(b.Epoch)
	w.U64(b.Round)
	writeAddress(w, b.Proposer)
	w.Bytes(b.PreviousBlockVotesBitvec)
	w.Len(len(b.FailedProposerIndices))
	for _, i := range b.FailedProposerIndices {
		w.U32(i)
	}
	w.U64(b.TimestampUsecs)
}

// BlockMetadataExt is BlockMetadata versioned: V0 is BlockMetadata, V1
// BlockMetadataWithRandomness, which adds an optional Randomness.
//
// Rust: types/src/block_metadata_ext.rs, BlockMetadataExt and
// BlockMetadataWithRandomness; types/src/randomness.rs, Randomness.
type BlockMetadataExt struct {
	Version  uint32 // 0 or 1
	Metadata BlockMetadata
	// V1 only: Option<Randomness>.
	Randomness *Randomness
}

// Randomness is a block's on-chain randomness with the (epoch, round) it is for.
//
// Rust: types/src/randomness.rs, Randomness and RandMetadata.
type Randomness struct {
	Epoch      uint64
	Round      uint64
	Randomness []byte
}

// Decode reads a BlockMetadataExt.
func (b *BlockMetadataExt) Decode(r *bcs.Reader) {
	b.Version = r.Variant()
	switch b.Version {
	case 0:
		b.Metadata.Decode(r)
	case 1:
		b.Metadata.Decode(r)
		if r.Option() {
			b.Randomness = &Randomness{Epoch: r.U64(), Round: r.U64()}
			b.Randomness.Randomness = readBytes(r)
		}
	default:
		r.Unknown("BlockMetadataExt", b.Version)
	}
}

// Encode writes a BlockMetadataExt.
func (b *BlockMetadataExt) Encode(w *bcs.Writer) {
	w.Variant(b.Version)
	b.Metadata.Encode(w)
	if b.Version == 1 {
		w.Option(b.Randomness != nil)
		if b.Randomness != nil {
			w.U64(b.Randomness.Epoch)
			w.U64(b.Randomness.Round)
			w.Bytes(b.Randomness.Randomness)
		}
	}
}

// BlockEpiloguePayload closes a block. V1 adds the fee distribution.
//
// Rust: types/src/transaction/block_epilogue.rs, BlockEpiloguePayload
// (V1 is newer than the staged aptos.yaml), BlockEndInfo (V0 only) and
// FeeDistribution (V0 only).
type BlockEpiloguePayload struct {
	Version                     uint32 // 0 or 1
	BlockID                     hash.Value
	BlockGasLimitReached        bool
	BlockOutputLimitReached     bool
	BlockEffectiveBlockGasUnits uint64
	BlockApproxOutputSize       uint64
	// V1 only: FeeDistribution::V0 { amount: BTreeMap<u64, u64> }, validator
	// index to octas, in the map's BCS order (keys' little-endian bytes).
	FeeAmounts []FeeAmount
}

// FeeAmount is one entry of a FeeDistribution.
type FeeAmount struct {
	ValidatorIndex uint64
	Octas          uint64
}

var errMapOrder = errors.New("types: map keys are not strictly increasing")

// Decode reads a BlockEpiloguePayload.
func (b *BlockEpiloguePayload) Decode(r *bcs.Reader) {
	b.Version = r.Variant()
	if b.Version > 1 {
		r.Unknown("BlockEpiloguePayload", b.Version)
		return
	}
	b.BlockID = readHash(r)
	if v := r.Variant(); v != 0 {
		r.Unknown("BlockEndInfo", v)
		return
	}
	b.BlockGasLimitReached = r.Bool()
	b.BlockOutputLimitReached = r.Bool()
	b.BlockEffectiveBlockGasUnits = r.U64()
	b.BlockApproxOutputSize = r.U64()
	if b.Version == 1 {
		if v := r.Variant(); v != 0 {
			r.Unknown("FeeDistribution", v)
			return
		}
		n := r.Len(16)
		if n > 0 {
			b.FeeAmounts = make([]FeeAmount, n)
		}
		var prev []byte
		for i := range b.FeeAmounts {
			key := r.Fixed(8)
			if prev != nil && bytes.Compare(prev, key) >= 0 {
				r.Fail(errMapOrder)
				return
			}
			prev = key
			b.FeeAmounts[i].ValidatorIndex = bcs.NewReader(key).U64()
			b.FeeAmounts[i].Octas = r.U64()
		}
	}
}

// Encode writes a BlockEpiloguePayload. FeeAmounts must already be in BCS
// map order; Encode writes them as given.
func (b *BlockEpiloguePayload) Encode(w *bcs.Writer) {
	w.Variant(b.Version)
	writeHash(w, b.BlockID)
	w.Variant(0)
	w.Bool(b.BlockGasLimitReached)
	w.Bool(b.BlockOutputLimitReached)
	w.U64(b.BlockEffectiveBlockGasUnits)
	w.U64(b.BlockApproxOutputSize)
	if b.Version == 1 {
		w.Variant(0)
		w.Len(len(b.FeeAmounts))
		for _, f := range b.FeeAmounts {
			w.U64(f.ValidatorIndex)
			w.U64(f.Octas)
		}
	}
}

// ValidatorTransactionKind is the variant index of a ValidatorTransaction.
type ValidatorTransactionKind uint32

// ValidatorTransaction variants (aptos.yaml).
const (
	ValidatorTxnDKGResult ValidatorTransactionKind = iota
	ValidatorTxnObservedJWKUpdate
)

// ValidatorTransaction is proposed by validators themselves: a DKG
// transcript, or a quorum-certified JWK update.
//
// Rust: types/src/validator_txn.rs, ValidatorTransaction; types/src/dkg/mod.rs,
// DKGTranscript; types/src/jwks/mod.rs, QuorumCertifiedUpdate and ProviderJWKs;
// types/src/aggregate_signature.rs, AggregateSignature.
type ValidatorTransaction struct {
	Kind ValidatorTransactionKind
	// DKGResult.
	DKGEpoch        uint64
	DKGAuthor       Address
	TranscriptBytes []byte
	// ObservedJWKUpdate.
	Issuer           []byte
	JWKVersion       uint64
	JWKs             []JWK
	ValidatorBitmask []byte // BitVec.inner
	MultiSig         []byte // Option<bls12381::Signature>; nil is None
}

// JWK is a JWKMoveStruct: a Move `Any` (type name and BCS data).
type JWK struct {
	TypeName []byte // String
	Data     []byte
}

// Decode reads a ValidatorTransaction.
func (v *ValidatorTransaction) Decode(r *bcs.Reader) {
	k := r.Variant()
	v.Kind = ValidatorTransactionKind(k)
	switch v.Kind {
	case ValidatorTxnDKGResult:
		v.DKGEpoch = r.U64()
		v.DKGAuthor = readAddress(r)
		v.TranscriptBytes = readBytes(r)
	case ValidatorTxnObservedJWKUpdate:
		v.Issuer = readBytes(r)
		v.JWKVersion = r.U64()
		if n := r.Len(2); n > 0 {
			v.JWKs = make([]JWK, n)
			for i := range v.JWKs {
				v.JWKs[i].TypeName = readStr(r)
				v.JWKs[i].Data = readBytes(r)
			}
		}
		v.ValidatorBitmask = readBytes(r)
		if r.Option() {
			v.MultiSig = readBytes(r)
		}
	default:
		r.Unknown("ValidatorTransaction", k)
	}
}

// Encode writes a ValidatorTransaction.
func (v *ValidatorTransaction) Encode(w *bcs.Writer) {
	w.Variant(uint32(v.Kind))
	switch v.Kind {
	case ValidatorTxnDKGResult:
		w.U64(v.DKGEpoch)
		writeAddress(w, v.DKGAuthor)
		w.Bytes(v.TranscriptBytes)
	case ValidatorTxnObservedJWKUpdate:
		w.Bytes(v.Issuer)
		w.U64(v.JWKVersion)
		w.Len(len(v.JWKs))
		for _, j := range v.JWKs {
			w.Bytes(j.TypeName)
			w.Bytes(j.Data)
		}
		w.Bytes(v.ValidatorBitmask)
		w.Option(v.MultiSig != nil)
		if v.MultiSig != nil {
			w.Bytes(v.MultiSig)
		}
	}
}
