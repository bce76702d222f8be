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
package sim
