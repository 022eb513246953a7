package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/internal/webhook"
	"github.com/seen-im/seen/protocol"
)

// hookReceiver is a webhook receiver on loopback that verifies every
// call with the endpoint's secret and records the ids of those that pass.
type hookReceiver struct {
	url    string
	secret func() string
	mu     sync.Mutex
	got    []string // webhook-ids that verified, guarded by mu
	bodies []string // their bodies, guarded by mu
	bad    int      // calls that did not verify, guarded by mu
}

func startHookReceiver(t *testing.T, secret func() string) *hookReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hookReceiver{url: "http://" + ln.Addr().String() + "/hooks", secret: secret}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err := webhook.Verify(h.secret(), r.Header, body, time.Now(), 5*time.Minute); err != nil {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.got = append(h.got, r.Header.Get(webhook.HeaderID))
		h.bodies = append(h.bodies, string(body))
		w.WriteHeader(http.StatusNoContent)
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })
	return h
}

// A dead delivery replayed through the admin API is delivered, signed with
// the endpoint's secret and with its event id, and is then listed as
// delivered. The dead delivery is planted in the stopped node's store.
func TestWebhookReplayDeliversADeadDelivery(t *testing.T) {
	var secret string
	recv := startHookReceiver(t, func() string { return secret })
	s := seentest.StartSingle(t, "plants a dead delivery in the node's data directory")
	created := decode[protocol.WebhookCreateResult](t, s.MustAdmin(http.MethodPost, "/v1/admin/webhooks",
		map[string]any{"url": recv.url, "events": []string{"message.sent"}}))
	recv.mu.Lock()
	secret = created.Secret
	recv.mu.Unlock()

	const payload = `{"type":"message.sent","timestamp":"2026-11-30T09:00:00Z","data":{"conversation":{"type":"peer","id":"bob"},"msgId":"m1","sender":"alice"}}`
	dead := store.Delivery{Endpoint: created.ID, EventID: "sent_m1", Type: "message.sent", Payload: json.RawMessage(payload),
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
	list := decode[protocol.WebhookDeliveriesResult](t, s.MustAdmin(http.MethodGet, "/v1/admin/webhooks/"+created.ID+"/deliveries?state=dead", nil))
	if len(list.Deliveries) != 1 || list.Deliveries[0].EventID != "sent_m1" {
		t.Fatalf("dead deliveries = %+v, want sent_m1", list)
	}

	code, body := s.Admin(http.MethodPost, "/v1/admin/webhooks/"+created.ID+"/deliveries/sent_m1/replay", nil)
	if code != http.StatusAccepted {
		t.Fatalf("replay = %d %s, want 202", code, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res := decode[protocol.WebhookDeliveriesResult](t, s.MustAdmin(http.MethodGet, "/v1/admin/webhooks/"+created.ID+"/deliveries?state=delivered", nil))
		if len(res.Deliveries) == 1 {
			if d := res.Deliveries[0]; d.EventID != "sent_m1" || d.Attempts != 1 {
				t.Fatalf("delivered = %+v, want sent_m1 after one attempt", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replayed delivery was not delivered; receiver got %v", recv.got)
		}
		time.Sleep(20 * time.Millisecond) // between polls; the deadline is the bound
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.got) != 1 || recv.got[0] != "sent_m1" || recv.bodies[0] != payload || recv.bad != 0 {
		t.Fatalf("receiver got ids %v (bodies %v), %d unverified; want sent_m1 once, the payload as stored", recv.got, recv.bodies, recv.bad)
	}
}
