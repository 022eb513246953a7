package bustest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/bus"
)

// syncSink records sync messages into a sink, as events whose data is
// "sync:" and the message, so their order with events shows in one list;
// lost counts SyncLost calls.
type syncSink struct {
	*sink
	mu   sync.Mutex
	lost []string // guarded by mu
}

func (s *syncSink) ApplySync(data []byte) {
	s.handle(bus.Event{Data: append([]byte("sync:"), data...)})
}

func (s *syncSink) SyncLost(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost = append(s.lost, reason)
}

// testSyncAlone: a bus alone (or the first node) accepts sync messages,
// passes a Barrier, and names itself among the live nodes.
func testSyncAlone(t *testing.T, b bus.Bus) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	b.SetSync(&syncSink{sink: newSink()})
	if err := b.PublishSync(ctx, []byte("x")); err != nil {
		t.Fatalf("PublishSync: %v", err)
	}
	if err := b.Barrier(ctx); err != nil {
		t.Fatalf("Barrier: %v", err)
	}
	self, live := b.Nodes()
	if self == "" || !slices.Contains(live, self) {
		t.Errorf("Nodes() = %q, %v: want a non-empty self among the live", self, live)
	}
}

// testClusterSyncOrder: a node's sync messages reach the other node's
// receiver (never its own), in order with its events, whichever way those
// went (a user's subject, a large conversation resolved there): a
// membership change published before a group message is applied before
// that message is delivered.
func testClusterSyncOrder(t *testing.T, m *Membership, a, b bus.Bus) {
	large := members(largeGroup, "alice")
	m.Set("g/large", large)
	got := &syncSink{sink: subscribe(t, b, "alice")}
	b.SetSync(got)
	own := &syncSink{sink: newSink()}
	a.SetSync(own)
	ctx := context.Background()
	var want []bus.Event
	for i := range 30 {
		s := event(fmt.Sprint("s", i))
		if err := a.PublishSync(ctx, s.Data); err != nil {
			t.Fatalf("PublishSync: %v", err)
		}
		want = append(want, bus.Event{Data: append([]byte("sync:"), s.Data...)})
		ev := event(fmt.Sprint("e", i))
		if i%2 == 0 {
			publish(t, a, []string{"alice"}, ev)
		} else {
			publishConv(t, a, bus.Audience{Conv: "g/large", Members: large}, ev)
		}
		want = append(want, ev)
	}
	wantData(t, "alice and sync on b", got.waitFor(t, "alice on b", want[len(want)-1].Data), want...)
	if n := len(own.got()); n != 0 {
		t.Errorf("node a received %d of its own sync messages, want 0", n)
	}
}

// testClusterBarrier: once PublishSync has returned on one node, a Barrier
// on the other returns only after the message was applied there: no
// waiting, no polling.
func testClusterBarrier(t *testing.T, _ *Membership, a, b bus.Bus) {
	got := &syncSink{sink: newSink()}
	b.SetSync(got)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for i := range 100 {
		data := fmt.Appendf(nil, "op %d", i)
		if err := a.PublishSync(ctx, data); err != nil {
			t.Fatalf("PublishSync: %v", err)
		}
		if err := b.Barrier(ctx); err != nil {
			t.Fatalf("Barrier: %v", err)
		}
		evs := got.got()
		if len(evs) != i+1 || string(evs[i].Data) != "sync:"+string(data) {
			t.Fatalf("after Barrier, b has %s; want %d messages, the last %q", datas(evs), i+1, data)
		}
	}
}

// testClusterNodes: each node soon names both as live, the same list on
// each, and itself in it.
func testClusterNodes(t *testing.T, _ *Membership, a, b bus.Bus) {
	deadline := time.Now().Add(waitTimeout)
	for {
		selfA, liveA := a.Nodes()
		selfB, liveB := b.Nodes()
		if len(liveA) == 2 && slices.Equal(liveA, liveB) && selfA != selfB &&
			slices.Contains(liveA, selfA) && slices.Contains(liveA, selfB) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes do not agree: a = %q %v, b = %q %v", selfA, liveA, selfB, liveB)
		}
		time.Sleep(20 * time.Millisecond) // polling, not an assertion
	}
}
