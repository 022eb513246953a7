package pebblestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/seen-im/seen/internal/store"
)

// validConv rejects ids that are neither "g/<id>" nor "p/<a>/<b>".
func validConv(conv store.ConvID) error {
	switch {
	case conv.IsGroup():
		if id := conv.GroupID(); id != "" && !strings.Contains(id, "/") {
			return nil
		}
	case conv.IsPeer():
		a, b := conv.Peers()
		if a != "" && b != "" && a <= b && !strings.Contains(b, "/") {
			return nil
		}
	}
	return fmt.Errorf("pebblestore: invalid conversation id %q", conv)
}

// Append implements store.Messages.
func (s *Store) Append(ctx context.Context, m store.Message) (store.Message, bool, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Message{}, false, err
	}
	defer s.mu.RUnlock()
	if err := validConv(m.Conv); err != nil {
		return store.Message{}, false, err
	}
	if m.ID == "" || m.Sender == "" {
		return store.Message{}, false, errors.New("pebblestore: append: message id and sender are required")
	}
	cs, err := s.lockConv(m.Conv)
	if err != nil {
		return store.Message{}, false, err
	}
	defer s.unpinConv(cs)
	hooks := !m.Hooks.Empty()
	stored, existed, b, err := s.appendLocked(cs, m)
	cs.mu.Unlock()
	if err != nil {
		return store.Message{}, false, err
	}
	if existed {
		if err := s.syncIfPending(cs); err != nil {
			return store.Message{}, false, err
		}
		return stored, true, nil
	}
	err = s.wait(cs, b)
	if hooks {
		s.hooks.unsynced.Add(-1) // raised by appendLocked
	}
	if err != nil {
		return store.Message{}, false, err
	}
	return stored, false, nil
}

// appendLocked does Append's work under cs.mu. Unless the message existed,
// it returns the applied batch, whose sync the caller waits for.
func (s *Store) appendLocked(cs *convState, m store.Message) (store.Message, bool, *pebble.Batch, error) {
	conv := m.Conv
	var idemKey []byte
	if m.ClientMsgID != "" {
		idemKey = clientIDKey(conv, m.Sender, m.ClientMsgID)
		var seq uint64
		found, err := s.getWith(idemKey, func(v []byte) error {
			if len(v) != 8 {
				return errors.New("pebblestore: corrupt client message id entry")
			}
			seq = binary.BigEndian.Uint64(v)
			return nil
		})
		if err != nil {
			return store.Message{}, false, nil, err
		}
		if found {
			stored, err := s.getMessage(conv, seq)
			if err != nil {
				return store.Message{}, false, nil, err
			}
			return stored, true, nil, nil
		}
	}

	sender, found, err := s.getMember(conv, m.Sender)
	if err != nil {
		return store.Message{}, false, nil, err
	}
	// newMembers are the peer-conversation members this append creates.
	var newMembers []store.Member
	switch {
	case conv.IsGroup():
		if !cs.groupExists {
			return store.Message{}, false, nil, fmt.Errorf("pebblestore: append to %s: group: %w", conv, store.ErrNotFound)
		}
		if !found {
			return store.Message{}, false, nil, fmt.Errorf("pebblestore: append to %s: sender %q is not a member: %w", conv, m.Sender, store.ErrNotFound)
		}
	default: // peer, checked by validConv
		a, b := conv.Peers()
		if m.Sender != a && m.Sender != b {
			return store.Message{}, false, nil, fmt.Errorf("pebblestore: append to %s: sender %q is not a member: %w", conv, m.Sender, store.ErrNotFound)
		}
		if !found && cs.lastSeq > 0 {
			// The conversation exists and the sender was removed from it.
			return store.Message{}, false, nil, fmt.Errorf("pebblestore: append to %s: sender %q is not a member: %w", conv, m.Sender, store.ErrNotFound)
		}
		if cs.lastSeq == 0 {
			// First append: the conversation comes into being with both
			// parties, whichever of them already has a record.
			peer := store.Member{Role: "member", JoinSeq: 1, JoinedAt: m.SentAt}
			if !found {
				sender = peer
				sender.UserID = m.Sender
				newMembers = append(newMembers, sender)
			}
			if other := conv.Other(m.Sender); other != m.Sender {
				_, ok, err := s.getMember(conv, other)
				if err != nil {
					return store.Message{}, false, nil, err
				}
				if !ok {
					p := peer
					p.UserID = other
					newMembers = append(newMembers, p)
				}
			}
		}
	}

	m.Seq = cs.lastSeq + 1
	if m.Receipt && m.ReceiptAt == 0 {
		m.ReceiptAt = m.SentAt
	}
	// The sender has read what it sent. Max, not assignment: a watermark
	// may already be above lastSeq if a caller advanced it there.
	// A send is a shared read on both levels (store.Member.ReadShared).
	sender.ReadShared(m.Seq, m.SentAt)

	b := s.db.NewBatch()
	set := func(k, v []byte) {
		_ = b.Set(k, v, nil) // errors only on a closed or committed batch
	}
	set(messageKey(conv, m.Seq), encodeMessage(m))
	set(msgIDKey(m.ID), encodeMsgRef(conv, m.Seq))
	if m.Receipt && !m.Settled {
		set(liveKey(conv, m.Seq), nil)
	}
	if idemKey != nil {
		set(idemKey, binary.BigEndian.AppendUint64(nil, m.Seq))
	}
	for _, nm := range newMembers {
		if nm.UserID == m.Sender {
			continue // written below with its raised watermarks
		}
		set(memberKey(conv, nm.UserID), encodeMember(nm))
		set(userConvKey(nm.UserID, conv), nil)
	}
	if len(newMembers) > 0 {
		set(userConvKey(m.Sender, conv), nil)
		set(memberCountKey(conv), binary.AppendUvarint(nil, cs.members+uint64(len(newMembers))))
	}
	set(memberKey(conv, m.Sender), encodeMember(sender))
	if !m.Hooks.Empty() {
		// The webhook rows go in the message's batch: one durable write,
		// so a crash keeps both or neither.
		s.hooks.mu.Lock()
		err := s.appendHooksLocked(b, m)
		if err == nil {
			err = s.applyLocked(cs, b)
		}
		if err == nil {
			s.hooks.unsynced.Add(1) // lowered by Append after the sync
		}
		s.hooks.mu.Unlock()
		if err != nil {
			return store.Message{}, false, nil, err
		}
	} else if err := s.applyLocked(cs, b); err != nil {
		return store.Message{}, false, nil, err
	}
	m.Hooks = nil // never stored nor returned
	cs.lastSeq = m.Seq
	cs.members += uint64(len(newMembers))
	for _, nm := range newMembers {
		cs.forget(nm.UserID)
	}
	cs.remember(sender)
	s.msgs.put(m)
	return m, false, b, nil
}

// getMessage reads message seq of conv; ErrNotFound if there is none.
func (s *Store) getMessage(conv store.ConvID, seq uint64) (store.Message, error) {
	if m, ok := s.msgs.getSeq(conv, seq); ok {
		return m, nil
	}
	var m store.Message
	found, err := s.getWith(messageKey(conv, seq), func(v []byte) error {
		var err error
		m, err = decodeMessage(conv, seq, v)
		return err
	})
	if err != nil {
		return store.Message{}, err
	}
	if !found {
		return store.Message{}, fmt.Errorf("pebblestore: message %s/%d: %w", conv, seq, store.ErrNotFound)
	}
	return m, nil
}

// GetMessage implements store.Messages.
func (s *Store) GetMessage(ctx context.Context, msgID string) (store.Message, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Message{}, err
	}
	defer s.mu.RUnlock()
	if m, ok := s.msgs.get(msgID); ok {
		return m, nil
	}
	var (
		conv store.ConvID
		seq  uint64
	)
	found, err := s.getWith(msgIDKey(msgID), func(v []byte) error {
		var err error
		conv, seq, err = decodeMsgRef(v)
		return err
	})
	if err != nil {
		return store.Message{}, err
	}
	if !found {
		return store.Message{}, fmt.Errorf("pebblestore: message %q: %w", msgID, store.ErrNotFound)
	}
	return s.getMessage(conv, seq)
}

// GetMessages implements store.Messages. Recent messages come from the
// memo, as in GetMessage; the rest are read from one snapshot, so an id
// and the message it refers to are seen in the same state.
func (s *Store) GetMessages(ctx context.Context, ids []string) ([]store.Message, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out := make([]store.Message, len(ids))
	var snap *pebble.Snapshot
	defer func() {
		if snap != nil {
			snap.Close()
		}
	}()
	for i, id := range ids {
		if m, ok := s.msgs.get(id); ok {
			out[i] = m
			continue
		}
		if snap == nil {
			snap = s.db.NewSnapshot()
		}
		var (
			conv store.ConvID
			seq  uint64
		)
		found, err := getFrom(snap, msgIDKey(id), func(v []byte) error {
			var err error
			conv, seq, err = decodeMsgRef(v)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("pebblestore: get messages: %w", err)
		}
		if !found {
			continue
		}
		if _, err := getFrom(snap, messageKey(conv, seq), func(v []byte) error {
			var err error
			out[i], err = decodeMessage(conv, seq, v)
			return err
		}); err != nil {
			return nil, fmt.Errorf("pebblestore: get messages: %w", err)
		}
	}
	return out, nil
}

// History implements store.Messages. A limit below 1 returns nothing.
func (s *Store) History(ctx context.Context, conv store.ConvID, beforeSeq, minSeq uint64, limit int) ([]store.Message, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 || (beforeSeq != 0 && beforeSeq <= minSeq) {
		return nil, nil
	}
	prefix := messagePrefix(conv)
	upper := prefixEnd(prefix)
	if beforeSeq != 0 {
		upper = messageKey(conv, beforeSeq)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: messageKey(conv, minSeq), UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: history of %s: %w", conv, err)
	}
	var out []store.Message
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		m, err := decodeMessage(conv, seqFromMessageKey(it.Key()), it.Value())
		if err != nil {
			_ = it.Close()
			return nil, err
		}
		out = append(out, m)
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("pebblestore: history of %s: %w", conv, err)
	}
	return out, nil
}

// MessageAt implements store.Messages.
func (s *Store) MessageAt(ctx context.Context, conv store.ConvID, seq uint64) (store.Message, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Message{}, err
	}
	defer s.mu.RUnlock()
	return s.getMessage(conv, seq)
}

// LastSeq implements store.Messages.
func (s *Store) LastSeq(ctx context.Context, conv store.ConvID) (uint64, error) {
	if err := s.acquire(ctx); err != nil {
		return 0, err
	}
	defer s.mu.RUnlock()
	// Use the cached value when there is one, but do not create state for
	// every conversation someone merely asks about.
	if cs := s.peekConv(conv); cs != nil {
		cs.mu.Lock()
		last, loaded := cs.lastSeq, cs.loaded
		cs.mu.Unlock()
		if loaded {
			return last, nil
		}
	}
	return s.readLastSeq(conv)
}

// Find implements store.Finder with a call per record: in this process a
// call costs no round trip, so there is nothing to combine.
func (s *Store) Find(ctx context.Context, q store.Lookup) (store.Found, error) {
	return store.FindEach(ctx, s, q)
}
