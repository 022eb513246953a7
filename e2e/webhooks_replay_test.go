package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/protocol"
)

// A dead delivery replayed through the admin API is delivered, signed with
// the endpoint's secret and with its event id, and is then listed as
// delivered. The dead delivery is planted in the stopped node's store.
func TestWebhookReplayDeliversADeadDelivery(t *testing.T) {
	rcv := newAppServer(t)
	s := seentest.StartSingle(t, "plants a dead delivery in the node's data directory")
	epID := rcv.register(s.MustAdmin, map[string]any{"events": []string{"message.sent"}})

	const payload = `{"type":"message.sent","timestamp":"2026-11-30T09:00:00Z","data":{"conversation":{"type":"peer","id":"bob"},"msgId":"m1","sender":"alice"}}`
	dead := store.Delivery{Endpoint: epID, EventID: "sent_m1", Type: "message.sent", Payload: json.RawMessage(payload),
		State: store.DeliveryDead, Attempts: 30, LastError: "webhook: status 500", NextAt: 1, CreatedAt: 1, UpdatedAt: 1}
	s.RestartAfter(func() {
		st, err := pebblestore.Open(filepath.Join(s.Cfg.Data, "store"), pebblestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ctx := context.Background()
		if err := st.Enqueue(ctx, []store.Delivery{dead}); err != nil {
			t.Fatal(err)
		}
		if err := st.FinishDelivery(ctx, dead); err != nil {
			t.Fatal(err)
		}
	})
	list := decode[protocol.WebhookDeliveriesResult](t, s.MustAdmin(http.MethodGet, "/v1/admin/webhooks/"+epID+"/deliveries?state=dead", nil))
	if len(list.Deliveries) != 1 || list.Deliveries[0].EventID != "sent_m1" {
		t.Fatalf("dead deliveries = %+v, want sent_m1", list)
	}

	code, body := s.Admin(http.MethodPost, "/v1/admin/webhooks/"+epID+"/deliveries/sent_m1/replay", nil)
	if code != http.StatusAccepted {
		t.Fatalf("replay = %d %s, want 202", code, body)
	}
	seentest.Eventually(t, 30*time.Second, func() error {
		res := decode[protocol.WebhookDeliveriesResult](t, s.MustAdmin(http.MethodGet, "/v1/admin/webhooks/"+epID+"/deliveries?state=delivered", nil))
		if len(res.Deliveries) != 1 {
			return fmt.Errorf("the replayed delivery is not delivered yet; the receiver got %s", summary(rcv.all()))
		}
		if d := res.Deliveries[0]; d.EventID != "sent_m1" || d.Attempts != 1 {
			t.Fatalf("delivered = %+v, want sent_m1 after one attempt", d)
		}
		return nil
	})
	rcv.checkSigned()
	if got := rcv.ok(); len(got) != 1 || got[0].id != "sent_m1" || string(got[0].body) != payload {
		t.Fatalf("receiver got %d calls (%s); want sent_m1 once, the payload as stored", len(got), summary(got))
	}
}
