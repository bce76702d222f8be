package ledger

import (
	"crypto/sha3"
	"encoding/binary"
	"fmt"

	"github.com/cloudflare/circl/ecc/bls12381"
)

// Signers is a validator set with its secret keys, for simulators and tests
// that need genuine signed ledger infos.
type Signers struct {
	Keys     []*SecretKey
	Verifier ValidatorVerifier
}

// GenerateSigners derives len(votingPowers) validators from seed: the same
// seed gives the same keys and addresses. Validator i has votingPowers[i].
func GenerateSigners(seed []byte, votingPowers []uint64) *Signers {
	s := &Signers{Keys: make([]*SecretKey, len(votingPowers))}
	vs := make([]ValidatorConsensusInfo, len(votingPowers))
	for i, p := range votingPowers {
		s.Keys[i] = deriveSecretKey(seed, i)
		vs[i] = ValidatorConsensusInfo{
			Address:     deriveAddress(seed, i),
			PublicKey:   s.Keys[i].PublicKey(),
			VotingPower: p,
		}
	}
	s.Verifier = NewValidatorVerifier(vs)
	return s
}

func deriveAddress(seed []byte, i int) AccountAddress {
	h := sha3.New256()
	h.Write([]byte("backseal ledger test address"))
	h.Write(seed)
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(i)))
	var a AccountAddress
	h.Sum(a[:0])
	return a
}

// EpochState returns the signers as the validator set of epoch.
func (s *Signers) EpochState(epoch uint64) *EpochState {
	return &EpochState{Epoch: epoch, Verifier: s.Verifier}
}

// Sign returns li signed by the validators at the indices in who, with the
// bitmask sized for the whole set as ValidatorVerifier::aggregate_signatures
// builds it. The aggregate is (sum of their keys) * H(m), which is the sum
// of their signatures, computed with one scalar multiplication.
func (s *Signers) Sign(li *LedgerInfo, who []int) (*LedgerInfoWithSignatures, error) {
	mask := NewBitVec(len(s.Keys))
	var sum bls12381.Scalar
	for _, i := range who {
		if i < 0 || i >= len(s.Keys) {
			return nil, fmt.Errorf("ledger: signer %d of %d", i, len(s.Keys))
		}
		if mask.IsSet(i) {
			continue
		}
		mask.Set(i)
		sum.Add(&sum, &s.Keys[i].s)
	}
	sig := signWithScalar(&sum, li.SigningMessage())
	return &LedgerInfoWithSignatures{
		LedgerInfo: *li,
		Signatures: AggregateSignature{ValidatorBitmask: mask, Sig: &sig},
	}, nil
}
