package pgstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/seen-im/seen/internal/store"
)

// An append round locks and reads the conversation's row and its sender's
// member row, then writes: two round trips and four statements in a
// transaction (BEGIN, two locking reads, the write and COMMIT), of which
// the locks and the transaction's own statements were half of what an
// append cost PostgreSQL (pgbench, docs/benchmarks.md). Yet the rows read
// were, most of the time, what this node's own last writes left there.
//
// The append memo keeps, per conversation, the last seq and the member rows
// as this node last wrote them, each with its version: the row's xmin, the
// transaction that made it. A round from one sender whose conversation and
// record are in the memo is sent as one statement, in an implicit
// transaction: it raises last_seq only if it is still the memo's, writes
// the member only if its row is still the version the memo holds, and
// inserts the messages only if both held; otherwise it fails and nothing is
// written. Any other writer of either row (another node's append or
// watermark round, a membership change, a removal) makes a new version or
// a new last seq, so the round falls back to the locking one, which reads
// what is stored and refreshes the memo. The memo can be stale, never
// wrong: PostgreSQL checks it under the rows' locks, in the statement that
// writes.
//
// A row's xmin is 32 bits and wraps: the same value on a newer version of
// the row would take 2^32 transactions between the memo's write and the
// check. A member kept longer than memoMaxAge is not used, which rules
// that out at any rate PostgreSQL can assign transaction ids.

// maxMemoMembers bounds the member rows a node's append memo keeps (a few
// hundred bytes each): when full, an arbitrary conversation makes room.
const maxMemoMembers = 1 << 16

// memoMaxAge is how long a kept member row may be used to write.
const memoMaxAge = time.Minute

// memoRow is a member row as this node last wrote it.
type memoRow struct {
	m    store.Member // never changed once kept
	xmin int64        // the row version's xmin
	at   time.Time    // when it was written
}

// convMemo is one conversation in the memo.
type convMemo struct {
	lastSeq int64 // the conversation's last seq as this node last wrote it; -1: not known
	members map[string]memoRow
	// A conversation whose senders are on several nodes moves its last
	// seq under this node's memo all the time, and a round from the memo
	// that fails is a statement for nothing. After a failure the next
	// skip appends go the locking way; backoff doubles with each failure
	// in a row (from minSkip to maxSkip) and starts again after a round
	// from the memo that held.
	skip, backoff int
}

// The appends a conversation sends the locking way after its memo failed.
const minSkip, maxSkip = 8, 64

// appendMemo is the conversations and member rows this node's appends and
// watermark rounds wrote.
type appendMemo struct {
	mu    sync.Mutex
	convs map[store.ConvID]*convMemo // guarded by mu
	rows  int                        // guarded by mu: members kept, over all convs
	now   func() time.Time
}

func newAppendMemo() *appendMemo {
	return &appendMemo{convs: make(map[store.ConvID]*convMemo), now: time.Now}
}

// sender returns conv's last seq and a copy of user's row, if both are
// kept and the row is recent enough to write from.
func (mm *appendMemo) sender(conv store.ConvID, user string) (int64, memoRow, bool) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	c := mm.convs[conv]
	if c == nil {
		return 0, memoRow{}, false
	}
	if c.skip > 0 {
		c.skip--
		return 0, memoRow{}, false
	}
	if c.lastSeq < 0 {
		return 0, memoRow{}, false
	}
	r, ok := c.row(user, mm.now())
	return c.lastSeq, r, ok
}

// row returns a copy of user's kept row, if it is recent enough at now to
// write from. The memo's mu is held.
func (c *convMemo) row(user string, now time.Time) (memoRow, bool) {
	r, ok := c.members[user]
	if !ok || now.Sub(r.at) > memoMaxAge {
		return memoRow{}, false
	}
	r.m = ownMember(r.m)
	return r, true
}

// dropLocked forgets user's row in c. mm.mu is held.
func (mm *appendMemo) dropLocked(c *convMemo, user string) {
	if _, ok := c.members[user]; ok {
		delete(c.members, user)
		mm.rows--
	}
}

// appended keeps what an append round wrote: conv's last seq and the
// member rows, all made by the transaction xmin.
func (mm *appendMemo) appended(conv store.ConvID, lastSeq int64, ms []store.Member, xmin int64) {
	at := mm.now()
	mm.mu.Lock()
	defer mm.mu.Unlock()
	c := mm.convs[conv]
	if c == nil {
		mm.makeRoom(len(ms))
		c = &convMemo{members: make(map[string]memoRow, len(ms))}
		mm.convs[conv] = c
	}
	c.lastSeq = lastSeq
	for _, m := range ms {
		mm.putLocked(c, m, xmin, at)
	}
}

// watermarked keeps the member rows a watermark round wrote (transaction
// xmin) in the conversations kept; a conversation no append of this node
// wrote is not added.
func (mm *appendMemo) watermarked(conv store.ConvID, m store.Member, xmin int64) {
	at := mm.now()
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if c := mm.convs[conv]; c != nil {
		mm.putLocked(c, m, xmin, at)
	}
}

// appendHeld records that a round from the memo held in conv.
func (mm *appendMemo) appendHeld(conv store.ConvID) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if c := mm.convs[conv]; c != nil {
		c.backoff = 0
	}
}

// appendFailed records that a round of user's from the memo found conv's
// last seq or user's row changed: both are not known until the locking
// round writes them again, and the next appends skip the memo.
func (mm *appendMemo) appendFailed(conv store.ConvID, user string) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	c := mm.convs[conv]
	if c == nil {
		return
	}
	c.lastSeq = -1
	mm.dropLocked(c, user)
	c.backoff = min(max(2*c.backoff, minSkip), maxSkip)
	c.skip = c.backoff
}

// forget drops conv: it was deleted.
func (mm *appendMemo) forget(conv store.ConvID) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if c := mm.convs[conv]; c != nil {
		mm.rows -= len(c.members)
		delete(mm.convs, conv)
	}
}

// putLocked keeps a copy of m in c. mm.mu is held.
func (mm *appendMemo) putLocked(c *convMemo, m store.Member, xmin int64, at time.Time) {
	if _, ok := c.members[m.UserID]; !ok {
		if mm.rows >= maxMemoMembers {
			return // full: the conversation's other rows stay usable
		}
		mm.rows++
	}
	c.members[m.UserID] = memoRow{m: ownMember(m), xmin: xmin, at: at}
}

// makeRoom drops arbitrary conversations until n more rows fit. mm.mu is
// held.
func (mm *appendMemo) makeRoom(n int) {
	for conv, c := range mm.convs {
		if mm.rows+n <= maxMemoMembers {
			return
		}
		mm.rows -= len(c.members)
		delete(mm.convs, conv)
	}
}

// memoStats counts the rounds written from the memo and those it could not
// serve because PostgreSQL found a row changed, for tests.
type memoStats struct {
	appends, appendsStale atomic.Int64
	rounds, roundsStale   atomic.Int64
}

// memoStaleMark names, in the guarded statement's error, a round that found
// a row changed since the memo kept it, or a client id already stored:
// nothing of it was written.
const memoStaleMark = "seen: append memo stale"

// appendFromMemo tries ops as one guarded statement written from the memo.
// It reports false, having written nothing, when the memo cannot serve the
// round (it has more than one sender, a client id twice, a sender or
// conversation not kept) or when PostgreSQL found a row changed since; the
// locking round then runs. An error is one of the statement's: nothing was
// written, or it is not known whether it was.
func (s *Store) appendFromMemo(ctx context.Context, conv store.ConvID, ops []*appendOp) (bool, *store.Member, error) {
	sender := ops[0].m.Sender
	var clientIDs []string
	for _, op := range ops {
		if op.m.Sender != sender {
			return false, nil, nil
		}
		if id := op.m.ClientMsgID; id != "" {
			if slices.Contains(clientIDs, id) {
				return false, nil, nil
			}
			clientIDs = append(clientIDs, id)
		}
	}
	if conv.IsPeer() {
		if a, b := conv.Peers(); sender != a && sender != b {
			return false, nil, nil // the locking round refuses it
		}
	}
	last, row, ok := s.amemo.sender(conv, sender)
	if !ok {
		return false, nil, nil
	}
	expected := last
	member := row.m
	msgs := make([]store.Message, len(ops))
	var hooks hookWrites
	for i, op := range ops {
		m := op.m
		last++
		m.Seq = uint64(last)
		if m.Receipt && m.ReceiptAt == 0 {
			m.ReceiptAt = m.SentAt
		}
		member.ReadShared(m.Seq, m.SentAt)
		hooks.add(m)
		m.Hooks = nil
		msgs[i] = m
	}
	b := &pgx.Batch{}
	if len(msgs) == 1 {
		b.Queue(appendMemoOneSQL, appendMemoOneArgs(conv, expected, last, member, row.xmin, msgs[0])...)
	} else {
		b.Queue(appendMemoSQL, appendMemoArgs(conv, expected, last, msgs[len(msgs)-1].SentAt, member, row.xmin, msgs)...)
	}
	hooks.queue(b)
	var xmin int64
	err := s.withConn(ctx, "append to "+string(conv), func(conn *pgx.Conn) error {
		br := conn.SendBatch(ctx, b)
		err := br.QueryRow().Scan(&xmin)
		for i := 1; err == nil && i < b.Len(); i++ {
			_, err = br.Exec()
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && strings.Contains(pgErr.Message, memoStaleMark) {
		s.amemo.appendFailed(conv, sender)
		s.memoStats.appendsStale.Add(1)
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	s.amemo.appended(conv, last, []store.Member{member}, xmin)
	s.amemo.appendHeld(conv)
	s.memoStats.appends.Add(1)
	for i, op := range ops {
		op.stored, op.existed, op.err = msgs[i], false, nil
	}
	return true, &member, nil
}

// appendMemoSQL is appendWriteSQL guarded by the memo, for one sender:
// last_seq moves from $4 only, the member row is written only at the
// version $6, the messages are inserted only if both held and their client
// ids are new. It answers the transaction's xmin, the written row's new
// version, or fails with memoStaleMark having written nothing.
//
// appendMemoOneSQL is the same for a round of one message, the usual
// round: the message's columns come as values, not as thirteen arrays to
// unnest, which PostgreSQL set up and read as thirteen function scans on
// every execution. Its execution time in a mixed load fell by a fifth.
var (
	appendMemoSQL = appendMemoStatement(`SELECT * FROM unnest($15::text[], $16::text[], $17::bigint[], $18::text[],
			$19::text[], $20::bytea[], $21::bigint[], $22::boolean[], $23::bigint[], $24::boolean[], $25::bigint[],
			$26::bigint[], $27::bigint[])`, `cardinality($15::text[])`)
	appendMemoOneSQL = appendMemoStatement(`SELECT $15::text, $16::text, $17::bigint, $18::text, $19::text, $20::bytea,
			$21::bigint, $22::boolean, $23::bigint, $24::boolean, $25::bigint, $26::bigint, $27::bigint`, `1`)
)

// appendMemoStatement is appendMemoSQL inserting the rows of messages,
// n of them.
func appendMemoStatement(messages, n string) string {
	return `WITH conv AS (
		UPDATE conversations SET last_seq = $2, last_at = $3 WHERE conv = $1 AND last_seq = $4 RETURNING 1),
	member AS (
		UPDATE members SET read_seq = $7, delivered_seq = $8, read_at = $9, delivered_at = $10, acks = $11,
			own_read_seq = $12, own_read_at = $13, own_acks = $14
		WHERE conv = $1 AND user_id = $5 AND xmin::text::bigint = $6 AND EXISTS (SELECT FROM conv)
		RETURNING xmin::text::bigint AS xm),
	written AS (
		INSERT INTO messages (` + messageCols + `)
		` + messages + `
		WHERE EXISTS (SELECT FROM member)
		ON CONFLICT (conv, sender, client_msg_id) WHERE client_msg_id <> '' DO NOTHING
		RETURNING 1)
	SELECT CASE WHEN count(*) = ` + n + ` THEN (SELECT xm FROM member)
		ELSE ('` + memoStaleMark + `: ' || count(*) || ' of ' || ` + n + ` || ' written')::bigint END
	FROM written`
}

// appendMemoArgs are appendMemoSQL's arguments.
func appendMemoArgs(conv store.ConvID, expected, last, lastAt int64, m store.Member, xmin int64, msgs []store.Message) []any {
	// The messages' columns, as appendWriteArgs makes them after its four
	// scalars and twelve member columns.
	all := appendWriteArgs(conv, last, lastAt, 0, nil, msgs)
	return append(appendMemoHeadArgs(conv, expected, last, lastAt, m, xmin), all[4+12:]...)
}

// appendMemoOneArgs are appendMemoOneSQL's arguments: the same first
// fourteen, then the message's columns in messageCols order.
func appendMemoOneArgs(conv store.ConvID, expected, last int64, m store.Member, xmin int64, msg store.Message) []any {
	frRead, frUnread, frDeliv := frozenCols(msg.Frozen)
	return append(appendMemoHeadArgs(conv, expected, last, msg.SentAt, m, xmin),
		msg.ID, string(conv), int64(msg.Seq), msg.Sender, msg.ClientMsgID, []byte(msg.Body), msg.SentAt,
		msg.Receipt, msg.ReceiptAt, msg.Settled, frRead, frUnread, frDeliv)
}

// appendMemoHeadArgs are both append statements' first fourteen
// arguments: the conversation's last seq and the sender's row.
func appendMemoHeadArgs(conv store.ConvID, expected, last, lastAt int64, m store.Member, xmin int64) []any {
	own := m.OwnState()
	return []any{string(conv), last, lastAt, expected, m.UserID, xmin,
		int64(m.ReadSeq), int64(m.DeliveredSeq), m.ReadAt, m.DeliveredAt, encodeAcks(m.Acks),
		int64(own.ReadSeq), own.ReadAt, encodeAcks(own.Acks)}
}

// keptRows returns copies of the kept rows of keys, or false unless every one
// is kept and recent enough to write from.
func (mm *appendMemo) keptRows(keys []memberKey) (map[memberKey]memoRow, bool) {
	out := make(map[memberKey]memoRow, len(keys))
	mm.mu.Lock()
	defer mm.mu.Unlock()
	now := mm.now()
	for _, k := range keys {
		c := mm.convs[k.conv]
		if c == nil {
			return nil, false
		}
		r, ok := c.row(k.user, now)
		if !ok {
			return nil, false
		}
		out[k] = r
	}
	return out, true
}

// forgetRows drops the rows of keys: a round found one of them stale.
func (mm *appendMemo) forgetRows(keys []memberKey) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	for _, k := range keys {
		if c := mm.convs[k.conv]; c != nil {
			mm.dropLocked(c, k.user)
		}
	}
}

// watermarksFromMemo runs a watermark round whose members (keys, sorted)
// are all kept, without locking and reading them: one statement, in an
// implicit transaction with the round's settles, writes the changed rows
// only at their kept versions and checks that the others are still at
// theirs. done is false, nothing written, when the memo cannot serve the
// round or PostgreSQL found a row changed since: the locking round runs.
// Otherwise it returns what lockedWatermarks would.
func (s *Store) watermarksFromMemo(round []convOps, keys []memberKey, settles settleRound, results [][]wmResult) (
	members map[memberKey]*store.Member, dirty []memberKey, xmin int64, done bool, err error) {
	kept, ok := s.amemo.keptRows(keys)
	if !ok {
		return nil, nil, 0, false, nil
	}
	members = make(map[memberKey]*store.Member, len(keys))
	for k, r := range kept {
		m := r.m
		members[k] = &m
	}
	dirty = applyRoundOps(round, members, results)
	// The rows written are locked by the update, in the order it meets
	// them: the key order every writer of member rows locks them in.
	slices.SortFunc(dirty, compareMemberKeys)
	var clean []memberKey
	for _, k := range keys {
		if !slices.Contains(dirty, k) {
			clean = append(clean, k)
		}
	}
	b := &pgx.Batch{}
	if args := memoWatermarkArgs(dirty, clean, members, kept); len(clean) == 0 && len(dirty) > 0 {
		b.Queue(memoWritesSQL, args[:11]...)
	} else {
		b.Queue(memoWatermarkSQL, args...)
	}
	if len(settles.keys) > 0 {
		settles.queue(b)
	}
	err = withConnOf(s.ctx, s.wmPool, "watermarks", func(conn *pgx.Conn) error {
		br := conn.SendBatch(s.ctx, b)
		err := br.QueryRow().Scan(&xmin)
		if err == nil && len(settles.keys) > 0 {
			err = settles.read(br.QueryRow())
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && strings.Contains(pgErr.Message, memoStaleMark) {
		s.amemo.forgetRows(keys)
		s.memoStats.roundsStale.Add(1)
		for i := range results {
			clear(results[i])
		}
		return nil, nil, 0, false, nil
	}
	if err != nil {
		return nil, nil, 0, false, err
	}
	s.memoStats.rounds.Add(1)
	return members, dirty, xmin, true, nil
}

// compareMemberKeys orders keys as their rows are locked: by conversation,
// then user, byte-wise (the columns' collation "C").
func compareMemberKeys(a, b memberKey) int {
	if c := strings.Compare(string(a.conv), string(b.conv)); c != 0 {
		return c
	}
	return strings.Compare(a.user, b.user)
}

// memoWatermarkSQL writes the changed members ($1-$11) where their rows
// are still at the kept versions ($3), and counts the unchanged ones
// ($12-$14) still at theirs; it answers the transaction's xmin (0 if it
// wrote nothing) or fails with memoStaleMark if any row was not found at
// its version. No row is locked but those written.
const memoWatermarkSQL = memoWrittenCTE + `,
	unchanged AS (SELECT 1 FROM members AS m, unnest($12::text[], $13::text[], $14::bigint[]) AS k(conv, user_id, xm)
		WHERE m.conv = k.conv AND m.user_id = k.user_id AND m.xmin::text::bigint = k.xm)
	SELECT CASE WHEN (SELECT count(*) FROM written) = cardinality($1::text[])
			AND (SELECT count(*) FROM unchanged) = cardinality($12::text[])
		THEN coalesce((SELECT min(xm) FROM written), 0)
		ELSE ('` + memoStaleMark + `: ' || (SELECT count(*) FROM written) || ' rows written of ' || cardinality($1::text[]) ||
			', ' || (SELECT count(*) FROM unchanged) || ' unchanged of ' || cardinality($12::text[]))::bigint END`

// memoWritesSQL is memoWatermarkSQL for a round that changed every row
// it met, the usual round: without the unchanged rows' check, whose
// common table expression and three more subqueries PostgreSQL set up
// on every execution, empty or not.
const memoWritesSQL = memoWrittenCTE + `
	SELECT CASE WHEN count(*) = cardinality($1::text[]) THEN min(xm)
		ELSE ('` + memoStaleMark + `: ' || count(*) || ' rows written of ' || cardinality($1::text[]))::bigint END FROM written`

// memoWrittenCTE writes the changed members ($1-$11) where their rows are
// still at the kept versions ($3), answering each written row's version.
const memoWrittenCTE = `WITH written AS (UPDATE members AS m SET
		read_seq = u.read_seq, delivered_seq = u.delivered_seq, read_at = u.read_at, delivered_at = u.delivered_at,
		acks = u.acks, own_read_seq = u.own_read_seq, own_read_at = u.own_read_at, own_acks = u.own_acks
	FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bytea[],
			$9::bigint[], $10::bigint[], $11::bytea[])
		AS u(conv, user_id, xm, read_seq, delivered_seq, read_at, delivered_at, acks, own_read_seq, own_read_at, own_acks)
	WHERE m.conv = u.conv AND m.user_id = u.user_id AND m.xmin::text::bigint = u.xm
	RETURNING m.xmin::text::bigint AS xm)`

// memoWatermarkArgs are memoWatermarkSQL's arguments: the changed
// members' keys, kept versions and new columns, then the unchanged ones'
// keys and versions.
func memoWatermarkArgs(dirty, clean []memberKey, members map[memberKey]*store.Member, kept map[memberKey]memoRow) []any {
	n := len(dirty)
	convs, users, xms := make([]string, n), make([]string, n), make([]int64, n)
	reads, delivs, readAts, delivAts := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	acks, ownReads, ownAts, ownAcks := make([][]byte, n), make([]int64, n), make([]int64, n), make([][]byte, n)
	for i, k := range dirty {
		m := members[k]
		own := m.OwnState()
		convs[i], users[i], xms[i] = string(k.conv), k.user, kept[k].xmin
		reads[i], delivs[i], readAts[i], delivAts[i] = int64(m.ReadSeq), int64(m.DeliveredSeq), m.ReadAt, m.DeliveredAt
		acks[i], ownReads[i], ownAts[i], ownAcks[i] = encodeAcks(m.Acks), int64(own.ReadSeq), own.ReadAt, encodeAcks(own.Acks)
	}
	c := len(clean)
	cConvs, cUsers, cXms := make([]string, c), make([]string, c), make([]int64, c)
	for i, k := range clean {
		cConvs[i], cUsers[i], cXms[i] = string(k.conv), k.user, kept[k].xmin
	}
	return []any{convs, users, xms, reads, delivs, readAts, delivAts, acks, ownReads, ownAts, ownAcks, cConvs, cUsers, cXms}
}
