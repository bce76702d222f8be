package ledger

import (
	"bytes"
	"crypto/sha3"
	"encoding/binary"
	"errors"
	"math/big"
	"reflect"
	"testing"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

func powers(n int, p uint64) []uint64 {
	ps := make([]uint64, n)
	for i := range ps {
		ps[i] = p
	}
	return ps
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// epochEnding returns the ledger info ending epoch, naming next as the
// next validator set.
func epochEnding(epoch, version uint64, next *Signers) *LedgerInfo {
	li := &LedgerInfo{
		CommitInfo: BlockInfo{
			Epoch:          epoch,
			Round:          7,
			Version:        version,
			TimestampUsecs: 1_665_000_000_000_000 + version,
			NextEpochState: next.EpochState(epoch + 1),
		},
	}
	li.CommitInfo.ID[0] = byte(epoch)
	li.CommitInfo.ExecutedStateID[31] = byte(version)
	li.ConsensusDataHash[5] = 0xcd
	return li
}

// encodeByHand is an independent, straightforward BCS encoding of a
// LedgerInfo, to check Encode against.
func encodeByHand(li *LedgerInfo) []byte {
	var b bytes.Buffer
	u64 := func(v uint64) { binary.Write(&b, binary.LittleEndian, v) }
	hv := func(h hash.Value) { b.Write(h[:]) } // a HashValue is its 32 bytes, no length
	c := &li.CommitInfo
	u64(c.Epoch)
	u64(c.Round)
	hv(c.ID)
	hv(c.ExecutedStateID)
	u64(c.Version)
	u64(c.TimestampUsecs)
	if c.NextEpochState == nil {
		b.WriteByte(0)
	} else {
		b.WriteByte(1)
		u64(c.NextEpochState.Epoch)
		vs := c.NextEpochState.Verifier.Validators
		if len(vs) > 127 {
			panic("test encoder writes one-byte lengths")
		}
		b.WriteByte(byte(len(vs)))
		for _, v := range vs {
			b.Write(v.Address[:])
			b.WriteByte(48)
			b.Write(v.PublicKey[:])
			u64(v.VotingPower)
		}
	}
	hv(li.ConsensusDataHash)
	return b.Bytes()
}

func sha3Of(parts ...[]byte) []byte {
	h := sha3.New256()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func TestLedgerInfoEncodingAndHash(t *testing.T) {
	next := GenerateSigners([]byte("next"), []uint64{10, 20, 30})
	for _, li := range []*LedgerInfo{
		epochEnding(3, 1000, next),
		{CommitInfo: BlockInfo{Epoch: 4, Version: 1234}},
	} {
		want := encodeByHand(li)
		if got := li.Bytes(); !bytes.Equal(got, want) {
			t.Fatalf("Encode:\n got %x\nwant %x", got, want)
		}
		seed := sha3Of([]byte("APTOS::LedgerInfo"))
		if got, want := li.Hash(), sha3Of(seed, want); !bytes.Equal(got[:], want) {
			t.Errorf("Hash %x, want %x", got, want)
		}
		if got := li.SigningMessage(); !bytes.Equal(got, append(seed, want...)) {
			t.Errorf("SigningMessage does not start with the seed then BCS bytes")
		}
		back, err := ParseLedgerInfo(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.Bytes(), want) {
			t.Error("decode then encode changed the bytes")
		}
	}
}

func TestLedgerInfoWithSignaturesRoundTrip(t *testing.T) {
	signers := GenerateSigners([]byte("epoch 5"), powers(10, 100))
	next := GenerateSigners([]byte("epoch 6"), powers(12, 50))
	li, err := signers.Sign(epochEnding(5, 5000, next), []int{0, 2, 3, 4, 5, 6, 7, 9})
	if err != nil {
		t.Fatal(err)
	}
	w := bcs.NewWriter(nil)
	li.Encode(w)
	b := w.Encoded()
	if b[0] != 0 {
		t.Errorf("variant index %d, want 0 (V0)", b[0])
	}
	back, err := ParseLedgerInfoWithSignatures(b)
	if err != nil {
		t.Fatal(err)
	}
	w2 := bcs.NewWriter(nil)
	back.Encode(w2)
	if !bytes.Equal(w2.Encoded(), b) {
		t.Error("encode(decode(b)) != b")
	}
	if !reflect.DeepEqual(back.LedgerInfo.CommitInfo.NextEpochState.Verifier.Validators,
		li.LedgerInfo.CommitInfo.NextEpochState.Verifier.Validators) ||
		!bytes.Equal(back.Signatures.ValidatorBitmask.Buckets, li.Signatures.ValidatorBitmask.Buckets) ||
		*back.Signatures.Sig != *li.Signatures.Sig || back.LedgerInfo.Hash() != li.LedgerInfo.Hash() {
		t.Error("decode(encode(x)) != x")
	}
	if err := signers.EpochState(5).Verify(back); err != nil {
		t.Errorf("decoded record does not verify: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	signers := GenerateSigners([]byte("e"), powers(3, 1))
	li, _ := signers.Sign(epochEnding(1, 10, signers), seq(3))
	w := bcs.NewWriter(nil)
	li.Encode(w)
	good := w.Encoded()

	unknown := append([]byte{1}, good[1:]...)
	_, err := ParseLedgerInfoWithSignatures(unknown)
	var uv *bcs.UnknownVariantError
	if !errors.As(err, &uv) || uv.Type != "LedgerInfoWithSignatures" || uv.Variant != 1 {
		t.Errorf("variant 1: got %v, want an UnknownVariantError", err)
	}
	var be *bcs.Error
	if _, err := ParseLedgerInfoWithSignatures(good[:len(good)-1]); !errors.As(err, &be) {
		t.Errorf("truncated: got %v, want a *bcs.Error", err)
	}
	if _, err := ParseLedgerInfoWithSignatures(append(good, 0)); !errors.Is(err, bcs.ErrTrailing) {
		t.Errorf("trailing byte: got %v, want ErrTrailing", err)
	}
	// A BitVec over 8192 bytes is refused as Rust's deserializer does.
	r := bcs.NewReader(append([]byte{0x81, 0x40}, make([]byte, 8193)...))
	var bv BitVec
	bv.Decode(r)
	if r.Err() == nil {
		t.Error("BitVec of 8193 bytes accepted")
	}
	// A public key must be 48 bytes.
	r = bcs.NewReader(append([]byte{47}, make([]byte, 47)...))
	var pk PublicKey
	pk.Decode(r)
	if r.Err() == nil {
		t.Error("47-byte public key accepted")
	}
	// A lying validator count fails before allocating.
	r = bcs.NewReader([]byte{0xff, 0xff, 0xff, 0x07})
	var vv ValidatorVerifier
	vv.Decode(r)
	if !errors.Is(r.Err(), bcs.ErrShort) {
		t.Errorf("huge validator count: got %v, want ErrShort", r.Err())
	}
}

func TestBitVec(t *testing.T) {
	// Rust: crates/aptos-bitvec test_last_set_bit, "left to right encoding".
	b := BitVec{Buckets: []byte{0b0000_0001, 0b0100_0000}}
	if got := b.LastSetBit(); got != 9 {
		t.Errorf("LastSetBit = %d, want 9", got)
	}
	if !b.IsSet(7) || !b.IsSet(9) || b.IsSet(0) {
		t.Error("IsSet disagrees with the Rust test")
	}
	b.Set(10)
	if !bytes.Equal(b.Buckets, []byte{0b0000_0001, 0b0110_0000}) || b.LastSetBit() != 10 {
		t.Errorf("after Set(10): %08b", b.Buckets)
	}
	if (BitVec{}).LastSetBit() != -1 || (BitVec{Buckets: []byte{0x80}}).LastSetBit() != 0 {
		t.Error("LastSetBit of empty or {0x80}")
	}
	if got := (BitVec{Buckets: []byte{7, 15}}).CountOnes(); got != 7 {
		t.Errorf("CountOnes = %d, want 7", got)
	}
	for n, want := range map[int]int{0: 0, 1: 1, 8: 1, 9: 2, 100: 13} {
		if got := len(NewBitVec(n).Buckets); got != want {
			t.Errorf("NewBitVec(%d) has %d buckets, want %d", n, got, want)
		}
	}
}

func TestQuorumVotingPower(t *testing.T) {
	cases := []struct {
		name   string
		powers []uint64
	}{
		{"empty", nil},
		{"one", []uint64{1}},
		{"three ones", []uint64{1, 1, 1}},
		{"mainnet-like", []uint64{3_000_000_00000000, 1_500_000_00000000, 999}},
		{"near u64 max", []uint64{1<<64 - 1, 1<<64 - 1, 1<<64 - 1, 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vs := make([]ValidatorConsensusInfo, len(c.powers))
			total := new(big.Int)
			for i, p := range c.powers {
				vs[i].VotingPower = p
				total.Add(total, new(big.Int).SetUint64(p))
			}
			want := new(big.Int)
			if len(vs) > 0 {
				want.Mul(total, big.NewInt(2)).Div(want, big.NewInt(3)).Add(want, big.NewInt(1))
			}
			v := NewValidatorVerifier(vs)
			if got := v.QuorumVotingPower().String(); got != want.String() {
				t.Errorf("quorum %s, want %s", got, want)
			}
			if got := v.TotalVotingPower().String(); got != total.String() {
				t.Errorf("total %s, want %s", got, total)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	signers := GenerateSigners([]byte("epoch 9"), []uint64{40, 30, 20, 10}) // quorum 67
	state := signers.EpochState(9)
	next := GenerateSigners([]byte("epoch 10"), powers(2, 1))
	li := epochEnding(9, 900, next)

	sign := func(who ...int) *LedgerInfoWithSignatures {
		s, err := signers.Sign(li, who)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := sign(0, 1)
	if err := state.Verify(good); err != nil {
		t.Fatalf("quorum of 70: %v", err)
	}

	tampered := *sign(0, 1, 2)
	tampered.LedgerInfo.CommitInfo.Version++
	wrongEpoch := *good
	wrongEpoch.LedgerInfo.CommitInfo.Epoch = 8
	noSig := *good
	noSig.Signatures.Sig = nil
	longMask := *good
	longMask.Signatures.ValidatorBitmask = BitVec{Buckets: []byte{0xc0, 0}}
	ghost := *good
	ghost.Signatures.ValidatorBitmask = BitVec{Buckets: []byte{0xc8}} // bit 4 of 4 validators
	otherSig := *good
	otherSig.Signatures.Sig = sign(0, 1, 2).Signatures.Sig

	badKeys := *signers
	badKeys.Verifier = NewValidatorVerifier(append([]ValidatorConsensusInfo(nil), signers.Verifier.Validators...))
	badKeys.Verifier.Validators[1].PublicKey[5] ^= 1

	cases := []struct {
		name  string
		state *EpochState
		li    *LedgerInfoWithSignatures
		want  error
	}{
		{"too little power", state, sign(1, 2, 3), ErrTooLittleVotingPower},
		{"nobody", state, sign(), ErrTooLittleVotingPower},
		{"tampered ledger info", state, &tampered, ErrBadSignature},
		{"signature of other signers", state, &otherSig, ErrBadSignature},
		{"wrong epoch", state, &wrongEpoch, ErrWrongEpoch},
		{"no signature", state, &noSig, ErrNoSignature},
		{"bitmask too long", state, &longMask, ErrBitmaskSize},
		{"signer out of range", state, &ghost, ErrUnknownSigner},
		{"invalid public key", badKeys.EpochState(9), good, ErrBadPublicKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.state.Verify(c.li); !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}

	// A verifier built without the constructor (no key cache) verifies too.
	plain := &EpochState{Epoch: 9, Verifier: ValidatorVerifier{Validators: signers.Verifier.Validators}}
	if err := plain.Verify(good); err != nil {
		t.Errorf("uncached verifier: %v", err)
	}
	// The cache remembers a bad key.
	for range 2 {
		if err := badKeys.EpochState(9).Verify(good); !errors.Is(err, ErrBadPublicKey) {
			t.Errorf("cached bad key: got %v", err)
		}
	}
}

func TestEmptyValidatorSet(t *testing.T) {
	// Quorum 0 passes the power check, as in Rust, but no signer means no
	// aggregate key: refused.
	state := &EpochState{Epoch: 1, Verifier: NewValidatorVerifier(nil)}
	sig := Signature{0xc0}
	li := &LedgerInfoWithSignatures{Signatures: AggregateSignature{Sig: &sig}}
	li.LedgerInfo.CommitInfo.Epoch = 1
	if err := state.Verify(li); !errors.Is(err, ErrBadSignature) {
		t.Errorf("got %v, want ErrBadSignature", err)
	}
}
