package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/internal/webhook"
)

// TestStaticWebhook: the webhooks section's endpoint is kept in the store
// as the configuration says, and the node's dispatcher delivers what the
// outbox holds for it, signed with its secret, after a restart.
func TestStaticWebhook(t *testing.T) {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header, body, time.Now(), time.Minute); err != nil {
			t.Errorf("call to the static endpoint: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, r.Header.Get(webhook.HeaderID))
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)

	cfg := DefaultConfig()
	cfg.Listen, cfg.Data, cfg.Demo = "127.0.0.1:0", t.TempDir(), "off"
	cfg.Webhooks.URL, cfg.Webhooks.Secret = rcv.URL, secret
	cfg.Webhooks.Events, cfg.Webhooks.Thresholds = []string{"receipt.threshold"}, []int{50}
	cfg.Webhooks.RetryMin, cfg.Webhooks.RetryMax = 10*time.Millisecond, 20*time.Millisecond

	// First start: the endpoint is created.
	run(t, cfg, nil)
	ep := endpointIn(t, cfg.Data, func(st *pebblestore.Store) {
		now := time.Now().UnixMilli()
		if err := st.Enqueue(context.Background(), []store.Delivery{{
			Endpoint: config.StaticWebhookID, EventID: "evt-1", Type: "receipt.threshold",
			Payload: []byte(`{"type":"receipt.threshold","timestamp":"2026-11-30T10:00:00Z","data":{}}`),
			State:   store.DeliveryPending, NextAt: now, CreatedAt: now, UpdatedAt: now,
		}}); err != nil {
			t.Fatal(err)
		}
	})
	if ep == nil || ep.URL != rcv.URL || ep.Secret != secret || !slices.Equal(ep.Thresholds, []int{50}) {
		t.Fatalf("static endpoint in the store: %+v", ep)
	}

	// Second start, same configuration: the endpoint is kept (with its
	// delivery), and the delivery made.
	run(t, cfg, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(got, []string{"evt-1"}) {
			return fmt.Errorf("receiver got %v, want [evt-1]", got)
		}
		return nil
	})
	if again := endpointIn(t, cfg.Data, nil); again == nil || again.CreatedAt != ep.CreatedAt {
		t.Errorf("unchanged static endpoint was made again: %+v, was %+v", again, ep)
	}

	// Changed settings: made again as they now say.
	cfg.Webhooks.Thresholds = []int{25, 75}
	run(t, cfg, nil)
	if ch := endpointIn(t, cfg.Data, nil); ch == nil || !slices.Equal(ch.Thresholds, []int{25, 75}) {
		t.Errorf("after a change the static endpoint is %+v, want thresholds [25 75]", ch)
	}

	// No url: gone.
	cfg.Webhooks.URL, cfg.Webhooks.Secret = "", ""
	run(t, cfg, nil)
	if gone := endpointIn(t, cfg.Data, nil); gone != nil {
		t.Errorf("static endpoint kept without a url: %+v", gone)
	}
}

// run starts a node, waits for until (if set) to hold, and shuts it down.
func run(t *testing.T, cfg Config, until func() error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if until != nil {
		deadline := time.Now().Add(20 * time.Second)
		for err := until(); err != nil; err = until() {
			if time.Now().After(deadline) {
				t.Error(err)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// endpointIn opens the stopped node's store, runs also (if set) on it,
// and returns its static endpoint, nil if none.
func endpointIn(t *testing.T, data string, also func(*pebblestore.Store)) *store.Webhook {
	t.Helper()
	st, err := pebblestore.Open(filepath.Join(data, "store"), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if also != nil {
		also(st)
	}
	list, err := st.ListWebhooks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range list {
		if w.ID == config.StaticWebhookID {
			return &w
		}
	}
	return nil
}
