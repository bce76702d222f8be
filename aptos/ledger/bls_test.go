package ledger

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/cloudflare/circl/ecc/bls12381"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pubKey(t testing.TB, s string) PublicKey {
	var k PublicKey
	if n := copy(k[:], mustHex(t, s)); n != PublicKeySize {
		t.Fatalf("public key %s is %d bytes", s, n)
	}
	return k
}

func sigOf(t testing.TB, s string) Signature {
	var v Signature
	if n := copy(v[:], mustHex(t, s)); n != SignatureSize {
		t.Fatalf("signature %s is %d bytes", s, n)
	}
	return v
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

type aptosVectors struct {
	Multisig struct {
		Message   string
		Pks       []string
		AggPks    []string `json:"agg_pks"`
		Multisigs []string
	}
	Normal struct {
		Sk, Message, Pk, Sig string
		Bad                  []struct{ Sig, Pk, Message string }
	}
	Random struct {
		Sk, Message, Pk, Sig string
	}
	PubkeyValidation []struct {
		Pk    string
		Valid bool
	} `json:"pubkey_validation"`
}

// TestAptosMultisig checks key aggregation and multisignature verification
// against the vectors aptos-crypto generated for the Move stdlib, both
// directly and through a ValidatorVerifier and its bitmask.
func TestAptosMultisig(t *testing.T) {
	var v aptosVectors
	readJSON(t, "aptos_bls12381_move.json", &v)
	m := v.Multisig
	msg := []byte(m.Message)

	validators := make([]ValidatorConsensusInfo, len(m.Pks))
	var agg bls12381.G1
	agg.SetIdentity()
	for i, s := range m.Pks {
		k := pubKey(t, s)
		p, err := k.Point()
		if err != nil {
			t.Fatalf("pk %d: %v", i, err)
		}
		agg.Add(&agg, p)
		if got := hex.EncodeToString(agg.BytesCompressed()); got != m.AggPks[i] {
			t.Errorf("aggregate of pks 0..%d = %s, want %s", i, got, m.AggPks[i])
		}
		sig := sigOf(t, m.Multisigs[i])
		if err := verifyAggregate(&agg, msg, &sig); err != nil {
			t.Errorf("multisig %d: %v", i, err)
		}
		// Validator 0 alone holds a quorum, so every prefix verifies.
		power := uint64(1)
		if i == 0 {
			power = 100
		}
		validators[i] = ValidatorConsensusInfo{PublicKey: k, VotingPower: power}
	}

	vv := NewValidatorVerifier(validators)
	for i, s := range m.Multisigs {
		sig := sigOf(t, s)
		mask := NewBitVec(len(validators))
		for j := 0; j <= i; j++ {
			mask.Set(j)
		}
		as := AggregateSignature{ValidatorBitmask: mask, Sig: &sig}
		if err := vv.verify(msg, &as); err != nil {
			t.Errorf("verifier, signers 0..%d: %v", i, err)
		}
		if err := vv.verify([]byte("Hello, Aptoverse?"), &as); !errors.Is(err, ErrBadSignature) {
			t.Errorf("verifier, other message: got %v, want ErrBadSignature", err)
		}
		if i > 0 {
			mask.Buckets[0] &^= 0x80 // drop validator 0: the sum no longer matches
			if err := vv.verify(msg, &as); err == nil {
				t.Errorf("verifier, signers 1..%d claimed for a sum over 0..%d: verified", i, i)
			}
		}
	}
}

// TestAptosNormalSignature checks key derivation, signing and verification
// of one signer against aptos-crypto's sample, and its negative cases.
func TestAptosNormalSignature(t *testing.T) {
	var v aptosVectors
	readJSON(t, "aptos_bls12381_move.json", &v)
	for _, c := range []struct{ name, sk, msg, pk, sig string }{
		{"normal", v.Normal.Sk, v.Normal.Message, v.Normal.Pk, v.Normal.Sig},
		{"random", v.Random.Sk, v.Random.Message, v.Random.Pk, v.Random.Sig},
	} {
		t.Run(c.name, func(t *testing.T) {
			sk, err := SecretKeyFromBytes(mustHex(t, c.sk))
			if err != nil {
				t.Fatal(err)
			}
			pk := pubKey(t, c.pk)
			if got := sk.PublicKey(); got != pk {
				t.Errorf("public key %v, want %v", got, pk)
			}
			want := sigOf(t, c.sig)
			if got := sk.Sign([]byte(c.msg)); got != want {
				t.Errorf("signature %v, want %v", got, want)
			}
			p, err := pk.Point()
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyAggregate(p, []byte(c.msg), &want); err != nil {
				t.Error(err)
			}
		})
	}
	for i, c := range v.Normal.Bad {
		pk := pubKey(t, c.Pk)
		p, err := pk.Point()
		if err != nil {
			t.Fatalf("bad case %d: pk: %v", i, err)
		}
		sig := sigOf(t, c.Sig)
		if err := verifyAggregate(p, []byte(c.Message), &sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("bad case %d: got %v, want ErrBadSignature", i, err)
		}
	}
}

func TestPublicKeyValidation(t *testing.T) {
	var v aptosVectors
	readJSON(t, "aptos_bls12381_move.json", &v)
	for _, c := range v.PubkeyValidation {
		k := pubKey(t, c.Pk)
		_, err := k.Point()
		if c.Valid && err != nil {
			t.Errorf("%s: %v", c.Pk, err)
		}
		if !c.Valid && !errors.Is(err, ErrBadPublicKey) {
			t.Errorf("%s: got %v, want ErrBadPublicKey", c.Pk, err)
		}
	}
	var identity PublicKey
	identity[0] = 0xc0
	if _, err := identity.Point(); !errors.Is(err, ErrBadPublicKey) {
		t.Errorf("identity: got %v, want ErrBadPublicKey", err)
	}
}

// TestEth2Sign checks hashing to G2 with the POP DST and signing against the
// Ethereum consensus-spec sign cases, and that each signature verifies under
// the derived key.
func TestEth2Sign(t *testing.T) {
	var v struct {
		Cases []struct{ Sk, Msg, Sig string }
	}
	readJSON(t, "eth2_bls_sign.json", &v)
	if len(v.Cases) == 0 {
		t.Fatal("no cases")
	}
	for i, c := range v.Cases {
		sk, err := SecretKeyFromBytes(mustHex(t, c.Sk))
		if err != nil {
			t.Fatal(err)
		}
		msg := mustHex(t, c.Msg)
		want := sigOf(t, c.Sig)
		if got := sk.Sign(msg); got != want {
			t.Errorf("case %d: signature %v, want %v", i, got, want)
		}
		pk := sk.PublicKey()
		p, err := pk.Point()
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyAggregate(p, msg, &want); err != nil {
			t.Errorf("case %d: %v", i, err)
		}
	}
}

func TestSecretKeyFromBytes(t *testing.T) {
	if _, err := SecretKeyFromBytes(make([]byte, 32)); err == nil {
		t.Error("zero key accepted")
	}
	if _, err := SecretKeyFromBytes(make([]byte, 31)); err == nil {
		t.Error("short key accepted")
	}
	order := bls12381.Order()
	if _, err := SecretKeyFromBytes(order); err == nil {
		t.Error("key equal to the group order accepted")
	}
}
