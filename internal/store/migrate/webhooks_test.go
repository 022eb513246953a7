package migrate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/migrate"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/internal/store/pgstore"
)

// buildHooks writes webhook state of every kind into st: two endpoints,
// deliveries pending (one leased), delivered and dead, timers (one
// leased) and tracks, more than one page of deliveries for one endpoint.
func buildHooks(t *testing.T, st *pebblestore.Store) {
	t.Helper()
	ctx := context.Background()
	for _, id := range []string{"wh-b", "wh-a"} {
		w := store.Webhook{ID: id, URL: "http://127.0.0.1:9/" + id, Secret: "whsec_" + id, Events: []string{"receipt.read"}, Thresholds: []int{50}, GroupTypes: []string{"chat"}, CreatedAt: 7}
		if err := st.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	var ds []store.Delivery
	for i := range 1203 { // more than one page of the copy
		ds = append(ds, store.Delivery{Endpoint: "wh-a", EventID: fmt.Sprintf("ev%04d", i), Type: "receipt.read",
			Payload: json.RawMessage(fmt.Sprintf(`{"type":"receipt.read","n":%d}`, i)), State: store.DeliveryPending,
			NextAt: int64(100 + i), CreatedAt: 50, UpdatedAt: 50})
	}
	ds = append(ds,
		store.Delivery{Endpoint: "wh-b", EventID: "delivered", Type: "message.sent", State: store.DeliveryDelivered, Attempts: 1, UpdatedAt: 60},
		store.Delivery{Endpoint: "wh-b", EventID: "dead", Type: "message.sent", State: store.DeliveryDead, Attempts: 9, LastError: "HTTP 500", UpdatedAt: 61},
	)
	if err := st.Enqueue(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if got, err := st.ClaimDeliveries(ctx, 100, 5000, 1); err != nil || len(got) != 1 {
		t.Fatalf("ClaimDeliveries = %v, %v", got, err)
	}
	if err := st.AddTimers(ctx, []store.Timer{
		{Conv: store.GroupConv("team"), Seq: 3, Kind: store.TimerUnreadAfter, DueAt: 900},
		{Conv: store.PeerConv("alice", "bob"), Seq: 1, Kind: store.TimerExpired, DueAt: 800},
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := st.ClaimTimers(ctx, 850, 5000, 1); err != nil || len(got) != 1 {
		t.Fatalf("ClaimTimers = %v, %v", got, err)
	}
	for _, tr := range []store.HookTrack{
		{Conv: store.GroupConv("team"), Seq: 3, MsgID: "m3", Reported: 2, ReportedAt: 70, Fired: []string{"first"}},
		{Conv: store.GroupConv("team"), Seq: 5, MsgID: "m5"},
	} {
		if err := st.AddTrack(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCopyWebhooks copies webhook state into another store through the
// interface and checks every kind arrived, leases dropped, delivered rows
// left behind.
func TestCopyWebhooks(t *testing.T) {
	ctx := context.Background()
	src := must(pebblestore.Open(t.TempDir(), pebblestore.Options{}))(t)
	t.Cleanup(func() { _ = src.Close() })
	dst := must(pebblestore.Open(t.TempDir(), pebblestore.Options{}))(t)
	t.Cleanup(func() { _ = dst.Close() })
	buildHooks(t, src)

	n, err := migrate.CopyWebhooks(ctx, src, dst)
	if err != nil {
		t.Fatalf("CopyWebhooks: %v", err)
	}
	if want := (migrate.WebhookCounts{Endpoints: 2, Deliveries: 1204, Timers: 2, Tracks: 2}); n != want {
		t.Errorf("CopyWebhooks counts = %+v, want %+v", n, want)
	}
	if err := migrate.VerifyWebhooks(ctx, src, dst); err != nil {
		t.Errorf("VerifyWebhooks: %v", err)
	}
	b, err := dst.ListDeliveries(ctx, "wh-b", "", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 1 || b[0].EventID != "dead" || b[0].Attempts != 9 || b[0].LastError != "HTTP 500" {
		t.Errorf("wh-b's deliveries in the copy = %+v; want the dead one only, as it was", b)
	}
	// The lease the source held is gone: everything due is claimable.
	if got, err := dst.ClaimDeliveries(ctx, 100, 200, 10); err != nil || len(got) != 1 || got[0].EventID != "ev0000" {
		t.Errorf("ClaimDeliveries(now 100) in the copy = %+v, %v; want ev0000, its lease dropped", got, err)
	}
	timers, err := dst.ClaimTimers(ctx, 1000, 2000, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Timer{
		{Conv: store.PeerConv("alice", "bob"), Seq: 1, Kind: store.TimerExpired, DueAt: 800, LeaseUntil: 2000},
		{Conv: store.GroupConv("team"), Seq: 3, Kind: store.TimerUnreadAfter, DueAt: 900, LeaseUntil: 2000},
	}
	if diff := cmp.Diff(want, timers, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("timers in the copy (-want +got):\n%s", diff)
	}
	// Verification sees a difference.
	if err := dst.AddTrack(ctx, store.HookTrack{Conv: store.GroupConv("x"), Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if err := migrate.VerifyWebhooks(ctx, src, dst); err == nil || !strings.Contains(err.Error(), "tracks differ") {
		t.Errorf("VerifyWebhooks after an extra track = %v; want tracks differ", err)
	}
}

// TestMigrateWebhooks runs the whole migration with webhook state: a
// database backend that keeps webhooks gets them copied and verified; one
// that cannot is refused before anything is written.
func TestMigrateWebhooks(t *testing.T) {
	ctx := context.Background()
	src := must(pebblestore.Open(t.TempDir(), pebblestore.Options{}))(t)
	t.Cleanup(func() { _ = src.Close() })
	buildWorld(t, src)
	buildHooks(t, src)
	dst := must(pgstore.Open(ctx, seentest.PostgresDB(t), pgstore.Options{}))(t)
	t.Cleanup(func() { _ = dst.Close() })

	sum, err := migrate.Run(ctx, src, dst)
	if _, ok := any(dst).(store.Webhooks); !ok {
		if err == nil || !strings.Contains(err.Error(), "cannot keep them") {
			t.Fatalf("Run into a backend without webhooks = %v; want a refusal", err)
		}
		c, cerr := dst.Counts(ctx)
		if cerr != nil || c != (pgstore.Counts{}) {
			t.Errorf("database after the refusal: %+v, %v; want empty", c, cerr)
		}
		return
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := (migrate.WebhookCounts{Endpoints: 2, Deliveries: 1204, Timers: 2, Tracks: 2}); sum.Webhooks != want {
		t.Errorf("Run copied webhooks %+v, want %+v", sum.Webhooks, want)
	}
	_, err = migrate.Run(ctx, src, dst)
	if !errors.Is(err, pgstore.ErrNotEmptyDatabase) {
		t.Errorf("second Run = %v; want ErrNotEmptyDatabase", err)
	}
}
