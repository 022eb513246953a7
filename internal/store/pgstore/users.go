package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/seen-im/seen/internal/store"
)

// PutUser implements store.Users. A concurrent PutUser of the same id
// waits for this one's commit, so it never reports a user not yet durable.
func (s *Store) PutUser(ctx context.Context, u store.User) (bool, error) {
	if err := s.acquire(ctx); err != nil {
		return false, err
	}
	defer s.mu.RUnlock()
	if u.ID == "" {
		return false, errors.New("pgstore: put user: empty id")
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO users (id, name, created_at, demo) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO NOTHING`, u.ID, u.Name, u.CreatedAt, u.Demo)
	if err != nil {
		return false, classify("put user", err)
	}
	return tag.RowsAffected() == 1, nil
}

// GetUser implements store.Users.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	if err := s.acquire(ctx); err != nil {
		return store.User{}, err
	}
	defer s.mu.RUnlock()
	if u, ok := s.users.get(id); ok {
		return u, nil
	}
	rs, err := s.find(ctx, keys{Lookup: store.Lookup{Users: []string{id}}})
	if err != nil {
		return store.User{}, err
	}
	u, found := rs.Users[id]
	if !found {
		return store.User{}, notFound("user %q", id)
	}
	return u, nil
}

// CreateGroup implements store.Groups: the group, its conversation row and
// its initial members in one transaction.
func (s *Store) CreateGroup(ctx context.Context, g store.Group, members []store.Member) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	conv := store.GroupConv(g.ID)
	if err := validConv(conv); err != nil {
		return err
	}
	initial, err := store.InitialMembers(members)
	if err != nil {
		return fmt.Errorf("pgstore: create group: %w", err)
	}
	w := s.cache.begin(cacheKeys{wide: []store.ConvID{conv}})
	err = s.inTx(ctx, "create group", func(tx pgx.Tx) error {
		// A concurrent create of the same id waits here for our commit,
		// then finds the row.
		tag, err := tx.Exec(ctx, `INSERT INTO groups (id, type, created_by, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO NOTHING`, g.ID, g.Type, g.CreatedBy, g.CreatedAt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errorsExists(g.ID)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO conversations (conv, members) VALUES ($1, $2)`, string(conv), len(initial)); err != nil {
			return err
		}
		return insertMembers(ctx, tx, conv, initial)
	})
	// The rows as inserted (insertMembers), left in the lookup cache.
	res := cacheResult{group: &g, members: make(map[memberKey]*store.Member, len(initial))}
	for _, m := range initial {
		res.members[memberKey{conv, m.UserID}] = &store.Member{UserID: m.UserID, Role: m.Role, JoinSeq: m.JoinSeq,
			ReadSeq: m.ReadSeq, DeliveredSeq: m.ReadSeq, JoinedAt: m.JoinedAt}
	}
	w.end(err, res)
	return err
}

// insertMembers inserts members new to conv, in one statement.
func insertMembers(ctx context.Context, tx pgx.Tx, conv store.ConvID, ms []store.Member) error {
	if len(ms) == 0 {
		return nil
	}
	users, roles := make([]string, len(ms)), make([]string, len(ms))
	joins, marks, joined := make([]int64, len(ms)), make([]int64, len(ms)), make([]int64, len(ms))
	for i, m := range ms {
		users[i], roles[i], joins[i], marks[i], joined[i] = m.UserID, m.Role, int64(m.JoinSeq), int64(m.ReadSeq), m.JoinedAt
	}
	_, err := tx.Exec(ctx, `INSERT INTO members (conv, user_id, role, join_seq, read_seq, delivered_seq, own_read_seq, joined_at)
		SELECT $1, u, r, j, w, w, w, t FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) AS x(u, r, j, w, t)`,
		string(conv), users, roles, joins, marks, joined)
	return err
}

// GetGroup implements store.Groups.
func (s *Store) GetGroup(ctx context.Context, id string) (store.Group, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Group{}, err
	}
	defer s.mu.RUnlock()
	rs, err := s.find(ctx, keys{Lookup: store.Lookup{Groups: []string{id}}})
	if err != nil {
		return store.Group{}, err
	}
	g, found := rs.Groups[id]
	if !found {
		return store.Group{}, notFound("group %q", id)
	}
	return g, nil
}

// DeleteGroup implements store.Groups. Under the conversation's row lock
// (which AddMembers takes too) it checks that no member is left, then
// deletes the group, its conversation row, every message and the webhook
// tracks and timers of its messages in one transaction; the next
// CreateGroup of the id starts at seq 1.
func (s *Store) DeleteGroup(ctx context.Context, id string) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	conv := store.GroupConv(id)
	if err := validConv(conv); err != nil {
		return notFound("delete group %q", id)
	}
	w := s.cache.begin(cacheKeys{wide: []store.ConvID{conv}})
	err := s.inTx(ctx, "delete group", func(tx pgx.Tx) error {
		var members int64
		err := tx.QueryRow(ctx, `SELECT members FROM conversations WHERE conv = $1 FOR UPDATE`, string(conv)).Scan(&members)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("delete group %q", id)
		}
		if err != nil {
			return err
		}
		if members > 0 {
			return errorsNotEmpty(id, members)
		}
		for _, sql := range []string{
			`DELETE FROM messages WHERE conv = $1`,
			// Webhook state of the conversation's messages: a new group
			// of the same id starts at seq 1 and must not inherit it.
			// Deliveries stay: they are events that happened.
			`DELETE FROM webhook_tracks WHERE conv = $1`,
			`DELETE FROM webhook_timers WHERE conv = $1`,
			`DELETE FROM members WHERE conv = $1`,
			`DELETE FROM conversations WHERE conv = $1`,
		} {
			if _, err := tx.Exec(ctx, sql, string(conv)); err != nil {
				return err
			}
		}
		if _, err = tx.Exec(ctx, `DELETE FROM groups WHERE id = $1`, id); err != nil {
			return err
		}
		s.amemo.forget(conv) // stale from now on; this frees its rows
		return nil
	})
	w.end(err, cacheResult{})
	return err
}
