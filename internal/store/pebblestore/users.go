package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"

	"github.com/cockroachdb/pebble/v2"

	"github.com/seen-im/seen/internal/store"
)

// PutUser implements store.Users.
func (s *Store) PutUser(ctx context.Context, u store.User) (bool, error) {
	if err := s.acquire(ctx); err != nil {
		return false, err
	}
	defer s.mu.RUnlock()
	if u.ID == "" {
		return false, errors.New("pebblestore: put user: empty id")
	}
	// Users are created rarely, so the write is synced under the stripe
	// lock: a concurrent PutUser of the same id that finds the user never
	// reports one that is not yet durable.
	mu := &s.userLocks[maphash.String(s.seed, u.ID)%userStripes]
	mu.Lock()
	defer mu.Unlock()
	key := userKey(u.ID)
	found, err := s.getWith(key, nil)
	if err != nil || found {
		return false, err
	}
	if err := s.db.Set(key, encodeUser(u), pebble.Sync); err != nil {
		return false, fmt.Errorf("pebblestore: put user %q: %w", u.ID, err)
	}
	return true, nil
}

// GetUser implements store.Users.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	if err := s.acquire(ctx); err != nil {
		return store.User{}, err
	}
	defer s.mu.RUnlock()
	var u store.User
	found, err := s.getWith(userKey(id), func(v []byte) error {
		var err error
		u, err = decodeUser(id, v)
		return err
	})
	if err != nil {
		return store.User{}, err
	}
	if !found {
		return store.User{}, fmt.Errorf("pebblestore: user %q: %w", id, store.ErrNotFound)
	}
	return u, nil
}

// CreateGroup implements store.Groups. It takes the group conversation's
// mutex so that it is atomic with AddMembers and Append there.
func (s *Store) CreateGroup(ctx context.Context, g store.Group, members []store.Member) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	conv := store.GroupConv(g.ID)
	if err := validConv(conv); err != nil {
		return err
	}
	initial := make([]store.Member, 0, len(members))
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		if m.UserID == "" {
			return errors.New("pebblestore: create group: empty member user id")
		}
		if seen[m.UserID] {
			continue
		}
		seen[m.UserID] = true
		initial = append(initial, store.Member{UserID: m.UserID, Role: m.Role, JoinSeq: 1, JoinedAt: m.JoinedAt})
	}
	cs, err := s.lockConv(conv)
	if err != nil {
		return err
	}
	if cs.groupExists {
		cs.mu.Unlock()
		return fmt.Errorf("pebblestore: create group %q: %w", g.ID, store.ErrExists)
	}
	b := s.db.NewBatch()
	_ = b.Set(groupKey(g.ID), encodeGroup(g), nil)
	// A group conversation has no members before its group exists (Append
	// and AddMembers refuse it), so every initial member is new.
	writeNewMembers(b, conv, initial, cs.members)
	if err := s.applyLocked(cs, b); err != nil {
		cs.mu.Unlock()
		return err
	}
	cs.groupExists = true
	for _, m := range initial {
		cs.forget(m.UserID)
	}
	cs.members += uint64(len(initial))
	cs.mu.Unlock()
	return s.wait(cs, b)
}

// GetGroup implements store.Groups.
func (s *Store) GetGroup(ctx context.Context, id string) (store.Group, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Group{}, err
	}
	defer s.mu.RUnlock()
	if g, ok := s.groups.Load(id); ok {
		return g.(store.Group), nil
	}
	var g store.Group
	found, err := s.getWith(groupKey(id), func(v []byte) error {
		var err error
		g, err = decodeGroup(id, v)
		return err
	})
	if err != nil {
		return store.Group{}, err
	}
	if !found {
		return store.Group{}, fmt.Errorf("pebblestore: group %q: %w", id, store.ErrNotFound)
	}
	s.groups.Store(id, g)
	return g, nil
}
