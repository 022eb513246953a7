package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"

	"github.com/seen-im/seen/internal/store"
)

var _ store.Webhooks = (*Store)(nil)

// hookState serializes the webhook tables' read-modify-writes.
//
// # Concurrency
//
// Pebble has no conditional write and no row lock: a claim must read which
// rows are free and write their leases as one step, and an idempotent
// enqueue must check and write as one step. One process owns the directory
// (pebble locks it), so a mutex in the Store makes each such step atomic
// for every caller there can be; claims and finishes are short (a few
// point reads and one batch apply, never an fsync: the sync is waited for
// after mu is released, sharing the group commit), so one mutex for all
// webhook rows is not a bottleneck next to the WAL sync each write waits
// for anyway.
//
// Lock order: a conversation's convState.mu, then mu (Append with Hooks
// and DeleteGroup write webhook rows in the conversation's batch). Nothing
// takes a conversation mutex while holding mu.
type hookState struct {
	mu sync.Mutex
	// unsynced counts batches with webhook rows applied but whose sync
	// has not been waited for: a call that writes nothing but reports
	// what such a batch wrote (an enqueue skipped as a duplicate) syncs
	// first, as syncIfPending does for conversations.
	unsynced atomic.Int32
}

// hookWrite runs fn under s.hooks.mu to fill a batch, applies it and waits
// for its sync outside the mutex. An empty batch writes nothing but still
// makes what fn read durable.
func (s *Store) hookWrite(what string, fn func(b *pebble.Batch) error) error {
	b := s.db.NewBatch()
	s.hooks.mu.Lock()
	if err := fn(b); err != nil {
		s.hooks.mu.Unlock()
		_ = b.Close()
		return fmt.Errorf("pebblestore: %s: %w", what, err)
	}
	if b.Empty() {
		s.hooks.mu.Unlock()
		_ = b.Close()
		return s.syncHooksIfPending()
	}
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		s.hooks.mu.Unlock()
		_ = b.Close()
		return fmt.Errorf("pebblestore: %s: apply: %w", what, err)
	}
	s.hooks.unsynced.Add(1)
	s.hooks.mu.Unlock()
	err := b.SyncWait()
	s.hooks.unsynced.Add(-1)
	if err != nil {
		return s.fail(err)
	}
	_ = b.Close()
	return nil
}

// syncHooksIfPending makes every applied webhook write durable; no fsync
// when none is waiting for one.
func (s *Store) syncHooksIfPending() error {
	if s.hooks.unsynced.Load() == 0 {
		return nil
	}
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return s.fail(err)
	}
	return nil
}

// CreateWebhook implements store.Webhooks.
func (s *Store) CreateWebhook(ctx context.Context, w store.Webhook) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	if w.ID == "" {
		return errors.New("pebblestore: create webhook: id is required")
	}
	v, err := encodeWebhook(w)
	if err != nil {
		return err
	}
	return s.hookWrite("create webhook "+w.ID, func(b *pebble.Batch) error {
		found, err := s.getWith(webhookKey(w.ID), nil)
		if err != nil {
			return err
		}
		if found {
			return store.ErrExists
		}
		return b.Set(webhookKey(w.ID), v, nil)
	})
}

// ListWebhooks implements store.Webhooks.
func (s *Store) ListWebhooks(ctx context.Context) ([]store.Webhook, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	var out []store.Webhook
	err := s.scanRange([]byte{prefixWebhook}, nil, func(k, v []byte) (bool, error) {
		w, err := decodeWebhook(v)
		if err != nil {
			return false, err
		}
		out = append(out, w)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: list webhooks: %w", err)
	}
	return out, nil
}

// DeleteWebhook implements store.Webhooks.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.hookWrite("delete webhook "+id, func(b *pebble.Batch) error {
		found, err := s.getWith(webhookKey(id), nil)
		if err != nil {
			return err
		}
		if !found {
			return store.ErrNotFound
		}
		_ = b.Delete(webhookKey(id), nil)
		// The pending rows' index keys are elsewhere; the rows themselves
		// go with one range deletion.
		prefix := deliveryPrefix(id)
		err = s.scanRange(prefix, nil, func(k, v []byte) (bool, error) {
			d, err := decodeDelivery(id, string(k[len(prefix):]), v)
			if err != nil {
				return false, err
			}
			if d.State == store.DeliveryPending {
				_ = b.Delete(deliveryDueKey(d.NextAt, d.Endpoint, d.EventID), nil)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		return b.DeleteRange(prefix, prefixEnd(prefix), nil)
	})
}

// Enqueue implements store.Webhooks.
func (s *Store) Enqueue(ctx context.Context, ds []store.Delivery) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return s.hookWrite("enqueue", func(b *pebble.Batch) error {
		return s.enqueueLocked(b, ds)
	})
}

// enqueueLocked adds to b the deliveries of ds not stored yet: not in the
// database, not earlier in ds. A delivery for an endpoint that does not
// exist (deleted while its event was being made) is skipped, so nothing
// is left that no DeleteWebhook will remove. s.hooks.mu is held.
func (s *Store) enqueueLocked(b *pebble.Batch, ds []store.Delivery) error {
	endpoints := make(map[string]bool)
	seen := make(map[[2]string]bool, len(ds))
	for _, d := range ds {
		if d.Endpoint == "" || d.EventID == "" {
			return errors.New("delivery endpoint and event id are required")
		}
		exists, ok := endpoints[d.Endpoint]
		if !ok {
			var err error
			if exists, err = s.getWith(webhookKey(d.Endpoint), nil); err != nil {
				return err
			}
			endpoints[d.Endpoint] = exists
		}
		id := [2]string{d.Endpoint, d.EventID}
		if !exists || seen[id] {
			continue
		}
		seen[id] = true
		key := deliveryKey(d.Endpoint, d.EventID)
		found, err := s.getWith(key, nil)
		if err != nil {
			return err
		}
		if found {
			continue
		}
		if d.State == "" {
			d.State = store.DeliveryPending
		}
		_ = b.Set(key, encodeDelivery(d), nil)
		if d.State == store.DeliveryPending {
			_ = b.Set(deliveryDueKey(d.NextAt, d.Endpoint, d.EventID), nil, nil)
		}
	}
	return nil
}

// ClaimDeliveries implements store.Webhooks. It scans the due index from
// the oldest NextAt up to now, skipping rows whose lease is held; those
// are at most the deliveries in flight.
func (s *Store) ClaimDeliveries(ctx context.Context, now, leaseUntil int64, limit int) ([]store.Delivery, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Delivery
	err := s.hookWrite("claim deliveries", func(b *pebble.Batch) error {
		upper := prefixEnd(appendTime([]byte{prefixDeliveryDue}, now))
		return s.scanRange([]byte{prefixDeliveryDue}, upper, func(k, _ []byte) (bool, error) {
			rk := rowKeyOfDue(prefixDelivery, k)
			endpoint, eventID, err := splitDeliveryKey(rk)
			if err != nil {
				return false, err
			}
			d, found, err := s.getDelivery(endpoint, eventID)
			if err != nil {
				return false, err
			}
			if !found || d.State != store.DeliveryPending || d.LeaseUntil > now {
				return true, nil
			}
			d.LeaseUntil = leaseUntil
			_ = b.Set(rk, encodeDelivery(d), nil)
			out = append(out, d)
			return len(out) < limit, nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// getDelivery reads one delivery; found is false if there is none.
func (s *Store) getDelivery(endpoint, eventID string) (d store.Delivery, found bool, err error) {
	found, err = s.getWith(deliveryKey(endpoint, eventID), func(v []byte) error {
		d, err = decodeDelivery(endpoint, eventID, v)
		return err
	})
	return d, found, err
}

// putDeliveryLocked writes d over old (found: whether old exists),
// keeping the due index in step. s.hooks.mu is held.
func putDeliveryLocked(b *pebble.Batch, old store.Delivery, found bool, d store.Delivery) {
	if found && old.State == store.DeliveryPending {
		_ = b.Delete(deliveryDueKey(old.NextAt, old.Endpoint, old.EventID), nil)
	}
	_ = b.Set(deliveryKey(d.Endpoint, d.EventID), encodeDelivery(d), nil)
	if d.State == store.DeliveryPending {
		_ = b.Set(deliveryDueKey(d.NextAt, d.Endpoint, d.EventID), nil, nil)
	}
}

// FinishDelivery implements store.Webhooks.
func (s *Store) FinishDelivery(ctx context.Context, d store.Delivery) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	switch d.State {
	case store.DeliveryPending, store.DeliveryDelivered, store.DeliveryDead:
	default:
		return fmt.Errorf("pebblestore: finish delivery %s/%s: state %q unknown", d.Endpoint, d.EventID, d.State)
	}
	return s.hookWrite("finish delivery "+d.Endpoint+"/"+d.EventID, func(b *pebble.Batch) error {
		old, found, err := s.getDelivery(d.Endpoint, d.EventID)
		if err != nil {
			return err
		}
		if !found {
			return store.ErrNotFound
		}
		nd := old
		nd.State, nd.Attempts, nd.NextAt, nd.LastError, nd.UpdatedAt = d.State, d.Attempts, d.NextAt, d.LastError, d.UpdatedAt
		nd.LeaseUntil = 0
		putDeliveryLocked(b, old, true, nd)
		return nil
	})
}

// ListDeliveries implements store.Webhooks.
func (s *Store) ListDeliveries(ctx context.Context, endpoint, state, after string, limit int) ([]store.Delivery, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	if limit <= 0 {
		return nil, nil
	}
	prefix := deliveryPrefix(endpoint)
	lower := prefix
	if after != "" {
		lower = afterKey(prefix, after)
	}
	var out []store.Delivery
	err := s.scanRange(lower, prefixEnd(prefix), func(k, v []byte) (bool, error) {
		d, err := decodeDelivery(endpoint, string(k[len(prefix):]), v)
		if err != nil {
			return false, err
		}
		if state == "" || d.State == state {
			out = append(out, d)
		}
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pebblestore: list deliveries of %q: %w", endpoint, err)
	}
	return out, nil
}

// ReplayDelivery implements store.Webhooks. A lease still held is kept: a
// node may be calling the endpoint with it right now.
func (s *Store) ReplayDelivery(ctx context.Context, endpoint, eventID string, now int64) (store.Delivery, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Delivery{}, err
	}
	defer s.mu.RUnlock()
	var nd store.Delivery
	err := s.hookWrite("replay delivery "+endpoint+"/"+eventID, func(b *pebble.Batch) error {
		old, found, err := s.getDelivery(endpoint, eventID)
		if err != nil {
			return err
		}
		if !found {
			return store.ErrNotFound
		}
		nd = old
		nd.State, nd.NextAt, nd.Attempts, nd.UpdatedAt = store.DeliveryPending, now, 0, now
		putDeliveryLocked(b, old, true, nd)
		return nil
	})
	if err != nil {
		return store.Delivery{}, err
	}
	return nd, nil
}

// scanRange calls fn for every key in [lower, upper) (upper nil: every key
// with lower's first byte) until fn returns false. k and v are valid only
// during the call.
func (s *Store) scanRange(lower, upper []byte, fn func(k, v []byte) (bool, error)) error {
	if upper == nil {
		upper = []byte{lower[0] + 1}
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		more, err := fn(it.Key(), it.Value())
		if err != nil {
			_ = it.Close()
			return err
		}
		if !more {
			break
		}
	}
	return errors.Join(it.Error(), it.Close())
}
