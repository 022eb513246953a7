package storewrap

import (
	"context"

	"github.com/seen-im/seen/internal/store"
)

// HookStore is a Store over a store that keeps webhooks: its webhook
// calls go through the hook too (timed, and open to injected faults).
type HookStore struct {
	*Store
	hooks store.Webhooks
}

var _ store.Webhooks = (*HookStore)(nil)

// CreateWebhook implements store.Webhooks.
func (s *HookStore) CreateWebhook(ctx context.Context, w store.Webhook) (err error) {
	err = s.around(ctx, "create_webhook", func() error {
		err = s.hooks.CreateWebhook(ctx, w)
		return err
	})
	return
}

// ListWebhooks implements store.Webhooks.
func (s *HookStore) ListWebhooks(ctx context.Context) (ws []store.Webhook, err error) {
	err = s.around(ctx, "list_webhooks", func() error {
		ws, err = s.hooks.ListWebhooks(ctx)
		return err
	})
	return
}

// DeleteWebhook implements store.Webhooks.
func (s *HookStore) DeleteWebhook(ctx context.Context, id string) (err error) {
	err = s.around(ctx, "delete_webhook", func() error {
		err = s.hooks.DeleteWebhook(ctx, id)
		return err
	})
	return
}

// Enqueue implements store.Webhooks.
func (s *HookStore) Enqueue(ctx context.Context, ds []store.Delivery) (err error) {
	err = s.around(ctx, "enqueue", func() error {
		err = s.hooks.Enqueue(ctx, ds)
		return err
	})
	return
}

// ClaimDeliveries implements store.Webhooks.
func (s *HookStore) ClaimDeliveries(ctx context.Context, now, leaseUntil int64, limit int) (ds []store.Delivery, err error) {
	err = s.around(ctx, "claim_deliveries", func() error {
		ds, err = s.hooks.ClaimDeliveries(ctx, now, leaseUntil, limit)
		return err
	})
	return
}

// FinishDelivery implements store.Webhooks.
func (s *HookStore) FinishDelivery(ctx context.Context, d store.Delivery) (err error) {
	err = s.around(ctx, "finish_delivery", func() error {
		err = s.hooks.FinishDelivery(ctx, d)
		return err
	})
	return
}

// ListDeliveries implements store.Webhooks.
func (s *HookStore) ListDeliveries(ctx context.Context, endpoint, state, after string, limit int) (ds []store.Delivery, err error) {
	err = s.around(ctx, "list_deliveries", func() error {
		ds, err = s.hooks.ListDeliveries(ctx, endpoint, state, after, limit)
		return err
	})
	return
}

// ReplayDelivery implements store.Webhooks.
func (s *HookStore) ReplayDelivery(ctx context.Context, endpoint, eventID string, now int64) (d store.Delivery, err error) {
	err = s.around(ctx, "replay_delivery", func() error {
		d, err = s.hooks.ReplayDelivery(ctx, endpoint, eventID, now)
		return err
	})
	return
}

// AddTimers implements store.Webhooks.
func (s *HookStore) AddTimers(ctx context.Context, ts []store.Timer) (err error) {
	err = s.around(ctx, "add_timers", func() error {
		err = s.hooks.AddTimers(ctx, ts)
		return err
	})
	return
}

// ClaimTimers implements store.Webhooks.
func (s *HookStore) ClaimTimers(ctx context.Context, now, leaseUntil int64, limit int) (ts []store.Timer, err error) {
	err = s.around(ctx, "claim_timers", func() error {
		ts, err = s.hooks.ClaimTimers(ctx, now, leaseUntil, limit)
		return err
	})
	return
}

// FireTimer implements store.Webhooks.
func (s *HookStore) FireTimer(ctx context.Context, t store.Timer, ds []store.Delivery) (err error) {
	err = s.around(ctx, "fire_timer", func() error {
		err = s.hooks.FireTimer(ctx, t, ds)
		return err
	})
	return
}

// AddTrack implements store.Webhooks.
func (s *HookStore) AddTrack(ctx context.Context, t store.HookTrack) (err error) {
	err = s.around(ctx, "add_track", func() error {
		err = s.hooks.AddTrack(ctx, t)
		return err
	})
	return
}

// ListTracks implements store.Webhooks.
func (s *HookStore) ListTracks(ctx context.Context, afterConv store.ConvID, afterSeq uint64, limit int) (ts []store.HookTrack, err error) {
	err = s.around(ctx, "list_tracks", func() error {
		ts, err = s.hooks.ListTracks(ctx, afterConv, afterSeq, limit)
		return err
	})
	return
}

// GetTracks implements store.Webhooks.
func (s *HookStore) GetTracks(ctx context.Context, conv store.ConvID, seqs []uint64) (ts []store.HookTrack, err error) {
	err = s.around(ctx, "get_tracks", func() error {
		ts, err = s.hooks.GetTracks(ctx, conv, seqs)
		return err
	})
	return
}

// CommitReport implements store.Webhooks.
func (s *HookStore) CommitReport(ctx context.Context, update []store.HookTrack, done []store.MsgRef, ds []store.Delivery) (err error) {
	err = s.around(ctx, "commit_report", func() error {
		err = s.hooks.CommitReport(ctx, update, done, ds)
		return err
	})
	return
}
