package migrate

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
)

// WebhookCounts is what CopyWebhooks copied.
type WebhookCounts struct {
	Endpoints, Deliveries, Timers, Tracks int
}

// CopyWebhooks copies the webhook state of src into dst through
// store.Webhooks: every endpoint (secrets included), every delivery not
// yet delivered (pending ones and dead ones, which wait for a replay),
// every timer and every track. Leases are dropped: src is stopped, so no
// node holds one. Delivered rows are history, not work, and stay behind.
// Each write is idempotent except CreateWebhook, so dst must hold no
// endpoint yet (store.ErrExists otherwise).
func CopyWebhooks(ctx context.Context, src *pebblestore.Store, dst store.Webhooks) (WebhookCounts, error) {
	var n WebhookCounts
	hooks, err := src.ListWebhooks(ctx)
	if err != nil {
		return n, fmt.Errorf("migrate: webhooks: %w", err)
	}
	for _, w := range hooks {
		if err := dst.CreateWebhook(ctx, w); err != nil {
			return n, fmt.Errorf("migrate: webhook %q: %w", w.ID, err)
		}
		n.Endpoints++
		c, err := copyDeliveries(ctx, src, dst, w.ID)
		n.Deliveries += c
		if err != nil {
			return n, fmt.Errorf("migrate: deliveries of webhook %q: %w", w.ID, err)
		}
	}
	timers := make([]store.Timer, 0, batch)
	flush := func() error {
		err := dst.AddTimers(ctx, timers)
		n.Timers += len(timers)
		timers = timers[:0]
		return err
	}
	err = src.Timers(ctx, func(t store.Timer) error {
		t.LeaseUntil = 0
		timers = append(timers, t)
		if len(timers) < batch {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return n, fmt.Errorf("migrate: webhook timers: %w", err)
	}
	for conv, seq := store.ConvID(""), uint64(0); ; {
		ts, err := src.ListTracks(ctx, conv, seq, batch)
		if err != nil {
			return n, fmt.Errorf("migrate: webhook tracks: %w", err)
		}
		for _, t := range ts {
			if err := dst.AddTrack(ctx, t); err != nil {
				return n, fmt.Errorf("migrate: webhook track %s/%d: %w", t.Conv, t.Seq, err)
			}
		}
		n.Tracks += len(ts)
		if len(ts) < batch {
			break
		}
		conv, seq = ts[len(ts)-1].Conv, ts[len(ts)-1].Seq
	}
	return n, nil
}

// copyDeliveries copies endpoint's deliveries that are not delivered.
func copyDeliveries(ctx context.Context, src *pebblestore.Store, dst store.Webhooks, endpoint string) (int, error) {
	copied := 0
	for after := ""; ; {
		ds, err := src.ListDeliveries(ctx, endpoint, "", after, batch)
		if err != nil {
			return copied, err
		}
		work := undelivered(ds)
		if err := dst.Enqueue(ctx, work); err != nil {
			return copied, err
		}
		copied += len(work)
		if len(ds) < batch {
			return copied, nil
		}
		after = ds[len(ds)-1].EventID
	}
}

// undelivered returns the deliveries of ds that are not delivered, with
// their leases dropped.
func undelivered(ds []store.Delivery) []store.Delivery {
	var out []store.Delivery
	for _, d := range ds {
		if d.State == store.DeliveryDelivered {
			continue
		}
		d.LeaseUntil = 0
		out = append(out, d)
	}
	return out
}

// VerifyWebhooks reads back from dst what CopyWebhooks wrote and compares
// it with src: the endpoints, each endpoint's undelivered deliveries and
// the tracks. Timers cannot be read back without claiming them; their
// count is CopyWebhooks'.
func VerifyWebhooks(ctx context.Context, src *pebblestore.Store, dst store.Webhooks) error {
	a, err := src.ListWebhooks(ctx)
	if err != nil {
		return err
	}
	b, err := dst.ListWebhooks(ctx)
	if err != nil {
		return err
	}
	if diff := cmp.Diff(a, b, cmpopts.EquateEmpty()); diff != "" {
		return fmt.Errorf("webhooks differ (-data directory +database):\n%s", diff)
	}
	for _, w := range a {
		want, err := listAll(ctx, src, w.ID)
		if err != nil {
			return err
		}
		got, err := listAll(ctx, dst, w.ID)
		if err != nil {
			return err
		}
		// Leases are not state to copy (CopyWebhooks drops them).
		noLease := cmpopts.IgnoreFields(store.Delivery{}, "LeaseUntil")
		if diff := cmp.Diff(undelivered(want), got, cmpopts.EquateEmpty(), noLease); diff != "" {
			return fmt.Errorf("deliveries of webhook %q differ (-data directory +database):\n%s", w.ID, diff)
		}
	}
	ta, err := src.ListTracks(ctx, "", 0, 1<<30)
	if err != nil {
		return err
	}
	tb, err := dst.ListTracks(ctx, "", 0, 1<<30)
	if err != nil {
		return err
	}
	if diff := cmp.Diff(ta, tb, cmpopts.EquateEmpty()); diff != "" {
		return fmt.Errorf("webhook tracks differ (-data directory +database):\n%s", diff)
	}
	return nil
}

// listAll lists every delivery of endpoint, page by page.
func listAll(ctx context.Context, w store.Webhooks, endpoint string) ([]store.Delivery, error) {
	var out []store.Delivery
	for after := ""; ; {
		ds, err := w.ListDeliveries(ctx, endpoint, "", after, batch)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
		if len(ds) < batch {
			return slices.Clip(out), nil
		}
		after = ds[len(ds)-1].EventID
	}
}
