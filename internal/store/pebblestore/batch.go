package pebblestore

import (
	"context"
	"errors"

	"github.com/seen-im/seen/internal/store"
)

// The batched lookups cost no round trip here: they read entry by entry,
// through the same caches as GetMember and MessageAt.

// GetMembers implements store.Members.
func (s *Store) GetMembers(ctx context.Context, refs []store.MemberRef) ([]store.Member, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out := make([]store.Member, len(refs))
	for i, r := range refs {
		if validConv(r.Conv) != nil {
			continue // no such record
		}
		m, found, err := s.getMember(r.Conv, r.UserID)
		if err != nil {
			return nil, err
		}
		if found {
			out[i] = m
		}
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
	for i, r := range refs {
		if validConv(r.Conv) != nil {
			continue
		}
		m, err := s.getMessage(r.Conv, r.Seq)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}
