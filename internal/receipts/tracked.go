package receipts

import (
	"container/heap"
	"slices"
)

// The receipt statuses of the protocol.
const (
	StatusNone    = "none"
	StatusPending = "pending"
	StatusDone    = "done"
	StatusExpired = "expired"
)

// Tracked is a message that asks for receipts.
type Tracked struct {
	Seq    uint64
	Sender string
	SentAt int64
	// ExpiresAt closes the validity window (Unix ms); 0 means never.
	ExpiresAt int64
	// Frozen holds the counts as they stood when the window closed; nil
	// until then.
	Frozen *Counts
}

func (t *Tracked) clone() Tracked {
	cp := *t
	if t.Frozen != nil {
		f := *t.Frozen
		cp.Frozen = &f
	}
	return cp
}

// Track starts tracking a message that asks for receipts (sent with
// receipt, requested later, or loaded from the store with its frozen counts,
// if any). Tracking a seq again replaces its entry, except that a frozen
// message stays frozen with its counts when t.Frozen is nil: freezing is
// final.
func (c *Conv) Track(t Tracked) {
	prev, had := c.tracked[t.Seq]
	cp := t.clone()
	if had && prev.Frozen != nil && cp.Frozen == nil {
		cp.Frozen = prev.Frozen
	}
	c.tracked[t.Seq] = &cp
	i, in := slices.BinarySearch(c.active, t.Seq)
	if cp.Frozen != nil {
		if in {
			c.active = slices.Delete(c.active, i, i+1)
		}
		return
	}
	if !in {
		c.active = slices.Insert(c.active, i, t.Seq)
	}
	if cp.ExpiresAt > 0 && (!had || prev.Frozen != nil || prev.ExpiresAt != cp.ExpiresAt) {
		heap.Push(&c.expiry, expiry{at: cp.ExpiresAt, seq: cp.Seq})
	}
}

// Untrack forgets message seq (for instance once its frozen counts are
// stored and the caller answers for it from the store) and reports whether
// it was tracked.
func (c *Conv) Untrack(seq uint64) bool {
	if _, ok := c.tracked[seq]; !ok {
		return false
	}
	delete(c.tracked, seq)
	if i, in := slices.BinarySearch(c.active, seq); in {
		c.active = slices.Delete(c.active, i, i+1)
	}
	return true
}

// UntrackAll forgets the messages at seqs, as Untrack of each would, and
// reports how many were tracked. The active list is compacted in one pass
// from the first of them, not shifted once per message: settling the
// receipts a read made done untracks many at once, and one delete at a
// time moved the list's tail for each.
func (c *Conv) UntrackAll(seqs []uint64) int {
	if len(seqs) == 1 {
		if c.Untrack(seqs[0]) {
			return 1
		}
		return 0
	}
	var gone []uint64 // the seqs that were tracked and active
	n := 0
	for _, seq := range seqs {
		if _, ok := c.tracked[seq]; !ok {
			continue
		}
		delete(c.tracked, seq)
		n++
		if _, in := slices.BinarySearch(c.active, seq); in {
			gone = append(gone, seq)
		}
	}
	if len(gone) == 0 {
		return n
	}
	slices.Sort(gone)
	w, _ := slices.BinarySearch(c.active, gone[0])
	j := 0
	for _, seq := range c.active[w:] {
		for j < len(gone) && gone[j] < seq {
			j++
		}
		if j < len(gone) && gone[j] == seq {
			continue
		}
		c.active[w] = seq
		w++
	}
	c.active = c.active[:w]
	return n
}

// Tracked returns the tracked message at seq.
func (c *Conv) Tracked(seq uint64) (Tracked, bool) {
	t, ok := c.tracked[seq]
	if !ok {
		return Tracked{}, false
	}
	return t.clone(), true
}

// Status is the receipt of message seq at time now: StatusNone (zero
// counts) if it is not tracked; for a frozen message, its frozen counts
// with StatusDone if nobody eligible was left unread when it froze, else
// StatusExpired, whatever happened since; otherwise the current counts with
// StatusDone if Unread is 0, StatusExpired if its window has closed by now
// (Expire has not run yet), else StatusPending. "done" thus wins over
// "expired" when both hold at freeze time, and stays.
func (c *Conv) Status(seq uint64, now int64) (status string, counts Counts, expiresAt int64) {
	t, ok := c.tracked[seq]
	if !ok {
		return StatusNone, Counts{}, 0
	}
	if t.Frozen != nil {
		if t.Frozen.Unread == 0 {
			return StatusDone, *t.Frozen, t.ExpiresAt
		}
		return StatusExpired, *t.Frozen, t.ExpiresAt
	}
	counts = c.Counts(seq, t.Sender)
	switch {
	case counts.Unread == 0:
		return StatusDone, counts, t.ExpiresAt
	case t.ExpiresAt > 0 && t.ExpiresAt <= now:
		return StatusExpired, counts, t.ExpiresAt
	}
	return StatusPending, counts, t.ExpiresAt
}

// Expire freezes every tracked message whose window has closed by now
// (0 < ExpiresAt <= now) and that is not frozen yet: it stores the counts
// at this moment in Frozen and returns those messages, by ExpiresAt then
// seq, for the caller to persist. O(log tracked) per message frozen.
func (c *Conv) Expire(now int64) []Tracked {
	var out []Tracked
	for len(c.expiry) > 0 && c.expiry[0].at <= now {
		e := heap.Pop(&c.expiry).(expiry)
		t, ok := c.tracked[e.seq]
		if !ok || t.Frozen != nil || t.ExpiresAt != e.at {
			continue // stale: untracked, frozen, or tracked again since
		}
		counts := c.Counts(t.Seq, t.Sender)
		t.Frozen = &counts
		if i, in := slices.BinarySearch(c.active, t.Seq); in {
			c.active = slices.Delete(c.active, i, i+1)
		}
		out = append(out, t.clone())
	}
	return out
}

// NextExpiry is the earliest ExpiresAt of the tracked messages not frozen
// yet, 0 if none will expire: the caller that must not let a change
// stamped at or after it through before the freeze asks this first.
// Amortized O(log tracked): stale heap entries are dropped on the way.
func (c *Conv) NextExpiry() int64 {
	for len(c.expiry) > 0 {
		e := c.expiry[0]
		if t, ok := c.tracked[e.seq]; ok && t.Frozen == nil && t.ExpiresAt == e.at {
			return e.at
		}
		heap.Pop(&c.expiry)
	}
	return 0
}

// Affected lists, in order, the tracked and not frozen seqs in (from, to]
// not sent by reader: the messages whose receipts changed when reader's
// watermark moved from from to to.
func (c *Conv) Affected(from, to uint64, reader string) []uint64 {
	return c.AppendAffected(nil, from, to, reader)
}

// AppendAffected appends Affected's seqs to out: into its room, for a
// caller that keeps them no longer than the call (the usual watermark
// move covers one or two messages).
func (c *Conv) AppendAffected(out []uint64, from, to uint64, reader string) []uint64 {
	if to <= from {
		return out
	}
	i, _ := slices.BinarySearch(c.active, from+1)
	for ; i < len(c.active) && c.active[i] <= to; i++ {
		if s := c.active[i]; c.tracked[s].Sender != reader {
			out = append(out, s)
		}
	}
	return out
}

type expiry struct {
	at  int64
	seq uint64
}

// expiryHeap orders pending expiries by time, then seq. Entries made stale
// by Track or Untrack are skipped when popped.
type expiryHeap []expiry

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h expiryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)   { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Sizes used by MemoryBytes, in bytes on 64-bit platforms; a test checks
// them against unsafe.Sizeof.
const (
	sizeMember    = 400 // member struct, with both histories
	sizeMapEntry  = 40  // map slot: string key, pointer, overhead
	sizeAck       = 16
	sizeTreeKey   = 36 // key (24) over ~70% node fill, plus inner nodes
	sizeTracked   = 64
	sizeTrackSlot = 64 // map slot, active slice, heap entry
)

// MemoryBytes estimates the bytes the engine holds for this conversation:
// about 550 bytes per member plus its id (two thirds of it the recent-move
// histories), about 90 per sparse ack, about 130 per tracked message. O(1).
func (c *Conv) MemoryBytes() int {
	n := len(c.members)
	acks := c.sparseRead.len()
	b := n*(sizeMember+sizeMapEntry+3*sizeTreeKey) + c.idBytes
	b += acks * (sizeAck + sizeTreeKey)
	b += c.sparseDeliv.len() * sizeTreeKey
	b += len(c.tracked) * (sizeTracked + sizeTrackSlot)
	return b
}
