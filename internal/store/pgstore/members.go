package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/seen-im/seen/internal/store"
)

// lockConv takes conv's row lock for the rest of tx and returns its last
// seq and member count. A peer conversation's row is created if missing
// (create is true); a group's exists exactly while the group does, so
// found is false for a missing group.
func lockConv(ctx context.Context, tx pgx.Tx, conv store.ConvID) (lastSeq uint64, members int64, found bool, err error) {
	if conv.IsPeer() {
		if _, err := tx.Exec(ctx, `INSERT INTO conversations (conv) VALUES ($1) ON CONFLICT (conv) DO NOTHING`, string(conv)); err != nil {
			return 0, 0, false, err
		}
	}
	var last int64
	err = tx.QueryRow(ctx, `SELECT last_seq, members FROM conversations WHERE conv = $1 FOR UPDATE`, string(conv)).Scan(&last, &members)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	return uint64(last), members, true, nil
}

// AddMembers implements store.Members. The join position is taken under
// the conversation's row lock, atomically with appends on any node.
func (s *Store) AddMembers(ctx context.Context, conv store.ConvID, members []store.Member) ([]store.Member, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if err := validConv(conv); err != nil {
		return nil, err
	}
	var want []store.Member
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		if m.UserID == "" {
			return nil, errors.New("pgstore: add members: empty user id")
		}
		if !seen[m.UserID] {
			seen[m.UserID] = true
			want = append(want, m)
		}
	}
	var added []store.Member
	w := s.cache.begin(cacheKeys{wide: []store.ConvID{conv}})
	err := s.inTx(ctx, "add members", func(tx pgx.Tx) error {
		added = []store.Member{}
		last, _, found, err := lockConv(ctx, tx, conv)
		if err != nil {
			return err
		}
		if !found {
			return notFound("add members to %s: group", conv)
		}
		users := make([]string, len(want))
		for i, m := range want {
			users[i] = m.UserID
		}
		rows, err := tx.Query(ctx, `SELECT user_id FROM members WHERE conv = $1 AND user_id = ANY($2)`, string(conv), users)
		if err != nil {
			return err
		}
		existing, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		have := make(map[string]bool, len(existing))
		for _, u := range existing {
			have[u] = true
		}
		join := last + 1
		for _, m := range want {
			if have[m.UserID] {
				continue
			}
			added = append(added, store.Member{UserID: m.UserID, Role: m.Role, JoinSeq: join, ReadSeq: join - 1, DeliveredSeq: join - 1, JoinedAt: m.JoinedAt})
		}
		if len(added) == 0 {
			return nil
		}
		if err := insertMembers(ctx, tx, conv, added); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE conversations SET members = members + $2 WHERE conv = $1`, string(conv), len(added))
		return err
	})
	w.end(err, cacheResult{})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// RemoveMember implements store.Members.
func (s *Store) RemoveMember(ctx context.Context, conv store.ConvID, userID string) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	w := s.cache.begin(cacheKeys{wide: []store.ConvID{conv}})
	err := s.inTx(ctx, "remove member", func(tx pgx.Tx) error {
		// The conversation's lock first, as every writer of its member
		// set takes it, so the count stays exact.
		if _, _, found, err := lockConvNoCreate(ctx, tx, conv); err != nil {
			return err
		} else if !found {
			return notFound("member %q of %s", userID, conv)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM members WHERE conv = $1 AND user_id = $2`, string(conv), userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("member %q of %s", userID, conv)
		}
		_, err = tx.Exec(ctx, `UPDATE conversations SET members = members - 1 WHERE conv = $1`, string(conv))
		return err
	})
	w.end(err, cacheResult{})
	return err
}

// lockConvNoCreate is lockConv without creating a peer conversation's row.
func lockConvNoCreate(ctx context.Context, tx pgx.Tx, conv store.ConvID) (uint64, int64, bool, error) {
	var last, members int64
	err := tx.QueryRow(ctx, `SELECT last_seq, members FROM conversations WHERE conv = $1 FOR UPDATE`, string(conv)).Scan(&last, &members)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	return uint64(last), members, true, nil
}

// SetRole implements store.Members.
func (s *Store) SetRole(ctx context.Context, conv store.ConvID, userID, role string) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	w := s.cache.begin(cacheKeys{wide: []store.ConvID{conv}})
	tag, err := s.pool.Exec(ctx, `UPDATE members SET role = $3 WHERE conv = $1 AND user_id = $2`, string(conv), userID, role)
	w.end(err, cacheResult{})
	if err != nil {
		return classify("set role", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("member %q of %s", userID, conv)
	}
	return nil
}

// GetMember implements store.Members.
func (s *Store) GetMember(ctx context.Context, conv store.ConvID, userID string) (store.Member, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Member{}, err
	}
	defer s.mu.RUnlock()
	ref := store.MemberRef{Conv: conv, UserID: userID}
	rs, err := s.find(ctx, keys{Lookup: store.Lookup{Members: []store.MemberRef{ref}}})
	if err != nil {
		return store.Member{}, err
	}
	m, found := rs.Members[ref]
	if !found {
		return store.Member{}, notFound("member %q of %s", userID, conv)
	}
	// The round's rows are shared: the caller gets acks of its own.
	return ownMember(m), nil
}

// ListMembers implements store.Members. A limit below 1 returns nothing.
func (s *Store) ListMembers(ctx context.Context, conv store.ConvID, after string, limit int) ([]store.Member, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}
	ms, err := queryMembers(ctx, s.pool, `SELECT `+memberCols+` FROM members
		WHERE conv = $1 AND user_id > $2 ORDER BY user_id LIMIT $3`, string(conv), after, limit)
	if err != nil {
		return nil, classify("list members", err)
	}
	return ms, nil
}

// CountMembers implements store.Members: the count kept on the
// conversation's row, so a 100,000-member group is not scanned.
func (s *Store) CountMembers(ctx context.Context, conv store.ConvID) (int, error) {
	if err := s.acquire(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT members FROM conversations WHERE conv = $1`, string(conv)).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, classify("count members", err)
	}
	return int(n), nil
}

// ConversationsActivity implements store.Members in one statement, so each
// member record and last seq are of the same snapshot.
func (s *Store) ConversationsActivity(ctx context.Context, userID string) ([]store.ConvActivity, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	rows, err := s.pool.Query(ctx, `SELECT m.conv, c.last_seq, c.last_at, `+memberColsOf("m")+`
		FROM members m JOIN conversations c ON c.conv = m.conv
		WHERE m.user_id = $1 ORDER BY m.conv`, userID)
	if err != nil {
		return nil, classify("conversations activity", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ConvActivity, error) {
		var (
			a    store.ConvActivity
			conv string
			last int64
			mr   memberRow
		)
		if err := r.Scan(append([]any{&conv, &last, &a.LastAt}, mr.dest(&a.Member)...)...); err != nil {
			return a, err
		}
		a.Conv, a.LastSeq = store.ConvID(conv), uint64(last)
		return a, mr.finish(&a.Member)
	})
	if err != nil {
		return nil, classify("conversations activity", err)
	}
	return out, nil
}
