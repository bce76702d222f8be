// Package types holds Go mirrors of the Aptos types a transaction backup
// record carries, their BCS decoders and encoders, and the hashes a
// verifier checks them with. Every type names the Rust definition in
// aptos-core it follows; field orders and variant indices are those of
// testsuite/generate-format/tests/staged/aptos.yaml (commit 51fb31b6), and
// of the Rust source for the types that file lacks (TransactionInfo,
// ExecutionStatus, PersistedAuxiliaryInfo, BlockEpiloguePayload::V1).
//
// Decoders borrow: byte slices and Identifiers alias the input. They are
// bounded (lengths checked against the bytes left, recursion through
// bcs.Reader.Enter) and refuse what the Rust deserializer refuses, as far
// as the encoding goes: unknown variants (as *bcs.UnknownVariantError),
// map keys out of order, trailing bytes, strings that are not UTF-8, and
// access paths that are not a Path.
//
// Every variant in aptos.yaml decodes, the rarely seen leaves included
// (keyless, federated keyless, WebAuthn, account abstraction, DKG and JWK
// validator transactions). Variants newer than that file and the Rust
// read for this package are refused as unknown rather than guessed.
//
// DecodeTransactionRecord splits a /transactions backup record and keeps
// each part's raw bytes, so the hashes (HashTransaction, HashContractEvent,
// HashWriteSet, HashTransactionInfo, HashPersistedAuxiliaryInfo) are taken
// over the bytes the node sent.
package types
