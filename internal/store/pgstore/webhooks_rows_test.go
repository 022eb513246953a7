package pgstore

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/store"
)

// TestWebhookRows round-trips every kind of webhook row through the
// database: what each column keeps, and the rules the SQL itself applies
// (duplicates skipped, Fired only grows, counts only rise).
func TestWebhookRows(t *testing.T) {
	s := openAt(t, freshSchema(t))
	ctx := t.Context()

	w := store.Webhook{ID: "b", URL: "https://example.test/h", Secret: "whsec_c2VjcmV0", Events: []string{"receipt.read", "receipt.threshold"},
		Thresholds: []int{50, 90}, GroupTypes: []string{"team"}, AllMessages: true, CreatedAt: 7}
	if err := s.CreateWebhook(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateWebhook(ctx, store.Webhook{ID: "a", URL: "http://127.0.0.1:1/", Secret: "whsec_eA==", Events: []string{"message.sent"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateWebhook(ctx, w); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateWebhook of a taken id = %v, want ErrExists", err)
	}
	ws, err := s.ListWebhooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Webhook{{ID: "a", URL: "http://127.0.0.1:1/", Secret: "whsec_eA==", Events: []string{"message.sent"}}, w}
	if diff := cmp.Diff(want, ws); diff != "" {
		t.Errorf("ListWebhooks (-want +got):\n%s", diff)
	}

	// The payload is kept byte for byte (it is signed as is).
	raw := json.RawMessage(`{"type":"receipt.read",  "data":{"b":1,"a":2}}`)
	d1 := store.Delivery{Endpoint: "b", EventID: "e1", Type: "receipt.read", Payload: raw, State: store.DeliveryPending, NextAt: 5, CreatedAt: 4, UpdatedAt: 4}
	d2 := d1
	d2.EventID, d2.NextAt = "e2", 3
	dup := d1
	dup.Payload = json.RawMessage(`{}`)
	if err := s.Enqueue(ctx, []store.Delivery{d1, d2, dup, {Endpoint: "gone", EventID: "x", NextAt: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, []store.Delivery{dup}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimDeliveries(ctx, 5, 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := d1, d2
	c1.LeaseUntil, c2.LeaseUntil = 100, 100
	if diff := cmp.Diff([]store.Delivery{c2, c1}, got); diff != "" {
		t.Errorf("claimed, oldest first, first enqueue kept (-want +got):\n%s", diff)
	}

	// A failed attempt: pending again later, lease released.
	f := c1
	f.Attempts, f.NextAt, f.LastError, f.UpdatedAt = 1, 50, "HTTP 500", 6
	if err := s.FinishDelivery(ctx, f); err != nil {
		t.Fatal(err)
	}
	dead := c2
	dead.State, dead.Attempts, dead.LastError, dead.UpdatedAt = store.DeliveryDead, 9, "HTTP 404", 6
	if err := s.FinishDelivery(ctx, dead); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishDelivery(ctx, store.Delivery{Endpoint: "b", EventID: "nope"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishDelivery of an unknown delivery = %v, want ErrNotFound", err)
	}
	f.LeaseUntil, dead.LeaseUntil = 0, 0
	if ds, err := s.ListDeliveries(ctx, "b", "", "", 10); err != nil || !cmp.Equal([]store.Delivery{f, dead}, ds) {
		t.Errorf("ListDeliveries any = %+v, %v", ds, err)
	}
	if ds, err := s.ListDeliveries(ctx, "b", store.DeliveryDead, "", 10); err != nil || !cmp.Equal([]store.Delivery{dead}, ds) {
		t.Errorf("ListDeliveries dead = %+v, %v", ds, err)
	}
	if ds, err := s.ListDeliveries(ctx, "b", "", "e1", 10); err != nil || !cmp.Equal([]store.Delivery{dead}, ds) {
		t.Errorf("ListDeliveries after e1 = %+v, %v", ds, err)
	}
	r, err := s.ReplayDelivery(ctx, "b", "e2", 60)
	if err != nil {
		t.Fatal(err)
	}
	replayed := dead
	replayed.State, replayed.Attempts, replayed.NextAt, replayed.UpdatedAt = store.DeliveryPending, 0, 60, 60
	if diff := cmp.Diff(replayed, r); diff != "" {
		t.Errorf("ReplayDelivery (-want +got):\n%s", diff)
	}
	if _, err := s.ReplayDelivery(ctx, "b", "nope", 60); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReplayDelivery of an unknown delivery = %v, want ErrNotFound", err)
	}
	if got, err := s.ClaimDeliveries(ctx, 60, 70, 10); err != nil || len(got) != 2 {
		t.Errorf("claim at 60: %+v, %v; want e1 (retry due) and e2 (replayed)", got, err)
	}

	// Deleting an endpoint deletes its deliveries.
	if err := s.DeleteWebhook(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWebhook(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteWebhook twice = %v, want ErrNotFound", err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries`).Scan(&n); err != nil || n != 0 {
		t.Errorf("deliveries left after DeleteWebhook: %d, %v", n, err)
	}
}

// TestCommitReport: Fired is the union in firing order, counts only
// rise, done tracks go, gone tracks are skipped, and the deliveries are
// enqueued with it.
func TestCommitReport(t *testing.T) {
	s := openAt(t, freshSchema(t))
	ctx := t.Context()
	mustCreateWebhook(t, s, "e")
	g := store.GroupConv("g")
	for _, tr := range []store.HookTrack{
		{Conv: g, Seq: 1, MsgID: "m1", Reported: 5, ReportedAt: 50, Fired: []string{"first"}},
		{Conv: g, Seq: 2, MsgID: "m2"},
		{Conv: g, Seq: 3, MsgID: "m3"},
	} {
		if err := s.AddTrack(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	// Started again: kept as it is.
	if err := s.AddTrack(ctx, store.HookTrack{Conv: g, Seq: 1, MsgID: "m1", Reported: 1}); err != nil {
		t.Fatal(err)
	}
	err := s.CommitReport(ctx, []store.HookTrack{
		// Late: lower counts, a threshold fired already, a new one.
		{Conv: g, Seq: 1, MsgID: "m1", Reported: 3, ReportedAt: 60, Fired: []string{"90", "first", "50"}},
		{Conv: g, Seq: 1, MsgID: "m1", Reported: 4, ReportedAt: 40, Fired: []string{"50", "all"}},
		{Conv: g, Seq: 2, MsgID: "m2", Reported: 2, ReportedAt: 20, Fired: []string{"first"}},
		{Conv: g, Seq: 9, MsgID: "m9", Reported: 1, ReportedAt: 1},
	}, []store.MsgRef{{Conv: g, Seq: 3}, {Conv: g, Seq: 8}}, []store.Delivery{delivery("e", "r1", 1)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetTracks(ctx, g, []uint64{3, 2, 1, 9})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.HookTrack{
		{Conv: g, Seq: 1, MsgID: "m1", Reported: 5, ReportedAt: 60, Fired: []string{"first", "90", "50", "all"}},
		{Conv: g, Seq: 2, MsgID: "m2", Reported: 2, ReportedAt: 20, Fired: []string{"first"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tracks after the report (-want +got):\n%s", diff)
	}
	if ls, err := s.ListTracks(ctx, g, 1, 10); err != nil || len(ls) != 1 || ls[0].Seq != 2 {
		t.Errorf("ListTracks after g/1 = %+v, %v", ls, err)
	}
	if ds, err := s.ListDeliveries(ctx, "e", "", "", 10); err != nil || len(ds) != 1 {
		t.Errorf("deliveries of the report: %+v, %v", ds, err)
	}
}
