package types

import (
	"encoding/binary"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

// The CryptoHashers of the hashed types. A derived hasher is named by the
// type's serde name (aptos-crypto-derive's CryptoHasher calls
// serde_name::trace_name), which differs from the Rust name where the type
// is serde-renamed.
var (
	// TransactionHasher: types/src/transaction/mod.rs, `#[derive(...,
	// CryptoHasher, BCSCryptoHash)] pub enum Transaction`.
	TransactionHasher = hash.NewHasher("Transaction")
	// RawTransactionHasher: mod.rs, `#[derive(..., CryptoHasher,
	// BCSCryptoHash)] pub struct RawTransaction`; its seed prefixes the
	// message a single sender signs.
	RawTransactionHasher = hash.NewHasher("RawTransaction")
	// TransactionInfoHasher: mod.rs, `#[derive(Clone, CryptoHasher,
	// BCSCryptoHash, ...)] pub enum TransactionInfo`.
	TransactionInfoHasher = hash.NewHasher("TransactionInfo")
	// ContractEventHasher: types/src/contract_event.rs, `#[derive(...,
	// CryptoHasher, BCSCryptoHash)] pub enum ContractEvent`.
	ContractEventHasher = hash.NewHasher("ContractEvent")
	// WriteSetHasher: types/src/write_set.rs, `#[derive(BCSCryptoHash,
	// CryptoHasher, ...)] pub enum WriteSet`, whose Deserialize goes
	// through SerdeWriteSet, `#[serde(rename = "WriteSet")]`.
	WriteSetHasher = hash.NewHasher("WriteSet")
	// PersistedAuxiliaryInfoHasher: mod.rs, `#[derive(BCSCryptoHash, ...,
	// CryptoHasher, ...)] pub enum PersistedAuxiliaryInfo`.
	PersistedAuxiliaryInfoHasher = hash.NewHasher("PersistedAuxiliaryInfo")
	// StateKeyHasher: types/src/state_store/state_key/inner.rs,
	// `#[derive(Clone, CryptoHasher, ...)] #[serde(rename = "StateKey")]
	// pub enum StateKeyInner`.
	StateKeyHasher = hash.NewHasher("StateKey")
	// StateValueHasher: types/src/state_store/state_value.rs,
	// `#[derive(BCSCryptoHash, Clone, CryptoHasher, ...)] pub struct
	// StateValue`, which (de)serializes as PersistedStateValue,
	// `#[serde(rename = "StateValue")]`.
	StateValueHasher = hash.NewHasher("StateValue")
)

// HashTransaction is a Transaction's hash, TransactionInfo.transaction_hash,
// over its BCS bytes.
func HashTransaction(b []byte) hash.Value { return TransactionHasher.Sum(b) }

// HashTransactionInfo is a TransactionInfo's hash over its BCS bytes: a
// leaf of the transaction accumulator.
func HashTransactionInfo(b []byte) hash.Value { return TransactionInfoHasher.Sum(b) }

// HashContractEvent is a ContractEvent's hash over its BCS bytes: a leaf of
// the event accumulator whose root is TransactionInfo.event_root_hash.
func HashContractEvent(b []byte) hash.Value { return ContractEventHasher.Sum(b) }

// HashWriteSet is a WriteSet's hash over its BCS bytes:
// TransactionInfo.state_change_hash.
func HashWriteSet(b []byte) hash.Value { return WriteSetHasher.Sum(b) }

// HashPersistedAuxiliaryInfo is a PersistedAuxiliaryInfo's hash over its
// BCS bytes: TransactionInfo.auxiliary_info_hash, which is None instead
// when the info is None (mod.rs, verify_auxiliary_infos_against_transaction_infos).
func HashPersistedAuxiliaryInfo(b []byte) hash.Value { return PersistedAuxiliaryInfoHasher.Sum(b) }

// HashStateValue is a StateValue's hash over its BCS bytes: the value
// hash in a sparse Merkle tree leaf.
func HashStateValue(b []byte) hash.Value { return StateValueHasher.Sum(b) }

// Hash returns the StateKey's hash, the key of its sparse Merkle tree
// leaf. It is not over the BCS bytes but over the key's storage encoding
// (StateKeyInner::encode in inner.rs, hashed in registry.rs): a tag byte
// (0 AccessPath, 1 TableItem, 255 Raw), then the BCS of the AccessPath, or
// the handle and the key bytes without a length, or the raw bytes.
func (k *StateKey) Hash() (h hash.Value) {
	s := StateKeyHasher.State()
	switch k.Kind {
	case StateKeyAccessPath:
		var head [1 + AddressLength + binary.MaxVarintLen32]byte
		n := copy(head[1:], k.Address[:]) + 1
		n = len(binary.AppendUvarint(head[:n], uint64(len(k.Path))))
		s.Write(head[:n])
		s.Write(k.Path)
	case StateKeyTableItem:
		s.Write([]byte{1})
		s.Write(k.Address[:])
		s.Write(k.Key)
	case StateKeyRaw:
		s.Write([]byte{255})
		s.Write(k.Key)
	}
	s.Sum(h[:0])
	return h
}

// HashStateKey decodes a BCS StateKey and returns its hash.
func HashStateKey(b []byte) (hash.Value, error) {
	k, err := DecodeStateKey(b)
	if err != nil {
		return hash.Value{}, err
	}
	return k.Hash(), nil
}

// Hash returns the Transaction's hash (re-encoding it; over received
// bytes use HashTransaction).
func (t *Transaction) Hash() hash.Value { return HashTransaction(Marshal(t)) }

// Hash returns the TransactionInfo's hash.
func (t *TransactionInfo) Hash() hash.Value { return HashTransactionInfo(Marshal(t)) }

// Hash returns the ContractEvent's hash.
func (e *ContractEvent) Hash() hash.Value { return HashContractEvent(Marshal(e)) }

// Hash returns the WriteSet's hash.
func (s *WriteSet) Hash() hash.Value { return HashWriteSet(Marshal(s)) }

// Hash returns the PersistedAuxiliaryInfo's hash.
func (a *PersistedAuxiliaryInfo) Hash() hash.Value {
	return HashPersistedAuxiliaryInfo(Marshal(a))
}

// Hash returns the StateValue's hash.
func (v *StateValue) Hash() hash.Value { return HashStateValue(Marshal(v)) }

// SigningMessage returns what a single sender signs for t: the
// RawTransaction hasher's seed, then t's BCS bytes (aptos-crypto
// traits::signing_message).
func (t *RawTransaction) SigningMessage() []byte {
	seed := RawTransactionHasher.Seed()
	w := bcs.NewWriter(append([]byte(nil), seed[:]...))
	t.Encode(w)
	return w.Encoded()
}
