package pgstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/seen-im/seen/internal/store"
)

// querier is what a pool and a transaction share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// memberCols are a member's columns. The own read state (own_*, see
// store.OwnRead) is stored in full, equal to the shared one for a member
// who never read privately (migration 00002 filled it so); Go keeps it only
// where it differs (store.Member.NormalizeOwn).
const memberCols = "user_id, role, join_seq, read_seq, delivered_seq, read_at, delivered_at, joined_at, acks, own_read_seq, own_read_at, own_acks"

// memberColsOf is memberCols qualified by a table alias.
func memberColsOf(alias string) string {
	cols := strings.Split(memberCols, ", ")
	for i, c := range cols {
		cols[i] = alias + "." + c
	}
	return strings.Join(cols, ", ")
}

// membersByKey selects "conv, memberCols" of the members named by two
// arrays ($1 conversations, $2 user ids), in the arrays' order; lock adds
// FOR UPDATE, taking the row locks in that order, and a leading column,
// the row's ctid. It is one primary-key probe per pair: the LATERAL
// subquery's LIMIT keeps the planner from turning the probes into a hash
// join over a sequential scan of members, which it picks for a table of a
// few pages (a benchmark's) and which costs far more CPU than the probes.
func membersByKey(lock bool) string {
	sub, lead := "LIMIT 1", ""
	if lock {
		sub, lead = "LIMIT 1 FOR UPDATE", "m.row_id, "
	}
	return `SELECT ` + lead + `k.conv, ` + memberColsOf("m") + `
		FROM unnest($1::text[], $2::text[]) AS k(conv, user_id)
		CROSS JOIN LATERAL (SELECT ctid AS row_id, * FROM members
			WHERE conv = k.conv AND user_id = k.user_id ` + sub + `) AS m`
}

// scanMember reads a row of memberCols.
func scanMember(row pgx.Row) (store.Member, error) {
	return newMemberScanner().scan(row)
}

// memberScanner scans rows of memberCols, after lead columns, one member
// at a time through destinations made once: a round's member rows cost no
// allocation each but for their values (scanMember's destinations, and
// the leading columns' wrappers, were a quarter of what a watermark round
// and a lookup round allocated).
type memberScanner struct {
	m    store.Member
	r    memberRow
	dest []any
}

// newMemberScanner returns a scanner for rows of lead's columns then
// memberCols: each scan sets what lead points to.
func newMemberScanner(lead ...any) *memberScanner {
	sc := &memberScanner{}
	sc.dest = append(lead, sc.r.dest(&sc.m)...)
	return sc
}

// scan reads the member of row.
func (sc *memberScanner) scan(row pgx.Row) (store.Member, error) {
	sc.m, sc.r = store.Member{}, memberRow{}
	if err := row.Scan(sc.dest...); err != nil {
		return store.Member{}, err
	}
	m := sc.m
	return m, sc.r.finish(&m)
}

// memberRow holds the columns of memberCols that need converting.
type memberRow struct {
	join, read, delivered, ownRead int64
	acks, ownAcks                  []byte
	ownReadAt                      int64
}

// dest returns the scan destinations of memberCols, in order.
func (r *memberRow) dest(m *store.Member) []any {
	return []any{&m.UserID, &m.Role, &r.join, &r.read, &r.delivered, &m.ReadAt, &m.DeliveredAt, &m.JoinedAt, &r.acks,
		&r.ownRead, &r.ownReadAt, &r.ownAcks}
}

// finish converts the scanned columns into m.
func (r *memberRow) finish(m *store.Member) error {
	m.JoinSeq, m.ReadSeq, m.DeliveredSeq = uint64(r.join), uint64(r.read), uint64(r.delivered)
	var err error
	if m.Acks, err = decodeAcks(r.acks); err != nil {
		return err
	}
	own := &store.OwnRead{ReadSeq: uint64(r.ownRead), ReadAt: r.ownReadAt}
	if own.Acks, err = decodeAcks(r.ownAcks); err != nil {
		return err
	}
	m.Own = own
	m.NormalizeOwn()
	return nil
}

// memberArgs are the values of memberCols for m, in order.
func memberArgs(m store.Member) []any {
	own := m.OwnState()
	return []any{m.UserID, m.Role, int64(m.JoinSeq), int64(m.ReadSeq), int64(m.DeliveredSeq),
		m.ReadAt, m.DeliveredAt, m.JoinedAt, encodeAcks(m.Acks), int64(own.ReadSeq), own.ReadAt, encodeAcks(own.Acks)}
}

// getMember reads conv's member userID; found is false if there is none.
// forUpdate locks the row until the transaction ends.
func getMember(ctx context.Context, q querier, conv store.ConvID, userID string, forUpdate bool) (store.Member, bool, error) {
	sql := "SELECT " + memberCols + " FROM members WHERE conv = $1 AND user_id = $2"
	if forUpdate {
		sql += " FOR UPDATE"
	}
	m, err := scanMember(q.QueryRow(ctx, sql, string(conv), userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Member{}, false, nil
	}
	if err != nil {
		return store.Member{}, false, err
	}
	return m, true, nil
}

// putMemberSQL writes a member record, whole.
const putMemberSQL = `INSERT INTO members (conv, ` + memberCols + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
	ON CONFLICT (conv, user_id) DO UPDATE SET role = EXCLUDED.role, join_seq = EXCLUDED.join_seq,
		read_seq = EXCLUDED.read_seq, delivered_seq = EXCLUDED.delivered_seq, read_at = EXCLUDED.read_at,
		delivered_at = EXCLUDED.delivered_at, joined_at = EXCLUDED.joined_at, acks = EXCLUDED.acks,
		own_read_seq = EXCLUDED.own_read_seq, own_read_at = EXCLUDED.own_read_at, own_acks = EXCLUDED.own_acks`

// queuePutMember queues the write of m as conv's member record, whole.
func queuePutMember(b *pgx.Batch, conv store.ConvID, m store.Member) {
	b.Queue(putMemberSQL, append([]any{string(conv)}, memberArgs(m)...)...)
}

// encodeAcks packs acks as 16 bytes each (seq, at, big-endian); nil for
// none, stored as NULL.
func encodeAcks(acks []store.Ack) []byte {
	if len(acks) == 0 {
		return nil
	}
	b := make([]byte, 0, 16*len(acks))
	for _, a := range acks {
		b = binary.BigEndian.AppendUint64(b, a.Seq)
		b = binary.BigEndian.AppendUint64(b, uint64(a.At))
	}
	return b
}

func decodeAcks(b []byte) ([]store.Ack, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b)%16 != 0 {
		return nil, fmt.Errorf("pgstore: corrupt acks column (%d bytes)", len(b))
	}
	acks := make([]store.Ack, len(b)/16)
	for i := range acks {
		acks[i] = store.Ack{Seq: binary.BigEndian.Uint64(b[16*i:]), At: int64(binary.BigEndian.Uint64(b[16*i+8:]))}
	}
	return acks, nil
}

// frozenCols are a message's frozen counts as its three nullable
// columns: all NULL when the counts are not frozen.
func frozenCols(f *store.Frozen) (read, unread, delivered *int64) {
	if f == nil {
		return nil, nil, nil
	}
	r, u, d := int64(f.Read), int64(f.Unread), int64(f.Delivered)
	return &r, &u, &d
}

const messageCols = "id, conv, seq, sender, client_msg_id, body, sent_at, receipt, receipt_at, settled, frozen_read, frozen_unread, frozen_delivered"

// scanMessage reads a row of messageCols.
func scanMessage(row pgx.Row) (store.Message, error) {
	var (
		m          store.Message
		conv       string
		seq        int64
		body       []byte
		fr, fu, fd *int64
	)
	if err := row.Scan(&m.ID, &conv, &seq, &m.Sender, &m.ClientMsgID, &body, &m.SentAt, &m.Receipt, &m.ReceiptAt, &m.Settled, &fr, &fu, &fd); err != nil {
		return store.Message{}, err
	}
	m.Conv, m.Seq = store.ConvID(conv), uint64(seq)
	if body != nil {
		m.Body = body
	}
	if fr != nil && fu != nil && fd != nil {
		m.Frozen = &store.Frozen{Read: int(*fr), Unread: int(*fu), Delivered: int(*fd)}
	}
	return m, nil
}

// queryMessages runs a query of messageCols rows.
func queryMessages(ctx context.Context, q querier, sql string, args ...any) ([]store.Message, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Message, error) { return scanMessage(r) })
}

// queryMembers runs a query of memberCols rows.
func queryMembers(ctx context.Context, q querier, sql string, args ...any) ([]store.Member, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Member, error) { return scanMember(r) })
}
