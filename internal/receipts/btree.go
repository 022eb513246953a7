package receipts

import "slices"

// key orders index entries by sequence number, then by user id.
type key struct {
	seq uint64
	id  string
}

func (a key) less(b key) bool {
	if a.seq != b.seq {
		return a.seq < b.seq
	}
	return a.id < b.id
}

// after is the smallest key greater than k: resuming a scan "after k" needs
// no knowledge of whether k is still in the tree.
func (k key) after() key { return key{k.seq, k.id + "\x00"} }

// defaultNodeSize is the most keys in a leaf and kids in an inner node.
// 64 keeps a 100,000-member index three levels deep while a node's binary
// search and count sums stay within a few cache lines.
const defaultNodeSize = 64

// node is a B+ tree node. A leaf holds keys and no kids. An inner node holds
// kids, the number of keys under each kid (cnts), and separators: keys[i]
// (i >= 1) is <= every key under kids[i] and > every key under kids[i-1];
// keys[0] is meaningless.
type node struct {
	keys []key
	kids []*node
	cnts []int
}

func (n *node) leaf() bool { return n.kids == nil }

func (n *node) width() int {
	if n.leaf() {
		return len(n.keys)
	}
	return len(n.kids)
}

// btree is an order-statistics B+ tree of distinct keys: insert, delete and
// counts by seq in O(log n), ordered scans from any key in
// O(log n + scanned).
type btree struct {
	root *node
	n    int
	max  int // node width limit; nodes below max/2 are rebalanced
}

func newBtree(max int) *btree {
	if max < 4 {
		max = 4
	}
	return &btree{root: &node{}, max: max}
}

func (t *btree) len() int { return t.n }

// lowerBound is the index of the first key >= k.
func lowerBound(keys []key, k key) int {
	lo, hi := 0, len(keys)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if keys[h].less(k) {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo
}

// childIndex is the kid of inner node n whose range holds k.
func childIndex(n *node, k key) int {
	lo, hi := 1, len(n.keys)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if k.less(n.keys[h]) {
			hi = h
		} else {
			lo = h + 1
		}
	}
	return lo - 1
}

func sum(cnts []int) int {
	s := 0
	for _, c := range cnts {
		s += c
	}
	return s
}

// countLT is the number of keys with seq < s, found with integer
// comparisons only (many keys share a seq: no string compares). O(log n).
func (t *btree) countLT(s uint64) int {
	if t.n == 0 {
		return 0
	}
	r, total := 0, t.n
	n := t.root
	for !n.leaf() {
		// Kids before the first separator with seq >= s hold only keys
		// with seq < s; kids after it none.
		lo, hi := 1, len(n.keys)
		for lo < hi {
			h := int(uint(lo+hi) >> 1)
			if n.keys[h].seq < s {
				lo = h + 1
			} else {
				hi = h
			}
		}
		i := lo - 1
		if i <= len(n.cnts)/2 {
			r += sum(n.cnts[:i])
		} else {
			r += total - sum(n.cnts[i:])
		}
		total = n.cnts[i]
		n = n.kids[i]
	}
	lo, hi := 0, len(n.keys)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if n.keys[h].seq < s {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return r + lo
}

// countLE is the number of keys with seq <= s.
func (t *btree) countLE(s uint64) int {
	if t.n == 0 {
		return 0
	}
	if s == ^uint64(0) {
		return t.n
	}
	return t.countLT(s + 1)
}

// countEq is the number of keys with seq == s.
func (t *btree) countEq(s uint64) int {
	if t.n == 0 {
		return 0
	}
	return t.countLE(s) - t.countLT(s)
}

// insert adds k, which must not be in the tree.
func (t *btree) insert(k key) {
	r, sep, rc := t.insertAt(t.root, k)
	t.n++
	if r == nil {
		return
	}
	l := t.root
	t.root = &node{
		keys: []key{{}, sep},
		kids: []*node{l, r},
		cnts: []int{t.n - rc, rc},
	}
}

// insertAt inserts k under n. If n splits, it returns the new right node,
// its separator and its key count.
func (t *btree) insertAt(n *node, k key) (*node, key, int) {
	if n.leaf() {
		if n.keys == nil {
			n.keys = make([]key, 0, t.max+1)
		}
		n.keys = slices.Insert(n.keys, lowerBound(n.keys, k), k)
		if len(n.keys) <= t.max {
			return nil, key{}, 0
		}
		mid := len(n.keys) / 2
		r := &node{keys: make([]key, len(n.keys)-mid, t.max+1)}
		copy(r.keys, n.keys[mid:])
		clear(n.keys[mid:])
		n.keys = n.keys[:mid]
		return r, r.keys[0], len(r.keys)
	}
	i := childIndex(n, k)
	n.cnts[i]++
	r, sep, rc := t.insertAt(n.kids[i], k)
	if r == nil {
		return nil, key{}, 0
	}
	n.cnts[i] -= rc
	n.keys = slices.Insert(n.keys, i+1, sep)
	n.kids = slices.Insert(n.kids, i+1, r)
	n.cnts = slices.Insert(n.cnts, i+1, rc)
	if len(n.kids) <= t.max {
		return nil, key{}, 0
	}
	mid := len(n.kids) / 2
	nr := &node{
		keys: slices.Clone(n.keys[mid:]),
		kids: slices.Clone(n.kids[mid:]),
		cnts: slices.Clone(n.cnts[mid:]),
	}
	clear(n.keys[mid:])
	clear(n.kids[mid:])
	n.keys, n.kids, n.cnts = n.keys[:mid], n.kids[:mid], n.cnts[:mid]
	return nr, nr.keys[0], sum(nr.cnts)
}

// delete removes k and reports whether it was there.
func (t *btree) delete(k key) bool {
	if !t.deleteAt(t.root, k) {
		return false
	}
	t.n--
	if !t.root.leaf() && len(t.root.kids) == 1 {
		t.root = t.root.kids[0]
	}
	return true
}

func (t *btree) deleteAt(n *node, k key) bool {
	if n.leaf() {
		i := lowerBound(n.keys, k)
		if i == len(n.keys) || n.keys[i] != k {
			return false
		}
		n.keys = slices.Delete(n.keys, i, i+1)
		return true
	}
	i := childIndex(n, k)
	if !t.deleteAt(n.kids[i], k) {
		return false
	}
	n.cnts[i]--
	if n.kids[i].width() < t.max/2 {
		t.rebalance(n, i)
	}
	return true
}

// rebalance fixes the underfull kid i of p by merging it with a sibling,
// splitting the result evenly again if it is too wide.
func (t *btree) rebalance(p *node, i int) {
	if len(p.kids) < 2 {
		return
	}
	if i == len(p.kids)-1 {
		i--
	}
	l, r := p.kids[i], p.kids[i+1]
	if l.leaf() {
		total := len(l.keys) + len(r.keys)
		if total <= t.max {
			l.keys = append(l.keys, r.keys...)
			p.cnts[i] = len(l.keys)
			p.removeKid(i + 1)
			return
		}
		want := total / 2
		if len(l.keys) < want {
			m := want - len(l.keys)
			l.keys = append(l.keys, r.keys[:m]...)
			r.keys = slices.Delete(r.keys, 0, m)
		} else {
			r.keys = slices.Insert(r.keys, 0, l.keys[want:]...)
			clear(l.keys[want:])
			l.keys = l.keys[:want]
		}
		p.keys[i+1] = r.keys[0]
		p.cnts[i], p.cnts[i+1] = len(l.keys), len(r.keys)
		return
	}
	total := len(l.kids) + len(r.kids)
	keys := make([]key, 0, total)
	keys = append(keys, l.keys...)
	keys = append(keys, p.keys[i+1])
	keys = append(keys, r.keys[1:]...)
	kids := append(append(make([]*node, 0, total), l.kids...), r.kids...)
	cnts := append(append(make([]int, 0, total), l.cnts...), r.cnts...)
	if total <= t.max {
		l.keys, l.kids, l.cnts = keys, kids, cnts
		p.cnts[i] += p.cnts[i+1]
		p.removeKid(i + 1)
		return
	}
	mid := total / 2
	l.keys, l.kids, l.cnts = keys[:mid:mid], kids[:mid:mid], cnts[:mid:mid]
	r.keys, r.kids, r.cnts = keys[mid:], kids[mid:], cnts[mid:]
	p.keys[i+1] = keys[mid]
	p.cnts[i], p.cnts[i+1] = sum(l.cnts), sum(r.cnts)
}

func (p *node) removeKid(j int) {
	p.keys = slices.Delete(p.keys, j, j+1)
	p.kids = slices.Delete(p.kids, j, j+1)
	p.cnts = slices.Delete(p.cnts, j, j+1)
}

// ascend calls fn for every key >= from in order until fn returns false.
// fn must not modify the tree.
func (t *btree) ascend(from key, fn func(key) bool) {
	ascendAt(t.root, from, fn)
}

func ascendAt(n *node, from key, fn func(key) bool) bool {
	if n.leaf() {
		for _, k := range n.keys[lowerBound(n.keys, from):] {
			if !fn(k) {
				return false
			}
		}
		return true
	}
	for i := childIndex(n, from); i < len(n.kids); i++ {
		if !ascendAt(n.kids[i], from, fn) {
			return false
		}
	}
	return true
}

// nodes is the number of nodes, for memory estimates and tests.
func (t *btree) nodes() int { return countNodes(t.root) }

func countNodes(n *node) int {
	c := 1
	for _, k := range n.kids {
		c += countNodes(k)
	}
	return c
}
