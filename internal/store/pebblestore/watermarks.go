package pebblestore

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/seen-im/seen/internal/store"
)

// Watermark writes are combined per conversation: callers queue their
// operation and one combiner per busy conversation (the caller that found
// none running, then a goroutine if more queued meanwhile) takes
// everything queued, applies it under the conversation's mutex with one
// read per member, writes each changed member once in one batch, and waits
// for one sync for all of them. Under a read storm (a thousand members
// acking the same message) the mutex is taken and a batch committed once
// per round instead of once per ack.

// wmQueue is a conversation's queue of watermark operations.
type wmQueue struct {
	mu      sync.Mutex
	ops     []*store.WatermarkOp // guarded by mu
	running bool                 // guarded by mu: a combiner is draining ops
}

// watermarks is store.WatermarkFront's Run: it queues ops on conv, all in
// one go and in order, and waits for their results (set on each op). The
// caller holds s.mu for reading until then, so the store cannot close under
// a combiner: a combiner runs only while some caller waits for an operation
// it took.
func (s *Store) watermarks(ctx context.Context, conv store.ConvID, ops []*store.WatermarkOp) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := validConv(conv); err != nil {
		return err
	}
	// Pinned until every op is done: the combiner uses cs meanwhile.
	cs := s.conv(conv)
	defer s.unpinConv(cs)
	q := &cs.wm
	q.mu.Lock()
	q.ops = append(q.ops, ops...)
	s.obs.WatermarkQueued(len(ops))
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		// The caller combines its own round: acks that come one at a
		// time cost no goroutine and no hand-off. Whatever others queued
		// meanwhile goes to a combiner goroutine, so this caller's answer
		// does not wait for their rounds.
		s.round(conv, cs)
		q.mu.Lock()
		more := len(q.ops) > 0
		q.running = more
		q.mu.Unlock()
		if more {
			// Started while s.mu is held for reading, so never after
			// Close took it: the group is joined by Close.
			s.routines.Go("pebblestore watermark combiner", func() { s.combine(conv, cs) })
		}
	}
	for _, op := range ops {
		<-op.Done
	}
	return nil
}

// combine drains conv's queue, a round at a time, until it is empty.
func (s *Store) combine(conv store.ConvID, cs *convState) {
	for s.round(conv, cs) {
	}
}

// round applies everything queued on conv as one round and reports
// whether there was anything; finding the queue empty, it clears
// running, so the next caller combines.
func (s *Store) round(conv store.ConvID, cs *convState) bool {
	q := &cs.wm
	q.mu.Lock()
	ops := q.ops
	q.ops = nil
	if len(ops) == 0 {
		q.running = false
		q.mu.Unlock()
		return false
	}
	q.mu.Unlock()
	s.obs.WatermarkQueued(-len(ops))
	s.obs.WatermarkBatch(len(ops))
	err := s.applyWatermarks(conv, cs, ops)
	for _, op := range ops {
		if err != nil {
			op.Err = err
		}
		close(op.Done)
	}
	return true
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
