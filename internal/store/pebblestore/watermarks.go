package pebblestore

import (
	"context"
	"fmt"
	"slices"
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
	q.ops = append(q.ops, ops...)
	s.obs.WatermarkQueued(len(ops))
	start := !q.led
	q.led = true
	q.mu.Unlock()
	if start {
		s.leadRound(conv, cs)
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
			close(op.Done)
		}
	}
	q.mu.Lock()
	more := len(q.ops) > 0
	q.led = more
	q.mu.Unlock()
	if more {
		q.lead <- struct{}{}
	}
}

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
	members := make(map[string]*store.Member, len(ops))
	var dirty []string
	for _, op := range ops {
		m := members[op.User]
		if m == nil {
			got, found, err := s.getMember(conv, op.User)
			if err != nil {
				cs.mu.Unlock()
				return err
			}
			if !found {
				op.Err = fmt.Errorf("pebblestore: member %q of %s: %w", op.User, conv, store.ErrNotFound)
				continue
			}
			m = &got
			members[op.User] = m
		}
		res, changed, err := op.ApplyTo(m)
		if err != nil {
			op.Err = fmt.Errorf("pebblestore: ack %d by %q in %s: %w", op.Seq, op.User, conv, err)
		}
		op.Res, op.Changed = res, changed
		if changed && !slices.Contains(dirty, op.User) {
			dirty = append(dirty, op.User)
		}
	}
	if len(dirty) == 0 {
		// Nothing to write, but the state read may have been written by a
		// call still waiting for its sync.
		cs.mu.Unlock()
		return s.syncIfPending(cs)
	}
	b := s.db.NewBatch()
	for _, u := range dirty {
		_ = b.Set(memberKey(conv, u), encodeMember(*members[u]), nil)
	}
	if err := s.applyLocked(cs, b); err != nil {
		cs.mu.Unlock()
		return err
	}
	for _, u := range dirty {
		cs.remember(*members[u])
	}
	cs.mu.Unlock()
	// Unchanged ops may report state this batch wrote: all wait for it.
	return s.wait(cs, b)
}
