package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/seen-im/seen/internal/store"
)

// Watermark writes are combined, as the embedded store combines them per
// conversation, and here across conversations too: callers queue their
// operations on their conversation, and a round takes every conversation
// that has operations queued and none in flight, locks the members they
// name (in (conversation, user id) order, so two rounds, on one node or
// two, cannot deadlock), applies each conversation's operations in queue
// order with the store package's rule (store.WatermarkOp.ApplyTo), writes
// every changed member in one unnest-driven UPDATE and commits once. Under
// a read storm (a thousand members acking the same message) that is one
// transaction per round instead of one per ack; with acks spread over many
// conversations, one per round instead of one per conversation.
//
// A conversation is in at most one round at a time, so its operations
// apply in queue order. Up to maxWatermarkRounds rounds run at once: a
// conversation queued while they all run waits for the next round of
// whichever ends first.

// maxWatermarkRounds bounds the watermark rounds in flight. Each holds a
// connection for a round trip and a commit; more rounds carry fewer
// operations each, and more transactions and WAL flushes per ack. One it
// is, per node: in the mixed scenario (acks spread over 220
// conversations) four rounds at once cost PostgreSQL 801-864 CPU ticks
// per run and answered message.read at p50 46-65 ms; one round at a time
// 702 ticks, and 28 ms, as rounds grew and stopped contending for the
// members' rows with the appends (docs/benchmarks.md). A conversation's
// own acks were one round at a time already. The rounds have a connection
// of their own (Store.wmPool, see keyedPool): a round waits for no append.
const maxWatermarkRounds = 1

// wmQueue is a conversation's queue of watermark operations; Store.wmMu
// guards it.
type wmQueue struct {
	ops     []*store.WatermarkOp
	running bool // the conversation is in a round
	ready   bool // the conversation is in Store.wmReady
}

// watermarks is store.WatermarkFront's Run: it queues ops on conv, all in
// one go and in order, and waits for their results (set on each op). The
// caller holds s.mu for reading until then, so Close waits for it; a round
// goroutine is started only while s.mu is held for reading, so never after
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
	if !q.running && !q.ready {
		q.ready = true
		s.wmReady = append(s.wmReady, conv)
	}
	start := s.startRound()
	s.wmMu.Unlock()
	s.obs.WatermarkQueued(len(ops))
	if start {
		s.routines.Go("pgstore watermark rounds", s.watermarkRounds)
	}
	// The round works under the store's context, not the caller's: an
	// operation it took is applied or failed whether or not the caller
	// still waits, so the caller waits for it.
	for _, op := range ops {
		<-op.Done
	}
	return nil
}

// startRound reports whether the caller, which has just queued work,
// is to start a round goroutine (counted as running from now): none is
// if maxWatermarkRounds run already. s.wmMu must be held.
func (s *Store) startRound() bool {
	if s.wmRounds >= maxWatermarkRounds {
		return false
	}
	s.wmRounds++
	return true
}

// convOps is one conversation's share of a round.
type convOps struct {
	conv store.ConvID
	q    *wmQueue
	ops  []*store.WatermarkOp
}

// watermarkRounds runs rounds until no conversation is ready and no
// settle is queued.
func (s *Store) watermarkRounds() {
	for {
		s.wmMu.Lock()
		ready, settles := s.wmReady, s.settles
		s.wmReady, s.settles = nil, nil
		if len(ready) == 0 && len(settles) == 0 {
			s.wmRounds--
			s.wmMu.Unlock()
			return
		}
		round := make([]convOps, len(ready))
		n := 0
		for i, conv := range ready {
			q := s.wm[conv]
			round[i] = convOps{conv: conv, q: q, ops: q.ops}
			q.ops, q.ready, q.running = nil, false, true
			n += len(round[i].ops)
		}
		s.wmMu.Unlock()
		if n > 0 { // not a round of settles alone
			s.obs.WatermarkQueued(-n)
			s.obs.WatermarkBatch(n)
		}
		var err error
		if len(round) == 0 {
			r := newSettleRound(settles)
			w := s.cache.begin(cacheKeys{msgs: r.keys})
			err = s.applySettles(r)
			w.end(err, cacheResult{})
		} else {
			err = s.applyWatermarks(round, settles)
		}
		if errors.Is(err, context.Canceled) && s.ctx.Err() != nil {
			err = errClosed
		}
		s.wmMu.Lock()
		for _, c := range round {
			c.q.running = false
			switch {
			case len(c.q.ops) > 0:
				c.q.ready = true
				s.wmReady = append(s.wmReady, c.conv)
			default:
				delete(s.wm, c.conv)
			}
		}
		s.wmMu.Unlock()
		for _, c := range round {
			for _, op := range c.ops {
				if err != nil {
					op.Err = err
				}
				close(op.Done)
			}
		}
		detached := 0
		for _, op := range settles {
			if op.done == nil {
				detached++
				continue
			}
			if err != nil {
				op.err = err
			}
			close(op.done)
		}
		if err != nil && detached > 0 && !errors.Is(err, errClosed) {
			// Nobody waits for these: the receipts stay live, and done.
			s.log.Warn("pgstore: settle done receipts", "receipts", detached, "err", err)
		}
	}
}

// memberKey names a member across conversations.
type memberKey struct {
	conv store.ConvID
	user string
}

// applyWatermarks applies one round's operations (at least one), each
// conversation's in queue order, and its settles, in one transaction.
// Results are set on the ops; a returned error applies to all of them
// (nothing was committed, or it is not known whether it was).
func (s *Store) applyWatermarks(round []convOps, settleOps []*settleOp) error {
	var settles settleRound
	if len(settleOps) > 0 {
		settles = newSettleRound(settleOps)
	}
	var keys []memberKey
	seen := make(map[memberKey]bool)
	for _, c := range round {
		for _, op := range c.ops {
			k := memberKey{c.conv, op.User}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	// The lock order; byte order, as the columns' collation "C" sorts.
	slices.SortFunc(keys, compareMemberKeys)
	convs, users := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		convs[i], users[i] = string(k.conv), k.user
	}
	// Results are set only once the round commits: a retried round starts
	// from what the database holds.
	results := make([][]wmResult, len(round))
	for i, c := range round {
		results[i] = make([]wmResult, len(c.ops))
	}
	w := s.cache.begin(cacheKeys{members: keys, msgs: settles.keys})
	members, dirty, xmin, done, err := s.watermarksFromMemo(round, keys, settles, results)
	if err == nil && !done {
		members, dirty, xmin, err = s.lockedWatermarks(round, convs, users, settles, results)
	}
	// The members' rows as committed; a settled message is emptied.
	w.end(err, cacheResult{members: members})
	if err != nil {
		return err
	}
	for _, k := range dirty {
		s.amemo.watermarked(k.conv, *members[k], xmin)
	}
	for i, c := range round {
		for j, op := range c.ops {
			op.Res, op.Changed, op.Err = results[i][j].res, results[i][j].changed, results[i][j].err
		}
	}
	return nil
}

// wmResult is one operation's result in a round.
type wmResult struct {
	res     store.Member
	changed bool
	err     error
}

// applyRoundOps applies the round's operations to members (changed in
// place; a key absent is no member), setting results, and returns the keys
// of the members changed.
func applyRoundOps(round []convOps, members map[memberKey]*store.Member, results [][]wmResult) []memberKey {
	var dirty []memberKey
	for i, c := range round {
		for j, op := range c.ops {
			k := memberKey{c.conv, op.User}
			m := members[k]
			if m == nil {
				results[i][j].err = notFound("member %q of %s", op.User, c.conv)
				continue
			}
			res, changed, err := op.ApplyTo(m)
			if err != nil {
				results[i][j].err = fmt.Errorf("pgstore: ack %d by %q in %s: %w", op.Seq, op.User, c.conv, err)
			}
			results[i][j].res, results[i][j].changed = res, changed
			if changed && !slices.Contains(dirty, k) {
				dirty = append(dirty, k)
			}
		}
	}
	return dirty
}

// lockedWatermarks runs a round the locking way, in one transaction of two
// pipelined batches (see pipeline.go): begin and lock the members named,
// then write the changed ones and the settles, and commit. It returns the
// members as written, the keys changed and the transaction's xmin.
func (s *Store) lockedWatermarks(round []convOps, convs, users []string, settles settleRound, results [][]wmResult) (
	members map[memberKey]*store.Member, dirty []memberKey, xmin int64, err error) {
	err = withConnOf(s.ctx, s.wmPool, "watermarks", func(conn *pgx.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(membersByKey(true), convs, users) // locked in keys' order
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
		members = make(map[memberKey]*store.Member, len(convs))
		rowIDs := make(map[memberKey]pgtype.TID, len(convs))
		var (
			conv string
			id   pgtype.TID
		)
		sc := newMemberScanner(&id, &conv)
		for rows.Next() {
			m, err := sc.scan(rows)
			if err != nil {
				rows.Close()
				_ = br.Close()
				return err
			}
			k := memberKey{store.ConvID(conv), m.UserID}
			members[k], rowIDs[k] = &m, id
		}
		err = rows.Err()
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		dirty = applyRoundOps(round, members, results)
		w := &pgx.Batch{}
		var reads []batchRead
		if len(dirty) > 0 {
			queueWatermarks(w, dirty, members, rowIDs)
			reads = append(reads, batchRead{0, func(r pgx.Row) error { return r.Scan(&xmin) }})
		}
		if len(settles.keys) > 0 {
			// The messages' rows are locked after the members': see settles.go.
			settles.queue(w)
			reads = append(reads, batchRead{w.Len() - 1, settles.read})
		}
		// Committed even when nothing changed, to release the locks.
		return commitBatch(s.ctx, conn, w, reads...)
	})
	return members, dirty, xmin, err
}

// queueWatermarks queues the write of the watermarks and acks of the dirty
// members, of any number of conversations, in one statement. GREATEST keeps
// a watermark from ever falling, whatever wrote the row since it was read
// (nothing can, while the round holds the row locks; the guard costs
// nothing). The rows are found by the ctid the locking read returned
// (stable while the lock is held): a TID scan per row, where a join on the
// key could be planned as a sequential scan (membersByKey).
func queueWatermarks(b *pgx.Batch, dirty []memberKey, members map[memberKey]*store.Member, rowIDs map[memberKey]pgtype.TID) {
	n := len(dirty)
	ids := make([]pgtype.TID, n)
	convs, users := make([]string, n), make([]string, n)
	reads, delivs := make([]int64, n), make([]int64, n)
	readAts, delivAts := make([]int64, n), make([]int64, n)
	acks := make([][]byte, n)
	ownReads, ownAts, ownAcks := make([]int64, n), make([]int64, n), make([][]byte, n)
	for i, k := range dirty {
		m := members[k]
		ids[i], convs[i], users[i] = rowIDs[k], string(k.conv), k.user
		reads[i], delivs[i] = int64(m.ReadSeq), int64(m.DeliveredSeq)
		readAts[i], delivAts[i] = m.ReadAt, m.DeliveredAt
		acks[i] = encodeAcks(m.Acks)
		own := m.OwnState()
		ownReads[i], ownAts[i], ownAcks[i] = int64(own.ReadSeq), own.ReadAt, encodeAcks(own.Acks)
	}
	// The count check turns a row not found (which the lock rules out) into
	// an error that rolls the round back, never an ack silently lost.
	b.Queue(watermarkUpdate,
		ids, convs, users, reads, delivs, readAts, delivAts, acks, ownReads, ownAts, ownAcks, int64(n))
}

// watermarkUpdate writes a round's changed members, found by the row ids
// their lock read returned ($1), checked against their keys; it answers the
// transaction's xmin, the rows' new version (for the append memo), or
// fails if a row was not found.
const watermarkUpdate = `WITH written AS (UPDATE members AS m SET
		read_seq = GREATEST(m.read_seq, u.read_seq),
		delivered_seq = GREATEST(m.delivered_seq, u.delivered_seq),
		read_at = u.read_at, delivered_at = u.delivered_at, acks = u.acks,
		own_read_seq = GREATEST(m.own_read_seq, u.own_read_seq), own_read_at = u.own_read_at, own_acks = u.own_acks
	FROM unnest($1::tid[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bytea[],
			$9::bigint[], $10::bigint[], $11::bytea[])
		AS u(row_id, conv, user_id, read_seq, delivered_seq, read_at, delivered_at, acks, own_read_seq, own_read_at, own_acks)
	WHERE m.ctid = u.row_id AND m.conv = u.conv AND m.user_id = u.user_id RETURNING m.xmin::text::bigint AS xm)
	SELECT CASE WHEN count(*) = $12 THEN min(xm)
		ELSE ('watermark rows found under their lock: ' || count(*) || ' of ' || $12)::bigint END FROM written`
