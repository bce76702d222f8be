package accumulator

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

// readHashes reads a Vec<HashValue>. The length is checked against the bytes
// left before anything is allocated.
func readHashes(r *bcs.Reader) []hash.Value { return hash.ReadSeq(r) }

func writeHashes(w *bcs.Writer, hs []hash.Value) { hash.WriteSeq(w, hs) }

// AccumulatorProof proves one leaf: its siblings from the bottom level up to
// the root, placeholders included. TransactionAccumulatorProof and
// EventAccumulatorProof are this with their hasher.
//
// Rust: types/src/proof/definition.rs, AccumulatorProof.
type AccumulatorProof struct {
	Siblings []hash.Value
}

// Decode reads the proof from r.
func (p *AccumulatorProof) Decode(r *bcs.Reader) { p.Siblings = readHashes(r) }

// Encode writes the proof to w.
func (p *AccumulatorProof) Encode(w *bcs.Writer) { writeHashes(w, p.Siblings) }

// Verify checks that leafHash is leaf leafIndex of the accumulator with root
// expectedRoot, the tree's internal nodes hashing with h: the leaf folded
// with each sibling, on the side the index's bit at that level says.
func (p *AccumulatorProof) Verify(h *hash.Hasher, expectedRoot, leafHash hash.Value, leafIndex uint64) error {
	if len(p.Siblings) > MaxProofDepth {
		return fmt.Errorf("accumulator: proof has %d siblings, more than %d", len(p.Siblings), MaxProofDepth)
	}
	cur, index := leafHash, leafIndex
	for i := range p.Siblings {
		if index%2 == 0 {
			cur = node(h, &cur, &p.Siblings[i])
		} else {
			cur = node(h, &p.Siblings[i], &cur)
		}
		index /= 2
	}
	if cur != expectedRoot {
		return fmt.Errorf("%w: got %v, want %v", ErrRootMismatch, cur, expectedRoot)
	}
	return nil
}

// AccumulatorRangeProof proves a run of consecutive leaves: the siblings on
// the left of the first leaf's path and on the right of the last leaf's,
// each list from the bottom level up. (The Rust doc comment says "near the
// root first", but both get_range_proof and verify go bottom-up; the code is
// what nodes serve.) TransactionAccumulatorRangeProof is this with the
// transaction accumulator's hasher.
//
// Rust: types/src/proof/definition.rs, AccumulatorRangeProof.
type AccumulatorRangeProof struct {
	LeftSiblings  []hash.Value
	RightSiblings []hash.Value
}

// Decode reads the proof from r.
func (p *AccumulatorRangeProof) Decode(r *bcs.Reader) {
	p.LeftSiblings = readHashes(r)
	p.RightSiblings = readHashes(r)
}

// Encode writes the proof to w.
func (p *AccumulatorRangeProof) Encode(w *bcs.Writer) {
	writeHashes(w, p.LeftSiblings)
	writeHashes(w, p.RightSiblings)
}

// Errors of range verification, beyond ErrRootMismatch.
var (
	// ErrMissingLeftSibling: the range's first node at some level is a right
	// child and the proof has no left sibling left for it.
	ErrMissingLeftSibling = errors.New("accumulator: first child is a right child, but missing sibling on the left")
	// ErrMissingRightSibling: the range's last node at some level is a left
	// child and the proof has no right sibling left for it.
	ErrMissingRightSibling = errors.New("accumulator: last child is a left child, but missing sibling on the right")
	// ErrEmptyRange: leaves without a first index, or a first index without leaves.
	ErrEmptyRange = errors.New("accumulator: first leaf index and leaf count disagree")
	// ErrSiblingsForEmptyRange: an empty range comes with siblings.
	ErrSiblingsForEmptyRange = errors.New("accumulator: an empty range needs no siblings")
)

func (p *AccumulatorRangeProof) checkDepth() error {
	if len(p.LeftSiblings) > MaxProofDepth {
		return fmt.Errorf("accumulator: proof has %d left siblings, more than %d", len(p.LeftSiblings), MaxProofDepth)
	}
	if len(p.RightSiblings) > MaxProofDepth {
		return fmt.Errorf("accumulator: proof has %d right siblings, more than %d", len(p.RightSiblings), MaxProofDepth)
	}
	return nil
}

// Verify checks that leafHashes are the leaves from *firstLeafIndex on of the
// accumulator with root expectedRoot. A nil firstLeafIndex is the empty
// range, which Rust accepts with no leaves and no siblings whatever the root.
// It gives the same answer as Rust's verify; it folds the range level by
// level in one scratch slice, so it holds all the leaves: for a range that
// streams, use RangeVerifier.
func (p *AccumulatorRangeProof) Verify(h *hash.Hasher, expectedRoot hash.Value, firstLeafIndex *uint64, leafHashes []hash.Value) error {
	if firstLeafIndex == nil {
		if len(leafHashes) != 0 {
			return ErrEmptyRange
		}
		if len(p.LeftSiblings) != 0 || len(p.RightSiblings) != 0 {
			return ErrSiblingsForEmptyRange
		}
		return nil
	}
	root, err := p.fold(h, *firstLeafIndex, leafHashes)
	if err != nil {
		return err
	}
	if root != expectedRoot {
		return fmt.Errorf("%w: got %v, want %v", ErrRootMismatch, root, expectedRoot)
	}
	return nil
}

// fold is the body of Rust's verify: the root that the leaves and siblings
// make, or why they make none.
func (p *AccumulatorRangeProof) fold(h *hash.Hasher, firstLeafIndex uint64, leafHashes []hash.Value) (hash.Value, error) {
	if err := p.checkDepth(); err != nil {
		return hash.Value{}, err
	}
	if len(leafHashes) == 0 {
		return hash.Value{}, ErrEmptyRange
	}
	left, right := p.LeftSiblings, p.RightSiblings
	pos := leafPosition(firstLeafIndex)
	cur := append([]hash.Value(nil), leafHashes...)
	for len(cur) > 1 || len(left) > 0 || len(right) > 0 {
		next := cur[:0]
		i := 0
		if pos.isRightChild() {
			if len(left) == 0 {
				return hash.Value{}, ErrMissingLeftSibling
			}
			next = append(next, node(h, &left[0], &cur[0]))
			left = left[1:]
			i = 1
		}
		for ; i+1 < len(cur); i += 2 {
			next = append(next, node(h, &cur[i], &cur[i+1]))
		}
		if i < len(cur) {
			if len(right) == 0 {
				return hash.Value{}, ErrMissingRightSibling
			}
			next = append(next, node(h, &cur[i], &right[0]))
			right = right[1:]
		}
		cur = next
		pos = pos.parent()
	}
	return cur[0], nil
}

// position is Rust's Position: a node's in-order index in a u64, with
// Rust's wrapping bit arithmetic, so that the range verifier walks levels
// exactly as Rust does even for indices at the edge of the u64 range.
//
// Rust: types/src/proof/position/mod.rs, Position.
type position uint64

func leafPosition(index uint64) position { return position(index << 1) }

func isolateRightmostZeroBit(v uint64) uint64 { return ^v & (v + 1) }

func (p position) isRightChild() bool {
	return uint64(p)&(isolateRightmostZeroBit(uint64(p))<<1) != 0
}

func (p position) parent() position {
	z := isolateRightmostZeroBit(uint64(p))
	return position((uint64(p) | z) &^ (z << 1))
}

// AccumulatorConsistencyProof shows a larger accumulator extends a smaller
// one: the subtrees that represent the new leaves, left to right.
//
// Rust: types/src/proof/definition.rs, AccumulatorConsistencyProof.
type AccumulatorConsistencyProof struct {
	Subtrees []hash.Value
}

// Decode reads the proof from r.
func (p *AccumulatorConsistencyProof) Decode(r *bcs.Reader) { p.Subtrees = readHashes(r) }

// Encode writes the proof to w.
func (p *AccumulatorConsistencyProof) Encode(w *bcs.Writer) { writeHashes(w, p.Subtrees) }

// TransactionInfoWithProof is a TransactionInfo with the accumulator proof
// from the ledger root to it. TransactionInfo is decoded in aptos/types;
// here it stays its BCS bytes, which is all its proof needs (its hash).
//
// Rust: types/src/proof/definition.rs, TransactionInfoWithProof
// (fields: ledger_info_to_transaction_info_proof, then transaction_info).
type TransactionInfoWithProof struct {
	LedgerInfoToTransactionInfoProof AccumulatorProof
	// TransactionInfo is the BCS encoding of the TransactionInfo. After
	// Decode it aliases the input.
	TransactionInfo []byte
}

// Decode reads the value from r. transactionInfo reads one TransactionInfo
// from r (aptos/types's decoder); the bytes it consumes become
// TransactionInfo. A nil transactionInfo takes the rest of the input, which
// is right only when this value ends the input: transaction_info is the
// last field, but in a tuple such as the state snapshot's proof file
// (TransactionInfoWithProof, LedgerInfoWithSignatures) it is not the last
// thing, so there a decoder is needed.
func (p *TransactionInfoWithProof) Decode(r *bcs.Reader, transactionInfo func(*bcs.Reader)) {
	p.LedgerInfoToTransactionInfoProof.Decode(r)
	from := r.Offset()
	if transactionInfo == nil {
		r.Fixed(r.Remaining())
	} else {
		transactionInfo(r)
	}
	p.TransactionInfo = r.Raw(from)
	if r.Err() == nil && len(p.TransactionInfo) == 0 {
		r.Fail(errors.New("accumulator: empty TransactionInfo"))
	}
}

// Encode writes the value to w.
func (p *TransactionInfoWithProof) Encode(w *bcs.Writer) {
	p.LedgerInfoToTransactionInfoProof.Encode(w)
	w.Fixed(p.TransactionInfo)
}

// transactionInfoHasher is TransactionInfo's derived CryptoHasher.
var transactionInfoHasher = hash.NewHasher("TransactionInfo")

// Verify is verify_transaction_info: the TransactionInfo is transaction
// version of a ledger whose latest version is ledgerVersion and whose
// transaction accumulator root is accumulatorRoot (both from a LedgerInfo).
func (p *TransactionInfoWithProof) Verify(ledgerVersion uint64, accumulatorRoot hash.Value, version uint64) error {
	if version > ledgerVersion {
		return fmt.Errorf("accumulator: transaction version %d is newer than LedgerInfo version %d", version, ledgerVersion)
	}
	return p.LedgerInfoToTransactionInfoProof.Verify(hash.TransactionAccumulator, accumulatorRoot,
		transactionInfoHasher.Sum(p.TransactionInfo), version)
}

// AppendSubtrees is InMemoryAccumulator::append_subtrees: it extends a by
// numNewLeaves leaves known only by the roots of the subtrees they form (an
// AccumulatorConsistencyProof), merging them with a's rightmost frozen
// subtrees where sizes match.
func (a *Accumulator) AppendSubtrees(subtrees []hash.Value, numNewLeaves uint64) error {
	if a.numLeaves > 1<<MaxProofDepth || numNewLeaves > 1<<MaxProofDepth-a.numLeaves {
		return fmt.Errorf("accumulator: too many new leaves: %d on %d", numNewLeaves, a.numLeaves)
	}
	if a.numLeaves == 0 {
		b, err := NewFromFrozen(a.hasher, subtrees, numNewLeaves)
		if err != nil {
			return err
		}
		*a = *b
		return nil
	}
	next := *a
	remaining := numNewLeaves
	size := uint64(1) << bits.TrailingZeros64(next.numLeaves)
	for remaining >= size {
		if len(subtrees) == 0 {
			return errors.New("accumulator: too few subtrees")
		}
		mask := size
		cur := subtrees[0]
		subtrees = subtrees[1:]
		for next.numLeaves&mask != 0 {
			next.numFrozen--
			cur = node(next.hasher, &next.frozen[next.numFrozen], &cur)
			mask <<= 1
		}
		next.frozen[next.numFrozen] = cur
		next.numFrozen++
		next.numLeaves += size
		remaining -= size
		size = mask
	}
	next.numLeaves += remaining
	if next.numFrozen+len(subtrees) != bits.OnesCount64(next.numLeaves) {
		return fmt.Errorf("accumulator: %d subtrees do not make %d new leaves", len(subtrees), numNewLeaves)
	}
	copy(next.frozen[next.numFrozen:], subtrees)
	next.numFrozen += len(subtrees)
	*a = next
	return nil
}
