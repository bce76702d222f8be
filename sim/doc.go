// Package sim simulates the Aptos node's legacy HTTP backup service on the
// wire, byte for byte, with fault injection. It is the upstream of every
// backseal test, the demo and the benchmarks, and lets operators rehearse
// failures (see docs/SIMULATOR.md).
//
// A Chain is the deterministic content: record i of any stream is a pure
// function of the seed and the record's identity, so continuations of a
// broken stream carry exactly the missing records. A Server writes that
// content as warp on hyper does: lowercase headers, one chunk per
// BytesSender batch, a bounded batch queue, at most 64 producers, and the
// failures of docs/legacy-backup-service.md on demand (Fault).
//
// By default the records are synthetic bytes of realistic sizes. With
// Config.Genuine they are real Aptos structures consistent with every
// commitment (transaction and event accumulators, sparse Merkle roots,
// BLS-signed epoch-ending ledger infos from Chain.GenesisWaypoint), so a
// content verifier can be tested end to end; the content faults (Flip, Swap,
// Stale, Variant) damage one record in ways only such a verifier sees.
package sim
