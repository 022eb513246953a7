package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/seen-im/seen/internal/store"
)

// AddTimers implements store.Webhooks.
func (s *Store) AddTimers(ctx context.Context, ts []store.Timer) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.hookWrite("add timers", func(b *pebble.Batch) error {
		return s.addTimersLocked(b, ts)
	})
}

// addTimersLocked adds to b the timers of ts not stored yet. s.hooks.mu
// is held.
func (s *Store) addTimersLocked(b *pebble.Batch, ts []store.Timer) error {
	seen := make(map[string]bool, len(ts))
	for _, t := range ts {
		if t.Kind == "" {
			return errors.New("timer kind is required")
		}
		key := timerKey(t.Conv, t.Seq, t.Kind)
		if seen[string(key)] {
			continue
		}
		seen[string(key)] = true
		found, err := s.getWith(key, nil)
		if err != nil {
			return err
		}
		if found {
			continue
		}
		_ = b.Set(key, encodeTimer(t), nil)
		_ = b.Set(timerDueKey(t), nil, nil)
	}
	return nil
}

// getTimer reads one timer; found is false if there is none.
func (s *Store) getTimer(conv store.ConvID, seq uint64, kind string) (t store.Timer, found bool, err error) {
	found, err = s.getWith(timerKey(conv, seq, kind), func(v []byte) error {
		t, err = decodeTimer(conv, seq, kind, v)
		return err
	})
	return t, found, err
}

// ClaimTimers implements store.Webhooks, as ClaimDeliveries does.
func (s *Store) ClaimTimers(ctx context.Context, now, leaseUntil int64, limit int) ([]store.Timer, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Timer
	err := s.hookWrite("claim timers", func(b *pebble.Batch) error {
		upper := prefixEnd(appendTime([]byte{prefixTimerDue}, now))
		return s.scanRange([]byte{prefixTimerDue}, upper, func(k, _ []byte) (bool, error) {
			rk := rowKeyOfDue(prefixTimer, k)
			conv, seq, kind, err := splitTimerKey(rk)
			if err != nil {
				return false, err
			}
			t, found, err := s.getTimer(conv, seq, kind)
			if err != nil {
				return false, err
			}
			if !found || t.LeaseUntil > now {
				return true, nil
			}
			t.LeaseUntil = leaseUntil
			_ = b.Set(rk, encodeTimer(t), nil)
			out = append(out, t)
			return len(out) < limit, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FireTimer implements store.Webhooks.
func (s *Store) FireTimer(ctx context.Context, t store.Timer, ds []store.Delivery) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.hookWrite(fmt.Sprintf("fire timer %s/%d/%s", t.Conv, t.Seq, t.Kind), func(b *pebble.Batch) error {
		stored, found, err := s.getTimer(t.Conv, t.Seq, t.Kind)
		if err != nil || !found {
			return err
		}
		_ = b.Delete(timerKey(t.Conv, t.Seq, t.Kind), nil)
		_ = b.Delete(timerDueKey(stored), nil)
		return s.enqueueLocked(b, ds)
	})
}

// AddTrack implements store.Webhooks.
func (s *Store) AddTrack(ctx context.Context, t store.HookTrack) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.hookWrite(fmt.Sprintf("add track %s/%d", t.Conv, t.Seq), func(b *pebble.Batch) error {
		return s.addTrackLocked(b, t)
	})
}

// addTrackLocked adds t to b unless its message has a track. s.hooks.mu
// is held.
func (s *Store) addTrackLocked(b *pebble.Batch, t store.HookTrack) error {
	key := trackKey(t.Conv, t.Seq)
	found, err := s.getWith(key, nil)
	if err != nil || found {
		return err
	}
	return b.Set(key, encodeTrack(t), nil)
}

// getTrack reads one track; found is false if there is none.
func (s *Store) getTrack(conv store.ConvID, seq uint64) (t store.HookTrack, found bool, err error) {
	found, err = s.getWith(trackKey(conv, seq), func(v []byte) error {
		t, err = decodeTrack(conv, seq, v)
		return err
	})
	return t, found, err
}

// ListTracks implements store.Webhooks.
func (s *Store) ListTracks(ctx context.Context, afterConv store.ConvID, afterSeq uint64, limit int) ([]store.HookTrack, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}
	// The key's successor: the first key after (afterConv, afterSeq).
	lower := append(trackKey(afterConv, afterSeq), 0)
	var out []store.HookTrack
	err := s.scanRange(lower, []byte{prefixTrack + 1}, func(k, v []byte) (bool, error) {
		conv, seq, err := splitTrackKey(k)
		if err != nil {
			return false, err
		}
		t, err := decodeTrack(conv, seq, v)
		if err != nil {
			return false, err
		}
		out = append(out, t)
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: list tracks: %w", err)
	}
	return out, nil
}

// GetTracks implements store.Webhooks.
func (s *Store) GetTracks(ctx context.Context, conv store.ConvID, seqs []uint64) ([]store.HookTrack, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	seqs = slices.Clone(seqs)
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	var out []store.HookTrack
	for _, seq := range seqs {
		t, found, err := s.getTrack(conv, seq)
		if err != nil {
			return nil, fmt.Errorf("pebblestore: get tracks of %s: %w", conv, err)
		}
		if found {
			out = append(out, t)
		}
	}
	return out, nil
}

// CommitReport implements store.Webhooks.
func (s *Store) CommitReport(ctx context.Context, update []store.HookTrack, done []store.MsgRef, ds []store.Delivery) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.hookWrite("commit report", func(b *pebble.Batch) error {
		// Later entries for one track merge with what earlier ones made.
		merged := make(map[string]store.HookTrack, len(update))
		for _, u := range update {
			key := trackKey(u.Conv, u.Seq)
			old, found := merged[string(key)]
			if !found {
				var err error
				if old, found, err = s.getTrack(u.Conv, u.Seq); err != nil {
					return err
				}
			}
			if !found {
				continue // done by another report, or its group deleted
			}
			merged[string(key)] = mergeTrack(old, u)
		}
		for key, t := range merged {
			_ = b.Set([]byte(key), encodeTrack(t), nil)
		}
		for _, r := range done {
			_ = b.Delete(trackKey(r.Conv, r.Seq), nil)
		}
		return s.enqueueLocked(b, ds)
	})
}

// mergeTrack is CommitReport's rule: u replaces old, but the thresholds
// fired only grow and the reported count and time only rise, so a report
// computed from an older state never undoes a newer one.
func mergeTrack(old, u store.HookTrack) store.HookTrack {
	t := u
	t.Conv, t.Seq = old.Conv, old.Seq
	if t.MsgID == "" {
		t.MsgID = old.MsgID
	}
	t.Reported = max(old.Reported, u.Reported)
	t.ReportedAt = max(old.ReportedAt, u.ReportedAt)
	t.Fired = slices.Clone(old.Fired)
	for _, f := range u.Fired {
		if !slices.Contains(t.Fired, f) {
			t.Fired = append(t.Fired, f)
		}
	}
	return t
}

// appendHooksLocked adds a new message's webhook rows to its batch: the
// timers and track get the message's place and id. Both cs.mu and
// s.hooks.mu are held.
func (s *Store) appendHooksLocked(b *pebble.Batch, m store.Message) error {
	h := m.Hooks
	if err := s.enqueueLocked(b, h.Deliveries); err != nil {
		return err
	}
	ts := make([]store.Timer, len(h.Timers))
	for i, t := range h.Timers {
		t.Conv, t.Seq = m.Conv, m.Seq
		ts[i] = t
	}
	if err := s.addTimersLocked(b, ts); err != nil {
		return err
	}
	if h.Track != nil {
		t := *h.Track
		t.Conv, t.Seq, t.MsgID = m.Conv, m.Seq, m.ID
		t.Fired = slices.Clone(t.Fired)
		return s.addTrackLocked(b, t)
	}
	return nil
}

// deleteConvHooksLocked adds to b the deletion of conv's timers (with
// their index keys) and tracks. Both cs.mu and s.hooks.mu are held.
func (s *Store) deleteConvHooksLocked(b *pebble.Batch, conv store.ConvID) error {
	prefix := convPrefix(prefixTimer, conv, 0)
	err := s.scanRange(prefix, prefixEnd(prefix), func(k, v []byte) (bool, error) {
		c, seq, kind, err := splitTimerKey(k)
		if err != nil {
			return false, err
		}
		t, err := decodeTimer(c, seq, kind, v)
		if err != nil {
			return false, err
		}
		_ = b.Delete(timerDueKey(t), nil)
		return true, nil
	})
	if err != nil {
		return err
	}
	_ = b.DeleteRange(prefix, prefixEnd(prefix), nil)
	tp := trackPrefix(conv)
	return b.DeleteRange(tp, prefixEnd(tp), nil)
}
