// Package ledger mirrors the Aptos types that commit to the chain's history
// (LedgerInfo, BlockInfo, EpochState, ValidatorVerifier, the BLS12-381
// aggregate signature over them, Waypoint) and verifies them: a ledger info
// is trusted when validators of its epoch holding a quorum of voting power
// signed it, and the validator set of epoch e+1 is the next_epoch_state of
// the trusted ledger info that ends epoch e. EpochChain walks a backup's
// /epoch_ending_ledger_infos stream that way, one record at a time.
//
// Rust: types/src/ledger_info.rs, types/src/validator_verifier.rs,
// types/src/epoch_change.rs, crates/aptos-crypto/src/bls12381/.
package ledger
