package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/seen-im/seen/internal/store"
)

// Watermark writes are combined per conversation, as the embedded store
// combines them: callers queue their operation and one combiner goroutine
// per busy conversation takes everything queued, locks the members it
// names (in user id order, so two nodes' combiners cannot deadlock), applies
// the operations in queue order with the store package's rule
// (store.WatermarkOp.ApplyTo), writes every changed member in one
// unnest-driven UPDATE and commits once. Under a read storm (a thousand
// members acking the same message) that is one transaction and one commit
// per round instead of one per ack.

// wmQueue is a conversation's queue of watermark operations; Store.wmMu
// guards it.
type wmQueue struct {
	ops     []*store.WatermarkOp
	running bool // a combiner is draining ops
}

// watermarks is store.WatermarkFront's Run: it queues ops on conv, all in
// one go and in order, and waits for their results (set on each op). The
// caller holds s.mu for reading until then, so Close waits for it; a
// combiner is started only while s.mu is held for reading, so never after
// Close, which joins them.
func (s *Store) watermarks(ctx context.Context, conv store.ConvID, ops []*store.WatermarkOp) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if err := validConv(conv); err != nil {
		return err
	}
	s.wmMu.Lock()
	q := s.wm[conv]
	if q == nil {
		q = &wmQueue{}
		s.wm[conv] = q
	}
	q.ops = append(q.ops, ops...)
	start := !q.running
	q.running = true
	s.wmMu.Unlock()
	s.obs.WatermarkQueued(len(ops))
	if start {
		s.routines.Go("pgstore watermark combiner", func() { s.combine(conv, q) })
	}
	// The combiner works under the store's context, not the caller's: an
	// operation it took is applied or failed whether or not the caller
	// still waits, so the caller waits for it.
	for _, op := range ops {
		<-op.Done
	}
	return nil
}

// combine drains conv's queue, a round at a time, until it is empty, then
// drops the queue.
func (s *Store) combine(conv store.ConvID, q *wmQueue) {
	for {
		s.wmMu.Lock()
		ops := q.ops
		q.ops = nil
		if len(ops) == 0 {
			q.running = false
			delete(s.wm, conv)
			s.wmMu.Unlock()
			return
		}
		s.wmMu.Unlock()
		s.obs.WatermarkQueued(-len(ops))
		s.obs.WatermarkBatch(len(ops))
		err := s.applyWatermarks(conv, ops)
		for _, op := range ops {
			if err != nil {
				op.Err = err
			}
			close(op.Done)
		}
	}
}

// applyWatermarks applies one round of operations in queue order in one
// transaction. Results are set on the ops; a returned error applies to all
// of them (nothing was committed, or it is not known whether it was).
func (s *Store) applyWatermarks(conv store.ConvID, ops []*store.WatermarkOp) error {
	var users []string
	for _, op := range ops {
		if !slices.Contains(users, op.User) {
			users = append(users, op.User)
		}
	}
	slices.Sort(users)
	// Results are set only once the round commits: a retried round starts
	// from what the database holds.
	type result struct {
		res     store.Member
		changed bool
		err     error
	}
	results := make([]result, len(ops))
	// Two pipelined batches (see pipeline.go): begin and lock the members
	// named, then write the changed ones and commit.
	err := s.withConn(s.ctx, "watermarks of "+string(conv), func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(`SELECT `+memberCols+` FROM members
			WHERE conv = $1 AND user_id = ANY($2) ORDER BY user_id FOR UPDATE`, string(conv), users)
		br := conn.SendBatch(s.ctx, b)
		if _, err := br.Exec(); err != nil {
			_ = br.Close()
			return err
		}
		rows, err := br.Query()
		if err != nil {
			_ = br.Close()
			return err
		}
		locked, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Member, error) { return scanMember(r) })
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		members := make(map[string]*store.Member, len(locked))
		for i := range locked {
			members[locked[i].UserID] = &locked[i]
		}
		var dirty []string
		for i, op := range ops {
			m := members[op.User]
			if m == nil {
				results[i].err = notFound("member %q of %s", op.User, conv)
				continue
			}
			res, changed, err := op.ApplyTo(m)
			if err != nil {
				results[i].err = fmt.Errorf("pgstore: ack %d by %q in %s: %w", op.Seq, op.User, conv, err)
			}
			results[i].res, results[i].changed = res, changed
			if changed && !slices.Contains(dirty, op.User) {
				dirty = append(dirty, op.User)
			}
		}
		w := &pgx.Batch{}
		if len(dirty) > 0 {
			queueWatermarks(w, conv, dirty, members)
		}
		// Committed even when nothing changed, to release the locks.
		return commitBatch(s.ctx, conn, w)
	})
	if err != nil {
		if errors.Is(err, context.Canceled) && s.ctx.Err() != nil {
			return errClosed
		}
		return err
	}
	for i, op := range ops {
		op.Res, op.Changed, op.Err = results[i].res, results[i].changed, results[i].err
	}
	return nil
}

// queueWatermarks queues the write of the watermarks and acks of the dirty members in
// one statement. GREATEST keeps a watermark from ever falling, whatever
// wrote the row since it was read (nothing can, while the round holds the
// row locks; the guard costs nothing).
func queueWatermarks(b *pgx.Batch, conv store.ConvID, dirty []string, members map[string]*store.Member) {
	n := len(dirty)
	reads, delivs := make([]int64, n), make([]int64, n)
	readAts, delivAts := make([]int64, n), make([]int64, n)
	acks := make([][]byte, n)
	ownReads, ownAts, ownAcks := make([]int64, n), make([]int64, n), make([][]byte, n)
	for i, u := range dirty {
		m := members[u]
		reads[i], delivs[i] = int64(m.ReadSeq), int64(m.DeliveredSeq)
		readAts[i], delivAts[i] = m.ReadAt, m.DeliveredAt
		acks[i] = encodeAcks(m.Acks)
		own := m.OwnState()
		ownReads[i], ownAts[i], ownAcks[i] = int64(own.ReadSeq), own.ReadAt, encodeAcks(own.Acks)
	}
	b.Queue(`UPDATE members AS m SET
			read_seq = GREATEST(m.read_seq, u.read_seq),
			delivered_seq = GREATEST(m.delivered_seq, u.delivered_seq),
			read_at = u.read_at, delivered_at = u.delivered_at, acks = u.acks,
			own_read_seq = GREATEST(m.own_read_seq, u.own_read_seq), own_read_at = u.own_read_at, own_acks = u.own_acks
		FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bytea[],
				$8::bigint[], $9::bigint[], $10::bytea[])
			AS u(user_id, read_seq, delivered_seq, read_at, delivered_at, acks, own_read_seq, own_read_at, own_acks)
		WHERE m.conv = $1 AND m.user_id = u.user_id`,
		string(conv), dirty, reads, delivs, readAts, delivAts, acks, ownReads, ownAts, ownAcks)
}
