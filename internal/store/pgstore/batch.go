package pgstore

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/seen-im/seen/internal/store"
)

// The batched lookups are one query each, whatever the number of refs:
// the pairs go in as two arrays, unnested into a set the primary key
// is probed with (GetMembers once per pair, membersByKey), and the rows
// are put back in the order of the refs.

// GetMembers implements store.Members.
func (s *Store) GetMembers(ctx context.Context, refs []store.MemberRef) ([]store.Member, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out := make([]store.Member, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	convs, users := make([]string, len(refs)), make([]string, len(refs))
	for i, r := range refs {
		convs[i], users[i] = string(r.Conv), r.UserID
	}
	rows, err := s.pool.Query(ctx, membersByKey(false), convs, users)
	if err != nil {
		return nil, classify("get members", err)
	}
	found := make(map[store.MemberRef]store.Member, len(refs))
	for rows.Next() {
		var conv string
		m, err := scanMember(convRow{&conv, rows})
		if err != nil {
			rows.Close()
			return nil, classify("get members", err)
		}
		found[store.MemberRef{Conv: store.ConvID(conv), UserID: m.UserID}] = m
	}
	if err := rows.Err(); err != nil {
		return nil, classify("get members", err)
	}
	for i, r := range refs {
		m := found[r]
		// A duplicate ref must not share its acks with its twin.
		m.Acks = slices.Clone(m.Acks)
		out[i] = m
	}
	return out, nil
}

// MessagesAt implements store.Messages.
func (s *Store) MessagesAt(ctx context.Context, refs []store.MsgRef) ([]store.Message, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out := make([]store.Message, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	convs, seqs := make([]string, len(refs)), make([]int64, len(refs))
	for i, r := range refs {
		convs[i], seqs[i] = string(r.Conv), int64(r.Seq)
	}
	ms, err := queryMessages(ctx, s.pool, `SELECT `+messageCols+` FROM messages
		WHERE (conv, seq) IN (SELECT * FROM unnest($1::text[], $2::bigint[]))`, convs, seqs)
	if err != nil {
		return nil, classify("messages at", err)
	}
	found := make(map[store.MsgRef]store.Message, len(ms))
	for _, m := range ms {
		found[store.MsgRef{Conv: m.Conv, Seq: m.Seq}] = m
	}
	for i, r := range refs {
		m := found[r]
		if m.Frozen != nil {
			// A duplicate ref must not share the frozen counts with its twin.
			f := *m.Frozen
			m.Frozen = &f
		}
		out[i] = m
	}
	return out, nil
}

// convRow reads a leading conv column into conv, then the rest as the
// row's reader expects.
type convRow struct {
	conv *string
	row  pgx.Row
}

func (r convRow) Scan(dest ...any) error {
	return r.row.Scan(append([]any{r.conv}, dest...)...)
}
