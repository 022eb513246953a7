package storewrap_test

import (
	"context"
	"slices"
	"testing"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/storewrap"
)

// A wrapped store's webhook calls run through the hook (timed, open to
// injected faults), as every other store call does.
func TestWrapKeepsWebhooks(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	var ops []string
	var w store.Store = storewrap.Wrap(st, storewrap.BeforeFunc(func(ctx context.Context, op string) error {
		ops = append(ops, op)
		return nil
	}))
	h := w
	if err := h.CreateWebhook(ctx, store.Webhook{ID: "a", URL: "http://127.0.0.1:1/", Secret: "whsec_eA==", Events: []string{"message.sent"}}); err != nil {
		t.Fatal(err)
	}
	list, err := h.ListWebhooks(ctx)
	if err != nil || len(list) != 1 || list[0].ID != "a" {
		t.Fatalf("ListWebhooks = %v, %v; want endpoint a", list, err)
	}
	if want := []string{"create_webhook", "list_webhooks"}; !slices.Equal(ops, want) {
		t.Fatalf("hook saw %v, want %v", ops, want)
	}
}
