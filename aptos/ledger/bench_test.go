package ledger

import (
	"testing"

	"github.com/backseal/backseal/aptos/bcs"
)

func benchState(b *testing.B, n int) (*EpochState, *LedgerInfoWithSignatures) {
	signers := GenerateSigners([]byte("bench"), powers(n, 1000))
	next := GenerateSigners([]byte("bench next"), powers(n, 1000))
	li, err := signers.Sign(epochEnding(1, 100, next), seq(n))
	if err != nil {
		b.Fatal(err)
	}
	return signers.EpochState(1), li
}

// BenchmarkEpochStateVerify is one epoch-ending record checked by a
// validator set whose keys are already parsed (as Current() is for every
// later ledger info of its epoch).
func BenchmarkEpochStateVerify(b *testing.B) {
	state, li := benchState(b, 100)
	if err := state.Verify(li); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := state.Verify(li); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEpochStateVerifyColdKeys includes parsing the 100 public keys
// (decompression and subgroup check), as the first verification with each
// epoch's validator set pays it.
func BenchmarkEpochStateVerifyColdKeys(b *testing.B) {
	state, li := benchState(b, 100)
	b.ReportAllocs()
	for b.Loop() {
		cold := &EpochState{Epoch: state.Epoch, Verifier: NewValidatorVerifier(state.Verifier.Validators)}
		if err := cold.Verify(li); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLedgerInfoWithSignatures(b *testing.B) {
	_, li := benchState(b, 100)
	w := bcs.NewWriter(nil)
	li.Encode(w)
	rec := w.Encoded()
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseLedgerInfoWithSignatures(rec); err != nil {
			b.Fatal(err)
		}
	}
}
