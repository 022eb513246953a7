package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seen-im/seen/internal/store"
)

// The cases of store.Webhooks. Each takes a store.Store and asserts that
// it is a store.Webhooks too, so that the suite needs no second factory.

func hooksOf(t *testing.T, s store.Store) store.Webhooks {
	t.Helper()
	w, ok := any(s).(store.Webhooks)
	if !ok {
		t.Fatalf("%T does not implement store.Webhooks", s)
	}
	return w
}

func mustCreateWebhook(t *testing.T, w store.Webhooks, id string) store.Webhook {
	t.Helper()
	wh := store.Webhook{ID: id, URL: "http://127.0.0.1:9/" + id, Secret: "whsec_" + id,
		Events: []string{"message.sent", "receipt.read"}, Thresholds: []int{50, 90}, CreatedAt: 1}
	if err := w.CreateWebhook(t.Context(), wh); err != nil {
		t.Fatalf("CreateWebhook(%s): %v", id, err)
	}
	return wh
}

// delivery is a pending delivery due at nextAt. Its payload is compact
// JSON with one key, which every backend returns as given.
func delivery(endpoint, eventID string, nextAt int64) store.Delivery {
	return store.Delivery{
		Endpoint: endpoint, EventID: eventID, Type: "message.sent",
		Payload: json.RawMessage(fmt.Sprintf(`{"id":%q}`, eventID)),
		State:   store.DeliveryPending, NextAt: nextAt, CreatedAt: nextAt, UpdatedAt: nextAt,
	}
}

func mustEnqueue(t *testing.T, w store.Webhooks, ds ...store.Delivery) {
	t.Helper()
	if err := w.Enqueue(t.Context(), ds); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}

func mustClaim(t *testing.T, w store.Webhooks, now, lease int64, limit int) []store.Delivery {
	t.Helper()
	ds, err := w.ClaimDeliveries(t.Context(), now, lease, limit)
	if err != nil {
		t.Fatalf("ClaimDeliveries(%d, %d, %d): %v", now, lease, limit, err)
	}
	return ds
}

func mustList(t *testing.T, w store.Webhooks, endpoint, state, after string, limit int) []store.Delivery {
	t.Helper()
	ds, err := w.ListDeliveries(t.Context(), endpoint, state, after, limit)
	if err != nil {
		t.Fatalf("ListDeliveries(%s, %q, %q, %d): %v", endpoint, state, after, limit, err)
	}
	return ds
}

// eventIDs names deliveries as "endpoint/eventID".
func eventIDs(ds []store.Delivery) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Endpoint+"/"+d.EventID)
	}
	return out
}

func wantEvents(t *testing.T, what string, ds []store.Delivery, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if diff := cmp.Diff(want, eventIDs(ds)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

func testWebhookEndpoints(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := hooksOf(t, s)
	if got, err := w.ListWebhooks(ctx); err != nil || len(got) != 0 {
		t.Fatalf("ListWebhooks on an empty store = %v, %v", got, err)
	}
	b := mustCreateWebhook(t, w, "b")
	a := mustCreateWebhook(t, w, "a")
	wantErrIs(t, "CreateWebhook(a) again", w.CreateWebhook(ctx, store.Webhook{ID: "a", URL: "http://x/"}), store.ErrExists)
	got, err := w.ListWebhooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.Webhook{a, b}, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ListWebhooks: in id order, secrets included (-want +got):\n%s", diff)
	}

	// Deleting an endpoint deletes its deliveries, pending or not, and
	// leaves the other endpoint's.
	mustEnqueue(t, w, delivery("a", "e1", 10), delivery("b", "e1", 10), delivery("b", "e2", 20))
	done := delivery("b", "e2", 20)
	done.State, done.Attempts, done.UpdatedAt = store.DeliveryDelivered, 1, 25
	if err := w.FinishDelivery(ctx, done); err != nil {
		t.Fatal(err)
	}
	if err := w.DeleteWebhook(ctx, "b"); err != nil {
		t.Fatalf("DeleteWebhook(b): %v", err)
	}
	wantErrIs(t, "DeleteWebhook(b) again", w.DeleteWebhook(ctx, "b"), store.ErrNotFound)
	wantErrIs(t, "DeleteWebhook(unknown)", w.DeleteWebhook(ctx, "zz"), store.ErrNotFound)
	wantEvents(t, "ListDeliveries(b) after its delete", mustList(t, w, "b", "", "", 10))
	wantErrIs(t, "FinishDelivery of a deleted endpoint's delivery", w.FinishDelivery(ctx, delivery("b", "e1", 10)), store.ErrNotFound)
	_, err = w.ReplayDelivery(ctx, "b", "e2", 30)
	wantErrIs(t, "ReplayDelivery of a deleted endpoint's delivery", err, store.ErrNotFound)
	wantEvents(t, "ClaimDeliveries after deleting b", mustClaim(t, w, 100, 200, 10), "a/e1")
	if got, err := w.ListWebhooks(ctx); err != nil || len(got) != 1 || got[0].ID != "a" {
		t.Errorf("ListWebhooks after deleting b = %+v, %v; want a only", got, err)
	}
	// The id can be used again, and starts with no deliveries.
	mustCreateWebhook(t, w, "b")
	wantEvents(t, "ListDeliveries(b) after re-creating it", mustList(t, w, "b", "", "", 10))
}

func testEnqueueIdempotent(t *testing.T, s store.Store) {
	w := hooksOf(t, s)
	mustCreateWebhook(t, w, "a")
	mustCreateWebhook(t, w, "b")
	first := delivery("a", "e1", 10)
	mustEnqueue(t, w, first)
	again := first
	again.Type, again.Payload, again.NextAt = "receipt.read", json.RawMessage(`{"id":"other"}`), 5
	// Enqueued again, within one call twice, and for another endpoint:
	// only the other endpoint's is new. An unknown endpoint's is skipped.
	mustEnqueue(t, w, again, delivery("b", "e1", 10), delivery("b", "e1", 11), delivery("gone", "e1", 10))
	got := mustList(t, w, "a", "", "", 10)
	if diff := cmp.Diff([]store.Delivery{first}, got); diff != "" {
		t.Errorf("deliveries of a: the first enqueue holds (-want +got):\n%s", diff)
	}
	if got := mustList(t, w, "b", "", "", 10); len(got) != 1 || got[0].NextAt != 10 {
		t.Errorf("deliveries of b = %+v; want e1 once, as first given", got)
	}
	wantEvents(t, "deliveries of an unknown endpoint", mustList(t, w, "gone", "", "", 10))
	// Stored as given: a dead row (as migrate copies one) stays dead, and
	// a row with no state is pending.
	dead := delivery("b", "dead", 1)
	dead.State, dead.Attempts, dead.LastError = store.DeliveryDead, 9, "HTTP 500"
	noState := delivery("b", "nostate", 10)
	noState.State = ""
	mustEnqueue(t, w, dead, noState)
	noState.State = store.DeliveryPending
	if diff := cmp.Diff([]store.Delivery{dead}, mustList(t, w, "b", store.DeliveryDead, "", 10)); diff != "" {
		t.Errorf("a dead delivery enqueued (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]store.Delivery{noState}, mustList(t, w, "b", "", "e1", 10)); diff != "" {
		t.Errorf("a delivery enqueued with no state (-want +got):\n%s", diff)
	}
	if got := sortedIDs(mustClaim(t, w, 100, 200, 10)); !slices.Equal(got, []string{"a/e1", "b/e1", "b/nostate"}) {
		t.Errorf("ClaimDeliveries = %v; want a/e1, b/e1 and b/nostate (not the dead one)", got)
	}
	// Enqueued again after it was claimed and delivered: still skipped.
	d := first
	d.State, d.Attempts = store.DeliveryDelivered, 1
	if err := w.FinishDelivery(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, w, first)
	wantEvents(t, "ClaimDeliveries after re-enqueueing a delivered event", mustClaim(t, w, 150, 400, 10))
}

func testClaimDeliveries(t *testing.T, s store.Store) {
	w := hooksOf(t, s)
	mustCreateWebhook(t, w, "a")
	mustCreateWebhook(t, w, "b")
	mustEnqueue(t, w, delivery("a", "late", 500), delivery("b", "x", 30), delivery("a", "y", 10),
		delivery("a", "z", 20), delivery("b", "w", 40))

	wantEvents(t, "ClaimDeliveries(now 5): none due", mustClaim(t, w, 5, 100, 10))
	first := mustClaim(t, w, 35, 100, 2)
	wantEvents(t, "ClaimDeliveries(now 35, limit 2): oldest NextAt first", first, "a/y", "a/z")
	for _, d := range first {
		if d.LeaseUntil != 100 {
			t.Errorf("claimed %s/%s LeaseUntil = %d, want 100", d.Endpoint, d.EventID, d.LeaseUntil)
		}
	}
	wantEvents(t, "ClaimDeliveries(now 50): leased ones skipped", mustClaim(t, w, 50, 150, 10), "b/x", "b/w")
	wantEvents(t, "ClaimDeliveries(now 99): every due one leased", mustClaim(t, w, 99, 200, 10))
	// The first lease ran out at 100: another caller takes those over.
	again := mustClaim(t, w, 100, 300, 10)
	wantEvents(t, "ClaimDeliveries(now 100): expired leases", again, "a/y", "a/z")
	if got := mustList(t, w, "a", "", "y", 1); len(got) != 1 || got[0].LeaseUntil != 300 {
		t.Errorf("a/z after the second claim = %+v; want LeaseUntil 300", got)
	}
	wantEvents(t, "ClaimDeliveries(limit 0)", mustClaim(t, w, 1000, 2000, 0))
	wantEvents(t, "ClaimDeliveries(now 1000)", mustClaim(t, w, 1000, 2000, 10), "a/y", "a/z", "b/x", "b/w", "a/late")
}

// testClaimDeliveriesConcurrent claims from many goroutines at once: no
// delivery may be handed out twice, and every one is handed out.
func testClaimDeliveriesConcurrent(t *testing.T, s store.Store) {
	w := hooksOf(t, s)
	mustCreateWebhook(t, w, "a")
	const n = 200
	var ds []store.Delivery
	for i := range n {
		ds = append(ds, delivery("a", fmt.Sprintf("e%03d", i), int64(i%17)))
	}
	mustEnqueue(t, w, ds...)
	claimConcurrently(t, n, func(int) store.Webhooks { return w })
}

// claimConcurrently claims deliveries from 8 goroutines, through
// handle(g), until nothing is left, and checks that the n deliveries
// stored were each handed out exactly once.
func claimConcurrently(t *testing.T, n int, handle func(g int) store.Webhooks) {
	t.Helper()
	claimRace(t, "deliveries", n, func(g int) ([]string, error) {
		got, err := handle(g).ClaimDeliveries(t.Context(), 1000, 1_000_000, 7)
		return sortedIDs(got), err
	})
}

// claimRace runs claim from 8 goroutines until it returns nothing (or an
// error), and checks that the n rows (of kind what) were each claimed
// exactly once, by the ids claim returns.
func claimRace(t *testing.T, what string, n int, claim func(g int) ([]string, error)) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen = make(map[string]int)
		errs []error
		wg   sync.WaitGroup
	)
	for g := range 8 {
		wg.Go(func() {
			for {
				got, err := claim(g)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				for _, id := range got {
					seen[id]++
				}
				mu.Unlock()
				if err != nil || len(got) == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("claim %s: %v", what, err)
	}
	if len(seen) != n {
		t.Errorf("%d distinct %s claimed, want %d", len(seen), what, n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s claimed %d times", id, c)
		}
	}
}

func testFinishDelivery(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := hooksOf(t, s)
	mustCreateWebhook(t, w, "a")
	mustEnqueue(t, w, delivery("a", "retry", 10), delivery("a", "ok", 10), delivery("a", "dead", 10))
	if got := mustClaim(t, w, 10, 1000, 10); len(got) != 3 {
		t.Fatalf("claimed %v, want all 3", eventIDs(got))
	}
	// A failed attempt with attempts left: pending again at a later time,
	// lease released, so it is due at its NextAt and not before the lease
	// would have run out.
	retry := delivery("a", "retry", 10)
	retry.Attempts, retry.NextAt, retry.LastError, retry.UpdatedAt = 1, 50, "HTTP 500", 20
	ok := delivery("a", "ok", 10)
	ok.State, ok.Attempts, ok.UpdatedAt = store.DeliveryDelivered, 1, 21
	dead := delivery("a", "dead", 10)
	dead.State, dead.Attempts, dead.LastError, dead.UpdatedAt = store.DeliveryDead, 5, "timeout", 22
	for _, d := range []store.Delivery{retry, ok, dead} {
		if err := w.FinishDelivery(ctx, d); err != nil {
			t.Fatalf("FinishDelivery(%s): %v", d.EventID, err)
		}
	}
	wantEvents(t, "ClaimDeliveries(now 49)", mustClaim(t, w, 49, 2000, 10))
	got := mustClaim(t, w, 50, 2000, 10)
	retry.LeaseUntil = 2000
	if diff := cmp.Diff([]store.Delivery{retry}, got); diff != "" {
		t.Errorf("ClaimDeliveries(now 50): only the retry, as finished (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]store.Delivery{dead, ok}, mustList(t, w, "a", "", "", 2)); diff != "" {
		t.Errorf("finished deliveries: lease released, outcome stored (-want +got):\n%s", diff)
	}
	wantEvents(t, "ClaimDeliveries(now 10000): delivered and dead are never claimed", mustClaim(t, w, 10000, 20000, 10), "a/retry")
	wantErrIs(t, "FinishDelivery(unknown)", w.FinishDelivery(ctx, delivery("a", "nope", 10)), store.ErrNotFound)
	if got := mustList(t, w, "a", "", "", 10); len(got) != 3 {
		t.Errorf("FinishDelivery(unknown) created a row: %v", eventIDs(got))
	}
}

func testListDeliveries(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := hooksOf(t, s)
	mustCreateWebhook(t, w, "a")
	mustCreateWebhook(t, w, "b")
	var ds []store.Delivery
	for i := range 7 {
		ds = append(ds, delivery("a", fmt.Sprintf("e%d", i), int64(10+i)))
	}
	mustEnqueue(t, w, append(ds, delivery("b", "e9", 1))...)
	for _, i := range []int{1, 4, 5} {
		d := ds[i]
		d.State, d.Attempts = store.DeliveryDead, 3
		if err := w.FinishDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	wantEvents(t, "all of a", mustList(t, w, "a", "", "", 100),
		"a/e0", "a/e1", "a/e2", "a/e3", "a/e4", "a/e5", "a/e6")
	wantEvents(t, "a's first page of 3", mustList(t, w, "a", "", "", 3), "a/e0", "a/e1", "a/e2")
	wantEvents(t, "a's page after e2", mustList(t, w, "a", "", "e2", 3), "a/e3", "a/e4", "a/e5")
	wantEvents(t, "a's page after e5", mustList(t, w, "a", "", "e5", 3), "a/e6")
	wantEvents(t, "a's dead", mustList(t, w, "a", store.DeliveryDead, "", 100), "a/e1", "a/e4", "a/e5")
	wantEvents(t, "a's dead after e1, 1", mustList(t, w, "a", store.DeliveryDead, "e1", 1), "a/e4")
	wantEvents(t, "a's pending after e4", mustList(t, w, "a", store.DeliveryPending, "e4", 100), "a/e6")
	wantEvents(t, "a's delivered", mustList(t, w, "a", store.DeliveryDelivered, "", 100))
	wantEvents(t, "unknown endpoint", mustList(t, w, "zz", "", "", 100))
}

func testReplayDelivery(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := hooksOf(t, s)
	mustCreateWebhook(t, w, "a")
	mustEnqueue(t, w, delivery("a", "e1", 10))
	mustClaim(t, w, 10, 20, 1)
	d := delivery("a", "e1", 10)
	d.State, d.Attempts, d.LastError, d.UpdatedAt = store.DeliveryDead, 5, "HTTP 500", 15
	if err := w.FinishDelivery(ctx, d); err != nil {
		t.Fatal(err)
	}
	wantEvents(t, "ClaimDeliveries of a dead delivery", mustClaim(t, w, 1000, 2000, 10))
	got, err := w.ReplayDelivery(ctx, "a", "e1", 500)
	if err != nil {
		t.Fatalf("ReplayDelivery: %v", err)
	}
	if got.State != store.DeliveryPending || got.Attempts != 0 || got.NextAt != 500 || got.EventID != "e1" || string(got.Payload) != `{"id":"e1"}` {
		t.Errorf("ReplayDelivery = %+v; want pending, 0 attempts, due at 500, payload kept", got)
	}
	wantEvents(t, "ClaimDeliveries(now 499)", mustClaim(t, w, 499, 2000, 10))
	claimed := mustClaim(t, w, 500, 2000, 10)
	wantEvents(t, "ClaimDeliveries(now 500) after replay", claimed, "a/e1")
	if len(claimed) == 1 && claimed[0].Attempts != 0 {
		t.Errorf("replayed delivery has %d attempts, want 0", claimed[0].Attempts)
	}
	_, err = w.ReplayDelivery(ctx, "a", "nope", 500)
	wantErrIs(t, "ReplayDelivery(unknown event)", err, store.ErrNotFound)
	_, err = w.ReplayDelivery(ctx, "zz", "e1", 500)
	wantErrIs(t, "ReplayDelivery(unknown endpoint)", err, store.ErrNotFound)
}

// testClaimsExclusive claims deliveries and timers through two handles at
// once: nothing may be handed to both.
func testClaimsExclusive(t *testing.T, a, b store.Store) {
	wa, wb := hooksOf(t, a), hooksOf(t, b)
	mustCreateWebhook(t, wa, "a")
	const n = 200
	var ds []store.Delivery
	var ts []store.Timer
	for i := range n {
		ds = append(ds, delivery("a", fmt.Sprintf("e%03d", i), int64(i%13)))
		ts = append(ts, store.Timer{Conv: store.GroupConv("g"), Seq: uint64(i + 1), Kind: store.TimerUnreadAfter, DueAt: int64(i % 11)})
	}
	mustEnqueue(t, wa, ds...)
	if err := wb.AddTimers(t.Context(), ts); err != nil {
		t.Fatal(err)
	}
	handles := []store.Webhooks{wa, wb}
	claimConcurrently(t, n, func(g int) store.Webhooks { return handles[g%2] })
	claimTimersConcurrently(t, n, func(g int) store.Webhooks { return handles[g%2] })
}

// sortedIDs is eventIDs sorted, for sets.
func sortedIDs(ds []store.Delivery) []string {
	ids := eventIDs(ds)
	slices.Sort(ids)
	return ids
}

// testPruneDeliveries prunes delivered rows last updated before a time:
// the rest (newer delivered, dead, pending) stay, claims are unchanged,
// and an endpoint's deletion after a prune still works.
func testPruneDeliveries(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := hooksOf(t, s)
	p, ok := any(s).(store.DeliveryPruner)
	if !ok {
		t.Fatalf("%T does not implement store.DeliveryPruner", s)
	}
	mustCreateWebhook(t, w, "a")
	mustCreateWebhook(t, w, "b")
	mustEnqueue(t, w, delivery("a", "old1", 1), delivery("b", "old2", 1), delivery("a", "new", 1),
		delivery("a", "dead", 1), delivery("a", "pending", 1), delivery("a", "replayed", 1))
	for _, f := range []struct {
		id, state string
		at        int64
	}{
		{"a/old1", store.DeliveryDelivered, 10}, {"b/old2", store.DeliveryDelivered, 24},
		{"a/new", store.DeliveryDelivered, 25}, {"a/dead", store.DeliveryDead, 5},
		{"a/replayed", store.DeliveryDelivered, 3},
	} {
		endpoint, eventID, _ := strings.Cut(f.id, "/")
		d := delivery(endpoint, eventID, 1)
		d.State, d.Attempts, d.UpdatedAt = f.state, 1, f.at
		if err := w.FinishDelivery(ctx, d); err != nil {
			t.Fatalf("FinishDelivery(%s): %v", f.id, err)
		}
	}
	// Replayed after it was delivered: pending again, so not pruned.
	if _, err := w.ReplayDelivery(ctx, "a", "replayed", 4); err != nil {
		t.Fatal(err)
	}
	n, err := p.PruneDeliveries(ctx, 25)
	if err != nil || n != 2 {
		t.Errorf("PruneDeliveries(25) = %d, %v; want 2", n, err)
	}
	wantEvents(t, "a's deliveries after the prune", mustList(t, w, "a", "", "", 10), "a/dead", "a/new", "a/pending", "a/replayed")
	wantEvents(t, "b's deliveries after the prune", mustList(t, w, "b", "", "", 10))
	if n, err := p.PruneDeliveries(ctx, 25); err != nil || n != 0 {
		t.Errorf("PruneDeliveries(25) again = %d, %v; want 0", n, err)
	}
	if got := sortedIDs(mustClaim(t, w, 100, 200, 10)); !slices.Equal(got, []string{"a/pending", "a/replayed"}) {
		t.Errorf("ClaimDeliveries after the prune = %v; want a/pending and a/replayed", got)
	}
	if err := w.DeleteWebhook(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if n, err := p.PruneDeliveries(ctx, 1000); err != nil || n != 0 {
		t.Errorf("PruneDeliveries(1000) after deleting a = %d, %v; want 0", n, err)
	}
}
