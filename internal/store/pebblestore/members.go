package pebblestore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/seen-im/seen/internal/store"
)

// AddMembers implements store.Members. Adding to a group conversation whose
// group does not exist returns an error wrapping store.ErrNotFound.
func (s *Store) AddMembers(ctx context.Context, conv store.ConvID, members []store.Member) ([]store.Member, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if err := validConv(conv); err != nil {
		return nil, err
	}
	for _, m := range members {
		if m.UserID == "" {
			return nil, errors.New("pebblestore: add members: empty user id")
		}
	}
	cs, err := s.lockConv(conv)
	if err != nil {
		return nil, err
	}
	defer s.unpinConv(cs)
	added, b, err := s.addMembersLocked(cs, conv, members)
	cs.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if b == nil {
		// Nothing to add; the members we saw may have been written by a
		// call still waiting for its sync.
		return added, s.syncIfPending(cs)
	}
	if err := s.wait(cs, b); err != nil {
		return nil, err
	}
	return added, nil
}

func (s *Store) addMembersLocked(cs *convState, conv store.ConvID, members []store.Member) ([]store.Member, *pebble.Batch, error) {
	if conv.IsGroup() && !cs.groupExists {
		return nil, nil, fmt.Errorf("pebblestore: add members to %s: group: %w", conv, store.ErrNotFound)
	}
	joinSeq := cs.lastSeq + 1
	added := []store.Member{}
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		if seen[m.UserID] {
			continue
		}
		seen[m.UserID] = true
		if _, found, err := s.getMember(conv, m.UserID); err != nil {
			return nil, nil, err
		} else if found {
			continue
		}
		added = append(added, store.Member{
			UserID:       m.UserID,
			Role:         m.Role,
			JoinSeq:      joinSeq,
			ReadSeq:      joinSeq - 1,
			DeliveredSeq: joinSeq - 1,
			JoinedAt:     m.JoinedAt,
		})
	}
	if len(added) == 0 {
		return added, nil, nil
	}
	b := s.db.NewBatch()
	writeNewMembers(b, conv, added, cs.members)
	if err := s.applyLocked(cs, b); err != nil {
		return nil, nil, err
	}
	for _, m := range added {
		cs.forget(m.UserID)
	}
	cs.members += uint64(len(added))
	return added, b, nil
}

// writeNewMembers adds to b the records of members new to conv, their
// conversation-index entries and conv's new member count.
func writeNewMembers(b *pebble.Batch, conv store.ConvID, members []store.Member, before uint64) {
	for _, m := range members {
		_ = b.Set(memberKey(conv, m.UserID), encodeMember(m), nil)
		_ = b.Set(userConvKey(m.UserID, conv), nil, nil)
	}
	_ = b.Set(memberCountKey(conv), binary.AppendUvarint(nil, before+uint64(len(members))), nil)
}

// RemoveMember implements store.Members.
func (s *Store) RemoveMember(ctx context.Context, conv store.ConvID, userID string) error {
	return s.updateMember(ctx, conv, userID, func(cs *convState, _ store.Member, b *pebble.Batch) bool {
		_ = b.Delete(memberKey(conv, userID), nil)
		_ = b.Delete(userConvKey(userID, conv), nil)
		n := cs.members
		if n > 0 {
			n--
		}
		_ = b.Set(memberCountKey(conv), binary.AppendUvarint(nil, n), nil)
		return true
	}, func(cs *convState) {
		if cs.members > 0 {
			cs.members--
		}
	})
}

// SetRole implements store.Members.
func (s *Store) SetRole(ctx context.Context, conv store.ConvID, userID, role string) error {
	return s.updateMember(ctx, conv, userID, func(_ *convState, m store.Member, b *pebble.Batch) bool {
		if m.Role == role {
			return false
		}
		m.Role = role
		_ = b.Set(memberKey(conv, userID), encodeMember(m), nil)
		return true
	}, nil)
}

// updateMember runs a read-modify-write of an existing member under conv's
// mutex. write adds the change to b and reports whether there is one;
// applied, if non-nil, updates cs once the batch is applied.
func (s *Store) updateMember(ctx context.Context, conv store.ConvID, userID string,
	write func(cs *convState, m store.Member, b *pebble.Batch) bool, applied func(cs *convState)) error {
	return s.updateMemberErr(ctx, conv, userID, func(cs *convState, m store.Member, b *pebble.Batch) (bool, error) {
		return write(cs, m, b), nil
	}, applied)
}

// updateMemberErr is updateMember with a write that may refuse the change.
func (s *Store) updateMemberErr(ctx context.Context, conv store.ConvID, userID string,
	write func(cs *convState, m store.Member, b *pebble.Batch) (bool, error), applied func(cs *convState)) error {
	cs, err := s.acquireConv(ctx, conv)
	if err != nil {
		return err
	}
	defer s.releaseConv(cs)
	m, found, err := s.getMember(conv, userID)
	if err != nil || !found {
		cs.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("pebblestore: member %q of %s: %w", userID, conv, store.ErrNotFound)
		}
		return err
	}
	b := s.db.NewBatch()
	if ok, err := write(cs, m, b); err != nil || !ok {
		cs.mu.Unlock()
		_ = b.Close()
		if err != nil {
			return err
		}
		return s.syncIfPending(cs)
	}
	if err := s.applyLocked(cs, b); err != nil {
		cs.mu.Unlock()
		return err
	}
	cs.forget(userID)
	if applied != nil {
		applied(cs)
	}
	cs.mu.Unlock()
	return s.wait(cs, b)
}

// GetMember implements store.Members.
func (s *Store) GetMember(ctx context.Context, conv store.ConvID, userID string) (store.Member, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Member{}, err
	}
	defer s.mu.RUnlock()
	m, found, err := s.getMember(conv, userID)
	if err != nil {
		return store.Member{}, err
	}
	if !found {
		return store.Member{}, fmt.Errorf("pebblestore: member %q of %s: %w", userID, conv, store.ErrNotFound)
	}
	return m, nil
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
	prefix := convPrefix(prefixMember, conv, 0)
	var out []store.Member
	err := s.scan(prefix, after, limit, func(k, v []byte) error {
		m, err := decodeMember(string(k[len(prefix):]), v)
		if err != nil {
			return err
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: members of %s: %w", conv, err)
	}
	return out, nil
}

// CountMembers implements store.Members.
func (s *Store) CountMembers(ctx context.Context, conv store.ConvID) (int, error) {
	if err := s.acquire(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	var n uint64
	if _, err := s.getWith(memberCountKey(conv), func(v []byte) error {
		r := byteReader{b: v}
		n = r.uvarint()
		return r.err
	}); err != nil {
		return 0, fmt.Errorf("pebblestore: count members of %s: %w", conv, err)
	}
	return int(n), nil
}

// ConversationsActivity implements store.Members. Everything is read from
// one snapshot, so each member record and last seq are of the same
// moment; one iterator per table serves every conversation by seeking.
func (s *Store) ConversationsActivity(ctx context.Context, userID string) ([]store.ConvActivity, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out, err := s.conversationsActivity(userID)
	if err != nil {
		return nil, fmt.Errorf("pebblestore: activity of %q: %w", userID, err)
	}
	return out, nil
}

func (s *Store) conversationsActivity(userID string) (out []store.ConvActivity, err error) {
	snap := s.db.NewSnapshot()
	defer snap.Close()
	newIter := func(prefix byte) (*pebble.Iterator, error) {
		return snap.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	}
	convs, err := newIter(prefixUserConv)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, convs.Close()) }()
	members, err := newIter(prefixMember)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, members.Close()) }()
	msgs, err := newIter(prefixMessage)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, msgs.Close()) }()

	prefix := userConvPrefix(userID)
	for ok := convs.SeekGE(prefix); ok && bytes.HasPrefix(convs.Key(), prefix); ok = convs.Next() {
		a := store.ConvActivity{Conv: store.ConvID(convs.Key()[len(prefix):])}
		mk := memberKey(a.Conv, userID)
		if !members.SeekGE(mk) || !bytes.Equal(members.Key(), mk) {
			// The index and the record are written in one batch; a
			// snapshot cannot see one without the other.
			return nil, fmt.Errorf("conversation %s lists %q, who is not a member", a.Conv, userID)
		}
		if a.Member, err = decodeMember(userID, members.Value()); err != nil {
			return nil, err
		}
		mp := messagePrefix(a.Conv)
		if msgs.SeekLT(prefixEnd(mp)) && bytes.HasPrefix(msgs.Key(), mp) {
			a.LastSeq = seqFromMessageKey(msgs.Key())
			if a.LastAt, err = messageSentAt(msgs.Value()); err != nil {
				return nil, fmt.Errorf("message %s/%d: %w", a.Conv, a.LastSeq, err)
			}
		}
		out = append(out, a)
	}
	return out, errors.Join(convs.Error(), members.Error(), msgs.Error())
}

// scan calls fn for up to limit keys with prefix whose remainder is greater
// than after ("" means from the start), in key order.
func (s *Store) scan(prefix []byte, after string, limit int, fn func(k, v []byte) error) error {
	lower := prefix
	if after != "" {
		lower = afterKey(prefix, after)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	n := 0
	for ok := it.First(); ok && n < limit; ok = it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			_ = it.Close()
			return err
		}
		n++
	}
	return errors.Join(it.Error(), it.Close())
}
