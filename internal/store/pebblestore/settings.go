package pebblestore

import (
	"context"
	"fmt"
	"hash/maphash"

	"github.com/cockroachdb/pebble/v2"

	"github.com/seen-im/seen/internal/store"
)

// Settings live under their own key beside the user record, one byte of
// flags, so a user who never changed them costs nothing and user records
// keep their format.

const (
	settingHideReads    byte = 1 << 0
	settingHideDelivery byte = 1 << 1
)

func settingsKey(userID string) []byte {
	return append([]byte{prefixSettings}, userID...)
}

func decodeSettings(v []byte) (store.Settings, error) {
	if len(v) != 1 {
		return store.Settings{}, fmt.Errorf("corrupt value (%d bytes)", len(v))
	}
	return store.Settings{ShareReads: v[0]&settingHideReads == 0, ShareDelivery: v[0]&settingHideDelivery == 0}, nil
}

// GetSettings implements store.UserSettings.
func (s *Store) GetSettings(ctx context.Context, userID string) (store.Settings, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Settings{}, err
	}
	defer s.mu.RUnlock()
	st := store.DefaultSettings()
	found, err := s.getWith(settingsKey(userID), func(v []byte) error {
		var err error
		st, err = decodeSettings(v)
		if err != nil {
			return fmt.Errorf("pebblestore: settings of %q: %w", userID, err)
		}
		return nil
	})
	if err != nil || found {
		return st, err
	}
	if _, err := s.userExists(userID); err != nil {
		return store.Settings{}, err
	}
	return st, nil
}

// UpdateSettings implements store.UserSettings: a read-modify-write under
// the user's stripe lock (the lock PutUser takes), synced before the lock
// is released, so concurrent updates apply one after the other.
func (s *Store) UpdateSettings(ctx context.Context, userID string, shareReads, shareDelivery *bool) (store.Settings, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Settings{}, err
	}
	defer s.mu.RUnlock()
	mu := &s.userLocks[maphash.String(s.seed, userID)%userStripes]
	mu.Lock()
	defer mu.Unlock()
	if _, err := s.userExists(userID); err != nil {
		return store.Settings{}, err
	}
	st := store.DefaultSettings()
	if _, err := s.getWith(settingsKey(userID), func(v []byte) error {
		var err error
		st, err = decodeSettings(v)
		return err
	}); err != nil {
		return store.Settings{}, fmt.Errorf("pebblestore: settings of %q: %w", userID, err)
	}
	if shareReads != nil {
		st.ShareReads = *shareReads
	}
	if shareDelivery != nil {
		st.ShareDelivery = *shareDelivery
	}
	var v byte
	if !st.ShareReads {
		v |= settingHideReads
	}
	if !st.ShareDelivery {
		v |= settingHideDelivery
	}
	if err := s.db.Set(settingsKey(userID), []byte{v}, pebble.Sync); err != nil {
		return store.Settings{}, fmt.Errorf("pebblestore: put settings of %q: %w", userID, err)
	}
	return st, nil
}

// userExists returns ErrNotFound (wrapped) for an unknown user.
func (s *Store) userExists(userID string) (bool, error) {
	found, err := s.getWith(userKey(userID), nil)
	if err != nil {
		return false, err
	}
	if !found {
		return false, fmt.Errorf("pebblestore: user %q: %w", userID, store.ErrNotFound)
	}
	return true, nil
}
