package ledger

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"sync"

	"github.com/cloudflare/circl/ecc/bls12381"
)

// Verification outcomes. Rust's VerifyError has one InvalidBitVec for both
// bitmask cases; they are told apart here because they point at different
// damage.
var (
	// ErrWrongEpoch is returned when a ledger info is checked against the
	// validator set of another epoch.
	ErrWrongEpoch = errors.New("ledger: ledger info is from another epoch than the validator set")
	// ErrBitmaskSize is returned when the signer bitmask has not exactly the
	// bytes the validator set needs (Rust: InvalidBitVec).
	ErrBitmaskSize = errors.New("ledger: signer bitmask size does not match the validator set")
	// ErrUnknownSigner is returned when the bitmask names a validator index
	// past the end of the set (Rust: InvalidBitVec).
	ErrUnknownSigner = errors.New("ledger: signer bitmask names a validator that does not exist")
	// ErrTooLittleVotingPower is returned when the signers hold less than
	// the quorum voting power (Rust: TooLittleVotingPower).
	ErrTooLittleVotingPower = errors.New("ledger: signers hold less than the quorum voting power")
	// ErrNoSignature is returned when the aggregate signature is absent
	// (Rust: EmptySignature).
	ErrNoSignature = errors.New("ledger: aggregate signature is missing")
	// ErrBadPublicKey is returned when a signer's public key is not a
	// point of the prime-order subgroup of G1 (Rust: FailedToAggregatePubKey).
	ErrBadPublicKey = errors.New("ledger: validator public key is not a valid G1 point")
	// ErrBadSignature is returned when the aggregate signature is malformed
	// or does not verify (Rust: InvalidMultiSignature).
	ErrBadSignature = errors.New("ledger: aggregate signature does not verify")
)

// keyCache holds parsed public keys, parsed on first use: most validators of
// a set sign every ledger info, and a point costs a square root and a
// subgroup check to parse.
type keyCache struct {
	mu    sync.Mutex
	pts   []bls12381.G1
	state []uint8 // 0 not parsed, 1 valid, 2 invalid
}

func newKeyCache(n int) *keyCache {
	return &keyCache{pts: make([]bls12381.G1, n), state: make([]uint8, n)}
}

// addKey adds validator i's key to sum.
func (v *ValidatorVerifier) addKey(sum *bls12381.G1, i int) error {
	c := v.keys
	if c == nil || len(c.state) != len(v.Validators) {
		p, err := v.Validators[i].PublicKey.Point()
		if err != nil {
			return fmt.Errorf("validator %d: %w", i, err)
		}
		sum.Add(sum, p)
		return nil
	}
	switch c.state[i] {
	case 0:
		p, err := v.Validators[i].PublicKey.Point()
		if err != nil {
			c.state[i] = 2
			return fmt.Errorf("validator %d: %w", i, err)
		}
		c.pts[i], c.state[i] = *p, 1
	case 2:
		return fmt.Errorf("validator %d: %w", i, ErrBadPublicKey)
	}
	sum.Add(sum, &c.pts[i])
	return nil
}

// VotingPower is an unsigned 128-bit sum of voting power: Rust sums in VotingPower.
type VotingPower struct{ Hi, Lo uint64 }

func (a VotingPower) add64(b uint64) VotingPower {
	lo, carry := bits.Add64(a.Lo, b, 0)
	return VotingPower{a.Hi + carry, lo}
}

// Less reports whether a < b.
func (a VotingPower) Less(b VotingPower) bool { return a.Hi < b.Hi || a.Hi == b.Hi && a.Lo < b.Lo }

func (a VotingPower) String() string {
	if a.Hi == 0 {
		return fmt.Sprint(a.Lo)
	}
	n := new(big.Int).SetUint64(a.Hi)
	return n.Lsh(n, 64).Or(n, new(big.Int).SetUint64(a.Lo)).String()
}

// TotalVotingPower is the sum of the validators' voting power.
func (v *ValidatorVerifier) TotalVotingPower() VotingPower {
	var t VotingPower
	for i := range v.Validators {
		t = t.add64(v.Validators[i].VotingPower)
	}
	return t
}

// QuorumVotingPower is total*2/3 + 1 in VotingPower, or 0 for an empty set, as
// ValidatorVerifier::new computes it.
func (v *ValidatorVerifier) QuorumVotingPower() VotingPower {
	if len(v.Validators) == 0 {
		return VotingPower{}
	}
	t := v.TotalVotingPower()
	// t*2 cannot overflow: t < 2^64 * 2^16.
	t2 := VotingPower{t.Hi<<1 | t.Lo>>63, t.Lo << 1}
	qhi, rhi := t2.Hi/3, t2.Hi%3
	qlo, _ := bits.Div64(rhi, t2.Lo, 3)
	return VotingPower{qhi, qlo}.add64(1)
}

// VerifySignatures checks that validators of v holding a quorum of voting
// power signed li, in the order of ValidatorVerifier::verify_multi_signatures:
// bitmask shape, voting power, presence of the signature, then the pairing.
//
// Voting power is summed per bitmask index. Rust looks it up by the signer's
// address, which differs only if a set lists one address twice; the stake
// module never builds such a set.
//
// Rust: types/src/validator_verifier.rs, verify_multi_signatures and
// check_voting_power; types/src/ledger_info.rs, verify_signatures.
func (v *ValidatorVerifier) VerifySignatures(li *LedgerInfo, sig *AggregateSignature) error {
	return v.verify(li.SigningMessage(), sig)
}

func (v *ValidatorVerifier) verify(msg []byte, sig *AggregateSignature) error {
	n := len(v.Validators)
	mask := sig.ValidatorBitmask
	// Rust casts the set's size to u16 here (check_num_of_voters).
	if len(mask.Buckets) != requiredBuckets(int(uint16(n))) {
		return fmt.Errorf("%w: %d bytes for %d validators", ErrBitmaskSize, len(mask.Buckets), n)
	}
	if last := mask.LastSetBit(); last >= int(uint16(n)) {
		return fmt.Errorf("%w: index %d of %d", ErrUnknownSigner, last, n)
	}
	var power VotingPower
	for i := range n {
		if mask.IsSet(i) {
			power = power.add64(v.Validators[i].VotingPower)
		}
	}
	if q := v.QuorumVotingPower(); power.Less(q) {
		return fmt.Errorf("%w: %v of %v", ErrTooLittleVotingPower, power, q)
	}
	if sig.Sig == nil {
		return ErrNoSignature
	}
	var agg bls12381.G1
	if err := v.aggregateKeys(&agg, mask); err != nil {
		return err
	}
	return verifyAggregate(&agg, msg, sig.Sig)
}

// aggregateKeys sums the public keys of the signers mask names.
func (v *ValidatorVerifier) aggregateKeys(agg *bls12381.G1, mask BitVec) error {
	if v.keys != nil {
		v.keys.mu.Lock()
		defer v.keys.mu.Unlock()
	}
	agg.SetIdentity()
	signers := 0
	for i := range v.Validators {
		if mask.IsSet(i) {
			if err := v.addKey(agg, i); err != nil {
				return err
			}
			signers++
		}
	}
	if signers == 0 {
		// blst refuses to aggregate no keys (Rust: FailedToAggregatePubKey).
		return fmt.Errorf("%w: no signers", ErrBadSignature)
	}
	return nil
}

// Verify checks that li belongs to e's epoch and is signed by a quorum of
// e's validators (the Verifier impl of EpochState).
func (e *EpochState) Verify(li *LedgerInfoWithSignatures) error {
	if got := li.LedgerInfo.CommitInfo.Epoch; got != e.Epoch {
		return fmt.Errorf("%w: ledger info epoch %d, validator set epoch %d", ErrWrongEpoch, got, e.Epoch)
	}
	return e.Verifier.VerifySignatures(&li.LedgerInfo, &li.Signatures)
}
