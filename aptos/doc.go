// Package aptos holds Go mirrors of the Aptos types a backup carries, each
// beside a comment naming the Rust definition in aptos-core it follows, so
// that backseal can check a backup's content against the chain's own
// commitments while it streams.
//
// The packages below it split the concern: bcs is the encoding, hash the
// CryptoHasher scheme and the HashValue; the others hold the types and the
// proofs over them.
package aptos
