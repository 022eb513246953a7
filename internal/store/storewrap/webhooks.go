package storewrap

import (
	"context"

	"github.com/seen-im/seen/internal/store"
)

var _ store.Webhooks = (*Store)(nil)

// hookCall runs one Webhooks call through the hook.
func (s *Store) hookCall(ctx context.Context, op string, call func(h store.Webhooks) error) error {
	c, err := s.hook.Before(ctx, op)
	if err == nil {
		err = call(s.next)
	}
	return s.hook.After(c, err)
}

// CreateWebhook implements store.Webhooks.
func (s *Store) CreateWebhook(ctx context.Context, w store.Webhook) error {
	return s.hookCall(ctx, "create_webhook", func(h store.Webhooks) error { return h.CreateWebhook(ctx, w) })
}

// ListWebhooks implements store.Webhooks.
func (s *Store) ListWebhooks(ctx context.Context) (ws []store.Webhook, err error) {
	err = s.hookCall(ctx, "list_webhooks", func(h store.Webhooks) error {
		ws, err = h.ListWebhooks(ctx)
		return err
	})
	return
}

// DeleteWebhook implements store.Webhooks.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	return s.hookCall(ctx, "delete_webhook", func(h store.Webhooks) error { return h.DeleteWebhook(ctx, id) })
}

// Enqueue implements store.Webhooks.
func (s *Store) Enqueue(ctx context.Context, ds []store.Delivery) error {
	return s.hookCall(ctx, "enqueue", func(h store.Webhooks) error { return h.Enqueue(ctx, ds) })
}

// ClaimDeliveries implements store.Webhooks.
func (s *Store) ClaimDeliveries(ctx context.Context, now, leaseUntil int64, limit int) (ds []store.Delivery, err error) {
	err = s.hookCall(ctx, "claim_deliveries", func(h store.Webhooks) error {
		ds, err = h.ClaimDeliveries(ctx, now, leaseUntil, limit)
		return err
	})
	return
}

// FinishDelivery implements store.Webhooks.
func (s *Store) FinishDelivery(ctx context.Context, d store.Delivery) error {
	return s.hookCall(ctx, "finish_delivery", func(h store.Webhooks) error { return h.FinishDelivery(ctx, d) })
}

// ListDeliveries implements store.Webhooks.
func (s *Store) ListDeliveries(ctx context.Context, endpoint, state, after string, limit int) (ds []store.Delivery, err error) {
	err = s.hookCall(ctx, "list_deliveries", func(h store.Webhooks) error {
		ds, err = h.ListDeliveries(ctx, endpoint, state, after, limit)
		return err
	})
	return
}

// ReplayDelivery implements store.Webhooks.
func (s *Store) ReplayDelivery(ctx context.Context, endpoint, eventID string, now int64) (d store.Delivery, err error) {
	err = s.hookCall(ctx, "replay_delivery", func(h store.Webhooks) error {
		d, err = h.ReplayDelivery(ctx, endpoint, eventID, now)
		return err
	})
	return
}

// AddTimers implements store.Webhooks.
func (s *Store) AddTimers(ctx context.Context, ts []store.Timer) error {
	return s.hookCall(ctx, "add_timers", func(h store.Webhooks) error { return h.AddTimers(ctx, ts) })
}

// ClaimTimers implements store.Webhooks.
func (s *Store) ClaimTimers(ctx context.Context, now, leaseUntil int64, limit int) (ts []store.Timer, err error) {
	err = s.hookCall(ctx, "claim_timers", func(h store.Webhooks) error {
		ts, err = h.ClaimTimers(ctx, now, leaseUntil, limit)
		return err
	})
	return
}

// FireTimer implements store.Webhooks.
func (s *Store) FireTimer(ctx context.Context, t store.Timer, ds []store.Delivery) error {
	return s.hookCall(ctx, "fire_timer", func(h store.Webhooks) error { return h.FireTimer(ctx, t, ds) })
}

// AddTrack implements store.Webhooks.
func (s *Store) AddTrack(ctx context.Context, t store.HookTrack) error {
	return s.hookCall(ctx, "add_track", func(h store.Webhooks) error { return h.AddTrack(ctx, t) })
}

// ListTracks implements store.Webhooks.
func (s *Store) ListTracks(ctx context.Context, afterConv store.ConvID, afterSeq uint64, limit int) (ts []store.HookTrack, err error) {
	err = s.hookCall(ctx, "list_tracks", func(h store.Webhooks) error {
		ts, err = h.ListTracks(ctx, afterConv, afterSeq, limit)
		return err
	})
	return
}

// GetTracks implements store.Webhooks.
func (s *Store) GetTracks(ctx context.Context, conv store.ConvID, seqs []uint64) (ts []store.HookTrack, err error) {
	err = s.hookCall(ctx, "get_tracks", func(h store.Webhooks) error {
		ts, err = h.GetTracks(ctx, conv, seqs)
		return err
	})
	return
}

// CommitReport implements store.Webhooks.
func (s *Store) CommitReport(ctx context.Context, update []store.HookTrack, done []store.MsgRef, ds []store.Delivery) error {
	return s.hookCall(ctx, "commit_report", func(h store.Webhooks) error { return h.CommitReport(ctx, update, done, ds) })
}

// PruneDeliveries implements store.Webhooks.
func (s *Store) PruneDeliveries(ctx context.Context, before int64) (n int, err error) {
	err = s.hookCall(ctx, "prune_deliveries", func(h store.Webhooks) error {
		n, err = h.PruneDeliveries(ctx, before)
		return err
	})
	return
}
