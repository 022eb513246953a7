package pebblestore

import (
	"container/list"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/seen-im/seen/internal/store"
)

// The conversation table (Store.convs) holds one convState per
// conversation in use, with its member memo. Everything in a convState
// but the memo is read back from the database by loadConvLocked (last
// seq, member count, group existence), and the memo is a cache, so an
// idle state may be dropped and rebuilt: the table is bounded by an
// estimate of its bytes, least recently used first, and each memo by a
// number of entries.
//
// An entry is idle when nothing can still use it: no caller between conv
// and unpinConv (which covers the writes waiting for their sync, as
// wait(cs, b) comes before unpinConv), no watermark combiner running or
// ops queued, and its mutex free. Only then may a later call create a
// second convState for the conversation, and the first is then unused;
// two live ones would allocate the same seq twice. The readers that peek
// without a pin (getMember's memo, LastSeq) may read a dropped entry's
// values: values that were current when they began.

const (
	// defaultConvTableBytes bounds the table's estimated bytes.
	defaultConvTableBytes = 64 << 20
	// memoMaxMembers bounds one conversation's member memo: a group of
	// 100,000 members keeps the records of the most active few thousand,
	// the others cost one pebble lookup.
	memoMaxMembers = 4096
	// convStateBytes estimates a convState without its memo.
	convStateBytes = 400
	// memoEntryBytes estimates a memo entry without its strings and acks.
	memoEntryBytes = 160
)

// ConvTableObserver is told of the conversation table's size. An
// Observer given in Options that implements it receives, from any
// goroutine, each change in the number of conversations held and in their
// estimated bytes.
type ConvTableObserver interface {
	ConvTable(deltaConvs int, deltaBytes int64)
}

type convShard struct {
	mu sync.Mutex
	// m and order are guarded by mu; order holds m's entries, the most
	// recently used first.
	m     map[store.ConvID]*convState
	order list.List
	// bytes estimates the shard's entries with their memos, and convs
	// counts them; written through delta, by inserts and removals under
	// mu and by memo changes under the entry's memoMu.
	bytes, convs atomic.Int64
	obs          ConvTableObserver // nil: none; set by Open
}

// delta records a change of the shard's size.
func (sh *convShard) delta(convs int, bytes int64) {
	sh.bytes.Add(bytes)
	sh.convs.Add(int64(convs))
	if sh.obs != nil {
		sh.obs.ConvTable(convs, bytes)
	}
}

// convSlot is a convState's place in its shard, guarded by the shard's mu.
type convSlot struct {
	key   store.ConvID
	pins  int
	elem  *list.Element
	shard *convShard
}

func (s *Store) shard(conv store.ConvID) *convShard {
	return &s.convs[maphash.String(s.seed, string(conv))%convShards]
}

// conv returns conv's state, creating it unloaded if needed, pinned: the
// caller must unpinConv it once it is done with it, waits included.
func (s *Store) conv(conv store.ConvID) *convState {
	sh := s.shard(conv)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cs := sh.m[conv]
	if cs == nil {
		if sh.m == nil {
			sh.m = make(map[store.ConvID]*convState)
		}
		cs = &convState{}
		cs.slot = convSlot{key: conv, shard: sh, elem: sh.order.PushFront(cs)}
		sh.m[conv] = cs
		sh.delta(1, convStateBytes+int64(len(conv)))
	} else {
		sh.order.MoveToFront(cs.slot.elem)
	}
	cs.slot.pins++
	return cs
}

// peekConv returns conv's state if it exists, without creating or pinning
// it: for reads of cached values only.
func (s *Store) peekConv(conv store.ConvID) *convState {
	sh := s.shard(conv)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.m[conv]
}

// unpinConv releases a pin taken by conv (or lockConv), cs.mu not held,
// and drops the shard's idle entries while it is over its share of the
// budget.
func (s *Store) unpinConv(cs *convState) {
	sh := cs.slot.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cs.slot.pins--
	budget := s.tableBytes / convShards
	for el := sh.order.Back(); el != nil && sh.bytes.Load() > budget; {
		victim := el.Value.(*convState)
		el = el.Prev()
		if victim.slot.pins > 0 || !victim.mu.TryLock() {
			continue
		}
		if victim.idleLocked() {
			s.dropLocked(sh, victim)
		}
		victim.mu.Unlock()
	}
}

// idleLocked reports whether nothing but the table refers to cs. The
// shard's mu and cs.mu are held, and cs is unpinned.
func (cs *convState) idleLocked() bool {
	if cs.unsynced.Load() != 0 {
		return false
	}
	q := &cs.wm
	if !q.mu.TryLock() {
		return false
	}
	defer q.mu.Unlock()
	return !q.led && len(q.ops) == 0
}

// dropLocked removes cs, idle, from the table, with the group record
// cached for its conversation: that cache is filled and dropped under the
// conversation's mutex, held here. The shard's mu and cs.mu are held.
func (s *Store) dropLocked(sh *convShard, cs *convState) {
	if cs.slot.key.IsGroup() {
		s.groups.Delete(cs.slot.key.GroupID())
	}
	sh.order.Remove(cs.slot.elem)
	delete(sh.m, cs.slot.key)
	cs.memoMu.Lock()
	memo := cs.memoBytes
	cs.memo, cs.memoBytes = nil, 0
	cs.memoMu.Unlock()
	sh.delta(-1, -(convStateBytes + int64(len(cs.slot.key)) + memo))
}

// ConvTable reports the conversations the table holds and their
// estimated bytes with their member memos.
func (s *Store) ConvTable() (convs int, bytes int64) {
	for i := range s.convs {
		bytes += s.convs[i].bytes.Load()
		convs += int(s.convs[i].convs.Load())
	}
	return convs, bytes
}

// memberBytes estimates m's memo entry.
func memberBytes(m store.Member) int64 {
	return memoEntryBytes + int64(2*len(m.UserID)+len(m.Role)+16*len(m.Acks))
}

// memoSetLocked records m in the memo, keeping it within memoMaxMembers
// and the shard's bytes current. cs.memoMu is held for writing.
func (cs *convState) memoSetLocked(m store.Member) {
	if cs.memo == nil {
		cs.memo = make(map[string]store.Member)
	}
	old, had := cs.memo[m.UserID]
	if !had && len(cs.memo) >= memoMaxMembers {
		// Any entry may go: the memo is a cache, and a dropped record is
		// read from pebble. Map order is random enough.
		for u, victim := range cs.memo {
			cs.memoDeleteLocked(u, victim)
			break
		}
	}
	delta := memberBytes(m)
	if had {
		delta -= memberBytes(old)
	}
	cs.memo[m.UserID] = m
	cs.memoBytes += delta
	cs.slot.shard.delta(0, delta)
}

// memoDeleteLocked drops userID's entry m. cs.memoMu is held for writing.
func (cs *convState) memoDeleteLocked(userID string, m store.Member) {
	delete(cs.memo, userID)
	n := memberBytes(m)
	cs.memoBytes -= n
	cs.slot.shard.delta(0, -n)
}
