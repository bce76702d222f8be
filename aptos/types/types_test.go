package types

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

var (
	addr1    = Address{31: 1}
	aptCoin  = TypeTag{Kind: TypeTagStruct, Struct: &StructTag{Address: addr1, Module: Identifier("aptos_coin"), Name: Identifier("AptosCoin")}}
	coinType = TypeTag{Kind: TypeTagStruct, Struct: &StructTag{Address: addr1, Module: Identifier("coin"), Name: Identifier("CoinStore"), TypeArgs: []TypeTag{aptCoin}}}
	fnType   = TypeTag{Kind: TypeTagFunction, Function: &FunctionTag{Args: []TypeTag{{Kind: TypeTagU64}}, Results: []TypeTag{{Kind: TypeTagVector, Vector: &TypeTag{Kind: TypeTagU8}}}, Abilities: 3}}
	h1       = hash.Value{0: 1, 31: 0xee}
	nonce    = uint64(77)

	entryFn = &EntryFunction{
		Module:   ModuleID{Address: addr1, Name: Identifier("aptos_account")},
		Function: Identifier("transfer"),
		TyArgs:   []TypeTag{aptCoin},
		Args:     [][]byte{bytes.Repeat([]byte{7}, 32), {1, 0, 0, 0, 0, 0, 0, 0}},
	}
	script = &Script{Code: []byte{0xa1, 0x1c, 0xeb, 0x0b}, TyArgs: []TypeTag{fnType}, Args: []TransactionArgument{
		{Kind: ArgU8, Int: 2}, {Kind: ArgU64, Int: 1 << 40}, {Kind: ArgU128, Wide: [32]byte{0: 1, 15: 2}},
		{Kind: ArgAddress, Address: addr1}, {Kind: ArgU8Vector, Bytes: []byte("xy")}, {Kind: ArgBool, Bool: true},
		{Kind: ArgU16, Int: 0xf111}, {Kind: ArgU32, Int: 0xf1111111}, {Kind: ArgU256, Wide: [32]byte{31: 0xf1}},
		{Kind: ArgSerialized, Bytes: []byte{3, 1, 2, 3}},
	}}
	ed25519Auth = AccountAuthenticator{Kind: AccountAuthEd25519, PublicKey: bytes.Repeat([]byte{1}, 32), Signature: bytes.Repeat([]byte{2}, 64)}
	webAuthn    = &WebAuthnSignature{Signature: []byte{5}, AuthenticatorData: []byte{6}, ClientDataJSON: []byte("{}")}
	keylessSig  = &KeylessSignature{
		ZeroKnowledge: &ZeroKnowledgeSig{ProofA: [32]byte{1}, ProofB: [64]byte{2}, ProofC: [32]byte{3}, ExpHorizonSecs: 9,
			ExtraField: []byte("e"), TrainingWheelsSignature: &EphemeralSignature{Signature: []byte{4}}},
		JWTHeaderJSON: []byte("{}"), ExpDateSecs: 10, EphemeralPublicKey: []byte{8},
		EphemeralSignature: EphemeralSignature{Kind: 1, WebAuthn: webAuthn},
	}
	openIDSig = &KeylessSignature{CertKind: 1, OpenID: &OpenIDSig{JWTSig: []byte{1}, JWTPayloadJSON: []byte("p"), UIDKey: []byte("sub"),
		EPKBlinder: []byte{2}, Pepper: [31]byte{3}, IDCAudVal: []byte("aud")},
		JWTHeaderJSON: []byte("h"), EphemeralSignature: EphemeralSignature{Signature: []byte{9}}, EphemeralPublicKey: []byte{1}}
	multiKey = &MultiKeyAuthenticator{
		PublicKeys: MultiKey{PublicKeys: []AnyPublicKey{
			{Kind: AnyPublicKeyEd25519, Key: []byte{1}}, {Kind: AnyPublicKeySecp256k1Ecdsa, Key: []byte{2}},
			{Kind: AnyPublicKeySecp256r1Ecdsa, Key: []byte{3}}, {Kind: AnyPublicKeyKeyless, Keyless: KeylessPublicKey{IssVal: []byte("iss"), IDC: []byte{4}}},
			{Kind: AnyPublicKeyFederatedKeyless, JWKAddress: addr1, Keyless: KeylessPublicKey{IssVal: []byte("i"), IDC: []byte{5}}},
		}, SignaturesRequired: 2},
		Signatures: []AnySignature{
			{Kind: AnySignatureEd25519, Signature: []byte{1}}, {Kind: AnySignatureSecp256k1Ecdsa, Signature: []byte{2}},
			{Kind: AnySignatureWebAuthn, WebAuthn: webAuthn}, {Kind: AnySignatureKeyless, Keyless: keylessSig},
			{Kind: AnySignatureKeyless, Keyless: openIDSig},
		},
		SignaturesBitmap: []byte{0xf8, 0, 0, 0},
	}
	abstraction = &AbstractionAuthenticator{ModuleAddress: addr1, ModuleName: []byte("m"), FunctionName: []byte("f"),
		AuthDataKind: 1, SigningMessageDigest: []byte{1}, AbstractSignature: []byte{2}, AbstractPublicKey: []byte{3}}
)

func userTxn(payload TransactionPayload, auth TransactionAuthenticator) Transaction {
	return Transaction{Kind: TxnUser, User: &SignedTransaction{
		RawTxn: RawTransaction{Sender: Address{0: 9}, SequenceNumber: 5, Payload: payload, MaxGasAmount: 2000,
			GasUnitPrice: 100, ExpirationTimestampSecs: 1 << 33, ChainID: 1},
		Authenticator: auth,
	}}
}

var sampleWriteSet = WriteSet{Entries: []WriteSetEntry{
	{Key: StateKey{Kind: StateKeyAccessPath, Address: addr1, Path: Marshal(&pathResource)}, Op: WriteOp{Kind: WriteOpModification, Data: []byte{1, 2}}},
	{Key: StateKey{Kind: StateKeyAccessPath, Address: Address{31: 2}, Path: Marshal(&pathResource)},
		Op: WriteOp{Kind: WriteOpCreationWithMetadata, Data: []byte{3}, Metadata: StateValueMetadata{Version: 1, SlotDeposit: 1, BytesDeposit: 2, CreationTimeUsecs: 3}}},
	{Key: StateKey{Kind: StateKeyTableItem, Address: addr1, Key: []byte("k")}, Op: WriteOp{Kind: WriteOpDeletion}},
	{Key: StateKey{Kind: StateKeyTableItem, Address: addr1, Key: []byte("l")}, Op: WriteOp{Kind: WriteOpDeletionWithMetadata, Metadata: StateValueMetadata{SlotDeposit: 4, CreationTimeUsecs: 5}}},
	{Key: StateKey{Kind: StateKeyRaw, Key: []byte("r")}, Op: WriteOp{Kind: WriteOpCreation, Data: []byte{}}},
}}

var sampleEvents = []ContractEvent{
	{Version: 0, Key: EventKey{CreationNumber: 2, AccountAddress: addr1}, SequenceNumber: 8, TypeTag: coinType, EventData: []byte{1}},
	{Version: 1, TypeTag: TypeTag{Kind: TypeTagStruct, Struct: &StructTag{Address: addr1, Module: Identifier("transaction_fee"), Name: Identifier("FeeStatement")}}, EventData: bytes.Repeat([]byte{0}, 40)},
}

// sampleTransactions covers every Transaction variant and every payload and
// authenticator variant at least once.
func sampleTransactions() map[string]Transaction {
	return map[string]Transaction{
		"entry ed25519": userTxn(TransactionPayload{Kind: PayloadEntryFunction, EntryFunction: entryFn},
			TransactionAuthenticator{Kind: TxnAuthEd25519, PublicKey: ed25519Auth.PublicKey, Signature: ed25519Auth.Signature}),
		"script multi-ed25519": userTxn(TransactionPayload{Kind: PayloadScript, Script: script},
			TransactionAuthenticator{Kind: TxnAuthMultiEd25519, PublicKey: []byte{1, 2}, Signature: []byte{3}}),
		"module bundle multi-agent": userTxn(TransactionPayload{Kind: PayloadModuleBundle, ModuleBundle: 3},
			TransactionAuthenticator{Kind: TxnAuthMultiAgent, Sender: &ed25519Auth, SecondaryAddresses: []Address{addr1},
				SecondarySigners: []AccountAuthenticator{{Kind: AccountAuthMultiEd25519, PublicKey: []byte{1}, Signature: []byte{2}}}}),
		"multisig fee payer": userTxn(TransactionPayload{Kind: PayloadMultisig, Multisig: &Multisig{MultisigAddress: addr1, EntryFunction: entryFn}},
			TransactionAuthenticator{Kind: TxnAuthFeePayer, Sender: &AccountAuthenticator{Kind: AccountAuthMultiKey, MultiKey: multiKey},
				FeePayerAddress: Address{5: 5}, FeePayerSigner: &AccountAuthenticator{Kind: AccountAuthNone}}),
		"multisig stored single key": userTxn(TransactionPayload{Kind: PayloadMultisig, Multisig: &Multisig{MultisigAddress: addr1}},
			TransactionAuthenticator{Kind: TxnAuthSingleSender, Sender: &AccountAuthenticator{Kind: AccountAuthSingleKey,
				SingleKey: &SingleKeyAuthenticator{PublicKey: AnyPublicKey{Kind: AnyPublicKeySecp256k1Ecdsa, Key: []byte{4}}, Signature: AnySignature{Kind: AnySignatureSecp256k1Ecdsa, Signature: []byte{5}}}}}),
		"payload v1 abstraction": userTxn(TransactionPayload{Kind: PayloadV1, V1: &TransactionPayloadV1{
			Executable: TransactionExecutable{Kind: ExecutableEntryFunction, EntryFunction: entryFn}, ExtraConfig: TransactionExtraConfig{MultisigAddress: &addr1, ReplayProtectionNonce: &nonce}}},
			TransactionAuthenticator{Kind: TxnAuthSingleSender, Sender: &AccountAuthenticator{Kind: AccountAuthAbstraction, Abstraction: abstraction}}),
		"payload v1 script": userTxn(TransactionPayload{Kind: PayloadV1, V1: &TransactionPayloadV1{Executable: TransactionExecutable{Kind: ExecutableScript, Script: script}}},
			TransactionAuthenticator{Kind: TxnAuthSingleSender, Sender: &AccountAuthenticator{Kind: AccountAuthAbstraction,
				Abstraction: &AbstractionAuthenticator{SigningMessageDigest: []byte{1}, Authenticator: []byte{2}, ModuleName: []byte{}, FunctionName: []byte{}}}}),
		"payload v1 empty": userTxn(TransactionPayload{Kind: PayloadV1, V1: &TransactionPayloadV1{Executable: TransactionExecutable{Kind: ExecutableEmpty}}},
			TransactionAuthenticator{Kind: TxnAuthEd25519, PublicKey: []byte{}, Signature: []byte{}}),
		"genesis direct": {Kind: TxnGenesis, Genesis: &WriteSetPayload{Kind: WriteSetPayloadDirect, WriteSet: sampleWriteSet, Events: sampleEvents}},
		"genesis script": {Kind: TxnGenesis, Genesis: &WriteSetPayload{Kind: WriteSetPayloadScript, ExecuteAs: addr1, Script: script}},
		"block metadata": {Kind: TxnBlockMetadata, BlockMetadata: &BlockMetadata{ID: h1, Epoch: 1, Round: 2, Proposer: addr1,
			PreviousBlockVotesBitvec: []byte{0xff}, FailedProposerIndices: []uint32{3, 4}, TimestampUsecs: 5}},
		"state checkpoint": {Kind: TxnStateCheckpoint, StateCheckpoint: h1},
		"dkg":              {Kind: TxnValidator, Validator: &ValidatorTransaction{Kind: ValidatorTxnDKGResult, DKGEpoch: 3, DKGAuthor: addr1, TranscriptBytes: []byte{1}}},
		"jwk": {Kind: TxnValidator, Validator: &ValidatorTransaction{Kind: ValidatorTxnObservedJWKUpdate, Issuer: []byte("iss"), JWKVersion: 2,
			JWKs: []JWK{{TypeName: []byte("0x1::jwks::RSA_JWK"), Data: []byte{1}}}, ValidatorBitmask: []byte{1}, MultiSig: []byte{2}}},
		"block metadata ext v0": {Kind: TxnBlockMetadataExt, BlockMetadataExt: &BlockMetadataExt{Metadata: BlockMetadata{ID: h1, PreviousBlockVotesBitvec: []byte{}}}},
		"block metadata ext v1": {Kind: TxnBlockMetadataExt, BlockMetadataExt: &BlockMetadataExt{Version: 1, Metadata: BlockMetadata{ID: h1, PreviousBlockVotesBitvec: []byte{}},
			Randomness: &Randomness{Epoch: 1, Round: 2, Randomness: []byte{3}}}},
		"block epilogue v0": {Kind: TxnBlockEpilogue, BlockEpilogue: &BlockEpiloguePayload{BlockID: h1, BlockGasLimitReached: true, BlockEffectiveBlockGasUnits: 9}},
		"block epilogue v1": {Kind: TxnBlockEpilogue, BlockEpilogue: &BlockEpiloguePayload{Version: 1, BlockID: h1,
			FeeAmounts: []FeeAmount{{ValidatorIndex: 256, Octas: 1}, {ValidatorIndex: 1, Octas: 2}}}}, // 256 sorts first in LE bytes
	}
}

func TestTransactionRoundTrip(t *testing.T) {
	t.Parallel()
	for name, txn := range sampleTransactions() {
		t.Run(name, func(t *testing.T) {
			b := Marshal(&txn)
			got, err := DecodeTransaction(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, txn) {
				t.Errorf("decode(encode(x)) != x\n got %+v\nwant %+v", got, txn)
			}
			if again := Marshal(&got); !bytes.Equal(again, b) {
				t.Errorf("encode(decode(b)) != b")
			}
		})
	}
}

func sampleInfo(status ExecutionStatus, aux *hash.Value) TransactionInfo {
	return TransactionInfo{GasUsed: 7, Status: status, TransactionHash: h1, EventRootHash: hash.AccumulatorPlaceholder,
		StateChangeHash: hash.Value{3: 3}, StateCheckpointHash: &h1, AuxiliaryInfoHash: aux}
}

func TestTransactionInfoRoundTrip(t *testing.T) {
	t.Parallel()
	code := uint64(4016)
	statuses := map[string]ExecutionStatus{
		"success":        {Kind: StatusSuccess},
		"out of gas":     {Kind: StatusOutOfGas},
		"abort module":   {Kind: StatusMoveAbort, Location: AbortLocation{Module: &ModuleID{Address: addr1, Name: Identifier("coin")}}, Code: 65542, AbortInfo: &AbortInfo{ReasonName: []byte("E"), Description: []byte("d")}},
		"abort script":   {Kind: StatusMoveAbort, Code: 1},
		"failure":        {Kind: StatusExecutionFailure, Location: AbortLocation{Module: &ModuleID{Address: addr1, Name: Identifier("m")}}, Function: 2, CodeOffset: 3},
		"misc none":      {Kind: StatusMiscellaneousError},
		"misc some code": {Kind: StatusMiscellaneousError, StatusCode: &code},
	}
	for name, s := range statuses {
		t.Run(name, func(t *testing.T) {
			info := sampleInfo(s, &h1)
			b := Marshal(&info)
			got, err := DecodeTransactionInfo(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, info) {
				t.Errorf("got %+v, want %+v", got, info)
			}
			if !bytes.Equal(Marshal(&got), b) {
				t.Error("encode(decode(b)) != b")
			}
		})
	}
}

func TestStateValueRoundTrip(t *testing.T) {
	t.Parallel()
	for _, v := range []StateValue{
		{Data: []byte{1}},
		{WithMetadata: true, Data: []byte{}, Metadata: StateValueMetadata{Version: 1, SlotDeposit: 1, BytesDeposit: 2, CreationTimeUsecs: 3}},
	} {
		b := Marshal(&v)
		got, err := DecodeStateValue(b)
		if err != nil || !reflect.DeepEqual(got, v) {
			t.Errorf("got %+v, %v; want %+v", got, err, v)
		}
		if got.Hash() != HashStateValue(b) || got.Hash() != hash.NewHasher("StateValue").Sum(b) {
			t.Error("StateValue hash")
		}
	}
}

func sampleParts(format RecordFormat) TransactionRecordParts {
	txns := sampleTransactions()
	p := TransactionRecordParts{
		Format:      format,
		Transaction: txns["entry ed25519"],
		Events:      sampleEvents,
		WriteSet:    sampleWriteSet,
	}
	if format == RecordV1 {
		p.AuxiliaryInfo = PersistedAuxiliaryInfo{Kind: AuxInfoV1, TransactionIndex: 4}
		ah := p.AuxiliaryInfo.Hash()
		p.TransactionInfo = sampleInfo(ExecutionStatus{Kind: StatusSuccess}, &ah)
	} else {
		p.TransactionInfo = sampleInfo(ExecutionStatus{Kind: StatusSuccess}, nil)
	}
	p.TransactionInfo.TransactionHash = p.Transaction.Hash()
	p.TransactionInfo.StateChangeHash = p.WriteSet.Hash()
	return p
}

func encodeRecord(p *TransactionRecordParts) []byte {
	w := bcs.NewWriter(nil)
	EncodeTransactionRecord(w, p)
	return w.Encoded()
}

func TestTransactionRecord(t *testing.T) {
	t.Parallel()
	for _, format := range []RecordFormat{RecordV0, RecordV1} {
		t.Run(format.String(), func(t *testing.T) {
			p := sampleParts(format)
			payload := encodeRecord(&p)
			rec, err := DecodeTransactionRecord(payload)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Format != format {
				t.Errorf("format %v, want %v", rec.Format, format)
			}
			if !bytes.Equal(rec.TransactionBytes, Marshal(&p.Transaction)) ||
				!bytes.Equal(rec.TransactionInfoBytes, Marshal(&p.TransactionInfo)) ||
				!bytes.Equal(rec.WriteSetBytes, Marshal(&p.WriteSet)) {
				t.Error("a span differs from its part's encoding")
			}
			if format == RecordV1 && !bytes.Equal(rec.AuxiliaryInfoBytes, Marshal(&p.AuxiliaryInfo)) {
				t.Error("aux info span")
			}
			if format == RecordV0 && rec.AuxiliaryInfoBytes != nil {
				t.Error("aux info span in a v0 record")
			}
			if len(rec.EventBytes) != len(p.Events) {
				t.Fatalf("%d events, want %d", len(rec.EventBytes), len(p.Events))
			}
			for i := range p.Events {
				if !bytes.Equal(rec.EventBytes[i], Marshal(&p.Events[i])) {
					t.Errorf("event %d span", i)
				}
				if HashContractEvent(rec.EventBytes[i]) != p.Events[i].Hash() {
					t.Errorf("event %d hash", i)
				}
			}
			if !reflect.DeepEqual(rec.TransactionInfo, p.TransactionInfo) || !reflect.DeepEqual(rec.Transaction, p.Transaction) {
				t.Error("decoded parts differ")
			}
			if HashTransaction(rec.TransactionBytes) != rec.TransactionInfo.TransactionHash ||
				HashWriteSet(rec.WriteSetBytes) != rec.TransactionInfo.StateChangeHash {
				t.Error("hashes over spans disagree with the info")
			}
			if format == RecordV1 && HashPersistedAuxiliaryInfo(rec.AuxiliaryInfoBytes) != *rec.TransactionInfo.AuxiliaryInfoHash {
				t.Error("aux info hash")
			}
			events, err := rec.Events()
			if err != nil || !reflect.DeepEqual(events, p.Events) {
				t.Errorf("Events() = %+v, %v", events, err)
			}
			ws, err := rec.WriteSet()
			if err != nil || !reflect.DeepEqual(ws, p.WriteSet) {
				t.Errorf("WriteSet() = %+v, %v", ws, err)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	t.Parallel()
	good := encodeRecord(ptr(sampleParts(RecordV1)))
	unsorted := sampleWriteSet
	unsorted.Entries = []WriteSetEntry{sampleWriteSet.Entries[1], sampleWriteSet.Entries[0]}
	dup := sampleWriteSet
	dup.Entries = []WriteSetEntry{sampleWriteSet.Entries[0], sampleWriteSet.Entries[0]}
	badFee := Transaction{Kind: TxnBlockEpilogue, BlockEpilogue: &BlockEpiloguePayload{Version: 1,
		FeeAmounts: []FeeAmount{{ValidatorIndex: 1}, {ValidatorIndex: 256}}}}
	deep := TypeTag{Kind: TypeTagU8}
	for range bcs.MaxContainerDepth {
		inner := deep
		deep = TypeTag{Kind: TypeTagVector, Vector: &inner}
	}
	badPath := StateKey{Kind: StateKeyAccessPath, Address: addr1, Path: []byte{9}}

	tests := []struct {
		name    string
		decode  func() error
		unknown string // the enum an *UnknownVariantError names, if any
		want    string // a fragment of the error text otherwise
	}{
		{"trailing byte", func() error { _, err := DecodeTransactionRecord(append(good, 0)); return err }, "", "bytes remain"},
		{"truncated", func() error { _, err := DecodeTransactionRecord(good[:len(good)-1]); return err }, "", "ends inside"},
		{"unknown transaction", func() error { _, err := DecodeTransactionRecord([]byte{7}); return err }, "Transaction", ""},
		{"unknown aux info", func() error {
			b := bytes.Clone(good)
			b[len(Marshal(ptr(sampleTransactions()["entry ed25519"])))] = 3
			_, err := DecodeTransactionRecord(b)
			return err
		}, "PersistedAuxiliaryInfo", ""},
		{"unsorted write set", func() error { _, err := DecodeWriteSet(Marshal(&unsorted)); return err }, "", "strictly increasing"},
		{"duplicate key", func() error { _, err := DecodeWriteSet(Marshal(&dup)); return err }, "", "strictly increasing"},
		{"unsorted fee map", func() error { _, err := DecodeTransaction(Marshal(&badFee)); return err }, "", "strictly increasing"},
		{"deep type tag", func() error { _, err := DecodeTypeTag(Marshal(&deep)); return err }, "", "nesting deeper"},
		{"bad access path", func() error { _, err := DecodeStateKey(Marshal(&badPath)); return err }, "Path", ""},
		{"short hash", func() error { _, err := DecodeTransaction([]byte{3, 1, 0}); return err }, "", "ends inside"},
		{"bool 2", func() error { _, err := DecodeTransactionInfo([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20}); return err }, "", "ends inside"},
		{"unknown write op", func() error { _, err := DecodeWriteSet([]byte{0, 1, 2, 0, 6}); return err }, "WriteOp", ""},
		{"identifier not utf-8", func() error {
			_, err := DecodeTypeTag([]byte{7, 31: 0, 32: 0, 33: 1, 34: 0xff, 35: 0, 36: 0})
			return err
		}, "", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode()
			if err == nil {
				t.Fatal("decoded")
			}
			var be *bcs.Error
			if !errors.As(err, &be) {
				t.Errorf("%v is not a *bcs.Error", err)
			}
			var u *bcs.UnknownVariantError
			if tt.unknown != "" {
				if !errors.As(err, &u) || u.Type != tt.unknown {
					t.Errorf("%v: want unknown variant of %s", err, tt.unknown)
				}
			} else if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v: want %q", err, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// benchRecord is a typical mainnet user transaction record of about 1 KiB:
// an entry function with a coin type argument, Ed25519, a few events and
// writes.
func benchRecord() []byte {
	p := sampleParts(RecordV1)
	p.Events = append(p.Events, sampleEvents...)
	p.Events = append(p.Events, ContractEvent{Version: 1, TypeTag: coinType, EventData: bytes.Repeat([]byte{1}, 300)})
	return encodeRecord(&p)
}

func TestDecodeRecordAllocs(t *testing.T) {
	payload := benchRecord()
	var rec TransactionRecord
	allocs := testing.AllocsPerRun(100, func() {
		if err := DecodeTransactionRecordInto(&rec, payload); err != nil {
			t.Fatal(err)
		}
	})
	// The decoded Transaction (SignedTransaction, EntryFunction, its type
	// args, their StructTag, its args) and TransactionInfo's two optional
	// hashes. Events and writes are walked and allocate nothing.
	if allocs > 7 {
		t.Errorf("%v allocations per record", allocs)
	}
}

func BenchmarkDecodeTransactionRecord(b *testing.B) {
	payload := benchRecord()
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	var rec TransactionRecord
	for b.Loop() {
		if err := DecodeTransactionRecordInto(&rec, payload); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzDecodeTransactionRecord(f *testing.F) {
	f.Add(encodeRecord(ptr(sampleParts(RecordV0))))
	f.Add(encodeRecord(ptr(sampleParts(RecordV1))))
	f.Add(benchRecord())
	f.Fuzz(func(t *testing.T, payload []byte) {
		rec, err := DecodeTransactionRecord(payload)
		if err != nil {
			return
		}
		events, err := rec.Events()
		if err != nil {
			t.Fatalf("events of a decoded record: %v", err)
		}
		ws, err := rec.WriteSet()
		if err != nil {
			t.Fatalf("write set of a decoded record: %v", err)
		}
		p := TransactionRecordParts{Format: rec.Format, Transaction: rec.Transaction, AuxiliaryInfo: rec.AuxiliaryInfo,
			TransactionInfo: rec.TransactionInfo, Events: events, WriteSet: ws}
		if got := encodeRecord(&p); !bytes.Equal(got, payload) {
			t.Fatalf("re-encoded record differs:\n got %x\nwant %x", got, payload)
		}
	})
}

func FuzzDecodeTransaction(f *testing.F) {
	for _, txn := range sampleTransactions() {
		f.Add(Marshal(&txn))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		txn, err := DecodeTransaction(b)
		if err != nil {
			return
		}
		if got := Marshal(&txn); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded transaction differs:\n got %x\nwant %x", got, b)
		}
	})
}
