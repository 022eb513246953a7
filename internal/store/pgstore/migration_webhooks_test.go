package pgstore

import (
	"context"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// TestMigrationWebhooksOnSchema2: a database at schema 2 (before
// webhooks), with messages in it, takes 00003 when a store opens it; the
// data stays and the webhook tables work, messages' Hooks included.
// 00003 only creates tables, so there is nothing to carry over.
func TestMigrationWebhooksOnSchema2(t *testing.T) {
	u, pool, p := schemaAt(t, 2)
	ctx := context.Background()
	for _, sql := range []string{
		`INSERT INTO users (id, created_at) VALUES ('alice', 1)`,
		`INSERT INTO groups (id, created_by, created_at) VALUES ('g', 'alice', 1)`,
		`INSERT INTO conversations (conv, last_seq, last_at, members) VALUES ('g/g', 1, 10, 1)`,
		`INSERT INTO members (conv, user_id, role, join_seq, read_seq, delivered_seq, own_read_seq) VALUES ('g/g', 'alice', 'owner', 1, 1, 1, 1)`,
		`INSERT INTO messages (id, conv, seq, sender, sent_at, receipt, receipt_at) VALUES ('m1', 'g/g', 1, 'alice', 10, true, 10)`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	s := openAt(t, u)
	if v, err := p.GetDBVersion(ctx); err != nil || v != 3 {
		t.Fatalf("schema version after Open = %d, %v; want 3", v, err)
	}
	conv := store.GroupConv("g")
	if m, err := s.MessageAt(ctx, conv, 1); err != nil || m.ID != "m1" || !m.Receipt {
		t.Fatalf("message from schema 2: %+v, %v", m, err)
	}
	if err := s.CreateWebhook(ctx, store.Webhook{ID: "e", URL: "http://127.0.0.1:9/", Secret: "whsec_eA==", Events: []string{"message.sent"}}); err != nil {
		t.Fatal(err)
	}
	m, _, err := s.Append(ctx, store.Message{ID: "m2", Conv: conv, Sender: "alice", SentAt: 20, Receipt: true,
		Hooks: &store.HookOutbox{
			Deliveries: []store.Delivery{{Endpoint: "e", EventID: "ev", Type: "message.sent", State: store.DeliveryPending, NextAt: 20}},
			Track:      &store.HookTrack{},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != 2 {
		t.Errorf("seq after the migration = %d, want 2", m.Seq)
	}
	if ds, err := s.ClaimDeliveries(ctx, 20, 30, 10); err != nil || len(ds) != 1 || ds[0].EventID != "ev" {
		t.Errorf("claim after the migration: %+v, %v", ds, err)
	}
	if ts, err := s.GetTracks(ctx, conv, []uint64{1, 2}); err != nil || len(ts) != 1 || ts[0].MsgID != "m2" {
		t.Errorf("tracks after the migration: %+v, %v", ts, err)
	}
}
