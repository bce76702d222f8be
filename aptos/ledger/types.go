package ledger

import (
	"encoding/hex"
	"fmt"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

// AccountAddress is a 32-byte account address, fixed width in BCS.
//
// Rust: third_party/move/move-core/types/src/account_address.rs, AccountAddress.
type AccountAddress [32]byte

func (a AccountAddress) String() string { return "0x" + hex.EncodeToString(a[:]) }

// Hashers of the types here (derived CryptoHashers, named after the type).
var (
	ledgerInfoHasher = hash.NewHasher("LedgerInfo")
	waypointHasher   = hash.NewHasher("Ledger2WaypointConverter")
)

func decodeHash(r *bcs.Reader, h *hash.Value) { *h = hash.Read(r) }

func encodeHash(w *bcs.Writer, h *hash.Value) { hash.Write(w, h) }

// BlockInfo is the block a ledger info commits. NextEpochState is set only
// on the last block of an epoch: it names the next epoch's validators.
//
// Rust: types/src/block_info.rs, BlockInfo.
type BlockInfo struct {
	Epoch           uint64
	Round           uint64
	ID              hash.Value
	ExecutedStateID hash.Value // the transaction accumulator root hash
	Version         uint64
	TimestampUsecs  uint64
	NextEpochState  *EpochState
}

// Decode reads a BlockInfo.
func (b *BlockInfo) Decode(r *bcs.Reader) {
	b.Epoch = r.U64()
	b.Round = r.U64()
	decodeHash(r, &b.ID)
	decodeHash(r, &b.ExecutedStateID)
	b.Version = r.U64()
	b.TimestampUsecs = r.U64()
	b.NextEpochState = decodeOptionEpochState(r)
}

// Encode writes the BlockInfo.
func (b *BlockInfo) Encode(w *bcs.Writer) {
	w.U64(b.Epoch)
	w.U64(b.Round)
	encodeHash(w, &b.ID)
	encodeHash(w, &b.ExecutedStateID)
	w.U64(b.Version)
	w.U64(b.TimestampUsecs)
	encodeOptionEpochState(w, b.NextEpochState)
}

func decodeOptionEpochState(r *bcs.Reader) *EpochState {
	if !r.Option() || r.Err() != nil {
		return nil
	}
	es := new(EpochState)
	es.Decode(r)
	return es
}

func encodeOptionEpochState(w *bcs.Writer, es *EpochState) {
	w.Option(es != nil)
	if es != nil {
		es.Encode(w)
	}
}

// EpochState is an epoch's validator set: what verifies ledger infos of
// that epoch.
//
// Rust: types/src/epoch_state.rs, EpochState.
type EpochState struct {
	Epoch    uint64
	Verifier ValidatorVerifier
}

// Decode reads an EpochState.
func (e *EpochState) Decode(r *bcs.Reader) {
	e.Epoch = r.U64()
	e.Verifier.Decode(r)
}

// Encode writes the EpochState.
func (e *EpochState) Encode(w *bcs.Writer) {
	w.U64(e.Epoch)
	e.Verifier.Encode(w)
}

// ValidatorConsensusInfo is one validator: its address, consensus key and
// voting power.
//
// Rust: types/src/validator_verifier.rs, ValidatorConsensusInfo.
type ValidatorConsensusInfo struct {
	Address     AccountAddress
	PublicKey   PublicKey
	VotingPower uint64
}

// validatorConsensusInfoMinSize bounds a lying length: address, key length
// byte and key, voting power.
const validatorConsensusInfoMinSize = 32 + 1 + PublicKeySize + 8

// ValidatorVerifier is an epoch's validators in validator-index order: bit i
// of a signer bitmask is Validators[i]. Only the list is serialized; Rust
// derives the quorum and total voting power on deserialization, as Quorum
// does here.
//
// A ValidatorVerifier caches its parsed public keys; treat it as immutable
// once it has verified a signature.
//
// Rust: types/src/validator_verifier.rs, ValidatorVerifier (custom Deserialize).
type ValidatorVerifier struct {
	Validators []ValidatorConsensusInfo
	keys       *keyCache
}

// NewValidatorVerifier returns a verifier over validators (not copied).
func NewValidatorVerifier(validators []ValidatorConsensusInfo) ValidatorVerifier {
	return ValidatorVerifier{Validators: validators, keys: newKeyCache(len(validators))}
}

// Decode reads a ValidatorVerifier.
func (v *ValidatorVerifier) Decode(r *bcs.Reader) {
	n := r.Len(validatorConsensusInfoMinSize)
	if r.Err() != nil {
		return
	}
	vs := make([]ValidatorConsensusInfo, n)
	for i := range vs {
		copy(vs[i].Address[:], r.Fixed(32))
		vs[i].PublicKey.Decode(r)
		vs[i].VotingPower = r.U64()
	}
	if r.Err() != nil {
		return
	}
	*v = NewValidatorVerifier(vs)
}

// Encode writes the ValidatorVerifier.
func (v *ValidatorVerifier) Encode(w *bcs.Writer) {
	w.Len(len(v.Validators))
	for i := range v.Validators {
		vi := &v.Validators[i]
		w.Fixed(vi.Address[:])
		vi.PublicKey.Encode(w)
		w.U64(vi.VotingPower)
	}
}

// LedgerInfo is what validators sign: a committed block and a hash opaque
// outside consensus.
//
// Rust: types/src/ledger_info.rs, LedgerInfo.
type LedgerInfo struct {
	CommitInfo        BlockInfo
	ConsensusDataHash hash.Value
}

// Decode reads a LedgerInfo.
func (l *LedgerInfo) Decode(r *bcs.Reader) {
	l.CommitInfo.Decode(r)
	decodeHash(r, &l.ConsensusDataHash)
}

// Encode writes the LedgerInfo.
func (l *LedgerInfo) Encode(w *bcs.Writer) {
	l.CommitInfo.Encode(w)
	encodeHash(w, &l.ConsensusDataHash)
}

// Bytes returns the LedgerInfo's BCS encoding.
func (l *LedgerInfo) Bytes() []byte {
	w := bcs.NewWriter(nil)
	l.Encode(w)
	return w.Encoded()
}

// Hash is the LedgerInfo's CryptoHash (LedgerInfoHasher over its BCS bytes).
func (l *LedgerInfo) Hash() hash.Value { return ledgerInfoHasher.Sum(l.Bytes()) }

// SigningMessage is what validators sign: the LedgerInfo hasher's seed, then
// the BCS bytes (aptos-crypto traits/mod.rs, signing_message).
func (l *LedgerInfo) SigningMessage() []byte {
	seed := ledgerInfoHasher.Seed()
	w := bcs.NewWriter(append(make([]byte, 0, 512), seed[:]...))
	l.Encode(w)
	return w.Encoded()
}

// EndsEpoch reports whether the ledger info carries the next validator set.
func (l *LedgerInfo) EndsEpoch() bool { return l.CommitInfo.NextEpochState != nil }

// AggregateSignature is the sum of the signatures of the validators its
// bitmask names, over one message. Sig is nil when nobody signed (genesis).
//
// Rust: types/src/aggregate_signature.rs, AggregateSignature.
type AggregateSignature struct {
	ValidatorBitmask BitVec
	Sig              *Signature
}

// Decode reads an AggregateSignature.
func (a *AggregateSignature) Decode(r *bcs.Reader) {
	a.ValidatorBitmask.Decode(r)
	a.Sig = nil
	if r.Option() && r.Err() == nil {
		a.Sig = new(Signature)
		a.Sig.Decode(r)
	}
}

// Encode writes the AggregateSignature.
func (a *AggregateSignature) Encode(w *bcs.Writer) {
	a.ValidatorBitmask.Encode(w)
	w.Option(a.Sig != nil)
	if a.Sig != nil {
		a.Sig.Encode(w)
	}
}

// LedgerInfoWithSignatures is a LedgerInfo with its validators' aggregate
// signature: the record of an epoch-ending backup and the tail of the
// transaction range and state root proofs. The Rust type is an enum whose
// only variant, V0 (index 0), holds LedgerInfoWithV0; this struct is that
// variant's fields and Decode refuses any other index.
//
// Rust: types/src/ledger_info.rs, LedgerInfoWithSignatures and LedgerInfoWithV0.
type LedgerInfoWithSignatures struct {
	LedgerInfo LedgerInfo
	Signatures AggregateSignature
}

// Decode reads a LedgerInfoWithSignatures. Byte slices in the result (the
// bitmask) alias the reader's input.
func (l *LedgerInfoWithSignatures) Decode(r *bcs.Reader) {
	switch v := r.Variant(); {
	case r.Err() != nil:
		return
	case v == 0:
		l.LedgerInfo.Decode(r)
		l.Signatures.Decode(r)
	default:
		r.Unknown("LedgerInfoWithSignatures", v)
	}
}

// Encode writes the LedgerInfoWithSignatures (as variant V0).
func (l *LedgerInfoWithSignatures) Encode(w *bcs.Writer) {
	w.Variant(0)
	l.LedgerInfo.Encode(w)
	l.Signatures.Encode(w)
}

// ParseLedgerInfoWithSignatures decodes one whole LedgerInfoWithSignatures,
// as a backup record holds. Errors wrap a *bcs.Error. The result's bitmask
// aliases b.
func ParseLedgerInfoWithSignatures(b []byte) (*LedgerInfoWithSignatures, error) {
	r := bcs.NewReader(b)
	li := new(LedgerInfoWithSignatures)
	li.Decode(r)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("ledger: decoding LedgerInfoWithSignatures: %w", err)
	}
	return li, nil
}

// ParseLedgerInfo decodes one whole LedgerInfo. Errors wrap a *bcs.Error.
func ParseLedgerInfo(b []byte) (*LedgerInfo, error) {
	r := bcs.NewReader(b)
	li := new(LedgerInfo)
	li.Decode(r)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("ledger: decoding LedgerInfo: %w", err)
	}
	return li, nil
}
