package pebblestore

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/seen-im/seen/internal/store"
)

// Watermark writes are combined per conversation: callers queue their
// operation and one combiner goroutine per busy conversation takes
// everything queued, applies it under the conversation's mutex with one
// read per member, writes each changed member once in one batch, and waits
// for one sync for all of them. Under a read storm (a thousand members
// acking the same message) the mutex is taken and a batch committed once
// per round instead of once per ack.

// wmKind is a watermark operation.
type wmKind uint8

const (
	wmRead      wmKind = iota // raise the read watermark (and delivered)
	wmDelivered               // raise the delivered watermark
	wmOne                     // a single-message read ack
)

// wmOp is one queued watermark operation and, once done is closed, its
// result.
type wmOp struct {
	kind wmKind
	user string
	seq  uint64
	at   int64

	res     store.Member
	changed bool
	err     error
	done    chan struct{}
}

// wmQueue is a conversation's queue of watermark operations.
type wmQueue struct {
	mu      sync.Mutex
	ops     []*wmOp // guarded by mu
	running bool    // guarded by mu: a combiner is draining ops
}

// AdvanceRead implements store.Watermarks.
func (s *Store) AdvanceRead(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (store.Member, bool, error) {
	return s.watermark(ctx, conv, &wmOp{kind: wmRead, user: userID, seq: seq, at: at})
}

// AdvanceDelivered implements store.Watermarks.
func (s *Store) AdvanceDelivered(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (store.Member, bool, error) {
	return s.watermark(ctx, conv, &wmOp{kind: wmDelivered, user: userID, seq: seq, at: at})
}

// AckOne implements store.Watermarks.
func (s *Store) AckOne(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (store.Member, bool, error) {
	return s.watermark(ctx, conv, &wmOp{kind: wmOne, user: userID, seq: seq, at: at})
}

// AckMany implements store.Watermarks. The acks are queued together, so
// they are applied in order in one round and made durable by one sync.
func (s *Store) AckMany(ctx context.Context, conv store.ConvID, userID string, seqs []uint64, at int64) (store.Member, []bool, error) {
	ops := make([]*wmOp, len(seqs))
	for i, seq := range seqs {
		ops[i] = &wmOp{kind: wmOne, user: userID, seq: seq, at: at}
	}
	changed := make([]bool, len(seqs))
	if err := s.watermarks(ctx, conv, ops); err != nil {
		return store.Member{}, changed, err
	}
	var m store.Member
	var first error
	for i, op := range ops {
		changed[i] = op.changed
		switch {
		case op.err != nil && first == nil:
			first = op.err
		case op.err == nil:
			m = op.res
		}
	}
	return m, changed, first
}

// watermark queues op on conv and waits for its result.
func (s *Store) watermark(ctx context.Context, conv store.ConvID, op *wmOp) (store.Member, bool, error) {
	if err := s.watermarks(ctx, conv, []*wmOp{op}); err != nil {
		return store.Member{}, false, err
	}
	return op.res, op.changed, op.err
}

// watermarks queues ops on conv, all in one go and in order, and waits for
// their results (set on each op). The caller holds s.mu for reading until
// then, so the store cannot close under a combiner: a combiner runs only
// while some caller waits for an operation it took.
func (s *Store) watermarks(ctx context.Context, conv store.ConvID, ops []*wmOp) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := validConv(conv); err != nil {
		return err
	}
	cs := s.conv(conv)
	for _, op := range ops {
		op.done = make(chan struct{})
	}
	q := &cs.wm
	q.mu.Lock()
	q.ops = append(q.ops, ops...)
	s.obs.WatermarkQueued(len(ops))
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		// Started while s.mu is held for reading, so never after Close
		// took it: the group is joined by Close.
		s.routines.Go("pebblestore watermark combiner", func() { s.combine(conv, cs) })
	}
	for _, op := range ops {
		<-op.done
	}
	return nil
}

// combine drains conv's queue, a round at a time, until it is empty.
func (s *Store) combine(conv store.ConvID, cs *convState) {
	q := &cs.wm
	for {
		q.mu.Lock()
		ops := q.ops
		q.ops = nil
		if len(ops) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		s.obs.WatermarkQueued(-len(ops))
		s.obs.WatermarkBatch(len(ops))
		err := s.applyWatermarks(conv, cs, ops)
		for _, op := range ops {
			if err != nil {
				op.err = err
			}
			close(op.done)
		}
	}
}

// applyWatermarks applies one round of operations in queue order and makes
// the result durable. Results are set on the ops; a returned error applies
// to all of them.
func (s *Store) applyWatermarks(conv store.ConvID, cs *convState, ops []*wmOp) error {
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
		m := members[op.user]
		if m == nil {
			got, found, err := s.getMember(conv, op.user)
			if err != nil {
				cs.mu.Unlock()
				return err
			}
			if !found {
				op.err = fmt.Errorf("pebblestore: member %q of %s: %w", op.user, conv, store.ErrNotFound)
				continue
			}
			m = &got
			members[op.user] = m
		}
		changed, err := applyWatermark(m, op)
		if err != nil {
			op.err = fmt.Errorf("pebblestore: ack %d by %q in %s: %w", op.seq, op.user, conv, err)
		}
		op.res, op.changed = *m, changed
		op.res.Acks = slices.Clone(m.Acks)
		if changed && !slices.Contains(dirty, op.user) {
			dirty = append(dirty, op.user)
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

// applyWatermark applies one operation to m and reports whether m changed.
func applyWatermark(m *store.Member, op *wmOp) (bool, error) {
	changed := false
	switch op.kind {
	case wmRead:
		if m.ReadSeq < op.seq {
			m.ReadSeq, m.ReadAt, changed = op.seq, op.at, true
			m.Fold()
		}
		if m.DeliveredSeq < op.seq {
			m.DeliveredSeq, m.DeliveredAt, changed = op.seq, op.at, true
		}
	case wmDelivered:
		if m.DeliveredSeq < op.seq {
			m.DeliveredSeq, m.DeliveredAt, changed = op.seq, op.at, true
		}
	case wmOne:
		return m.Ack(op.seq, op.at)
	}
	return changed, nil
}
