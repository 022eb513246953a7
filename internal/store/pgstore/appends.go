package pgstore

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/seen-im/seen/internal/store"
)

// Appends are combined per conversation, as watermark writes are: a
// conversation's row lock is held to the commit, so one transaction per
// append would cap a conversation at one append per commit latency, on
// every node together. Callers queue their message; one combiner per busy
// conversation takes everything queued and appends it in one transaction
// (two pipelined batches: lock and read, then write and commit), allocating
// the seqs in queue order. Each append is checked on its own (membership,
// clientMsgId), so one refused message does not fail the others.

// appendOp is one queued append and, once done is closed, its result.
type appendOp struct {
	m store.Message

	stored  store.Message
	existed bool
	err     error
	done    chan struct{}
}

// appendQueue is a conversation's queue of appends; Store.apMu guards it.
type appendQueue struct {
	ops     []*appendOp
	running bool // a combiner is draining ops
}

// Append implements store.Messages. The seq is last_seq+1 of the
// conversation's row, taken under its lock, so senders on any number of
// nodes get gap-free, unique seqs; the clientMsgId is checked under the
// same lock, so a resend through another node finds the original.
func (s *Store) Append(ctx context.Context, m store.Message) (store.Message, bool, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Message{}, false, err
	}
	defer s.mu.RUnlock()
	if err := validConv(m.Conv); err != nil {
		return store.Message{}, false, err
	}
	if m.ID == "" || m.Sender == "" {
		return store.Message{}, false, errors.New("pgstore: append: message id and sender are required")
	}
	op := &appendOp{m: m, done: make(chan struct{})}
	s.apMu.Lock()
	q := s.ap[m.Conv]
	if q == nil {
		q = &appendQueue{}
		s.ap[m.Conv] = q
	}
	q.ops = append(q.ops, op)
	start := !q.running
	q.running = true
	s.apMu.Unlock()
	if start {
		s.routines.Go("pgstore append combiner", func() { s.combineAppends(m.Conv, q) })
	}
	<-op.done
	if pgErr := (*pgconn.PgError)(nil); errors.As(op.err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "messages_client_id" {
		// Not expected (client ids are checked under the lock), but if
		// another writer's message took the client id first, that one is
		// the original.
		if got, found, err := byClientID(ctx, s.pool, m); err == nil && found {
			return got, true, nil
		}
	}
	if op.err != nil {
		return store.Message{}, false, op.err
	}
	return op.stored, op.existed, nil
}

// combineAppends drains conv's queue, a round at a time, until it is
// empty, then drops the queue.
func (s *Store) combineAppends(conv store.ConvID, q *appendQueue) {
	for {
		s.apMu.Lock()
		ops := q.ops
		q.ops = nil
		if len(ops) == 0 {
			q.running = false
			delete(s.ap, conv)
			s.apMu.Unlock()
			return
		}
		s.apMu.Unlock()
		err := s.applyAppends(conv, ops)
		if err != nil && errors.Is(err, context.Canceled) && s.ctx.Err() != nil {
			err = errClosed
		}
		for _, op := range ops {
			if err != nil {
				op.err = err
			}
			close(op.done)
		}
	}
}

// clientKey identifies a clientMsgId in a conversation.
type clientKey struct{ sender, id string }

// applyAppends appends one round of messages to conv in one transaction.
// Results are set on the ops once it commits; a returned error applies to
// all of them (nothing was committed, or it is not known whether it was).
func (s *Store) applyAppends(conv store.ConvID, ops []*appendOp) error {
	parties := appendParties(conv, ops)
	keys := cacheKeys{lasts: []store.ConvID{conv}, members: make([]memberKey, len(parties))}
	for i, p := range parties {
		keys.members[i] = memberKey{conv, p}
	}
	w := s.cache.begin(keys)
	rows, fromMemo, err := s.appendRoundOf(conv, ops, parties)
	res := cacheResult{members: make(map[memberKey]*store.Member, len(rows))}
	for u, m := range rows {
		res.members[memberKey{conv, u}] = m
	}
	if fromMemo {
		// From the memo: the sender's row is the only one written.
		res.unwritten = make(map[memberKey]bool, len(parties))
		for _, p := range parties {
			if rows[p] == nil {
				res.unwritten[memberKey{conv, p}] = true
			}
		}
	}
	if err == nil {
		// The conversation's last seq is its newest message's.
		for _, op := range ops {
			if op.err == nil && !op.existed {
				res.fresh = append(res.fresh, op.stored)
				if res.lasts == nil || op.stored.Seq > res.lasts[conv] {
					res.lasts = map[store.ConvID]uint64{conv: op.stored.Seq}
				}
			}
		}
	}
	w.end(err, res)
	return err
}

// appendParties are everyone whose record a message of the round may
// read or write, in user id order: the order every writer of member rows
// locks them in.
func appendParties(conv store.ConvID, ops []*appendOp) []string {
	var parties []string
	for _, op := range ops {
		if !slices.Contains(parties, op.m.Sender) {
			parties = append(parties, op.m.Sender)
		}
	}
	if conv.IsPeer() {
		a, b := conv.Peers()
		for _, p := range []string{a, b} {
			if !slices.Contains(parties, p) {
				parties = append(parties, p)
			}
		}
	}
	slices.Sort(parties)
	return parties
}

// appendRoundOf is applyAppends' write: from the memo if it can, else
// the locking round. It returns the member rows it knows as committed, by
// user: from the memo, the sender's (the only one written); from the
// locking round, every party's, read under its lock and written.
func (s *Store) appendRoundOf(conv store.ConvID, ops []*appendOp, parties []string) (map[string]*store.Member, bool, error) {
	ctx := s.ctx
	if done, sender, err := s.appendFromMemo(ctx, conv, ops); done || err != nil {
		if sender == nil {
			return nil, done, err
		}
		return map[string]*store.Member{sender.UserID: sender}, true, err
	}
	var senders, clientIDs []string
	for _, op := range ops {
		if op.m.ClientMsgID != "" {
			senders, clientIDs = append(senders, op.m.Sender), append(clientIDs, op.m.ClientMsgID)
		}
	}

	var (
		results []appendResult
		rows    map[string]*store.Member
	)
	// A round is first sent without looking its client ids up: a resend is
	// rare, and the lookup was one statement in every append. The write
	// then inserts each message only if its client id is new, and fails
	// the round if one was not: the round is sent again, looking them up
	// under the conversation's lock, and answers the resends with what is
	// stored.
	var err error
	for _, lookUpClientIDs := range []bool{false, true} {
		if lookUpClientIDs && !errors.Is(err, errClientIDStored) {
			break
		}
		results = make([]appendResult, len(ops))
		for i := range results {
			results[i].fresh = -1
		}
		err = s.withConn(ctx, "append to "+string(conv), func(conn *pgx.Conn) error {
			return s.appendRound(ctx, conn, conv, ops, results, &rows, parties, senders, clientIDs, lookUpClientIDs)
		})
	}
	if err != nil {
		return nil, false, err
	}
	for i, op := range ops {
		r := results[i]
		if r.fresh >= 0 {
			r.stored = results[r.fresh].stored
		}
		op.stored, op.existed, op.err = r.stored, r.existed, r.err
	}
	return rows, false, nil
}

// errClientIDStored is a round that found a client id already stored
// when it wrote its messages: nothing of it was written.
var errClientIDStored = errors.New("pgstore: append: a client id is stored already")

// clientIDStoredMark names errClientIDStored in the statement's error.
const clientIDStoredMark = "seen: client id stored"

// appendResult is what one append of a round comes to.
type appendResult struct {
	stored  store.Message
	existed bool
	err     error
	fresh   int // index of the op whose new message this one returns, or -1
}

// appendRound runs one attempt of a round on conn, in one transaction,
// setting results. Unless lookUpClientIDs, the stored messages of the
// round's client ids are not read: a message whose client id turns out
// stored fails the attempt with errClientIDStored, having written nothing.
func (s *Store) appendRound(ctx context.Context, conn *pgx.Conn, conv store.ConvID, ops []*appendOp, results []appendResult,
	committed *map[string]*store.Member, parties, senders, clientIDs []string, lookUpClientIDs bool) error {
	var (
		last, count int64
		convFound   bool
		existing    []store.Message
		locked      []store.Member
	)
	// A peer conversation's row is created by its first append. The
	// insert is sent only once the row was found missing (one more
	// round trip, once per conversation), not with every append: a
	// statement, however cheap, is a statement PostgreSQL parses,
	// plans and runs on every message.
	for create := false; ; create = true {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		if create {
			b.Queue(`INSERT INTO conversations (conv) VALUES ($1) ON CONFLICT (conv) DO NOTHING`, string(conv))
		}
		b.Queue(`SELECT last_seq, members FROM conversations WHERE conv = $1 FOR UPDATE`, string(conv))
		if lookUpClientIDs {
			// Under the lock: every message committed before it is seen.
			b.Queue(`SELECT `+messageCols+` FROM messages WHERE conv = $1
				AND (sender, client_msg_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`, string(conv), senders, clientIDs)
		}
		queueLockParties(b, conv, parties)
		err := func() error {
			br := conn.SendBatch(ctx, b)
			defer br.Close()
			if _, err := br.Exec(); err != nil {
				return err
			}
			if create {
				if _, err := br.Exec(); err != nil {
					return err
				}
			}
			switch err := br.QueryRow().Scan(&last, &count); {
			case err == nil:
				convFound = true
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			if lookUpClientIDs {
				rows, err := br.Query()
				if err != nil {
					return err
				}
				if existing, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Message, error) { return scanMessage(r) }); err != nil {
					return err
				}
			}
			rows, err := br.Query()
			if err != nil {
				return err
			}
			if locked, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Member, error) { return scanMember(r) }); err != nil {
				return err
			}
			return br.Close()
		}()
		if err != nil {
			return err
		}
		if convFound || create || !conv.IsPeer() {
			break
		}
		// Nothing was locked or written: start again, creating the row.
		if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
			return err
		}
	}
	if !convFound {
		for i := range results {
			results[i].err = notFound("append to %s: group", conv)
		}
		_, err := conn.Exec(ctx, "ROLLBACK")
		return err
	}
	byClient := make(map[clientKey]store.Message, len(existing))
	for _, m := range existing {
		byClient[clientKey{m.Sender, m.ClientMsgID}] = m
	}
	members := make(map[string]*store.Member, len(locked))
	for i := range locked {
		members[locked[i].UserID] = &locked[i]
	}
	newInRound := map[clientKey]int{} // client id -> index of the op that stores it
	var (
		dirty    []string
		inserted []store.Message
		lastAt   int64
		added    int64
		// The webhook outbox of the new messages, written in the
		// same transaction: nothing for a message that existed.
		hooks hookWrites
	)
	for i, op := range ops {
		m := op.m
		key := clientKey{m.Sender, m.ClientMsgID}
		if m.ClientMsgID != "" {
			if orig, ok := byClient[key]; ok {
				results[i].stored, results[i].existed = orig, true
				continue
			}
			if j, ok := newInRound[key]; ok {
				results[i].existed, results[i].fresh = true, j
				continue
			}
		}
		sender := members[m.Sender]
		switch {
		case conv.IsGroup():
			if sender == nil {
				results[i].err = notFound("append to %s: sender %q is not a member", conv, m.Sender)
				continue
			}
		default:
			if a, b := conv.Peers(); m.Sender != a && m.Sender != b {
				results[i].err = notFound("append to %s: sender %q is not a member", conv, m.Sender)
				continue
			}
			if sender == nil && last > 0 {
				// The conversation exists and the sender was removed.
				results[i].err = notFound("append to %s: sender %q is not a member", conv, m.Sender)
				continue
			}
			if last == 0 {
				// First append: the conversation comes into being with
				// both parties, whichever of them already has a record.
				a, b := conv.Peers()
				for _, p := range []string{a, b} {
					if members[p] == nil {
						members[p] = &store.Member{UserID: p, Role: "member", JoinSeq: 1, JoinedAt: m.SentAt}
						dirty = append(dirty, p)
						added++
					}
				}
				sender = members[m.Sender]
			}
		}
		last++
		m.Seq = uint64(last)
		if m.Receipt && m.ReceiptAt == 0 {
			m.ReceiptAt = m.SentAt
		}
		// The sender has read what it sent. Max, not assignment: a
		// watermark may already be above last_seq.
		// A send is a shared read on both levels (store.Member.ReadShared).
		sender.ReadShared(m.Seq, m.SentAt)
		if !slices.Contains(dirty, m.Sender) {
			dirty = append(dirty, m.Sender)
		}
		hooks.add(m)
		m.Hooks = nil // never stored nor returned
		results[i].stored = m
		inserted = append(inserted, m)
		lastAt = m.SentAt
		if m.ClientMsgID != "" {
			newInRound[key] = i
		}
	}
	if len(inserted) == 0 {
		_, err := conn.Exec(ctx, "ROLLBACK")
		return err
	}
	w := &pgx.Batch{}
	slices.Sort(dirty)
	dirtyMembers := make([]store.Member, len(dirty))
	for i, u := range dirty {
		dirtyMembers[i] = *members[u]
	}
	w.Queue(appendWriteSQL, appendWriteArgs(conv, last, lastAt, added, dirtyMembers, inserted)...)
	hooks.queue(w)
	var xmin int64
	err := commitBatch(ctx, conn, w, batchRead{0, func(r pgx.Row) error { return r.Scan(&xmin) }})
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && strings.Contains(pgErr.Message, clientIDStoredMark) {
		return errClientIDStored
	}
	if err == nil {
		s.amemo.appended(conv, last, dirtyMembers, xmin)
		*committed = members
	}
	return err
}

// queueLockParties queues the read of conv's member records of parties
// (sorted), locking them in user id order. A round has one or two parties
// but for a group's round from several senders: those get a statement
// whose plan PostgreSQL can keep. With "= ANY($2)" of an array, it made a
// custom plan for every execution (its estimate for a generic plan's
// array is ten elements, for a custom one the array's length, so the
// generic one never looked as cheap), and the planning of this one
// statement was half of all the planning a mixed load cost it.
func queueLockParties(b *pgx.Batch, conv store.ConvID, parties []string) {
	const sql = `SELECT ` + memberCols + ` FROM members WHERE conv = $1 AND user_id `
	switch len(parties) {
	case 1:
		b.Queue(sql+`= $2 FOR UPDATE`, string(conv), parties[0])
	case 2:
		b.Queue(sql+`IN ($2, $3) ORDER BY user_id FOR UPDATE`, string(conv), parties[0], parties[1])
	default:
		b.Queue(sql+`= ANY($2) ORDER BY user_id FOR UPDATE`, string(conv), parties)
	}
}

// appendWriteSQL writes a round of appends in one statement: the
// conversation's last seq and member count, the member records the round
// changed (the senders' watermarks, a new peer conversation's two
// members), and the messages. One statement, not one per row and table:
// the appends are most of the statements a mixed load sends PostgreSQL,
// and each costs it a parse, a plan and an executor start. It answers the
// transaction's xmin, the member rows' new version, for the append memo
// (appendmemo.go).
const appendWriteSQL = `WITH conv AS (
		UPDATE conversations SET last_seq = $2, last_at = $3, members = members + $4 WHERE conv = $1),
	member AS (
		INSERT INTO members (conv, ` + memberCols + `)
		SELECT $1, * FROM unnest($5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[],
			$11::bigint[], $12::bigint[], $13::bytea[], $14::bigint[], $15::bigint[], $16::bytea[])
		ON CONFLICT (conv, user_id) DO UPDATE SET role = EXCLUDED.role, join_seq = EXCLUDED.join_seq,
			read_seq = EXCLUDED.read_seq, delivered_seq = EXCLUDED.delivered_seq, read_at = EXCLUDED.read_at,
			delivered_at = EXCLUDED.delivered_at, joined_at = EXCLUDED.joined_at, acks = EXCLUDED.acks,
			own_read_seq = EXCLUDED.own_read_seq, own_read_at = EXCLUDED.own_read_at, own_acks = EXCLUDED.own_acks
		RETURNING xmin::text::bigint AS xm),
	written AS (
		INSERT INTO messages (` + messageCols + `)
		SELECT * FROM unnest($17::text[], $18::text[], $19::bigint[], $20::text[], $21::text[], $22::bytea[], $23::bigint[],
			$24::boolean[], $25::bigint[], $26::boolean[], $27::bigint[], $28::bigint[], $29::bigint[])
		ON CONFLICT (conv, sender, client_msg_id) WHERE client_msg_id <> '' DO NOTHING
		RETURNING 1)
	SELECT CASE WHEN count(*) = cardinality($17::text[]) THEN coalesce((SELECT min(xm) FROM member), 0)
		ELSE ('` + clientIDStoredMark + `: ' || count(*) || ' of ' || cardinality($17::text[]) || ' written')::bigint END
	FROM written`

// appendWriteArgs are appendWriteSQL's arguments: the columns of ms and
// msgs as arrays, in memberCols and messageCols order.
func appendWriteArgs(conv store.ConvID, last, lastAt, added int64, ms []store.Member, msgs []store.Message) []any {
	n := len(ms)
	var (
		users, roles                            = make([]string, n), make([]string, n)
		joins, reads, delivs, readAts, delivAts = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		joinedAts, ownReads, ownAts             = make([]int64, n), make([]int64, n), make([]int64, n)
		acks, ownAcks                           = make([][]byte, n), make([][]byte, n)
	)
	for i, m := range ms {
		own := m.OwnState()
		users[i], roles[i] = m.UserID, m.Role
		joins[i], reads[i], delivs[i] = int64(m.JoinSeq), int64(m.ReadSeq), int64(m.DeliveredSeq)
		readAts[i], delivAts[i], joinedAts[i], acks[i] = m.ReadAt, m.DeliveredAt, m.JoinedAt, encodeAcks(m.Acks)
		ownReads[i], ownAts[i], ownAcks[i] = int64(own.ReadSeq), own.ReadAt, encodeAcks(own.Acks)
	}
	k := len(msgs)
	var (
		ids, convs, senders, clientIDs = make([]string, k), make([]string, k), make([]string, k), make([]string, k)
		seqs, sentAts, receiptAts      = make([]int64, k), make([]int64, k), make([]int64, k)
		bodies                         = make([][]byte, k)
		receipts, settled              = make([]bool, k), make([]bool, k)
		frRead, frUnread, frDeliv      = make([]*int64, k), make([]*int64, k), make([]*int64, k)
	)
	for i, m := range msgs {
		ids[i], convs[i], senders[i], clientIDs[i] = m.ID, string(conv), m.Sender, m.ClientMsgID
		seqs[i], sentAts[i], receiptAts[i], bodies[i] = int64(m.Seq), m.SentAt, m.ReceiptAt, []byte(m.Body)
		receipts[i], settled[i] = m.Receipt, m.Settled
		frRead[i], frUnread[i], frDeliv[i] = frozenCols(m.Frozen)
	}
	return []any{string(conv), last, lastAt, added,
		users, roles, joins, reads, delivs, readAts, delivAts, joinedAts, acks, ownReads, ownAts, ownAcks,
		ids, convs, seqs, senders, clientIDs, bodies, sentAts, receipts, receiptAts, settled, frRead, frUnread, frDeliv}
}
