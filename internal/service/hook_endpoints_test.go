package service

import (
	"context"
	"testing"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
)

// A change of the endpoints, made through this node or announced by
// another, is seen by the next lookup; until then the copy is reused.
func TestWebhookEndpointsCache(t *testing.T) {
	ctx := context.Background()
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	b := local.New()
	s := New(Options{Store: st, Bus: b, Config: config.Default()})
	t.Cleanup(func() { _ = s.Close(ctx); _ = b.Close(); _ = st.Close() })
	if list, err := s.webhooks(ctx); err != nil || len(list) != 0 {
		t.Fatalf("webhooks() = %v, %v; want none", list, err)
	}
	if err := s.store.CreateWebhook(ctx, store.Webhook{ID: "a", URL: "http://127.0.0.1:1/", Secret: "whsec_x", Events: []string{"message.sent"}}); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.webhooks(ctx); len(list) != 0 {
		t.Fatalf("a write not announced was seen before the TTL: %v", list)
	}
	s.webhooksChanged(ctx)
	if list, _ := s.webhooks(ctx); len(list) != 1 || list[0].ID != "a" {
		t.Fatalf("after webhooksChanged: %v, want endpoint a", list)
	}
	if err := s.store.DeleteWebhook(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	s.ApplySync([]byte(`{"k":8,"c":"*hooks"}`)) // another node's opHooks
	if list, _ := s.webhooks(ctx); len(list) != 0 {
		t.Fatalf("after another node's change: %v, want none", list)
	}
}
