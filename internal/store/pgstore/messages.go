package pgstore

import (
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/seen-im/seen/internal/store"
)

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

// GetMessages implements store.Messages: one query for all the ids (and
// those of the calls combined with it, lookups.go), its
// rows put back in the order of ids (a missing id keeps a zero entry).
func (s *Store) GetMessages(ctx context.Context, ids []string) ([]store.Message, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out := make([]store.Message, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rs, err := s.find(ctx, keys{Lookup: store.Lookup{Messages: ids}})
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		out[i] = ownMessage(rs.Messages[id])
	}
	return out, nil
}

// ownMessage copies what m shares with the other callers of its lookup
// round (and with a duplicate id's twin): the frozen counts and the body.
func ownMessage(m store.Message) store.Message {
	if m.Frozen != nil {
		f := *m.Frozen
		m.Frozen = &f
	}
	m.Body = slices.Clone(m.Body)
	return m
}

// GetMessage implements store.Messages.
func (s *Store) GetMessage(ctx context.Context, msgID string) (store.Message, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Message{}, err
	}
	defer s.mu.RUnlock()
	rs, err := s.find(ctx, keys{Lookup: store.Lookup{Messages: []string{msgID}}})
	if err != nil {
		return store.Message{}, err
	}
	m, found := rs.Messages[msgID]
	if !found {
		return store.Message{}, notFound("message %q", msgID)
	}
	return ownMessage(m), nil
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
	rs, err := s.find(ctx, keys{Lookup: store.Lookup{LastSeqs: []store.ConvID{conv}}})
	if err != nil {
		return 0, err
	}
	return rs.LastSeqs[conv], nil // no row: no message yet
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
	w := s.cache.begin(cacheKeys{msgs: []settleKey{{conv, seq}}})
	m, err := scanMessage(s.pool.QueryRow(ctx, `UPDATE messages SET receipt = true, receipt_at = $3
		WHERE conv = $1 AND seq = $2 AND NOT receipt RETURNING `+messageCols, string(conv), int64(seq), at))
	w.end(err, cacheResult{})
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
