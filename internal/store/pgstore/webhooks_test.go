package pgstore

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// These are the PostgreSQL-specific webhook tests: what two nodes on one
// database do at once, and how the hooks ride along an Append.

func delivery(endpoint, id string, nextAt int64) store.Delivery {
	return store.Delivery{Endpoint: endpoint, EventID: id, Type: "message.sent",
		Payload: json.RawMessage(`{"type":"message.sent","data":{"id":"` + id + `"}}`),
		State:   store.DeliveryPending, NextAt: nextAt, CreatedAt: nextAt, UpdatedAt: nextAt}
}

func mustCreateWebhook(t *testing.T, s *Store, id string) {
	t.Helper()
	if err := s.CreateWebhook(t.Context(), store.Webhook{ID: id, URL: "http://127.0.0.1:1/" + id, Secret: "whsec_c2VjcmV0",
		Events: []string{"message.sent"}, Thresholds: []int{50, 90}, CreatedAt: 1}); err != nil {
		t.Fatalf("CreateWebhook %s: %v", id, err)
	}
}

// TestClaimDeliveriesConcurrent: two handles on one database (two nodes),
// several claimers each, take every due delivery exactly once between
// them: FOR UPDATE SKIP LOCKED with the lease set in the same statement.
// A claim that only read the due rows, then leased them in a second
// statement, hands rows to both nodes in most runs.
func TestClaimDeliveriesConcurrent(t *testing.T) {
	u := freshSchema(t)
	a, b := openAt(t, u), openAt(t, u)
	ctx := t.Context()
	mustCreateWebhook(t, a, "e1")
	mustCreateWebhook(t, a, "e2")
	const n = 600
	var ds []store.Delivery
	for i := range n {
		ds = append(ds, delivery(fmt.Sprintf("e%d", 1+i%2), fmt.Sprintf("ev%04d", i), int64(i%50)))
	}
	if err := a.Enqueue(ctx, ds); err != nil {
		t.Fatal(err)
	}
	const now, lease = 1000, 1_000_000
	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		wg      sync.WaitGroup
		errs    = make(chan error, 8)
	)
	for w := range 8 {
		s := a
		if w%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for {
				got, err := s.ClaimDeliveries(ctx, now, lease, 7)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, d := range got {
					claimed[d.Endpoint+"/"+d.EventID]++
					if d.LeaseUntil != lease {
						errs <- fmt.Errorf("claimed %s with lease %d, want %d", d.EventID, d.LeaseUntil, lease)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(claimed) != n {
		t.Errorf("claimed %d distinct deliveries, want %d", len(claimed), n)
	}
	for k, c := range claimed {
		if c != 1 {
			t.Errorf("delivery %s claimed %d times", k, c)
		}
	}
	// Leased: nothing is due for anyone until the lease runs out.
	if got, err := b.ClaimDeliveries(ctx, now, lease, 10); err != nil || len(got) != 0 {
		t.Errorf("claim under the lease = %d, %v; want none", len(got), err)
	}
	if got, err := b.ClaimDeliveries(ctx, lease, lease+1, n+1); err != nil || len(got) != n {
		t.Errorf("claim once the lease ran out = %d, %v; want %d", len(got), err, n)
	}
}

// TestClaimTimersConcurrent is TestClaimDeliveriesConcurrent for timers,
// and then each timer fires once however many nodes fire it.
func TestClaimTimersConcurrent(t *testing.T) {
	u := freshSchema(t)
	a, b := openAt(t, u), openAt(t, u)
	ctx := t.Context()
	mustCreateWebhook(t, a, "e")
	const n = 300
	var ts []store.Timer
	for i := range n {
		ts = append(ts, store.Timer{Conv: store.GroupConv(fmt.Sprint("g", i%7)), Seq: uint64(i), Kind: store.TimerUnreadAfter, DueAt: int64(i % 40)})
	}
	if err := a.AddTimers(ctx, ts); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		claimed []store.Timer
		wg      sync.WaitGroup
		errs    = make(chan error, 6)
	)
	for w := range 6 {
		s := []*Store{a, b}[w%2]
		wg.Go(func() {
			for {
				got, err := s.ClaimTimers(ctx, 100, 5000, 5)
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				claimed = append(claimed, got...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[store.Timer]bool{}
	for _, tm := range claimed {
		tm.LeaseUntil = 0
		if seen[tm] {
			t.Errorf("timer %+v claimed twice", tm)
		}
		seen[tm] = true
	}
	if len(seen) != n {
		t.Errorf("claimed %d distinct timers, want %d", len(seen), n)
	}

	// Both nodes fire every timer at once (a lease ran out mid-fire):
	// each timer's delivery is enqueued once, by whichever deleted it.
	for i, tm := range claimed {
		d := delivery("e", fmt.Sprintf("t%04d", i), 0)
		wg.Go(func() {
			if err := a.FireTimer(ctx, tm, []store.Delivery{d}); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			d := d
			d.EventID += "-twice"
			if err := b.FireTimer(ctx, tm, []store.Delivery{d}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := a.ListDeliveries(ctx, "e", "", "", 2*n)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Errorf("fired %d timers twice over: %d deliveries, want %d", n, len(got), n)
	}
	if left, err := a.ClaimTimers(ctx, 1<<40, 1<<41, n); err != nil || len(left) != 0 {
		t.Errorf("timers left after firing: %d, %v", len(left), err)
	}
}

// TestEnqueueRacesDeleteWebhook: deliveries enqueued while their
// endpoint is deleted are either deleted with it or never stored; the
// enqueue never fails on the foreign key, so an Append carrying them
// cannot fail because an operator deleted an endpoint.
func TestEnqueueRacesDeleteWebhook(t *testing.T) {
	u := freshSchema(t)
	a, b := openAt(t, u), openAt(t, u)
	ctx := t.Context()
	for round := range 20 {
		id := fmt.Sprint("e", round)
		mustCreateWebhook(t, a, id)
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range 10 {
				if err := a.Enqueue(ctx, []store.Delivery{delivery(id, fmt.Sprint("ev", i), 1)}); err != nil {
					t.Errorf("enqueue during delete: %v", err)
				}
			}
		})
		wg.Go(func() {
			if err := b.DeleteWebhook(ctx, id); err != nil {
				t.Errorf("delete: %v", err)
			}
		})
		wg.Wait()
		got, err := a.ListDeliveries(ctx, id, "", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Fatalf("round %d: %d deliveries of a deleted endpoint left", round, len(got))
		}
	}
}
