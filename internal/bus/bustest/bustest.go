// Package bustest is the conformance suite every bus.Bus implementation
// must pass. An implementation's test calls Run with a function that makes
// a new, empty bus:
//
//	func TestConformance(t *testing.T) {
//		bustest.Run(t, func(t *testing.T) bus.Bus { ... })
//	}
//
// newBus must arrange for the bus to be closed when t ends (t.Cleanup) and
// must tolerate the suite having closed it already.
//
// Deliveries may be asynchronous (a NATS bus hands events to a delivery
// goroutine), so the suite waits for what must arrive, with a generous
// timeout, and never sleeps. To show that something did not arrive, it
// publishes a marker event to the same subscriber afterwards and waits for
// the marker: events from one publisher reach each subscription in the
// order they were published, so once the marker is there, anything
// published before it would be too. The order holds across Publish and
// PublishConv, and across the subscriptions of one node: a marker to
// another user of the same node also shows that nothing is still due.
//
// RunCluster adds the cases that need two buses on one backend (two
// nodes).
package bustest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/bus"
)

// waitTimeout bounds every wait for a delivery.
const waitTimeout = 10 * time.Second

// Run runs the conformance suite, each subtest on a bus of its own.
func Run(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b bus.Bus)
	}{
		{"PublishReachesOnlyNamedUsers", testPublishReachesOnlyNamedUsers},
		{"SeveralSubscribersPerUser", testSeveralSubscribersPerUser},
		{"EventArrivesIntact", testEventArrivesIntact},
		{"OrderPerPublisher", testOrderPerPublisher},
		{"NoSubscribers", testNoSubscribers},
		{"Cancel", testCancel},
		{"CancelIdempotent", testCancelIdempotent},
		{"ResubscribeAfterCancel", testResubscribeAfterCancel},
		{"Closed", testClosed},
		{"Concurrent", testConcurrent},
		{"ConvAudience", testConvAudience},
		{"ConvLarge", testConvLarge},
		{"OrderAcrossPublishAndConv", testOrderAcrossPublishAndConv},
		{"SyncAlone", testSyncAlone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newBus(t))
		})
	}
}

// sink records the events one subscription receives.
type sink struct {
	mu     sync.Mutex
	events []bus.Event   // guarded by mu
	notify chan struct{} // signalled, without blocking, after each event
}

func newSink() *sink { return &sink{notify: make(chan struct{}, 1)} }

// handle is the subscription's bus.Handler: it never blocks.
func (s *sink) handle(ev bus.Event) {
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// got returns a copy of the events received so far.
func (s *sink) got() []bus.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bus.Event(nil), s.events...)
}

// waitFor waits until the sink has received an event whose Data is data
// and returns every event received up to and including it.
func (s *sink) waitFor(t *testing.T, name string, data []byte) []bus.Event {
	t.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for {
		got := s.got()
		for i, ev := range got {
			if bytes.Equal(ev.Data, data) {
				return got[:i+1]
			}
		}
		select {
		case <-s.notify:
		case <-timeout.C:
			t.Fatalf("%s: no event %s within %v; got %s", name, data, waitTimeout, datas(got))
			return nil
		}
	}
}

// datas renders events' data for failure messages.
func datas(evs []bus.Event) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, ev := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.Write(ev.Data)
	}
	b.WriteByte(']')
	return b.String()
}

// subscribe subscribes a new sink to user and cancels it when t ends.
func subscribe(t *testing.T, b bus.Bus, user string) *sink {
	t.Helper()
	s := newSink()
	cancel, err := b.Subscribe(user, s.handle)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", user, err)
	}
	if cancel == nil {
		t.Fatalf("Subscribe(%q) returned a nil cancel func", user)
	}
	t.Cleanup(cancel)
	return s
}

func publish(t *testing.T, b bus.Bus, users []string, ev bus.Event) {
	t.Helper()
	if err := b.Publish(context.Background(), users, ev); err != nil {
		t.Fatalf("Publish(%v, %s): %v", users, ev.Data, err)
	}
}

// event returns an event whose data is a small JSON notification naming tag.
func event(tag string) bus.Event {
	return bus.Event{Data: fmt.Appendf(nil, `{"jsonrpc":"2.0","method":"test","params":{"tag":%q}}`, tag)}
}

// wantData checks that evs carry exactly the data of want, in order.
func wantData(t *testing.T, name string, evs []bus.Event, want ...bus.Event) {
	t.Helper()
	ok := len(evs) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = bytes.Equal(evs[i].Data, want[i].Data)
	}
	if !ok {
		t.Errorf("%s got %s, want %s", name, datas(evs), datas(want))
	}
}

func testPublishReachesOnlyNamedUsers(t *testing.T, b bus.Bus) {
	alice := subscribe(t, b, "alice")
	bob := subscribe(t, b, "bob")
	carol := subscribe(t, b, "carol")
	// Users whose ids share a prefix, or contain a dot, must not hear each
	// other's events (subject-based buses are prone to that).
	al := subscribe(t, b, "al")
	dotted := subscribe(t, b, "alice.smith")

	ev := event("to alice and bob")
	publish(t, b, []string{"alice", "bob"}, ev)
	// The marker goes to everyone, those who must not have ev included:
	// ordering holds per subscription, not across them.
	marker := event("marker")
	publish(t, b, []string{"alice", "bob", "carol", "al", "alice.smith"}, marker)

	wantData(t, "alice", alice.waitFor(t, "alice", marker.Data), ev, marker)
	wantData(t, "bob", bob.waitFor(t, "bob", marker.Data), ev, marker)
	wantData(t, "carol", carol.waitFor(t, "carol", marker.Data), marker)
	wantData(t, "al", al.waitFor(t, "al", marker.Data), marker)
	wantData(t, "alice.smith", dotted.waitFor(t, "alice.smith", marker.Data), marker)
}

func testSeveralSubscribersPerUser(t *testing.T, b bus.Bus) {
	const n = 3
	sinks := make([]*sink, n)
	for i := range sinks {
		sinks[i] = subscribe(t, b, "alice")
	}
	other := subscribe(t, b, "bob")

	ev := event("to every device of alice")
	publish(t, b, []string{"alice"}, ev)
	marker := event("marker")
	publish(t, b, []string{"alice", "bob"}, marker)
	for i, s := range sinks {
		name := fmt.Sprintf("alice's subscriber %d", i)
		wantData(t, name, s.waitFor(t, name, marker.Data), ev, marker)
	}
	wantData(t, "bob", other.waitFor(t, "bob", marker.Data), marker)
}

func testEventArrivesIntact(t *testing.T, b bus.Bus) {
	alice := subscribe(t, b, "alice")
	bob := subscribe(t, b, "bob")
	ev := bus.Event{
		Data:       []byte(`{"jsonrpc":"2.0","method":"message.new","params":{"message":{"body":{"text":"héllo ✓ \u0000 \"quoted\"\n"}}}}`),
		ExceptConn: "conn-7f3a",
	}
	plain := bus.Event{Data: []byte(`{"jsonrpc":"2.0","method":"group.member","params":{}}`)}
	publish(t, b, []string{"alice", "bob"}, ev)
	publish(t, b, []string{"alice", "bob"}, plain)
	for name, s := range map[string]*sink{"alice": alice, "bob": bob} {
		got := s.waitFor(t, name, plain.Data)
		if len(got) != 2 {
			t.Fatalf("%s got %d events, want 2: %s", name, len(got), datas(got))
		}
		if !bytes.Equal(got[0].Data, ev.Data) || got[0].ExceptConn != ev.ExceptConn {
			t.Errorf("%s got {Data: %s, ExceptConn: %q}, want {Data: %s, ExceptConn: %q}",
				name, got[0].Data, got[0].ExceptConn, ev.Data, ev.ExceptConn)
		}
		// The bus hands ExceptConn to the handlers, which do the skipping:
		// the bus itself does not know connection ids.
		if got[1].ExceptConn != "" {
			t.Errorf("%s got ExceptConn %q on an event published without one", name, got[1].ExceptConn)
		}
	}
}

// testOrderPerPublisher checks the ordering the rest of the suite relies
// on: one publisher's events reach a subscription in publish order.
func testOrderPerPublisher(t *testing.T, b bus.Bus) {
	alice := subscribe(t, b, "alice")
	bob := subscribe(t, b, "bob")
	const n = 200
	want := make([]bus.Event, n)
	for i := range want {
		want[i] = event(fmt.Sprint(i))
		publish(t, b, []string{"alice", "bob"}, want[i])
	}
	wantData(t, "alice", alice.waitFor(t, "alice", want[n-1].Data), want...)
	wantData(t, "bob", bob.waitFor(t, "bob", want[n-1].Data), want...)
}

func testNoSubscribers(t *testing.T, b bus.Bus) {
	publish(t, b, []string{"nobody", "nobody-else"}, event("lost"))
	publish(t, b, nil, event("to no one"))
	publish(t, b, []string{}, event("to no one either"))
	// The bus still works afterwards.
	alice := subscribe(t, b, "alice")
	ev := event("found")
	publish(t, b, []string{"nobody", "alice"}, ev)
	wantData(t, "alice", alice.waitFor(t, "alice", ev.Data), ev)
}

func testCancel(t *testing.T, b bus.Bus) {
	kept := subscribe(t, b, "alice")
	dropped := newSink()
	cancel, err := b.Subscribe("alice", dropped.handle)
	if err != nil {
		t.Fatal(err)
	}
	before := event("before cancel")
	publish(t, b, []string{"alice"}, before)
	dropped.waitFor(t, "cancelled subscriber", before.Data)
	kept.waitFor(t, "kept subscriber", before.Data)

	cancel()
	after := event("after cancel")
	publish(t, b, []string{"alice"}, after)
	marker := event("marker")
	publish(t, b, []string{"alice"}, marker)
	wantData(t, "kept subscriber", kept.waitFor(t, "kept subscriber", marker.Data), before, after, marker)
	// The cancelled subscriber has no marker to wait for; its sibling got
	// both events, which is as long as a delivery can take to be due.
	wantData(t, "cancelled subscriber", dropped.got(), before)
}

func testCancelIdempotent(t *testing.T, b bus.Bus) {
	first := newSink()
	cancel, err := b.Subscribe("alice", first.handle)
	if err != nil {
		t.Fatal(err)
	}
	second := subscribe(t, b, "alice")
	cancel()
	// A second cancel is a no-op: it must neither panic nor take the
	// user's other subscription with it.
	cancel()
	ev := event("after double cancel")
	publish(t, b, []string{"alice"}, ev)
	wantData(t, "remaining subscriber", second.waitFor(t, "remaining subscriber", ev.Data), ev)
	wantData(t, "cancelled subscriber", first.got())
}

func testResubscribeAfterCancel(t *testing.T, b bus.Bus) {
	s := newSink()
	cancel, err := b.Subscribe("alice", s.handle)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	// The user had no subscription left; a new one starts from scratch.
	again := subscribe(t, b, "alice")
	ev := event("to the new subscription")
	publish(t, b, []string{"alice"}, ev)
	wantData(t, "new subscriber", again.waitFor(t, "new subscriber", ev.Data), ev)
	wantData(t, "cancelled subscriber", s.got())
}

func testClosed(t *testing.T, b bus.Bus) {
	s := newSink()
	cancel, err := b.Subscribe("alice", s.handle)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Publish(context.Background(), []string{"alice"}, event("after close")); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after Close = %v, want bus.ErrClosed", err)
	}
	if err := b.PublishConv(context.Background(), bus.Audience{Conv: "g/x", Members: []string{"alice"}}, event("after close")); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("PublishConv after Close = %v, want bus.ErrClosed", err)
	}
	if _, err := b.Subscribe("alice", newSink().handle); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want bus.ErrClosed", err)
	}
	// A subscription made before Close may still be cancelled: its
	// owner (a connection) tears down after the bus.
	cancel()
	cancel()
	wantData(t, "subscriber", s.got())
}

// testConcurrent runs publishers, subscribers and cancels at once; run
// under -race it checks the bus's locking, and at the end that the bus
// still delivers.
func testConcurrent(t *testing.T, b bus.Bus) {
	users := []string{"u0", "u1", "u2", "u3"}
	const (
		workers = 8
		rounds  = 200
	)
	ctx := context.Background()
	errc := make(chan error, 2*workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(2)
		go func() { // publisher
			defer wg.Done()
			for i := range rounds {
				ev := event(fmt.Sprintf("w%d-%d", w, i))
				ev.ExceptConn = fmt.Sprint("conn-", w)
				if err := b.Publish(ctx, users[i%len(users):], ev); err != nil {
					errc <- fmt.Errorf("publisher %d: %w", w, err)
					return
				}
			}
		}()
		go func() { // subscriber that comes and goes
			defer wg.Done()
			for i := range rounds {
				s := newSink()
				cancel, err := b.Subscribe(users[(w+i)%len(users)], s.handle)
				if err != nil {
					errc <- fmt.Errorf("subscriber %d: %w", w, err)
					return
				}
				if i%2 == 0 {
					cancel()
				} else {
					defer cancel() // some stay subscribed while others publish
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	for _, u := range users {
		s := subscribe(t, b, u)
		ev := event("after the storm to " + u)
		publish(t, b, []string{u}, ev)
		s.waitFor(t, u, ev.Data)
	}
}
