package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
)

// testSettings retry fast: the tests wait on outcomes, not on the clock.
var testSettings = Settings{
	RetryMin: 10 * time.Millisecond, RetryMax: 40 * time.Millisecond,
	MaxAttempts: 50, Concurrency: 4, Timeout: 5 * time.Second,
	PollInterval: 20 * time.Millisecond,
}

func openStore(t *testing.T) *pebblestore.Store {
	t.Helper()
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st
}

// startDispatcher runs a dispatcher on st until the test ends.
func startDispatcher(t *testing.T, st store.Webhooks, set Settings) *Dispatcher {
	t.Helper()
	d := New(Options{Store: st, Settings: set})
	d.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return d
}

// call is one request a receiver got.
type call struct {
	id, sig string
	body    string
	status  int
	at      time.Time
}

// receiver is a real HTTP endpoint on loopback that verifies every
// call's signature and answers with status(n), n counting its calls from 1.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string
	status func(n int, body string) int
	hold   func() // runs before answering, if set

	mu          sync.Mutex
	calls       []call
	inflight    int
	maxInflight int
	badSig      int
}

func newReceiver(t *testing.T, status func(n int, body string) int) *receiver {
	t.Helper()
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, secret: secret, status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.inflight++
	r.maxInflight = max(r.maxInflight, r.inflight)
	n := len(r.calls) + 1
	code := http.StatusOK
	if r.status != nil {
		code = r.status(n, string(body))
	}
	ok := Verify(r.secret, req.Header, body, time.Now(), time.Minute) == nil && req.Header.Get("Content-Type") == "application/json"
	if !ok {
		r.badSig++
	}
	r.calls = append(r.calls, call{id: req.Header.Get(HeaderID), sig: req.Header.Get(HeaderSignature), body: string(body), status: code, at: time.Now()})
	hold := r.hold
	r.mu.Unlock()
	if hold != nil {
		hold()
	}
	r.mu.Lock()
	r.inflight--
	r.mu.Unlock()
	w.WriteHeader(code)
}

func (r *receiver) snapshot() (calls []call, maxInflight, badSig int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...), r.maxInflight, r.badSig
}

// register stores the receiver as endpoint id.
func (r *receiver) register(t *testing.T, st store.Webhooks, id string) {
	t.Helper()
	w := store.Webhook{ID: id, URL: r.srv.URL + "/hook", Secret: r.secret, Events: []string{"receipt.read"}, CreatedAt: time.Now().UnixMilli()}
	if err := st.CreateWebhook(context.Background(), w); err != nil {
		t.Fatal(err)
	}
}

// enqueue stores n deliveries for endpoint, due now, with event ids
// prefix-0 … prefix-(n-1).
func enqueue(t *testing.T, st store.Webhooks, endpoint, prefix string, n int) []string {
	t.Helper()
	now := time.Now().UnixMilli()
	var ds []store.Delivery
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		body, _ := json.Marshal(map[string]any{"type": "receipt.read", "timestamp": time.Now().UTC().Format(time.RFC3339), "data": map[string]any{"event": id}})
		ds = append(ds, store.Delivery{Endpoint: endpoint, EventID: id, Type: "receipt.read", Payload: body,
			State: store.DeliveryPending, NextAt: now, CreatedAt: now, UpdatedAt: now})
		ids = append(ids, id)
	}
	if err := st.Enqueue(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
	return ids
}

// waitFor polls cond until it returns nil or the deadline passes.
func waitFor(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// states returns endpoint's deliveries by event id.
func states(t *testing.T, st store.Webhooks, endpoint string) map[string]store.Delivery {
	t.Helper()
	ds, err := st.ListDeliveries(context.Background(), endpoint, "", "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]store.Delivery, len(ds))
	for _, d := range ds {
		m[d.EventID] = d
	}
	return m
}

// allIn waits until every listed delivery of endpoint is in state.
func allIn(t *testing.T, st store.Webhooks, endpoint, state string, ids []string) map[string]store.Delivery {
	t.Helper()
	var got map[string]store.Delivery
	waitFor(t, 20*time.Second, func() error {
		got = states(t, st, endpoint)
		for _, id := range ids {
			if got[id].State != state {
				return fmt.Errorf("delivery %s is %q (attempts %d, last error %q), want %s", id, got[id].State, got[id].Attempts, got[id].LastError, state)
			}
		}
		return nil
	})
	return got
}
