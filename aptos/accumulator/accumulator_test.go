package accumulator

import (
	"bytes"
	"errors"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

// No aptos-core test pins an accumulator root in bytes (its tests compare
// against a naive computation with a test-only hasher), so these tests check
// against naiveNode, written from the definition in storage/accumulator's
// doc comment: a node with no leaf under it is the placeholder at any level,
// a leaf is itself, any other node hashes its children.

func naiveNode(h *hash.Hasher, leaves []hash.Value, level int, index uint64) hash.Value {
	if index<<level >= uint64(len(leaves)) {
		return hash.AccumulatorPlaceholder
	}
	if level == 0 {
		return leaves[index]
	}
	l := naiveNode(h, leaves, level-1, 2*index)
	r := naiveNode(h, leaves, level-1, 2*index+1)
	return h.Sum(l[:], r[:])
}

func naiveRoot(h *hash.Hasher, leaves []hash.Value) hash.Value {
	if len(leaves) == 0 {
		return hash.AccumulatorPlaceholder
	}
	return naiveNode(h, leaves, bits.Len64(uint64(len(leaves)-1)), 0)
}

func randomLeaves(rng *rand.Rand, n int) []hash.Value {
	out := make([]hash.Value, n)
	for i := range out {
		for j := range out[i] {
			out[i][j] = byte(rng.Uint32())
		}
	}
	return out
}

func TestAccumulatorRootMatchesNaive(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	leaves := randomLeaves(rng, 70)
	for _, h := range []*hash.Hasher{hash.TransactionAccumulator, hash.EventAccumulator} {
		a := New(h)
		tree := NewTree(h, leaves)
		for n := 0; n <= len(leaves); n++ {
			want := naiveRoot(h, leaves[:n])
			if got := a.Root(); got != want {
				t.Fatalf("%d leaves: Accumulator root %v, want %v", n, got, want)
			}
			if got, _ := tree.RootAt(uint64(n)); got != want {
				t.Fatalf("%d leaves: Tree root %v, want %v", n, got, want)
			}
			// InMemoryAccumulator::new from the frozen roots gives the same.
			b, err := NewFromFrozen(h, a.FrozenSubtreeRoots(), a.NumLeaves())
			if err != nil || b.Root() != want {
				t.Fatalf("%d leaves: NewFromFrozen root %v, %v", n, b.Root(), err)
			}
			if n < len(leaves) {
				a.Add(leaves[n])
			}
		}
		if got := EventRoot(leaves[:5]); h == hash.EventAccumulator && got != naiveRoot(h, leaves[:5]) {
			t.Errorf("EventRoot = %v", got)
		}
	}
	if EventRoot(nil) != hash.AccumulatorPlaceholder {
		t.Error("EventRoot of no events is not the placeholder")
	}
	if _, err := NewFromFrozen(hash.TransactionAccumulator, make([]hash.Value, 1), 3); err == nil {
		t.Error("NewFromFrozen took 1 root for 3 leaves")
	}
}

func TestProofs(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	h := hash.TransactionAccumulator
	leaves := randomLeaves(rng, 40)
	tree := NewTree(h, leaves)
	for n := uint64(1); n <= tree.NumLeaves(); n++ {
		root, _ := tree.RootAt(n)
		for i := range n {
			p, err := tree.ProofAt(n, i)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Verify(h, root, leaves[i], i); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			if err := p.Verify(h, root, leaves[(i+1)%n], i); n > 1 && !errors.Is(err, ErrRootMismatch) {
				t.Fatalf("n=%d i=%d: wrong leaf: %v", n, i, err)
			}
			for last := i; last < n; last++ {
				rp, err := tree.RangeProofAt(n, i, last)
				if err != nil {
					t.Fatal(err)
				}
				first := i
				if err := rp.Verify(h, root, &first, leaves[i:last+1]); err != nil {
					t.Fatalf("n=%d range %d..%d: %v", n, i, last, err)
				}
			}
		}
		// Consistency from every smaller ledger.
		for sub := range n + 1 {
			cp, err := tree.ConsistencyProof(n, sub)
			if err != nil {
				t.Fatal(err)
			}
			a := New(h)
			for _, l := range leaves[:sub] {
				a.Add(l)
			}
			if err := a.AppendSubtrees(cp.Subtrees, n-sub); err != nil || a.Root() != root || a.NumLeaves() != n {
				t.Fatalf("consistency %d->%d: %v, root %v want %v", sub, n, err, a.Root(), root)
			}
		}
	}
}

// streamVerify runs the RangeVerifier over leaves.
func streamVerify(h *hash.Hasher, root hash.Value, first *uint64, p *AccumulatorRangeProof, leaves []hash.Value) error {
	v := NewRangeVerifier(h, root, first, p)
	for _, l := range leaves {
		v.Add(l)
	}
	return v.Finish()
}

// TestRangeVerifierAgreesWithRust compares the streaming verifier with the
// direct port of Rust's verify: true proofs from Tree (edges included), the
// same proofs damaged, and proofs of random shape whose root is whatever the
// port folds them to, so that acceptance is tested across shapes, not only
// for well-formed proofs.
func TestRangeVerifierAgreesWithRust(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(5, 6))
	h := hash.TransactionAccumulator
	leaves := randomLeaves(rng, 300)
	tree := NewTree(h, leaves)
	var accepted, rejected int
	check := func(name string, root hash.Value, first *uint64, p *AccumulatorRangeProof, ls []hash.Value) {
		t.Helper()
		want := p.Verify(h, root, first, ls)
		got := streamVerify(h, root, first, p, ls)
		if (want == nil) != (got == nil) {
			t.Fatalf("%s: first=%v n=%d left=%d right=%d: Rust port %v, streaming %v",
				name, first, len(ls), len(p.LeftSiblings), len(p.RightSiblings), want, got)
		}
		if want == nil {
			accepted++
		} else {
			rejected++
		}
	}
	counts := []uint64{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 300}
	for range 400 {
		counts = append(counts, 1+rng.Uint64N(300))
	}
	for _, n := range counts {
		root, _ := tree.RootAt(n)
		ranges := [][2]uint64{{0, n - 1}, {0, 0}, {n - 1, n - 1}, {n / 2, n - 1}, {0, n / 2}}
		for range 5 {
			a, b := rng.Uint64N(n), rng.Uint64N(n)
			ranges = append(ranges, [2]uint64{min(a, b), max(a, b)})
		}
		for _, r := range ranges {
			first, last := r[0], r[1]
			p, err := tree.RangeProofAt(n, first, last)
			if err != nil {
				t.Fatal(err)
			}
			ls := leaves[first : last+1]
			check("true", root, &first, &p, ls)
			// Damage: a leaf more or less, another first index, a sibling
			// more or less on either side, another root.
			if last+1 < uint64(len(leaves)) {
				check("extra leaf", root, &first, &p, leaves[first:last+2])
			}
			if last > first {
				check("missing leaf", root, &first, &p, ls[1:])
			}
			for _, f := range []uint64{first + 1, first - 1, first ^ 1<<63, first + 1<<20} {
				check("other first", root, &f, &p, ls)
			}
			for _, q := range damaged(rng, p) {
				check("damaged proof", root, &first, &q, ls)
			}
			check("other root", leaves[0], &first, &p, ls)
		}
	}
	// Random shapes: the port's own fold is the root, so both must accept
	// whenever the port does.
	for range 20000 {
		first := rng.Uint64()
		switch rng.IntN(3) {
		case 0:
			first = rng.Uint64N(64)
		case 1:
			first = rng.Uint64N(1 << 12)
		}
		n := 1 + rng.IntN(40)
		p := AccumulatorRangeProof{
			LeftSiblings:  randomLeaves(rng, rng.IntN(1+min(63, bits.OnesCount64(first)+1))),
			RightSiblings: randomLeaves(rng, rng.IntN(14)),
		}
		ls := leaves[:n]
		root, err := p.fold(h, first, ls)
		if err != nil {
			root = leaves[1]
		}
		check("random shape", root, &first, &p, ls)
	}
	// The empty range.
	check("empty", leaves[0], nil, &AccumulatorRangeProof{}, nil)
	check("empty with leaves", leaves[0], nil, &AccumulatorRangeProof{}, leaves[:1])
	check("empty with siblings", leaves[0], nil, &AccumulatorRangeProof{RightSiblings: leaves[:1]}, nil)
	zero := uint64(0)
	check("no leaves", leaves[0], &zero, &AccumulatorRangeProof{}, nil)
	check("too deep", leaves[0], &zero, &AccumulatorRangeProof{RightSiblings: make([]hash.Value, 64)}, leaves[:1])
	t.Logf("%d accepted, %d rejected", accepted, rejected)
	if accepted < 1000 || rejected < 1000 {
		t.Errorf("too few of one kind: %d accepted, %d rejected", accepted, rejected)
	}
}

func damaged(rng *rand.Rand, p AccumulatorRangeProof) []AccumulatorRangeProof {
	x := randomLeaves(rng, 1)[0]
	var out []AccumulatorRangeProof
	add := func(l, r []hash.Value) { out = append(out, AccumulatorRangeProof{LeftSiblings: l, RightSiblings: r}) }
	add(append(append([]hash.Value(nil), p.LeftSiblings...), x), p.RightSiblings)
	add(p.LeftSiblings, append(append([]hash.Value(nil), p.RightSiblings...), hash.AccumulatorPlaceholder))
	if len(p.LeftSiblings) > 0 {
		add(p.LeftSiblings[1:], p.RightSiblings)
		add(p.LeftSiblings[:len(p.LeftSiblings)-1], p.RightSiblings)
	}
	if len(p.RightSiblings) > 0 {
		add(p.LeftSiblings, p.RightSiblings[1:])
		add(p.LeftSiblings, p.RightSiblings[:len(p.RightSiblings)-1])
	}
	return out
}

func TestRangeVerifierAddDoesNotAllocate(t *testing.T) {
	h := hash.TransactionAccumulator
	first := uint64(12345)
	v := NewRangeVerifier(h, hash.Zero, &first, &AccumulatorRangeProof{LeftSiblings: make([]hash.Value, 6)})
	var leaf hash.Value
	if n := testing.AllocsPerRun(1000, func() { v.Add(leaf) }); n != 0 {
		t.Errorf("Add allocates %v times", n)
	}
	a := New(h)
	if n := testing.AllocsPerRun(1000, func() { a.Add(leaf) }); n != 0 {
		t.Errorf("Accumulator.Add allocates %v times", n)
	}
}

func TestTransactionInfoWithProof(t *testing.T) {
	t.Parallel()
	infos := [][]byte{[]byte("info 0"), []byte("info 1"), []byte("info two"), []byte("3")}
	var leaves []hash.Value
	for _, b := range infos {
		leaves = append(leaves, transactionInfoHasher.Sum(b))
	}
	tree := NewTree(hash.TransactionAccumulator, leaves)
	for v := range uint64(len(infos)) {
		p, _ := tree.Proof(v)
		x := TransactionInfoWithProof{LedgerInfoToTransactionInfoProof: p, TransactionInfo: infos[v]}
		w := bcs.NewWriter(nil)
		x.Encode(w)
		var y TransactionInfoWithProof
		r := bcs.NewReader(w.Encoded())
		y.Decode(r, nil)
		if err := r.Done(); err != nil || !bytes.Equal(y.TransactionInfo, infos[v]) {
			t.Fatalf("round trip: %v %q", err, y.TransactionInfo)
		}
		if err := y.Verify(3, tree.Root(), v); err != nil {
			t.Errorf("version %d: %v", v, err)
		}
		if err := y.Verify(3, tree.Root(), (v+1)%4); err == nil {
			t.Errorf("version %d verified as %d", v, (v+1)%4)
		}
		if err := y.Verify(v-1, tree.Root(), v); v > 0 && err == nil {
			t.Errorf("version %d verified past the ledger version", v)
		}
		// With a decoder that reads a fixed size, trailing bytes stay.
		r = bcs.NewReader(append(w.Encoded(), 9))
		y.Decode(r, func(r *bcs.Reader) { r.Fixed(len(infos[v])) })
		if err := r.Done(); !errors.Is(err, bcs.ErrTrailing) || !bytes.Equal(y.TransactionInfo, infos[v]) {
			t.Fatalf("with decoder: %v %q", err, y.TransactionInfo)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 10))
	for range 50 {
		p := AccumulatorRangeProof{LeftSiblings: randomLeaves(rng, rng.IntN(5)), RightSiblings: randomLeaves(rng, rng.IntN(5))}
		w := bcs.NewWriter(nil)
		p.Encode(w)
		var q AccumulatorRangeProof
		r := bcs.NewReader(w.Encoded())
		q.Decode(r)
		if err := r.Done(); err != nil {
			t.Fatal(err)
		}
		w2 := bcs.NewWriter(nil)
		q.Encode(w2)
		if !bytes.Equal(w.Encoded(), w2.Encoded()) || len(q.LeftSiblings) != len(p.LeftSiblings) {
			t.Fatal("round trip differs")
		}
		for i := range p.LeftSiblings {
			if p.LeftSiblings[i] != q.LeftSiblings[i] {
				t.Fatal("left sibling differs")
			}
		}
	}
	// A HashValue must be 32 bytes; a lying length must not allocate.
	for _, b := range [][]byte{{1, 31}, {1, 0x21}, {0xff, 0xff, 0xff, 0x07}} {
		var p AccumulatorProof
		r := bcs.NewReader(append(b, make([]byte, 40)...))
		p.Decode(r)
		if r.Done() == nil {
			t.Errorf("% x decoded", b)
		}
	}
}
