package webhook

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/store"
)

// A starting dispatcher prunes delivered rows older than
// DeliveredRetention, and keeps recent ones and dead ones (which wait for
// a replay).
func TestDispatcherPrunesOldDelivered(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if err := st.CreateWebhook(ctx, store.Webhook{ID: "e", URL: "http://127.0.0.1:1/", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Events: []string{"message.sent"}}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := now.Add(-DeliveredRetention - time.Hour).UnixMilli()
	row := func(id, state string, at int64) store.Delivery {
		return store.Delivery{Endpoint: "e", EventID: id, Type: "message.sent", Payload: []byte(`{}`), State: state, Attempts: 1, NextAt: at, CreatedAt: at, UpdatedAt: at}
	}
	if err := st.Enqueue(ctx, []store.Delivery{
		row("old", store.DeliveryDelivered, old),
		row("recent", store.DeliveryDelivered, now.UnixMilli()),
		row("dead", store.DeliveryDead, old),
	}); err != nil {
		t.Fatal(err)
	}
	startDispatcher(t, st, testSettings)
	waitFor(t, 10*time.Second, func() error {
		ds, err := st.ListDeliveries(ctx, "e", "", "", 10)
		if err != nil || len(ds) != 2 {
			return fmt.Errorf("rows %+v, %v", ds, err)
		}
		return nil
	})
	ds, _ := st.ListDeliveries(ctx, "e", "", "", 10)
	if ds[0].EventID != "dead" || ds[1].EventID != "recent" {
		t.Errorf("after the prune: %+v, want dead and recent", ds)
	}
}
