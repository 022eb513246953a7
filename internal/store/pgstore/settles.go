package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/seen-im/seen/internal/store"
)

// Settling a receipt is one row's update, and a busy node settles one per
// peer receipt message read and per group receipt done: in the mixed
// scenario about a thousand in a ten-second pass, each of which was a
// transaction of its own with its own WAL flush, about a ninth of every
// commit PostgreSQL made. They are written by the watermark rounds instead
// (watermarks.go): a settle queued while a round runs goes with the next
// one, in its transaction, as one statement for all the round's settles.
// When no watermark operation is queued, a round carries the settles
// alone.
//
// The round's transaction locks members' rows first (sorted), then the
// messages' rows, in (conversation, seq) order: every round on every node
// takes its locks in the same order, so rounds cannot deadlock one
// another, and the other writers of a message's row (RequestReceipt) lock
// that one row only.

// settleOp is one settle waiting for a round; Store.wmMu guards its
// place in Store.settles. The round sets settled (the row was updated:
// false when it was settled already, has no receipt or does not exist) or
// err, then closes done. A SettleDone op has no done: nobody waits for it,
// and the round logs its error.
type settleOp struct {
	conv    store.ConvID
	seq     uint64
	frozen  *store.Frozen
	done    chan struct{}
	settled bool
	err     error
}

// SettleReceipt implements store.Receipts: the settle goes with the next
// round, and the call waits for it.
func (s *Store) SettleReceipt(ctx context.Context, conv store.ConvID, seq uint64, frozen *store.Frozen) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	op := &settleOp{conv: conv, seq: seq, frozen: frozen, done: make(chan struct{})}
	s.queueSettles([]*settleOp{op})
	// As for watermarks: the round runs under the store's context, and
	// the caller waits for it.
	<-op.done
	if op.err != nil {
		return fmt.Errorf("pgstore: settle receipt: %w", op.err)
	}
	if !op.settled {
		// Settled already, or no receipt: nothing to do, unless there is
		// no such message.
		if _, err := messageAt(ctx, s.pool, conv, seq); err != nil {
			return fmt.Errorf("pgstore: settle receipt: %w", err)
		}
	}
	return nil
}

// SettleDone implements store.Receipts: the settles are queued for the
// next round, all of them, and the call returns. A read that makes receipts
// done waited for a round more after its own watermark's to answer; the
// settled flags are derived (store.Receipts), so nothing waits for them.
func (s *Store) SettleDone(ctx context.Context, conv store.ConvID, seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	ops := make([]settleOp, len(seqs))
	list := make([]*settleOp, len(seqs))
	for i, seq := range seqs {
		ops[i] = settleOp{conv: conv, seq: seq}
		list[i] = &ops[i]
	}
	s.queueSettles(list)
	return nil
}

// queueSettles queues ops for the next watermark round, all in one go,
// starting a round goroutine if none runs. The caller holds s.mu for
// reading, so none is started after Close, which joins them.
func (s *Store) queueSettles(ops []*settleOp) {
	s.wmMu.Lock()
	s.settles = append(s.settles, ops...)
	start := s.startRound()
	s.wmMu.Unlock()
	if start {
		s.routines.Go("pgstore watermark rounds", s.watermarkRounds)
	}
}

// settleKey names a message across conversations.
type settleKey struct {
	conv store.ConvID
	seq  uint64
}

func compareSettleKeys(a, b settleKey) int {
	// Byte order, as the conv column's collation "C" sorts.
	if c := cmp.Compare(a.conv, b.conv); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// settleRound is a round's settles, one row each, in lock order.
type settleRound struct {
	ops  []*settleOp
	keys []settleKey
}

func newSettleRound(ops []*settleOp) settleRound {
	keys := make([]settleKey, 0, len(ops))
	for _, op := range ops {
		keys = append(keys, settleKey{op.conv, op.seq})
	}
	slices.SortFunc(keys, compareSettleKeys)
	return settleRound{ops: ops, keys: slices.Compact(keys)}
}

// queue queues the round's update on b. A message settled twice in one
// round takes the first settle's frozen counts, as it would have one
// settle after the other.
func (r settleRound) queue(b *pgx.Batch) {
	n := len(r.keys)
	convs, seqs := make([]string, n), make([]int64, n)
	frRead, frUnread, frDeliv := make([]*int64, n), make([]*int64, n), make([]*int64, n)
	set := make([]bool, n)
	for _, op := range r.ops {
		i, _ := slices.BinarySearchFunc(r.keys, settleKey{op.conv, op.seq}, compareSettleKeys)
		if set[i] {
			continue
		}
		set[i] = true
		convs[i], seqs[i] = string(op.conv), int64(op.seq)
		frRead[i], frUnread[i], frDeliv[i] = frozenCols(op.frozen)
	}
	b.Queue(settleUpdate, convs, seqs, frRead, frUnread, frDeliv)
}

// read reads the update's answer (the ordinals of the keys it settled)
// into the ops.
func (r settleRound) read(row pgx.Row) error {
	var settled []int64
	if err := row.Scan(&settled); err != nil {
		return err
	}
	done := make([]bool, len(r.keys))
	for _, i := range settled {
		done[i-1] = true
	}
	first := make([]bool, len(r.keys))
	for _, op := range r.ops {
		i, _ := slices.BinarySearchFunc(r.keys, settleKey{op.conv, op.seq}, compareSettleKeys)
		// A message settled twice in the round: the first settles it,
		// the second finds it settled.
		op.settled = done[i] && !first[i]
		first[i] = true
	}
	return nil
}

// applySettles writes a round of settles alone: one statement, committed
// on its own.
func (s *Store) applySettles(r settleRound) error {
	return withConnOf(s.ctx, s.wmPool, "settle receipts", func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		r.queue(b)
		br := conn.SendBatch(s.ctx, b)
		err := r.read(br.QueryRow())
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// settleUpdate settles the messages named by $1 and $2 (sorted) that have
// a live receipt, storing their frozen counts ($3-$5, NULL for none), and
// answers the ordinals of those it settled.
const settleUpdate = `WITH settled AS (UPDATE messages AS m SET settled = true,
		frozen_read = u.frozen_read, frozen_unread = u.frozen_unread, frozen_delivered = u.frozen_delivered
	FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) WITH ORDINALITY
		AS u(conv, seq, frozen_read, frozen_unread, frozen_delivered, i)
	WHERE m.conv = u.conv AND m.seq = u.seq AND m.receipt AND NOT m.settled RETURNING u.i)
	SELECT coalesce(array_agg(i), '{}') FROM settled`
