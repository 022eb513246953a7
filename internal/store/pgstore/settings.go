package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/seen-im/seen/internal/store"
)

// GetSettings implements store.UserSettings: the user's row, the defaults
// if it has none, in one statement.
func (s *Store) GetSettings(ctx context.Context, userID string) (store.Settings, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Settings{}, err
	}
	defer s.mu.RUnlock()
	rs, err := s.find(ctx, keys{Settings: []string{userID}})
	if err != nil {
		return store.Settings{}, err
	}
	st, found := rs.Settings[userID]
	if !found {
		return store.Settings{}, notFound("user %q", userID)
	}
	return st, nil
}

// UpdateSettings implements store.UserSettings in one statement: the
// row's lock orders concurrent updates, each switch left NULL keeps its
// value (the default for a user without a row).
func (s *Store) UpdateSettings(ctx context.Context, userID string, shareReads, shareDelivery *bool) (store.Settings, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Settings{}, err
	}
	defer s.mu.RUnlock()
	var st store.Settings
	err := s.pool.QueryRow(ctx, `INSERT INTO user_settings AS st (user_id, share_reads, share_delivery)
		SELECT id, COALESCE($2, true), COALESCE($3, true) FROM users WHERE id = $1
		ON CONFLICT (user_id) DO UPDATE SET share_reads = COALESCE($2, st.share_reads), share_delivery = COALESCE($3, st.share_delivery)
		RETURNING share_reads, share_delivery`,
		userID, shareReads, shareDelivery).Scan(&st.ShareReads, &st.ShareDelivery)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Settings{}, notFound("user %q", userID)
	}
	if err != nil {
		return store.Settings{}, classify("update settings", err)
	}
	return st, nil
}
