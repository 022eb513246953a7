package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/seen-im/seen/internal/store"
)

// RequestReceipt implements store.Receipts.
func (s *Store) RequestReceipt(ctx context.Context, conv store.ConvID, seq uint64, at int64) (store.Message, bool, error) {
	var out store.Message
	changed := false
	err := s.updateMessage(ctx, conv, seq, true, func(m store.Message, b *pebble.Batch) (store.Message, bool) {
		out = m
		if m.Receipt {
			return m, false
		}
		m.Receipt, m.ReceiptAt = true, at
		_ = b.Set(messageKey(conv, seq), encodeMessage(m), nil)
		_ = b.Set(liveKey(conv, seq), nil, nil)
		out, changed = m, true
		return m, true
	})
	return out, changed, err
}

// SettleReceipt implements store.Receipts. A done receipt's settle
// (frozen nil) is written without waiting for its flush, as the contract
// allows: a peer's read of a receipt message settles it, and waiting was a
// second fsync, one after the other, in every such read.
func (s *Store) SettleReceipt(ctx context.Context, conv store.ConvID, seq uint64, frozen *store.Frozen) error {
	return s.updateMessage(ctx, conv, seq, frozen != nil, func(m store.Message, b *pebble.Batch) (store.Message, bool) {
		return settle(m, frozen, b)
	})
}

// settle adds to b the settle of m with frozen, and returns m settled,
// unless it is settled already or has no receipt (false: no change).
func settle(m store.Message, frozen *store.Frozen, b *pebble.Batch) (store.Message, bool) {
	if !m.Receipt || m.Settled {
		return m, false
	}
	m.Settled, m.Frozen = true, frozen
	_ = b.Set(messageKey(m.Conv, m.Seq), encodeMessage(m), nil)
	_ = b.Delete(liveKey(m.Conv, m.Seq), nil)
	return m, true
}

// SettleDone implements store.Receipts: one batch for every seq, applied
// under the conversation's mutex without waiting for its flush, as a done
// settle is (SettleReceipt), so visible when the call returns.
func (s *Store) SettleDone(ctx context.Context, conv store.ConvID, seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	cs, err := s.acquireConv(ctx, conv)
	if err != nil {
		return err
	}
	defer s.releaseConv(cs)
	defer cs.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	// One seq, the usual call (a read of one receipt message, a group
	// receipt done), keeps its message on the stack.
	var buf [1]store.Message
	settled := buf[:0]
	for _, seq := range seqs {
		m, err := s.getMessage(conv, seq)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if slices.ContainsFunc(settled, func(o store.Message) bool { return o.Seq == seq }) {
			continue // named twice
		}
		if m, changed := settle(m, nil, b); changed {
			settled = append(settled, m)
		}
	}
	if len(settled) == 0 {
		return nil
	}
	return s.applyNoSync(b, settled...)
}

// applyNoSync applies b, which writes msgs, without waiting for its flush
// (it becomes durable with the next write that is), and gives the memo
// their new versions: forgotten before the apply, so a failed one leaves
// no memo of either version, and put after it. The conversation's mutex
// is held.
func (s *Store) applyNoSync(b *pebble.Batch, msgs ...store.Message) error {
	for _, m := range msgs {
		s.msgs.forget(m.ID)
	}
	if err := s.db.Apply(b, pebble.NoSync); err != nil {
		return fmt.Errorf("pebblestore: apply: %w", err)
	}
	for _, m := range msgs {
		s.msgs.put(m)
	}
	return nil
}

// LiveReceipts implements store.Receipts.
func (s *Store) LiveReceipts(ctx context.Context, conv store.ConvID) ([]store.Message, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	prefix := convPrefix(prefixLive, conv, 0)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: live receipts of %s: %w", conv, err)
	}
	var seqs []uint64
	for ok := it.First(); ok; ok = it.Next() {
		seqs = append(seqs, seqFromMessageKey(it.Key()))
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("pebblestore: live receipts of %s: %w", conv, err)
	}
	out := make([]store.Message, 0, len(seqs))
	for _, seq := range seqs {
		m, err := s.getMessage(conv, seq)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// updateMessage runs a read-modify-write of message seq of conv under the
// conversation's mutex; write adds the change to b and returns the message
// as changed and whether there is a change. The memo gets the new version
// under the same mutex (not forgotten: the window's flush and the settle
// that follow a receipt's last read look it up by seq). Unless durable, the
// change is not flushed: it becomes durable with the next write that is.
func (s *Store) updateMessage(ctx context.Context, conv store.ConvID, seq uint64, durable bool,
	write func(m store.Message, b *pebble.Batch) (store.Message, bool)) error {
	cs, err := s.acquireConv(ctx, conv)
	if err != nil {
		return err
	}
	defer s.releaseConv(cs)
	m, err := s.getMessage(conv, seq)
	if err != nil {
		cs.mu.Unlock()
		return err
	}
	b := s.db.NewBatch()
	next, changed := write(m, b)
	if !changed {
		cs.mu.Unlock()
		_ = b.Close()
		return s.syncIfPending(cs)
	}
	if !durable {
		err := s.applyNoSync(b, next)
		cs.mu.Unlock()
		_ = b.Close()
		return err
	}
	s.msgs.forget(m.ID) // before the apply: a failed one leaves no memo of either version
	if err := s.applyLocked(cs, b); err != nil {
		cs.mu.Unlock()
		return err
	}
	s.msgs.put(next)
	cs.mu.Unlock()
	return s.wait(cs, b)
}
