package smt

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/backseal/backseal/aptos/bcs"
	"github.com/backseal/backseal/aptos/hash"
)

// No aptos-core test pins a sparse Merkle root in bytes for leaves we can
// rebuild (jellyfish-merkle's tests compare trees with each other), so these
// tests check against naive, written from the definition: empty is the
// placeholder, one leaf is its hash, else split on the next bit.

func naive(leaves []SparseMerkleLeafNode, depth int) hash.Value {
	switch len(leaves) {
	case 0:
		return hash.SparseMerklePlaceholder
	case 1:
		return naiveLeafHasher.Sum(leaves[0].Key[:], leaves[0].ValueHash[:])
	}
	var l, r []SparseMerkleLeafNode
	for _, x := range leaves {
		if x.Key[depth/8]&(0x80>>(depth%8)) == 0 {
			l = append(l, x)
		} else {
			r = append(r, x)
		}
	}
	lh, rh := naive(l, depth+1), naive(r, depth+1)
	return hash.SparseMerkleInternal.Sum(lh[:], rh[:])
}

var naiveLeafHasher = hash.NewHasher("SparseMerkleLeafNode")

// randomLeaves returns n sorted leaves; clustered keys share long prefixes,
// so that leaves sit deep and subtrees have single-child runs.
func randomLeaves(rng *rand.Rand, n int, clustered bool) []SparseMerkleLeafNode {
	var base hash.Value
	for i := range base {
		base[i] = byte(rng.Uint32())
	}
	seen := map[hash.Value]bool{}
	var out []SparseMerkleLeafNode
	for len(out) < n {
		k := base
		if clustered {
			for range 1 + rng.IntN(3) {
				b := 200 + rng.IntN(56)
				if rng.IntN(4) == 0 {
					b = rng.IntN(256)
				}
				k[b/8] ^= 0x80 >> (b % 8)
			}
		} else {
			for i := range k {
				k[i] = byte(rng.Uint32())
			}
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		var v hash.Value
		v[0], v[1] = byte(len(out)), byte(rng.Uint32())
		out = append(out, SparseMerkleLeafNode{Key: k, ValueHash: v})
	}
	slices.SortFunc(out, func(a, b SparseMerkleLeafNode) int { return bytes.Compare(a.Key[:], b.Key[:]) })
	return out
}

func TestBuilderRootMatchesNaive(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, clustered := range []bool{false, true} {
		for _, n := range []int{0, 1, 2, 3, 5, 17, 120} {
			leaves := randomLeaves(rng, n, clustered)
			b := NewBuilder()
			if b.Root() != hash.SparseMerklePlaceholder {
				t.Fatal("empty root is not the placeholder")
			}
			for i, l := range leaves {
				if err := b.Add(l.Key, l.ValueHash); err != nil {
					t.Fatal(err)
				}
				if got, want := b.Root(), naive(leaves[:i+1], 0); got != want {
					t.Fatalf("clustered=%v %d of %d leaves: root %v, want %v", clustered, i+1, n, got, want)
				}
			}
			tree, err := NewTree(leaves)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tree.Root(), naive(leaves, 0); got != want {
				t.Fatalf("Tree root %v, want %v", got, want)
			}
			// Every leaf's proof verifies, and not for another value.
			for i, l := range leaves {
				p := tree.Proof(i)
				if err := p.Verify(tree.Root(), l.Key, &l.ValueHash); err != nil {
					t.Fatalf("proof of leaf %d: %v", i, err)
				}
				other := hash.Value{1}
				if err := p.Verify(tree.Root(), l.Key, &other); err == nil {
					t.Fatalf("proof of leaf %d took another value", i)
				}
			}
		}
	}
}

func TestLeafHashIsRawKeyThenValue(t *testing.T) {
	k, v := hash.Value{1, 2, 3}, hash.Value{4, 5, 6}
	seed := hash.SHA3([]byte("APTOS::SparseMerkleLeafNode"))
	want := hash.SHA3(slices.Concat(seed[:], k[:], v[:]))
	if got := LeafHash(k, v); got != want {
		t.Errorf("LeafHash = %v, want %v", got, want)
	}
}

func TestBuilderKeyOrder(t *testing.T) {
	b := NewBuilder()
	k := hash.Value{5}
	if err := b.Add(k, hash.Zero); err != nil {
		t.Fatal(err)
	}
	root := b.Root()
	for _, bad := range []hash.Value{k, {4}} {
		if err := b.Add(bad, hash.Zero); !errors.Is(err, ErrKeyOrder) {
			t.Errorf("Add(%v) after %v: %v", bad, k, err)
		}
	}
	if b.Root() != root || b.Len() != 1 {
		t.Error("a refused Add changed the builder")
	}
	if _, err := NewTree([]SparseMerkleLeafNode{{Key: k}, {Key: k}}); !errors.Is(err, ErrKeyOrder) {
		t.Errorf("NewTree with a key twice: %v", err)
	}
}

// TestChunksVerifyAsRestore feeds a snapshot in chunks, checking each with
// the range proof of its last key, as a restore does.
func TestChunksVerifyAsRestore(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, clustered := range []bool{false, true} {
		for _, n := range []int{1, 2, 3, 8, 60, 300} {
			leaves := randomLeaves(rng, n, clustered)
			tree, _ := NewTree(leaves)
			root := tree.Root()
			b := NewBuilder()
			if err := b.VerifyRangeProof(root, &SparseMerkleRangeProof{}); !errors.Is(err, ErrNoLeaves) {
				t.Fatalf("no leaves: %v", err)
			}
			for i, l := range leaves {
				if err := b.Add(l.Key, l.ValueHash); err != nil {
					t.Fatal(err)
				}
				// Chunks of random size; always check the last one.
				if rng.IntN(3) != 0 && i != n-1 {
					continue
				}
				p := tree.RangeProof(i)
				if err := b.VerifyRangeProof(root, &p); err != nil {
					t.Fatalf("clustered=%v n=%d chunk ending at %d: %v", clustered, n, i, err)
				}
				for _, q := range damagedProofs(rng, tree, i, p) {
					if err := b.VerifyRangeProof(root, &q); err == nil {
						t.Fatalf("n=%d chunk ending at %d: damaged proof %v verified", n, i, q.RightSiblings)
					}
				}
				if err := b.VerifyRangeProof(hash.Value{7}, &p); !errors.Is(err, ErrRootMismatch) {
					t.Fatalf("other root: %v", err)
				}
			}
			if b.Root() != root {
				t.Fatal("whole snapshot root differs")
			}
		}
	}
	// A chunk that skips a leaf does not verify.
	leaves := randomLeaves(rng, 50, false)
	tree, _ := NewTree(leaves)
	b := NewBuilder()
	for i, l := range leaves[:30] {
		if i != 12 {
			b.Add(l.Key, l.ValueHash)
		}
	}
	p := tree.RangeProof(29)
	if err := b.VerifyRangeProof(tree.Root(), &p); err == nil {
		t.Error("a chunk with a missing leaf verified")
	}
}

func damagedProofs(rng *rand.Rand, tree *Tree, i int, p SparseMerkleRangeProof) []SparseMerkleRangeProof {
	var out []SparseMerkleRangeProof
	rs := p.RightSiblings
	out = append(out, SparseMerkleRangeProof{RightSiblings: append(slices.Clone(rs), hash.SparseMerklePlaceholder)})
	if len(rs) > 0 {
		out = append(out, SparseMerkleRangeProof{RightSiblings: rs[1:]})
		out = append(out, SparseMerkleRangeProof{RightSiblings: rs[:len(rs)-1]})
		d := slices.Clone(rs)
		d[rng.IntN(len(d))][3] ^= 1
		out = append(out, SparseMerkleRangeProof{RightSiblings: d})
	}
	if j := (i + 1) % tree.Len(); j != i {
		if q := tree.RangeProof(j); !slices.Equal(q.RightSiblings, rs) {
			out = append(out, q)
		}
	}
	return out
}

func TestBuilderAddDoesNotAllocate(t *testing.T) {
	b := NewBuilder()
	rng := rand.New(rand.NewPCG(5, 6))
	leaves := randomLeaves(rng, 2000, false)
	i := 0
	if n := testing.AllocsPerRun(1000, func() { b.Add(leaves[i].Key, leaves[i].ValueHash); i++ }); n != 0 {
		t.Errorf("Add allocates %v times", n)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	leaves := randomLeaves(rng, 20, true)
	tree, _ := NewTree(leaves)
	for i := range leaves {
		p := tree.Proof(i)
		w := bcs.NewWriter(nil)
		p.Encode(w)
		var q SparseMerkleProof
		r := bcs.NewReader(w.Encoded())
		q.Decode(r)
		if err := r.Done(); err != nil || *q.Leaf != *p.Leaf || !slices.Equal(q.Siblings, p.Siblings) {
			t.Fatalf("SparseMerkleProof round trip: %v", err)
		}
		rp := tree.RangeProof(i)
		w.Reset()
		rp.Encode(w)
		var rq SparseMerkleRangeProof
		r = bcs.NewReader(w.Encoded())
		rq.Decode(r)
		if err := r.Done(); err != nil || !slices.Equal(rq.RightSiblings, rp.RightSiblings) {
			t.Fatalf("SparseMerkleRangeProof round trip: %v", err)
		}
	}
}
