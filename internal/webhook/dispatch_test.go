package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/store"
)

func TestDeliverSigned(t *testing.T) {
	st := openStore(t)
	rcv := newReceiver(t, nil)
	rcv.register(t, st, "ep")
	ids := enqueue(t, st, "ep", "evt", 3)
	startDispatcher(t, st, testSettings)

	got := allIn(t, st, "ep", store.DeliveryDelivered, ids)
	calls, _, bad := rcv.snapshot()
	if bad != 0 {
		t.Errorf("%d calls failed signature verification", bad)
	}
	if len(calls) != len(ids) {
		t.Errorf("receiver got %d calls, want %d", len(calls), len(ids))
	}
	for _, c := range calls {
		d := got[c.id]
		if c.body != string(d.Payload) {
			t.Errorf("event %s: body %s, want the stored payload %s", c.id, c.body, d.Payload)
		}
		if d.Attempts != 1 || d.LastError != "" {
			t.Errorf("event %s: attempts %d, last error %q; want 1, none", c.id, d.Attempts, d.LastError)
		}
	}
}

// TestRetryUntilRecovered: the receiver answers 500 to its first calls,
// then 200. Every event arrives, and every attempt of an event carries the
// same webhook-id (the receiver's deduplication key).
func TestRetryUntilRecovered(t *testing.T) {
	st := openStore(t)
	const failures = 12
	rcv := newReceiver(t, func(n int, _ string) int {
		if n <= failures {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	rcv.register(t, st, "ep")
	ids := enqueue(t, st, "ep", "evt", 5)
	startDispatcher(t, st, testSettings)

	got := allIn(t, st, "ep", store.DeliveryDelivered, ids)
	calls, _, bad := rcv.snapshot()
	if bad != 0 {
		t.Errorf("%d calls failed signature verification", bad)
	}
	idsOfBody := map[string]map[string]bool{}
	delivered := map[string]int{}
	for _, c := range calls {
		if idsOfBody[c.body] == nil {
			idsOfBody[c.body] = map[string]bool{}
		}
		idsOfBody[c.body][c.id] = true
		if c.status < 300 {
			delivered[c.id]++
		}
	}
	for body, set := range idsOfBody {
		if len(set) != 1 {
			t.Errorf("body %s came with webhook-ids %v, want one", body, set)
		}
	}
	retried := 0
	for _, id := range ids {
		if delivered[id] != 1 {
			t.Errorf("event %s answered 2xx %d times, want 1", id, delivered[id])
		}
		if got[id].Attempts > 1 {
			retried++
		}
	}
	if len(calls) != failures+len(ids) || retried == 0 {
		t.Errorf("%d calls, %d events retried; want %d calls and some retried", len(calls), retried, failures+len(ids))
	}
}

// TestDeadThenReplay: a receiver that never recovers leaves the delivery
// dead after MaxAttempts; once it recovers, a replay delivers it.
func TestDeadThenReplay(t *testing.T) {
	st := openStore(t)
	var up atomic.Bool
	rcv := newReceiver(t, func(int, string) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	rcv.register(t, st, "ep")
	ids := enqueue(t, st, "ep", "evt", 1)
	set := testSettings
	set.MaxAttempts = 3
	startDispatcher(t, st, set)

	dead := allIn(t, st, "ep", store.DeliveryDead, ids)[ids[0]]
	if dead.Attempts != 3 || !strings.Contains(dead.LastError, "503") {
		t.Errorf("dead delivery: attempts %d, last error %q; want 3, a 503", dead.Attempts, dead.LastError)
	}
	if calls, _, _ := rcv.snapshot(); len(calls) != 3 {
		t.Errorf("receiver got %d calls, want 3", len(calls))
	}

	up.Store(true)
	if _, err := st.ReplayDelivery(context.Background(), "ep", ids[0], time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	done := allIn(t, st, "ep", store.DeliveryDelivered, ids)[ids[0]]
	if done.Attempts != 1 {
		t.Errorf("replayed delivery: attempts %d, want 1 (reset by the replay)", done.Attempts)
	}
	calls, _, _ := rcv.snapshot()
	if last := calls[len(calls)-1]; last.id != ids[0] || last.status != http.StatusOK {
		t.Errorf("last call: id %s status %d, want %s 200", last.id, last.status, ids[0])
	}
}

// TestEndpointConcurrency: never more than Concurrency calls in flight to
// one endpoint, counted by the receiver itself.
func TestEndpointConcurrency(t *testing.T) {
	st := openStore(t)
	rcv := newReceiver(t, nil)
	// Each call takes a while, so that calls overlap if they may.
	rcv.hold = func() { time.Sleep(15 * time.Millisecond) }
	rcv.register(t, st, "ep")
	ids := enqueue(t, st, "ep", "evt", 40)
	set := testSettings
	set.Concurrency = 3
	startDispatcher(t, st, set)

	allIn(t, st, "ep", store.DeliveryDelivered, ids)
	calls, most, _ := rcv.snapshot()
	if most > 3 {
		t.Errorf("receiver saw %d calls in flight at once, want at most 3", most)
	}
	if len(calls) != len(ids) {
		t.Errorf("receiver got %d calls, want %d", len(calls), len(ids))
	}
}

// TestSlowEndpointDoesNotBlockOthers: an endpoint whose calls never
// return (until the test ends), with a backlog older than everything else
// and larger than a claim plus its lane's queue, does not keep another
// endpoint's event from being delivered.
func TestSlowEndpointDoesNotBlockOthers(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	slow := newReceiver(t, nil)
	slow.hold = func() { <-release }
	slow.register(t, st, "slow")
	fast := newReceiver(t, nil)
	fast.register(t, st, "fast")
	enqueue(t, st, "slow", "s", 2*claimBatch+laneQueue/2)
	ids := enqueue(t, st, "fast", "f", 1)
	set := testSettings
	set.Concurrency = 2
	set.Timeout = time.Minute // the slow calls do not time out meanwhile
	startDispatcher(t, st, set)
	// Runs before the dispatcher's Close (cleanups run last first).
	t.Cleanup(func() { close(release) })

	allIn(t, st, "fast", store.DeliveryDelivered, ids)
	if calls, most, _ := slow.snapshot(); most > 2 || len(calls) > 2 {
		t.Errorf("slow endpoint: %d calls, %d at once; want at most 2", len(calls), most)
	}
}

// TestLeaseExpiry: a node claims a delivery and dies before finishing it;
// another dispatcher delivers it once the lease has run out, not before.
func TestLeaseExpiry(t *testing.T) {
	st := openStore(t)
	rcv := newReceiver(t, nil)
	rcv.register(t, st, "ep")
	ids := enqueue(t, st, "ep", "evt", 1)
	now := time.Now()
	leaseUntil := now.Add(300 * time.Millisecond)
	claimed, err := st.ClaimDeliveries(context.Background(), now.UnixMilli(), leaseUntil.UnixMilli(), 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %d rows, %v; want 1", len(claimed), err)
	}
	// The dead node's claim is never finished.
	startDispatcher(t, st, testSettings)

	allIn(t, st, "ep", store.DeliveryDelivered, ids)
	calls, _, _ := rcv.snapshot()
	if len(calls) != 1 {
		t.Fatalf("receiver got %d calls, want 1", len(calls))
	}
	// Millisecond lease resolution: the call may not come before.
	if calls[0].at.Before(leaseUntil.Truncate(time.Millisecond)) {
		t.Errorf("delivered at %v, before the dead node's lease ran out at %v", calls[0].at, leaseUntil)
	}
}

// TestDenyPrivate: with DenyPrivate, a loopback endpoint is refused when
// dialled; nothing reaches it.
func TestDenyPrivate(t *testing.T) {
	st := openStore(t)
	rcv := newReceiver(t, nil)
	rcv.register(t, st, "ep")
	ids := enqueue(t, st, "ep", "evt", 1)
	set := testSettings
	set.DenyPrivate, set.MaxAttempts = true, 2
	startDispatcher(t, st, set)

	d := allIn(t, st, "ep", store.DeliveryDead, ids)[ids[0]]
	if !strings.Contains(d.LastError, "deny_private") {
		t.Errorf("last error %q, want the deny_private refusal", d.LastError)
	}
	if calls, _, _ := rcv.snapshot(); len(calls) != 0 {
		t.Errorf("receiver got %d calls, want none", len(calls))
	}
}

// TestRedirectNotFollowed: a 3xx is a failed attempt; its target hears
// nothing.
func TestRedirectNotFollowed(t *testing.T) {
	st := openStore(t)
	target := newReceiver(t, nil)
	redirect := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirect.Close)
	secret, _ := NewSecret()
	if err := st.CreateWebhook(context.Background(), store.Webhook{ID: "ep", URL: redirect.URL, Secret: secret, Events: []string{"receipt.read"}}); err != nil {
		t.Fatal(err)
	}
	ids := enqueue(t, st, "ep", "evt", 1)
	set := testSettings
	set.MaxAttempts = 1
	startDispatcher(t, st, set)

	d := allIn(t, st, "ep", store.DeliveryDead, ids)[ids[0]]
	if !strings.Contains(d.LastError, "307") || !strings.Contains(d.LastError, "not followed") {
		t.Errorf("last error %q, want a 307 not followed", d.LastError)
	}
	if calls, _, _ := target.snapshot(); len(calls) != 0 {
		t.Errorf("redirect target got %d calls, want none", len(calls))
	}
}

// TestDeletedEndpoint: deliveries of an endpoint deleted before they were
// sent are gone, and deliveries of others go on.
func TestDeletedEndpoint(t *testing.T) {
	st := openStore(t)
	gone := newReceiver(t, nil)
	gone.register(t, st, "gone")
	kept := newReceiver(t, nil)
	kept.register(t, st, "kept")
	enqueue(t, st, "gone", "g", 3)
	d := startDispatcher(t, st, testSettings)
	if err := st.DeleteWebhook(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	ids := enqueue(t, st, "kept", "k", 2)
	d.Notify()
	allIn(t, st, "kept", store.DeliveryDelivered, ids)
	if left := states(t, st, "gone"); len(left) != 0 {
		t.Errorf("deleted endpoint keeps %d deliveries", len(left))
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, 5*time.Second
	for n := 1; n <= 40; n++ {
		ceiling := min(hi, lo<<min(n, 20))
		for range 200 {
			d := backoff(lo, hi, n)
			if d < lo || d > hi || d < ceiling/2 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v] and [%v, %v]", n, d, lo, hi, ceiling/2, ceiling)
			}
		}
	}
	// RetryMax below twice RetryMin: still never below RetryMin.
	for range 200 {
		if d := backoff(time.Second, 1500*time.Millisecond, 3); d < time.Second || d > 1500*time.Millisecond {
			t.Fatalf("backoff = %v, want within [1s, 1.5s]", d)
		}
	}
}

// TestCloseHandsBack: Close cancels the calls in flight and puts every
// held delivery back, lease released, for the next dispatcher.
func TestCloseHandsBack(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	slow := newReceiver(t, nil)
	// Before the receiver's Close (cleanups run last first), which waits
	// for its handlers.
	t.Cleanup(func() { close(release) })
	slow.hold = func() { <-release }
	slow.register(t, st, "ep")
	ids := enqueue(t, st, "ep", "evt", 10)
	set := testSettings
	set.Concurrency = 2
	set.Timeout = time.Minute
	d := New(Options{Store: st, Settings: set})
	d.Start()
	waitFor(t, 10*time.Second, func() error {
		if calls, _, _ := slow.snapshot(); len(calls) < 2 {
			return fmt.Errorf("%d calls in flight, want 2", len(calls))
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for id, r := range states(t, st, "ep") {
		if r.State != store.DeliveryPending || r.Attempts != 0 || r.LeaseUntil > time.Now().UnixMilli() {
			t.Errorf("%s after Close: state %s, attempts %d, lease until %d; want pending, 0, released", id, r.State, r.Attempts, r.LeaseUntil)
		}
	}
	if n := len(states(t, st, "ep")); n != len(ids) {
		t.Errorf("%d deliveries after Close, want %d", n, len(ids))
	}
}

// TestTimeoutRetried: a call the endpoint does not answer within Timeout
// is a failed attempt, retried.
func TestTimeoutRetried(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	rcv := newReceiver(t, func(n int, _ string) int {
		if n == 2 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	t.Cleanup(func() { close(release) })
	var calls atomic.Int32
	rcv.hold = func() {
		if calls.Add(1) == 1 {
			<-release // the first call hangs
		}
	}
	rcv.register(t, st, "ep")
	ids := enqueue(t, st, "ep", "evt", 1)
	set := testSettings
	set.Timeout = 300 * time.Millisecond
	startDispatcher(t, st, set)

	d := allIn(t, st, "ep", store.DeliveryDelivered, ids)[ids[0]]
	if d.Attempts != 3 {
		t.Errorf("attempts %d, want 3 (timeout, 502, 200)", d.Attempts)
	}
}

func TestPrivateAddr(t *testing.T) {
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true}, {"::1", true}, {"10.1.2.3", true}, {"172.16.0.1", true},
		{"192.168.1.1", true}, {"169.254.169.254", true}, {"fe80::1", true}, {"fc00::1", true},
		{"0.0.0.0", true}, {"::", true}, {"::ffff:127.0.0.1", true}, {"::ffff:10.0.0.1", true},
		{"100.64.0.1", true}, {"224.0.0.1", true},
		{"93.184.216.34", false}, {"2606:2800:220:1::1", false}, {"100.128.0.1", false}, {"8.8.8.8", false},
	} {
		if got := privateAddr(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("privateAddr(%s) = %v, want %v", c.addr, got, c.want)
		}
	}
}

// TestEndlessErrorBody: an error answer whose body never ends is read no
// further than 64 KiB; the attempt fails on its status, not on a timeout.
func TestEndlessErrorBody(t *testing.T) {
	st := openStore(t)
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		chunk := []byte(strings.Repeat("x", 4096))
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(endless.Close)
	secret, _ := NewSecret()
	if err := st.CreateWebhook(context.Background(), store.Webhook{ID: "ep", URL: endless.URL, Secret: secret, Events: []string{"receipt.read"}}); err != nil {
		t.Fatal(err)
	}
	ids := enqueue(t, st, "ep", "evt", 1)
	set := testSettings
	set.MaxAttempts, set.Timeout = 1, time.Minute
	startDispatcher(t, st, set)

	d := allIn(t, st, "ep", store.DeliveryDead, ids)[ids[0]]
	if !strings.HasPrefix(d.LastError, "webhook: status 500: xxx") || len(d.LastError) > maxLastError+len("…") {
		t.Errorf("last error %.80q… (%d bytes), want the status and a clipped body", d.LastError, len(d.LastError))
	}
}

// TestDispatchersShareOutbox: two dispatchers on one store (two nodes)
// deliver every event once between them.
func TestDispatchersShareOutbox(t *testing.T) {
	st := openStore(t)
	rcv := newReceiver(t, nil)
	rcv.register(t, st, "ep")
	ids := enqueue(t, st, "ep", "evt", 200)
	startDispatcher(t, st, testSettings)
	startDispatcher(t, st, testSettings)

	allIn(t, st, "ep", store.DeliveryDelivered, ids)
	calls, _, _ := rcv.snapshot()
	seen := map[string]int{}
	for _, c := range calls {
		seen[c.id]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("event %s delivered %d times, want 1", id, seen[id])
		}
	}
}
