package receipts

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// check verifies the tree's structure: sorted keys, separators bounding
// their subtrees, counts matching, nodes no wider than max and (below the
// root) no narrower than max/2, leaves all at one depth.
func (t *btree) check() error {
	depth := -1
	var walk func(n *node, lo, hi *key, d int, root bool) (int, error)
	walk = func(n *node, lo, hi *key, d int, root bool) (int, error) {
		w := n.width()
		if w > t.max || (!root && w < t.max/2) {
			return 0, fmt.Errorf("node width %d, max %d", w, t.max)
		}
		if n.leaf() {
			if depth == -1 {
				depth = d
			} else if depth != d {
				return 0, fmt.Errorf("leaf at depth %d, want %d", d, depth)
			}
			for i, k := range n.keys {
				if i > 0 && !n.keys[i-1].less(k) {
					return 0, fmt.Errorf("leaf keys out of order: %v, %v", n.keys[i-1], k)
				}
				if (lo != nil && k.less(*lo)) || (hi != nil && !k.less(*hi)) {
					return 0, fmt.Errorf("key %v outside [%v, %v)", k, lo, hi)
				}
			}
			return len(n.keys), nil
		}
		if root && len(n.kids) < 2 {
			return 0, fmt.Errorf("inner root with %d kids", len(n.kids))
		}
		if len(n.keys) != len(n.kids) || len(n.cnts) != len(n.kids) {
			return 0, fmt.Errorf("inner node lengths %d/%d/%d", len(n.keys), len(n.kids), len(n.cnts))
		}
		total := 0
		for i, kid := range n.kids {
			l, h := lo, hi
			if i > 0 {
				l = &n.keys[i]
			}
			if i+1 < len(n.kids) {
				h = &n.keys[i+1]
			}
			c, err := walk(kid, l, h, d+1, false)
			if err != nil {
				return 0, err
			}
			if c != n.cnts[i] {
				return 0, fmt.Errorf("count %d, want %d", n.cnts[i], c)
			}
			total += c
		}
		return total, nil
	}
	c, err := walk(t.root, nil, nil, 0, true)
	if err != nil {
		return err
	}
	if c != t.n {
		return fmt.Errorf("len %d, counted %d", t.n, c)
	}
	return nil
}

func TestBtreeAgainstSlice(t *testing.T) {
	t.Parallel()
	for _, size := range []int{4, 5, 8, 64} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(size), 1))
			tr := newBtree(size)
			var want []key
			for step := range 20000 {
				k := key{seq: r.Uint64N(300), id: fmt.Sprint("u", r.IntN(40))}
				i, found := slices.BinarySearchFunc(want, k, func(a, b key) int {
					switch {
					case a.less(b):
						return -1
					case b.less(a):
						return 1
					}
					return 0
				})
				// Grow to ~6000 keys, then churn.
				if !found && (len(want) < 6000 && r.IntN(3) > 0) {
					tr.insert(k)
					want = slices.Insert(want, i, k)
				} else {
					if got := tr.delete(k); got != found {
						t.Fatalf("step %d: delete(%v) = %v, want %v", step, k, got, found)
					}
					if found {
						want = slices.Delete(want, i, i+1)
					}
				}
				if step%97 == 0 || len(want) < 50 {
					if err := tr.check(); err != nil {
						t.Fatalf("step %d: %v", step, err)
					}
				}
				q := r.Uint64N(310)
				lt, _ := slices.BinarySearchFunc(want, q, func(a key, s uint64) int { return cmpU(a.seq, s) })
				le, _ := slices.BinarySearchFunc(want, q+1, func(a key, s uint64) int { return cmpU(a.seq, s) })
				if got := tr.countLT(q); got != lt {
					t.Fatalf("step %d: countLT(%d) = %d, want %d", step, q, got, lt)
				}
				if got := tr.countLE(q); got != le {
					t.Fatalf("step %d: countLE(%d) = %d, want %d", step, q, got, le)
				}
				if step%11 == 0 {
					from := key{seq: q, id: fmt.Sprint("u", r.IntN(40))}
					var got []key
					n := r.IntN(30)
					tr.ascend(from, func(k key) bool {
						if len(got) == n {
							return false
						}
						got = append(got, k)
						return true
					})
					j := lowerBound(want, from)
					exp := want[j:min(len(want), j+n)]
					if !slices.Equal(got, exp) {
						t.Fatalf("step %d: ascend(%v) = %v, want %v", step, from, got, exp)
					}
				}
			}
			for len(want) > 0 {
				i := r.IntN(len(want))
				if !tr.delete(want[i]) {
					t.Fatalf("delete(%v) = false", want[i])
				}
				want = slices.Delete(want, i, i+1)
				if len(want)%101 == 0 {
					if err := tr.check(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := tr.check(); err != nil || tr.len() != 0 || !tr.root.leaf() {
				t.Fatalf("emptied tree: err %v, len %d, leaf root %v", err, tr.len(), tr.root.leaf())
			}
		})
	}
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestCountLEMaxSeq(t *testing.T) {
	tr := newBtree(4)
	for i := range 10 {
		tr.insert(key{seq: ^uint64(0) - uint64(i%2), id: fmt.Sprint(i)})
	}
	if got := tr.countLE(^uint64(0)); got != 10 {
		t.Errorf("countLE(max) = %d, want 10", got)
	}
	if got := tr.countEq(^uint64(0)); got != 5 {
		t.Errorf("countEq(max) = %d, want 5", got)
	}
}
