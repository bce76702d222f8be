package types

import (
	"bufio"
	"bytes"
	"crypto/sha3"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

// readVectors reads a testdata file of "key: hex" lines.
func readVectors(t *testing.T, name string) map[string][]byte {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		b, err := hex.DecodeString(v)
		if err != nil {
			t.Fatalf("%s: %s: %v", name, k, err)
		}
		out[k] = b
	}
	return out
}

func TestTrustWalletTransferVector(t *testing.T) {
	v := readVectors(t, "trustwallet_transfer_b4d62afd.txt")

	var st SignedTransaction
	if err := decodeWhole(v["signed_transaction"], st.Decode); err != nil {
		t.Fatal(err)
	}
	raw := st.RawTxn
	if raw.SequenceNumber != 99 || raw.ChainID != 33 || raw.MaxGasAmount != 3296766 ||
		raw.GasUnitPrice != 100 || raw.ExpirationTimestampSecs != 3664390082 {
		t.Errorf("raw transaction fields: %+v", raw)
	}
	ef := raw.Payload.EntryFunction
	if raw.Payload.Kind != PayloadEntryFunction || ef.Module.Address != (Address{31: 1}) ||
		ef.Module.Name.String() != "aptos_account" || ef.Function.String() != "transfer" || len(ef.Args) != 2 {
		t.Errorf("payload: %+v", raw.Payload)
	}
	if st.Authenticator.Kind != TxnAuthEd25519 || len(st.Authenticator.PublicKey) != 32 || len(st.Authenticator.Signature) != 64 {
		t.Errorf("authenticator: %+v", st.Authenticator)
	}
	if got := Marshal(&st); !bytes.Equal(got, v["signed_transaction"]) {
		t.Errorf("re-encoded signed transaction differs")
	}
	if got := Marshal(&raw); !bytes.Equal(got, v["raw_transaction"]) {
		t.Errorf("re-encoded raw transaction differs")
	}
	if got := raw.SigningMessage(); !bytes.Equal(got, v["signing_message"]) {
		t.Errorf("signing message:\n got %x\nwant %x", got, v["signing_message"])
	}
	seed := RawTransactionHasher.Seed()
	if !bytes.Equal(seed[:], v["signing_message"][:32]) {
		t.Errorf("RawTransaction seed %x", seed)
	}

	// The committed hash is the Transaction hasher over UserTransaction(st):
	// the variant byte 0, then the signed transaction.
	txn := append([]byte{0}, v["signed_transaction"]...)
	want := hash.Value(v["transaction_hash"])
	if got := HashTransaction(txn); got != want {
		t.Errorf("transaction hash %v, want %v", got, want)
	}
	decoded, err := DecodeTransaction(txn)
	if err != nil {
		t.Fatal(err)
	}
	if got := decoded.Hash(); got != want {
		t.Errorf("Transaction.Hash %v, want %v", got, want)
	}
}

func TestTrustWalletStructTagVector(t *testing.T) {
	v := readVectors(t, "trustwallet_coin_transfer_raw.txt")
	var raw RawTransaction
	if err := decodeWhole(v["raw_transaction"], raw.Decode); err != nil {
		t.Fatal(err)
	}
	ef := raw.Payload.EntryFunction
	if len(ef.TyArgs) != 1 || ef.TyArgs[0].Kind != TypeTagStruct {
		t.Fatalf("type args: %+v", ef.TyArgs)
	}
	st := ef.TyArgs[0].Struct
	if st.Address != (Address{31: 1}) || st.Module.String() != "aptos_coin" || st.Name.String() != "AptosCoin" || st.TypeArgs != nil {
		t.Errorf("struct tag: %+v", st)
	}
	// The TypeTag's own bytes, as they sit in the vector.
	tag := Marshal(&ef.TyArgs[0])
	if !bytes.Contains(v["raw_transaction"], tag) || tag[0] != 7 {
		t.Errorf("type tag bytes %x not in the vector", tag)
	}
	if got := Marshal(&raw); !bytes.Equal(got, v["raw_transaction"]) {
		t.Errorf("re-encoded raw transaction differs")
	}
}

// TestStateKeyHashIndependent checks StateKey.Hash against the storage
// encoding spelled out byte by byte, with SHA3 called directly: no outside
// vector for StateKey hashes was found.
func TestStateKeyHashIndependent(t *testing.T) {
	path := Marshal(&pathResource)
	seed := sha3.Sum256([]byte("APTOS::StateKey"))
	sum := func(parts ...[]byte) hash.Value {
		h := sha3.New256()
		h.Write(seed[:])
		for _, p := range parts {
			h.Write(p)
		}
		return hash.Value(h.Sum(nil))
	}
	addr := Address{0: 0xab, 31: 7}
	tests := []struct {
		name string
		key  StateKey
		want hash.Value
	}{
		{"access path", StateKey{Kind: StateKeyAccessPath, Address: addr, Path: path},
			sum([]byte{0}, addr[:], []byte{byte(len(path))}, path)},
		{"table item", StateKey{Kind: StateKeyTableItem, Address: addr, Key: []byte("k")},
			sum([]byte{1}, addr[:], []byte("k"))},
		{"raw", StateKey{Kind: StateKeyRaw, Key: []byte{9, 9}},
			sum([]byte{255}, []byte{9, 9})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.Hash(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			got, err := HashStateKey(Marshal(&tt.key))
			if err != nil || got != tt.want {
				t.Errorf("HashStateKey = %v, %v", got, err)
			}
		})
	}
}

// pathResource is access_path::Path::Resource(0x1::account::Account).
var pathResource = testPath{1, StructTag{Address: Address{31: 1}, Module: Identifier("account"), Name: Identifier("Account")}}

type testPath struct {
	variant uint32
	tag     StructTag
}

func (p *testPath) Encode(w *bcs.Writer) {
	w.Variant(p.variant)
	p.tag.Encode(w)
}
