package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/protocol"
)

// adminHooksService is a Service on a real embedded store, its clock at
// *now (Unix ms) and its delivery-loop nudges counted in *notified.
func adminHooksService(t *testing.T, now *int64, notified *int) *Service {
	t.Helper()
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	b := local.New()
	s := New(Options{Store: st, Bus: b, Config: config.Default(),
		Now:           func() time.Time { return time.UnixMilli(*now) },
		WebhookNotify: func() { *notified++ }})
	t.Cleanup(func() { _ = s.Close(context.Background()); _ = b.Close(); _ = st.Close() })
	return s
}

// Deliveries are listed by state, "failed" being the pending ones that
// failed at least once, a page at a time; a replay makes a dead one
// pending again, due now, and wakes the delivery loop.
func TestWebhookDeliveriesListAndReplay(t *testing.T) {
	ctx := context.Background()
	now, notified := int64(1_700_000_000_000), 0
	s := adminHooksService(t, &now, &notified)
	hook, err := s.CreateWebhook(ctx, protocol.WebhookCreateParams{URL: "http://127.0.0.1:9/", Events: []string{HookMessageSent}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateWebhook(ctx, protocol.WebhookCreateParams{URL: "http://127.0.0.1:9/b", Events: []string{HookMessageSent}})
	if err != nil {
		t.Fatal(err)
	}
	// e00-e04 never tried, e05-e09 failed once, e10-e14 delivered,
	// e15-e19 dead; and one of another endpoint's, never listed here.
	var ds []store.Delivery
	for i := range 20 {
		d := store.Delivery{Endpoint: hook.ID, EventID: fmt.Sprintf("e%02d", i), Type: HookMessageSent,
			Payload: json.RawMessage(fmt.Sprintf(`{"type":"message.sent","n":%d}`, i)), State: store.DeliveryPending,
			NextAt: now, CreatedAt: now - 10, UpdatedAt: now}
		switch i / 5 {
		case 1:
			d.Attempts, d.LastError = 1, "500 Internal Server Error"
		case 2:
			d.State, d.Attempts = store.DeliveryDelivered, 1
		case 3:
			d.State, d.Attempts, d.LastError = store.DeliveryDead, 8, "connection refused"
		}
		ds = append(ds, d)
	}
	ds = append(ds, store.Delivery{Endpoint: other.ID, EventID: "e07", Type: HookMessageSent, Payload: json.RawMessage(`{}`), State: store.DeliveryPending, Attempts: 3, NextAt: now})
	// Enqueue stores new deliveries pending; the states above are set as a
	// delivery loop would, by finishing each attempt.
	if err := s.store.Enqueue(ctx, ds); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.State != store.DeliveryPending || d.Attempts > 0 {
			if err := s.store.FinishDelivery(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}

	ids := func(state string, limit int) (pages [][]string) {
		t.Helper()
		cursor := ""
		for {
			res, err := s.WebhookDeliveries(ctx, hook.ID, state, cursor, limit)
			if err != nil {
				t.Fatalf("deliveries %q: %v", state, err)
			}
			var page []string
			for _, d := range res.Deliveries {
				page = append(page, d.EventID)
			}
			pages = append(pages, page)
			if res.NextCursor == "" {
				return pages
			}
			cursor = res.NextCursor
		}
	}
	for _, tc := range []struct {
		state string
		limit int
		want  string
	}{
		{"", 0, "[[e00 e01 e02 e03 e04 e05 e06 e07 e08 e09 e10 e11 e12 e13 e14 e15 e16 e17 e18 e19]]"},
		{"", 8, "[[e00 e01 e02 e03 e04 e05 e06 e07] [e08 e09 e10 e11 e12 e13 e14 e15] [e16 e17 e18 e19]]"},
		{"", 10, "[[e00 e01 e02 e03 e04 e05 e06 e07 e08 e09] [e10 e11 e12 e13 e14 e15 e16 e17 e18 e19]]"},
		{protocol.DeliveryPending, 0, "[[e00 e01 e02 e03 e04 e05 e06 e07 e08 e09]]"},
		{protocol.DeliveryFailed, 0, "[[e05 e06 e07 e08 e09]]"},
		{protocol.DeliveryFailed, 2, "[[e05 e06] [e07 e08] [e09]]"},
		{protocol.DeliveryDelivered, 5, "[[e10 e11 e12 e13 e14]]"},
		{protocol.DeliveryDead, 0, "[[e15 e16 e17 e18 e19]]"},
	} {
		if got := fmt.Sprint(ids(tc.state, tc.limit)); got != tc.want {
			t.Errorf("state %q limit %d: pages %s, want %s", tc.state, tc.limit, got, tc.want)
		}
	}

	res, err := s.WebhookDeliveries(ctx, hook.ID, protocol.DeliveryDead, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	d := res.Deliveries[0]
	if d.EventID != "e15" || d.Type != HookMessageSent || d.State != store.DeliveryDead || d.Attempts != 8 ||
		d.LastError != "connection refused" || string(d.Payload) != `{"type":"message.sent","n":15}` || d.CreatedAt != now-10 {
		t.Fatalf("dead delivery = %+v", d)
	}

	now += 60_000
	r, err := s.ReplayWebhookDelivery(ctx, hook.ID, "e15")
	if err != nil {
		t.Fatal(err)
	}
	if r.EventID != "e15" || r.State != store.DeliveryPending || r.Attempts != 0 || r.NextAt != now || string(r.Payload) != `{"type":"message.sent","n":15}` {
		t.Fatalf("replayed = %+v, want e15 pending, 0 attempts, due now", r)
	}
	if notified != 1 {
		t.Fatalf("the delivery loop was woken %d times by a replay, want 1", notified)
	}
	if got := fmt.Sprint(ids(protocol.DeliveryDead, 0)); got != "[[e16 e17 e18 e19]]" {
		t.Errorf("dead after replay: %s", got)
	}
	claimed, err := s.store.ClaimDeliveries(ctx, now, now+1000, 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range claimed {
		found = found || (c.Endpoint == hook.ID && c.EventID == "e15")
	}
	if !found {
		t.Fatalf("the replayed delivery is not due: claimed %v", claimed)
	}

	var pe *protocol.Error
	for _, call := range []struct {
		name string
		err  error
	}{
		{"replay unknown event", func() error { _, err := s.ReplayWebhookDelivery(ctx, hook.ID, "nope"); return err }()},
		{"replay unknown endpoint", func() error { _, err := s.ReplayWebhookDelivery(ctx, "wh_nope", "e16"); return err }()},
		{"list unknown endpoint", func() error { _, err := s.WebhookDeliveries(ctx, "wh_nope", "", "", 0); return err }()},
	} {
		if !errors.As(call.err, &pe) || pe.Code != protocol.CodeNotFound {
			t.Errorf("%s: %v, want 404", call.name, call.err)
		}
	}

	// Deleting the endpoint takes its deliveries with it.
	if err := s.DeleteWebhook(ctx, hook.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReplayWebhookDelivery(ctx, hook.ID, "e16"); !errors.As(err, &pe) || pe.Code != protocol.CodeNotFound {
		t.Fatalf("replay after delete: %v, want 404", err)
	}
}

// Failed deliveries behind a backlog never tried are reached page by
// page, each request reading a bounded part of the outbox: a short (even
// empty) page still has a cursor, and the last has none.
func TestWebhookFailedDeliveriesBehindABacklog(t *testing.T) {
	ctx := context.Background()
	now, notified := int64(1_700_000_000_000), 0
	s := adminHooksService(t, &now, &notified)
	hook, err := s.CreateWebhook(ctx, protocol.WebhookCreateParams{URL: "http://127.0.0.1:9/", Events: []string{HookMessageSent}})
	if err != nil {
		t.Fatal(err)
	}
	backlog := deliveryScanMax + deliveryScanMax/2
	var ds []store.Delivery
	for i := range backlog + 2 {
		ds = append(ds, store.Delivery{Endpoint: hook.ID, EventID: fmt.Sprintf("e%05d", i), Type: HookMessageSent,
			Payload: json.RawMessage(`{}`), State: store.DeliveryPending, NextAt: now, CreatedAt: now, UpdatedAt: now})
	}
	if err := s.store.Enqueue(ctx, ds); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds[backlog:] {
		d.Attempts, d.LastError = 1, "500"
		if err := s.store.FinishDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	var pages []int
	var got []string
	cursor := ""
	for range 10 {
		res, err := s.WebhookDeliveries(ctx, hook.ID, protocol.DeliveryFailed, cursor, 20)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(res.Deliveries))
		for _, d := range res.Deliveries {
			got = append(got, d.EventID)
		}
		if cursor = res.NextCursor; cursor == "" {
			break
		}
	}
	want := []string{fmt.Sprintf("e%05d", backlog), fmt.Sprintf("e%05d", backlog+1)}
	if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(pages) != "[0 2]" {
		t.Fatalf("failed pages of sizes %v holding %v; want [0 2] holding %v", pages, got, want)
	}
}
