package pebblestore

import (
	"context"
	"fmt"
	"sync"

	"github.com/seen-im/seen/internal/store"
)

// Watermark writes are combined per conversation: callers queue their
// operation and one of them, the leader, takes everything queued, applies
// it under the conversation's mutex with one read per member, writes each
// changed member once in one batch, and waits for one sync for all of them.
// Under a read storm (a thousand members acking the same message) the
// mutex is taken and a batch committed once per round instead of once per
// ack.
//
// The leader is a caller, never a goroutine of its own: the caller that
// finds no leader runs the first round, then, if more was queued
// meanwhile, hands the lead to a caller still waiting for its operations,
// which runs the next round, and so on. A goroutine per round (once one
// per ack when acks came one at a time) cost a start and a hand-off each;
// and a combiner only ever runs while its caller holds the store open, so
// Close has nothing to join.

// wmQueue is a conversation's queue of watermark operations.
type wmQueue struct {
	mu  sync.Mutex
	ops []*store.WatermarkOp // guarded by mu
	// led is set while a caller leads or the lead waits in lead for one.
	led bool // guarded by mu
	// lead holds the lead when it is handed on: capacity 1, and there is
	// only one lead. Made on first use, under mu.
	lead chan struct{}
	// spare is the array of a round's ops once the round is done, for
	// the next caller's: rounds of an ack or two allocated one each.
	spare []*store.WatermarkOp // guarded by mu
}

// watermarks is store.WatermarkFront's Run: it queues ops on conv, all in
// one go and in order, and waits for their results (set on each op),
// leading rounds when the lead comes to it. The caller holds s.mu for
// reading until then, so the store cannot close under a round.
func (s *Store) watermarks(ctx context.Context, conv store.ConvID, ops []*store.WatermarkOp) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := validConv(conv); err != nil {
		return err
	}
	// Pinned until every op is done: rounds use cs meanwhile.
	cs := s.conv(conv)
	defer s.unpinConv(cs)
	q := &cs.wm
	q.mu.Lock()
	if q.lead == nil {
		q.lead = make(chan struct{}, 1)
	}
	lead := q.lead
	if q.ops == nil {
		q.ops, q.spare = q.spare, nil
	}
	start := !q.led
	if !start {
		// Only a caller that waits for another's round needs Done
		// (LazyDone): made before the ops are queued, so the round that
		// takes them finds it.
		for _, op := range ops {
			if op.Done == nil {
				op.Done = make(chan struct{})
			}
		}
	}
	q.ops = append(q.ops, ops...)
	s.obs.WatermarkQueued(len(ops))
	q.led = true
	q.mu.Unlock()
	if start {
		// The round takes everything queued, these ops with it: they
		// are done when it returns.
		s.leadRound(conv, cs)
		return nil
	}
	for _, op := range ops {
		// An op already done does not take the lead: this caller can
		// answer at once.
		select {
		case <-op.Done:
			continue
		default:
		}
		for waiting := true; waiting; {
			select {
			case <-op.Done:
				waiting = false
			case <-lead:
				s.leadRound(conv, cs)
			}
		}
	}
	return nil
}

// leadRound applies everything queued on conv as one round, then hands
// the lead to a waiting caller if more was queued meanwhile: one that
// queued it waits for it, and takes the lead from q.lead. The caller's
// own answer does not wait for others' rounds.
func (s *Store) leadRound(conv store.ConvID, cs *convState) {
	q := &cs.wm
	q.mu.Lock()
	ops := q.ops
	q.ops = nil
	q.mu.Unlock()
	if len(ops) > 0 {
		s.obs.WatermarkQueued(-len(ops))
		s.obs.WatermarkBatch(len(ops))
		err := s.applyWatermarks(conv, cs, ops)
		for _, op := range ops {
			if err != nil {
				op.Err = err
			}
			if op.Done != nil { // nil for the leader's own (LazyDone)
				close(op.Done)
			}
		}
		if cap(ops) > maxSpareOps {
			ops = nil
		}
		clear(ops) // the ops are their callers' again
		ops = ops[:0]
	}
	q.mu.Lock()
	if ops != nil && q.spare == nil {
		q.spare = ops
	}
	more := len(q.ops) > 0
	q.led = more
	q.mu.Unlock()
	if more {
		q.lead <- struct{}{}
	}
}

// maxSpareOps bounds the array a conversation keeps between rounds: a
// storm's long round is left to the collector.
const maxSpareOps = 64

// roundMember is a member's record as a round changes it.
type roundMember struct {
	user  string
	m     store.Member
	dirty bool
}

// smallRound is the number of ops up to which a round keeps its members
// in an array on the stack, found by a scan; a larger one maps them.
const smallRound = 4

// applyWatermarks applies one round of operations in queue order and makes
// the result durable. Results are set on the ops; a returned error applies
// to all of them.
func (s *Store) applyWatermarks(conv store.ConvID, cs *convState, ops []*store.WatermarkOp) error {
	cs.mu.Lock()
	if !cs.loaded {
		if err := s.loadConvLocked(conv, cs); err != nil {
			cs.mu.Unlock()
			return err
		}
	}
	// The members the round touches, in the order first touched: on the
	// stack for a small round (an ack or two, the usual case: a map and
	// a record on the heap each cost more than the scan), indexed by a
	// map for a large one.
	var small [smallRound]roundMember
	members := small[:0]
	var index map[string]int
	if len(ops) > smallRound {
		members = make([]roundMember, 0, len(ops))
		index = make(map[string]int, len(ops))
	}
	find := func(user string) int {
		if index != nil {
			if i, ok := index[user]; ok {
				return i
			}
			return -1
		}
		for i := range members {
			if members[i].user == user {
				return i
			}
		}
		return -1
	}
	dirty := 0
	for _, op := range ops {
		i := find(op.User)
		if i < 0 {
			got, found, err := s.getMember(conv, op.User)
			if err != nil {
				cs.mu.Unlock()
				return err
			}
			if !found {
				op.Err = fmt.Errorf("pebblestore: member %q of %s: %w", op.User, conv, store.ErrNotFound)
				continue
			}
			i = len(members)
			members = append(members, roundMember{user: op.User, m: got})
			if index != nil {
				index[op.User] = i
			}
		}
		rm := &members[i]
		res, changed, err := op.ApplyTo(&rm.m)
		if err != nil {
			op.Err = fmt.Errorf("pebblestore: ack %d by %q in %s: %w", op.Seq, op.User, conv, err)
		}
		op.Res, op.Changed = res, changed
		if changed && !rm.dirty {
			rm.dirty = true
			dirty++
		}
	}
	if dirty == 0 {
		// Nothing to write, but the state read may have been written by a
		// call still waiting for its sync.
		cs.mu.Unlock()
		return s.syncIfPending(cs)
	}
	b := s.db.NewBatch()
	// Keys and values are encoded into one scratch buffer: the batch
	// copies them.
	var scratch [256]byte
	for i := range members {
		if rm := &members[i]; rm.dirty {
			k := appendMemberKey(scratch[:0], conv, rm.user)
			kv := appendMember(k, rm.m)
			_ = b.Set(kv[:len(k)], kv[len(k):], nil)
		}
	}
	if err := s.applyLocked(cs, b); err != nil {
		cs.mu.Unlock()
		return err
	}
	for i := range members {
		if rm := &members[i]; rm.dirty {
			cs.remember(rm.m)
		}
	}
	cs.mu.Unlock()
	// Unchanged ops may report state this batch wrote: all wait for it.
	return s.wait(cs, b)
}
