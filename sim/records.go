package sim

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"sync"
)

// recordKind says which of the node's record types a stream carries.
type recordKind uint8

const (
	// kindTransaction: (Transaction, PersistedAuxiliaryInfo, TransactionInfo,
	// Vec<ContractEvent>, WriteSet) at a version; a few hundred bytes to a few
	// KiB, 1 in 1500 between 100 KiB and 1 MiB (big write sets, module publishing).
	kindTransaction recordKind = 1
	// kindEpochEnding: LedgerInfoWithSignatures closing an epoch, carrying the
	// next validator set: 2 to 12 KiB.
	kindEpochEnding recordKind = 2
	// kindStateItem: (StateKey, StateValue) of a snapshot; tens to hundreds of
	// bytes, 1 in 20000 between 100 and 400 KiB (large resources, modules).
	kindStateItem recordKind = 3
	// kindProof seeds the small endpoints' proofs.
	kindProof recordKind = 4
)

// Record layout: after the 4-byte big-endian length, the first 8 bytes of the
// payload are the record's identity hash (little-endian), so that two distinct
// records never compare equal; the rest is a slice of the seeded pool at an
// offset derived from the same hash. Generating a record is a hash, a size
// draw and one copy: no per-byte randomness.
const (
	idHashSize = 8
	minRecord  = 16      // every kind's records are at least this long
	maxRecord  = 1 << 20 // and at most this long
	poolSize   = 4<<20 + maxRecord
	offsetSalt = 0x5851f42d4c957f2d
	sizeSalt   = 0x14057b7ef767814f
	rareSalt   = 0x2545f4914f6cdd1d
)

var pools sync.Map // seed -> []byte, shared by chains with the same seed

// poolFor returns the read-only pool of seeded random bytes for seed.
func poolFor(seed uint64) []byte {
	if p, ok := pools.Load(seed); ok {
		return p.([]byte)
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	copy(key[8:], "backseal sim pool")
	p := make([]byte, poolSize)
	_, _ = rand.NewChaCha8(key).Read(p) // never fails
	actual, _ := pools.LoadOrStore(seed, p)
	return actual.([]byte)
}

// mix is splitmix64's finalizer: a fast bijective 64-bit mixer.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash is the identity hash of record (kind, a, b) under the chain's seed.
func (c *Chain) hash(k recordKind, a, b uint64) uint64 {
	h := mix(c.cfg.Seed + uint64(k)*0x9e3779b97f4a7c15)
	h = mix(h ^ a)
	return mix(h ^ (b + 0x632be59bd9b4e019))
}

// recordSize draws the payload size of the record whose identity hash is h.
func recordSize(k recordKind, h uint64) int {
	r := mix(h ^ sizeSalt)
	rare := mix(h ^ rareSalt)
	switch k {
	case kindTransaction:
		if rare%1500 == 0 {
			return 100<<10 + int(r%(924<<10+1)) // 100 KiB .. 1 MiB
		}
		return logNormal(r, 900, 0.9, 150, 256<<10)
	case kindEpochEnding:
		return 2<<10 + int(r%(10<<10+1))
	case kindStateItem:
		if rare%20000 == 0 {
			return 100<<10 + int(r%(300<<10+1)) // 100 .. 400 KiB
		}
		return logNormal(r, 180, 0.8, 40, 64<<10)
	}
	return minRecord
}

// logNormal maps the random bits r to a log-normal size with the given median
// and sigma, clamped to [lo, hi]. The normal deviate is Irwin–Hall (the sum of
// four uniforms), cheap and close enough for sizes.
func logNormal(r uint64, median, sigma float64, lo, hi int) int {
	sum := float64(r&0xffff) + float64(r>>16&0xffff) + float64(r>>32&0xffff) + float64(r>>48)
	z := (sum/65536 - 2) * math.Sqrt(3)
	n := int(median * math.Exp(sigma*z))
	return max(lo, min(hi, n))
}

// record returns the identity hash and payload size of record (k, a, b).
func (c *Chain) record(k recordKind, a, b uint64) (h uint64, size int) {
	h = c.hash(k, a, b)
	return h, recordSize(k, h)
}

// appendPayload appends the payload of the record with identity hash h and
// the given size (no length prefix).
func (c *Chain) appendPayload(dst []byte, h uint64, size int) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, h)
	return c.appendBlob(dst, h, size-idHashSize)
}

// appendRecord appends record (k, a, b) with its 4-byte big-endian length.
func (c *Chain) appendRecord(dst []byte, k recordKind, a, b uint64) []byte {
	if c.gen != nil {
		start := len(dst)
		dst = c.payload(append(dst, 0, 0, 0, 0), k, a, b, mutNone)
		binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
		return dst
	}
	h, size := c.record(k, a, b)
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	return c.appendPayload(dst, h, size)
}

// staleSalt picks the synthetic mode's "older value" of a state item.
const staleSalt = 0x3c6ef372fe94f82b

// payload appends the payload (no length prefix) of record (k, a, b) as a
// content fault m leaves it. In synthetic mode swap takes the next identity,
// stale keeps the identity hash and takes other bytes, flip inverts the
// middle byte and variant sets the first.
func (c *Chain) payload(dst []byte, k recordKind, a, b uint64, m mutation) []byte {
	if c.gen != nil {
		return c.gen.appendPayload(dst, k, a, b, m)
	}
	if m == mutSwap {
		b++
	}
	h, size := c.record(k, a, b)
	start := len(dst)
	if m == mutStale {
		dst = binary.LittleEndian.AppendUint64(dst, h)
		dst = c.appendBlob(dst, mix(h^staleSalt), size-idHashSize)
	} else {
		dst = c.appendPayload(dst, h, size)
	}
	switch m {
	case mutFlip:
		dst[start+size/2] ^= 0xff
	case mutVariant:
		dst[start] = variantUnknown
	}
	return dst
}
