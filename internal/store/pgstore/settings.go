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
	st := store.DefaultSettings()
	var reads, delivery *bool
	err := s.pool.QueryRow(ctx, `SELECT st.share_reads, st.share_delivery
		FROM users u LEFT JOIN user_settings st ON st.user_id = u.id WHERE u.id = $1`, userID).Scan(&reads, &delivery)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Settings{}, notFound("user %q", userID)
	}
	if err != nil {
		return store.Settings{}, classify("get settings", err)
	}
	if reads != nil && delivery != nil {
		st.ShareReads, st.ShareDelivery = *reads, *delivery
	}
	return st, nil
}

// PutSettings implements store.UserSettings.
func (s *Store) PutSettings(ctx context.Context, userID string, st store.Settings) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	tag, err := s.pool.Exec(ctx, `INSERT INTO user_settings (user_id, share_reads, share_delivery)
		SELECT id, $2, $3 FROM users WHERE id = $1
		ON CONFLICT (user_id) DO UPDATE SET share_reads = EXCLUDED.share_reads, share_delivery = EXCLUDED.share_delivery`,
		userID, st.ShareReads, st.ShareDelivery)
	if err != nil {
		return classify("put settings", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("user %q", userID)
	}
	return nil
}
