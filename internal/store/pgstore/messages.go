package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/seen-im/seen/internal/store"
)

// Append implements store.Messages in one transaction under the
// conversation's row lock: the seq is last_seq+1 of that row, so senders on
// any number of nodes get gap-free, unique seqs; the clientMsgId is checked
// under the same lock, so a resend through another node finds the original.
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
	var (
		stored  store.Message
		existed bool
	)
	err := s.withConn(ctx, "append", func(conn *pgx.Conn) error {
		var err error
		stored, existed, err = appendTx(ctx, conn, m)
		return err
	})
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "messages_client_id" {
		// Not expected (the client id is checked under the lock), but if
		// another writer's message took the client id first, that one is
		// the original.
		got, found, rerr := byClientID(ctx, s.pool, m)
		if rerr == nil && found {
			return got, true, nil
		}
	}
	if err != nil {
		return store.Message{}, false, err
	}
	return stored, existed, nil
}

// appendTx is Append's transaction, in two pipelined batches: the first
// takes the conversation's row lock and reads what the append depends on
// (the client id, checked under the lock so every message committed before
// it is seen; the sender's record, locked), the second writes and commits.
func appendTx(ctx context.Context, conn *pgx.Conn, m store.Message) (store.Message, bool, error) {
	conv := m.Conv
	var other string // the other party of a peer conversation
	if conv.IsPeer() {
		if a, b := conv.Peers(); m.Sender != a && m.Sender != b {
			return store.Message{}, false, notFound("append to %s: sender %q is not a member", conv, m.Sender)
		}
		other = conv.Other(m.Sender)
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if conv.IsPeer() {
		b.Queue(`INSERT INTO conversations (conv) VALUES ($1) ON CONFLICT (conv) DO NOTHING`, string(conv))
	}
	b.Queue(`SELECT last_seq, members FROM conversations WHERE conv = $1 FOR UPDATE`, string(conv))
	if m.ClientMsgID != "" {
		b.Queue(byClientIDSQL, string(conv), m.Sender, m.ClientMsgID)
	}
	b.Queue("SELECT "+memberCols+" FROM members WHERE conv = $1 AND user_id = $2 FOR UPDATE", string(conv), m.Sender)
	if other != "" && other != m.Sender {
		b.Queue(`SELECT count(*) FROM members WHERE conv = $1 AND user_id = $2`, string(conv), other)
	}
	var (
		last, members int64
		convFound     bool
		original      store.Message
		existed       bool
		sender        store.Member
		found         bool
		otherFound    int64
	)
	err := func() error {
		br := conn.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		if conv.IsPeer() {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		switch err := br.QueryRow().Scan(&last, &members); {
		case err == nil:
			convFound = true
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if m.ClientMsgID != "" {
			var err error
			switch original, err = scanMessage(br.QueryRow()); {
			case err == nil:
				existed = true
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
		}
		var err error
		switch sender, err = scanMember(br.QueryRow()); {
		case err == nil:
			found = true
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if other != "" && other != m.Sender {
			if err := br.QueryRow().Scan(&otherFound); err != nil {
				return err
			}
		}
		return br.Close()
	}()
	if err != nil {
		return store.Message{}, false, err
	}
	if !convFound {
		return store.Message{}, false, notFound("append to %s: group", conv)
	}
	if existed {
		// Committed by whoever wrote it; this transaction wrote nothing.
		_, err := conn.Exec(ctx, "ROLLBACK")
		return original, true, err
	}
	var newMembers []store.Member // the peer members this append creates
	switch {
	case conv.IsGroup():
		if !found {
			return store.Message{}, false, notFound("append to %s: sender %q is not a member", conv, m.Sender)
		}
	case !found && last > 0:
		// The conversation exists and the sender was removed from it.
		return store.Message{}, false, notFound("append to %s: sender %q is not a member", conv, m.Sender)
	case last == 0:
		// First append: the conversation comes into being with both
		// parties, whichever of them already has a record.
		peer := store.Member{Role: "member", JoinSeq: 1, JoinedAt: m.SentAt}
		if !found {
			sender = peer
			sender.UserID = m.Sender
			newMembers = append(newMembers, sender)
		}
		if other != m.Sender && otherFound == 0 {
			p := peer
			p.UserID = other
			newMembers = append(newMembers, p)
		}
	}

	m.Seq = uint64(last) + 1
	if m.Receipt && m.ReceiptAt == 0 {
		m.ReceiptAt = m.SentAt
	}
	// The sender has read what it sent. Max, not assignment: a watermark
	// may already be above last_seq if a caller advanced it there.
	if sender.ReadSeq < m.Seq {
		sender.ReadSeq, sender.ReadAt = m.Seq, m.SentAt
	}
	if sender.DeliveredSeq < m.Seq {
		sender.DeliveredSeq, sender.DeliveredAt = m.Seq, m.SentAt
	}
	sender.Fold()

	w := &pgx.Batch{}
	w.Queue(`UPDATE conversations SET last_seq = $2, last_at = $3, members = $4 WHERE conv = $1`,
		string(conv), int64(m.Seq), m.SentAt, members+int64(len(newMembers)))
	var fr, fu, fd *int64
	if f := m.Frozen; f != nil {
		r, u, d := int64(f.Read), int64(f.Unread), int64(f.Delivered)
		fr, fu, fd = &r, &u, &d
	}
	w.Queue(`INSERT INTO messages (`+messageCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		m.ID, string(conv), int64(m.Seq), m.Sender, m.ClientMsgID, []byte(m.Body), m.SentAt,
		m.Receipt, m.ReceiptAt, m.Settled, fr, fu, fd)
	for _, nm := range newMembers {
		if nm.UserID == m.Sender {
			continue // written below with its raised watermarks
		}
		queuePutMember(w, conv, nm)
	}
	queuePutMember(w, conv, sender)
	if err := commitBatch(ctx, conn, w); err != nil {
		return store.Message{}, false, err
	}
	return m, false, nil
}

const byClientIDSQL = `SELECT ` + messageCols + ` FROM messages WHERE conv = $1 AND sender = $2 AND client_msg_id = $3`

// byClientID finds the message m.Sender sent in m.Conv with m.ClientMsgID.
func byClientID(ctx context.Context, q querier, m store.Message) (store.Message, bool, error) {
	got, err := scanMessage(q.QueryRow(ctx, byClientIDSQL, string(m.Conv), m.Sender, m.ClientMsgID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Message{}, false, nil
	}
	if err != nil {
		return store.Message{}, false, err
	}
	return got, true, nil
}

// GetMessage implements store.Messages.
func (s *Store) GetMessage(ctx context.Context, msgID string) (store.Message, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Message{}, err
	}
	defer s.mu.RUnlock()
	m, err := scanMessage(s.pool.QueryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE id = $1`, msgID))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Message{}, notFound("message %q", msgID)
	}
	if err != nil {
		return store.Message{}, classify("get message", err)
	}
	return m, nil
}

// History implements store.Messages. A limit below 1 returns nothing.
func (s *Store) History(ctx context.Context, conv store.ConvID, beforeSeq, minSeq uint64, limit int) ([]store.Message, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 || (beforeSeq != 0 && beforeSeq <= minSeq) {
		return nil, nil
	}
	upper := int64(-1) // no bound
	if beforeSeq != 0 {
		upper = int64(beforeSeq)
	}
	ms, err := queryMessages(ctx, s.pool, `SELECT `+messageCols+` FROM messages
		WHERE conv = $1 AND seq >= $2 AND ($3 < 0 OR seq < $3) ORDER BY seq DESC LIMIT $4`,
		string(conv), int64(minSeq), upper, limit)
	if err != nil {
		return nil, classify("history", err)
	}
	return ms, nil
}

// LastSeq implements store.Messages.
func (s *Store) LastSeq(ctx context.Context, conv store.ConvID) (uint64, error) {
	if err := s.acquire(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var last int64
	err := s.pool.QueryRow(ctx, `SELECT last_seq FROM conversations WHERE conv = $1`, string(conv)).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, classify("last seq", err)
	}
	return uint64(last), nil
}

// MessageAt implements store.Messages.
func (s *Store) MessageAt(ctx context.Context, conv store.ConvID, seq uint64) (store.Message, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Message{}, err
	}
	defer s.mu.RUnlock()
	return messageAt(ctx, s.pool, conv, seq)
}

func messageAt(ctx context.Context, q querier, conv store.ConvID, seq uint64) (store.Message, error) {
	m, err := scanMessage(q.QueryRow(ctx, `SELECT `+messageCols+` FROM messages WHERE conv = $1 AND seq = $2`, string(conv), int64(seq)))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Message{}, notFound("message %s/%d", conv, seq)
	}
	if err != nil {
		return store.Message{}, classify("message", err)
	}
	return m, nil
}

// RequestReceipt implements store.Receipts.
func (s *Store) RequestReceipt(ctx context.Context, conv store.ConvID, seq uint64, at int64) (store.Message, bool, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Message{}, false, err
	}
	defer s.mu.RUnlock()
	m, err := scanMessage(s.pool.QueryRow(ctx, `UPDATE messages SET receipt = true, receipt_at = $3
		WHERE conv = $1 AND seq = $2 AND NOT receipt RETURNING `+messageCols, string(conv), int64(seq), at))
	if err == nil {
		return m, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Message{}, false, classify("request receipt", err)
	}
	// Unknown, or receipts on already.
	m, err = messageAt(ctx, s.pool, conv, seq)
	if err != nil {
		return store.Message{}, false, err
	}
	return m, false, nil
}

// SettleReceipt implements store.Receipts.
func (s *Store) SettleReceipt(ctx context.Context, conv store.ConvID, seq uint64, frozen *store.Frozen) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	var fr, fu, fd *int64
	if frozen != nil {
		r, u, d := int64(frozen.Read), int64(frozen.Unread), int64(frozen.Delivered)
		fr, fu, fd = &r, &u, &d
	}
	tag, err := s.pool.Exec(ctx, `UPDATE messages SET settled = true, frozen_read = $3, frozen_unread = $4, frozen_delivered = $5
		WHERE conv = $1 AND seq = $2 AND receipt AND NOT settled`, string(conv), int64(seq), fr, fu, fd)
	if err != nil {
		return classify("settle receipt", err)
	}
	if tag.RowsAffected() == 0 {
		// Settled already, or no receipt: nothing to do, unless there is
		// no such message.
		if _, err := messageAt(ctx, s.pool, conv, seq); err != nil {
			return fmt.Errorf("pgstore: settle receipt: %w", err)
		}
	}
	return nil
}

// LiveReceipts implements store.Receipts.
func (s *Store) LiveReceipts(ctx context.Context, conv store.ConvID) ([]store.Message, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	ms, err := queryMessages(ctx, s.pool, `SELECT `+messageCols+` FROM messages
		WHERE conv = $1 AND receipt AND NOT settled ORDER BY seq`, string(conv))
	if err != nil {
		return nil, classify("live receipts", err)
	}
	return ms, nil
}
