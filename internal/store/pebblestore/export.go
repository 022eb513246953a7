package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/seen-im/seen/internal/store"
)

// The store interface has no "list everything" call: a server never needs
// one. `seen migrate` does, to copy a data directory into another backend,
// so the few scans below are this package's own API, not store.Store's.
// Each reads one snapshot; what is inside a conversation (members,
// messages, last seq) is read through the store interface, the same way on
// both sides of a copy.

// Users calls fn for every user, in id order.
func (s *Store) Users(ctx context.Context, fn func(store.User) error) error {
	return s.export(ctx, "users", prefixUser, func(snap *pebble.Snapshot, it *pebble.Iterator) error {
		u, err := decodeUser(string(it.Key()[1:]), it.Value())
		if err != nil {
			return err
		}
		return fn(u)
	})
}

// Settings calls fn for every user who changed its settings, in id order;
// users it skips have store.DefaultSettings.
func (s *Store) Settings(ctx context.Context, fn func(userID string, st store.Settings) error) error {
	return s.export(ctx, "settings", prefixSettings, func(_ *pebble.Snapshot, it *pebble.Iterator) error {
		st, err := decodeSettings(it.Value())
		if err != nil {
			return fmt.Errorf("settings of %q: %w", it.Key()[1:], err)
		}
		return fn(string(it.Key()[1:]), st)
	})
}

// Groups calls fn for every group, in id order.
func (s *Store) Groups(ctx context.Context, fn func(store.Group) error) error {
	return s.export(ctx, "groups", prefixGroup, func(snap *pebble.Snapshot, it *pebble.Iterator) error {
		g, err := decodeGroup(string(it.Key()[1:]), it.Value())
		if err != nil {
			return err
		}
		return fn(g)
	})
}

// Conversations returns the id of every conversation that exists: every
// group's (members or not), and every conversation with a member or a
// message, sorted and without duplicates.
func (s *Store) Conversations(ctx context.Context) ([]store.ConvID, error) {
	set := make(map[store.ConvID]struct{})
	if err := s.Groups(ctx, func(g store.Group) error {
		set[store.GroupConv(g.ID)] = struct{}{}
		return nil
	}); err != nil {
		return nil, err
	}
	for _, p := range []byte{prefixMember, prefixMessage} {
		err := s.export(ctx, "conversations", p, func(_ *pebble.Snapshot, it *pebble.Iterator) error {
			r := byteReader{b: it.Key()[1:]}
			conv := store.ConvID(r.str())
			if r.err != nil {
				return fmt.Errorf("corrupt key %x: %w", it.Key(), r.err)
			}
			set[conv] = struct{}{}
			// Skip the rest of this conversation's keys: a long history
			// costs one seek, not a scan.
			it.SeekGE(prefixEnd(convPrefix(p, conv, 0)))
			return errSkipped
		})
		if err != nil {
			return nil, err
		}
	}
	out := make([]store.ConvID, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	// Go compares strings byte-wise, as every backend orders ids.
	slices.Sort(out)
	return out, nil
}

// errSkipped tells export that fn moved the iterator itself.
var errSkipped = errors.New("skipped")

// export iterates every key with the one-byte prefix p over one snapshot.
func (s *Store) export(ctx context.Context, what string, p byte, fn func(*pebble.Snapshot, *pebble.Iterator) error) (err error) {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	snap := s.db.NewSnapshot()
	defer snap.Close()
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{p}, UpperBound: []byte{p + 1}})
	if err != nil {
		return fmt.Errorf("pebblestore: export %s: %w", what, err)
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	ok := it.First()
	for ok {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("pebblestore: export %s: %w", what, err)
		}
		switch err := fn(snap, it); {
		case errors.Is(err, errSkipped):
			ok = it.Valid()
			continue
		case err != nil:
			return fmt.Errorf("pebblestore: export %s: %w", what, err)
		}
		ok = it.Next()
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("pebblestore: export %s: %w", what, err)
	}
	return nil
}

// Timers calls fn for every webhook timer, in (Conv, Seq, Kind) key
// order. store.Webhooks has no way to list them without claiming them;
// `seen migrate` copies them as they are.
func (s *Store) Timers(ctx context.Context, fn func(store.Timer) error) error {
	return s.export(ctx, "timers", prefixTimer, func(_ *pebble.Snapshot, it *pebble.Iterator) error {
		conv, seq, kind, err := splitTimerKey(it.Key())
		if err != nil {
			return err
		}
		t, err := decodeTimer(conv, seq, kind, it.Value())
		if err != nil {
			return err
		}
		return fn(t)
	})
}
