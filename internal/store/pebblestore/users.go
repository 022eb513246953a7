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
	initial, err := store.InitialMembers(members)
	if err != nil {
		return fmt.Errorf("pebblestore: create group: %w", err)
	}
	cs, err := s.lockConv(conv)
	if err != nil {
		return err
	}
	defer s.unpinConv(cs)
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

// GetGroup implements store.Groups. A cached record is answered without a
// lock. A miss fills the cache under the conversation's mutex, reading the
// record again there, so that a group deleted (or deleted and created
// again) meanwhile never leaves a stale record behind; an unknown id is
// answered from disk alone and creates no per-conversation state, so
// asking for made-up ids costs no memory.
func (s *Store) GetGroup(ctx context.Context, id string) (store.Group, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Group{}, err
	}
	defer s.mu.RUnlock()
	if g, ok := s.groups.Load(id); ok {
		return g.(store.Group), nil
	}
	notFound := fmt.Errorf("pebblestore: group %q: %w", id, store.ErrNotFound)
	g, found, err := s.readGroup(id)
	if err != nil || !found {
		if err == nil {
			err = notFound
		}
		return store.Group{}, err
	}
	cs, err := s.lockConv(store.GroupConv(id))
	if err != nil {
		return store.Group{}, err
	}
	defer s.unpinConv(cs)
	defer cs.mu.Unlock()
	if !cs.groupExists {
		return store.Group{}, notFound
	}
	if g, found, err = s.readGroup(id); err != nil || !found {
		if err == nil {
			err = notFound
		}
		return store.Group{}, err
	}
	s.groups.Store(id, g)
	return g, nil
}

func (s *Store) readGroup(id string) (store.Group, bool, error) {
	var g store.Group
	found, err := s.getWith(groupKey(id), func(v []byte) error {
		var err error
		g, err = decodeGroup(id, v)
		return err
	})
	return g, found, err
}

// DeleteGroup implements store.Groups. Under the conversation's mutex it
// checks the member count (so AddMembers cannot slip a member in), then
// deletes the group record, every message with its id and clientMsgId
// entries, and the live-receipt index in one batch, and resets the
// conversation's cached state so the next CreateGroup starts afresh.
func (s *Store) DeleteGroup(ctx context.Context, id string) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	conv := store.GroupConv(id)
	if err := validConv(conv); err != nil {
		return fmt.Errorf("pebblestore: delete group %q: %w", id, store.ErrNotFound)
	}
	cs, err := s.lockConv(conv)
	if err != nil {
		return err
	}
	defer s.unpinConv(cs)
	if !cs.groupExists {
		cs.mu.Unlock()
		return fmt.Errorf("pebblestore: delete group %q: %w", id, store.ErrNotFound)
	}
	if cs.members > 0 {
		cs.mu.Unlock()
		return fmt.Errorf("pebblestore: delete group %q: %d members: %w", id, cs.members, store.ErrNotEmpty)
	}
	msgIDs, err := s.messageIDs(conv)
	if err != nil {
		cs.mu.Unlock()
		return fmt.Errorf("pebblestore: delete group %q: %w", id, err)
	}
	b := s.db.NewBatch()
	_ = b.Delete(groupKey(id), nil)
	_ = b.Delete(memberCountKey(conv), nil)
	for _, mid := range msgIDs {
		_ = b.Delete(msgIDKey(mid), nil)
	}
	// The group has no members, so its member keys and their userConv
	// entries are gone already; the range covers any left by a crash.
	for _, prefix := range [][]byte{
		messagePrefix(conv),
		convPrefix(prefixClientID, conv, 0),
		convPrefix(prefixMember, conv, 0),
		convPrefix(prefixLive, conv, 0),
	} {
		_ = b.DeleteRange(prefix, prefixEnd(prefix), nil)
	}
	// The conversation's webhook timers and tracks go too: they name
	// messages that no longer exist, and the next group of this id starts
	// again at seq 1.
	s.hooks.mu.Lock()
	err = s.deleteConvHooksLocked(b, conv)
	if err == nil {
		err = s.applyLocked(cs, b)
	}
	s.hooks.mu.Unlock()
	if err != nil {
		cs.mu.Unlock()
		return fmt.Errorf("pebblestore: delete group %q: %w", id, err)
	}
	cs.groupExists, cs.lastSeq, cs.members = false, 0, 0
	cs.memoMu.Lock()
	for u, m := range cs.memo {
		cs.memoDeleteLocked(u, m)
	}
	cs.memoMu.Unlock()
	s.groups.Delete(id)
	for _, mid := range msgIDs {
		s.msgs.forget(mid)
	}
	cs.mu.Unlock()
	return s.wait(cs, b)
}

// messageIDs returns the ids of every message of conv. The caller holds
// conv's mutex, so no append runs meanwhile.
func (s *Store) messageIDs(conv store.ConvID) ([]string, error) {
	prefix := messagePrefix(conv)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, err
	}
	var ids []string
	for ok := it.First(); ok; ok = it.Next() {
		// The id is the first string of a message value (encodeMessage):
		// no need to copy the body.
		r := byteReader{b: it.Value()}
		r.byte1() // format
		r.byte1() // flags
		id := r.str()
		if r.err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("message %s/%d: %w", conv, seqFromMessageKey(it.Key()), r.err)
		}
		ids = append(ids, id)
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, err
	}
	return ids, nil
}
