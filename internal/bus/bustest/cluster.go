package bustest

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/bus"
)

// Membership is the suite's record of conversations' members: what every
// node's Resolver answers in RunCluster.
type Membership struct {
	mu      sync.Mutex
	members map[string][]string // conv -> members; guarded by mu
}

// Set records conv's members.
func (m *Membership) Set(conv string, users []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.members == nil {
		m.members = make(map[string][]string)
	}
	m.members[conv] = append([]string(nil), users...)
}

// Resolve is a bus.Resolver over the recorded members.
func (m *Membership) Resolve(_ context.Context, conv string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.members[conv], nil
}

// RunCluster runs the cases that need two nodes: newNodes returns two
// buses on one backend (two server nodes), each resolving conversations'
// members through resolve, and arranges for both to be closed when t
// ends.
func RunCluster(t *testing.T, newNodes func(t *testing.T, resolve bus.Resolver) (a, b bus.Bus)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, m *Membership, a, b bus.Bus)
	}{
		{"PublishReachesEveryNodeOnce", testClusterPublish},
		{"ConvAcrossNodes", testClusterConv},
		{"ConvLargeAcrossNodes", testClusterConvLarge},
		{"CancelOnOneNode", testClusterCancel},
		{"OrderAcrossNodes", testClusterOrder},
		{"SyncInOrderWithEvents", testClusterSyncOrder},
		{"BarrierAfterSync", testClusterBarrier},
		{"NodesAgree", testClusterNodes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Membership{}
			a, b := newNodes(t, m.Resolve)
			tt.fn(t, m, a, b)
		})
	}
}

// testClusterPublish: a user with sockets on both nodes gets an event on
// both, each exactly once, whichever node published it; ExceptConn
// travels.
func testClusterPublish(t *testing.T, _ *Membership, a, b bus.Bus) {
	aliceA := subscribe(t, a, "alice")
	aliceB := subscribe(t, b, "alice")
	bobB := subscribe(t, b, "bob")
	carolA := subscribe(t, a, "carol")

	fromA := event("from node a")
	fromA.ExceptConn = "conn-a1"
	publish(t, a, []string{"alice", "bob"}, fromA)
	fromB := event("from node b")
	publish(t, b, []string{"alice", "bob"}, fromB)
	// Each node's events keep their order per subscription, not across
	// publishers: wait for each publisher's marker.
	markA, markB := event("marker a"), event("marker b")
	everyone := []string{"alice", "bob", "carol"}
	publish(t, a, everyone, markA)
	publish(t, b, everyone, markB)

	for name, s := range map[string]*sink{"alice on a": aliceA, "alice on b": aliceB, "bob on b": bobB} {
		s.waitFor(t, name, markA.Data)
		s.waitFor(t, name, markB.Data)
		got := s.got()
		wantSet(t, name, got, fromA, fromB, markA, markB)
		for _, ev := range got {
			if string(ev.Data) == string(fromA.Data) && ev.ExceptConn != fromA.ExceptConn {
				t.Errorf("%s got ExceptConn %q, want %q", name, ev.ExceptConn, fromA.ExceptConn)
			}
		}
	}
	carolA.waitFor(t, "carol on a", markA.Data)
	carolA.waitFor(t, "carol on a", markB.Data)
	wantSet(t, "carol on a", carolA.got(), markA, markB)
}

// wantSet checks that evs hold exactly want, each once, in any order.
func wantSet(t *testing.T, name string, evs []bus.Event, want ...bus.Event) {
	t.Helper()
	count := make(map[string]int)
	for _, ev := range evs {
		count[string(ev.Data)]++
	}
	ok := len(evs) == len(want)
	for _, w := range want {
		ok = ok && count[string(w.Data)] == 1
	}
	if !ok {
		t.Errorf("%s got %s, want each of %s once", name, datas(evs), datas(want))
	}
}

func testClusterConv(t *testing.T, m *Membership, a, b bus.Bus) {
	team := []string{"alice", "bob", "carol"}
	m.Set("g/team", team)
	aliceA := subscribe(t, a, "alice")
	aliceB := subscribe(t, b, "alice")
	bobB := subscribe(t, b, "bob")
	carolB := subscribe(t, b, "carol")
	daveB := subscribe(t, b, "dave")
	eveB := subscribe(t, b, "eve")

	ev := event("to the team")
	ev.ExceptConn = "conn-a1"
	publishConv(t, a, bus.Audience{Conv: "g/team", Members: team, Also: []string{"dave"}, Except: []string{"bob"}}, ev)
	marker := event("marker")
	publish(t, a, []string{"alice", "bob", "carol", "dave", "eve"}, marker)
	wantData(t, "alice on a", aliceA.waitFor(t, "alice on a", marker.Data), ev, marker)
	for u, want := range map[string][]bus.Event{
		"alice": {ev, marker}, "bob": {marker}, "carol": {ev, marker}, "dave": {ev, marker},
	} {
		s := map[string]*sink{"alice": aliceB, "bob": bobB, "carol": carolB, "dave": daveB}[u]
		got := s.waitFor(t, u+" on b", marker.Data)
		wantData(t, u+" on b", got, want...)
		if len(got) == 2 && got[0].ExceptConn != ev.ExceptConn {
			t.Errorf("%s on b got ExceptConn %q, want %q", u, got[0].ExceptConn, ev.ExceptConn)
		}
	}
	wantData(t, "eve on b", eveB.waitFor(t, "eve on b", marker.Data), marker)
}

// testClusterConvLarge publishes to a group too large to list per user:
// node b finds its recipients among the members its resolver names, and
// a member removed a moment ago (in Also, gone from b's view) still hears
// of it.
func testClusterConvLarge(t *testing.T, m *Membership, a, b bus.Bus) {
	all := members(largeGroup, "alice")
	m.Set("g/big", all)
	aliceA := subscribe(t, a, "alice")
	aliceB := subscribe(t, b, "alice")
	firstB := subscribe(t, b, "m0")
	senderB := subscribe(t, b, "m1")
	outsiderB := subscribe(t, b, "zed")

	ev := event("to a large group")
	publishConv(t, a, bus.Audience{Conv: "g/big", Members: all, Except: []string{"m1"}}, ev)
	listed := event("to a long list")
	publish(t, a, all, listed)
	// b resolves when the event arrives: wait until it has, before the
	// membership changes under it.
	first := event("first marker")
	publish(t, a, []string{"m0"}, first)
	firstB.waitFor(t, "m0 on b", first.Data)

	// m0 is removed: b's view no longer holds it, a's call still did.
	m.Set("g/big", members(largeGroup, "alice")[1:])
	removed := event("m0 removed")
	publishConv(t, a, bus.Audience{Conv: "g/big", Members: all, Also: []string{"m0"}}, removed)
	after := event("after the removal")
	publishConv(t, a, bus.Audience{Conv: "g/big", Members: all[1:]}, after)

	marker := event("marker")
	publish(t, a, []string{"alice", "m0", "m1", "zed"}, marker)
	wantData(t, "alice on a", aliceA.waitFor(t, "alice on a", marker.Data), ev, listed, removed, after, marker)
	wantData(t, "alice on b", aliceB.waitFor(t, "alice on b", marker.Data), ev, listed, removed, after, marker)
	wantData(t, "m0 on b", firstB.waitFor(t, "m0 on b", marker.Data), ev, listed, first, removed, marker)
	wantData(t, "excepted sender on b", senderB.waitFor(t, "excepted sender on b", marker.Data), listed, removed, after, marker)
	wantData(t, "outsider on b", outsiderB.waitFor(t, "outsider on b", marker.Data), marker)
}

// testClusterCancel: cancelling on b stops b's delivery, for a user who
// keeps another socket on b and for one who has none left there; a's
// subscriptions are untouched, and a new subscription on b hears again.
func testClusterCancel(t *testing.T, m *Membership, a, b bus.Bus) {
	group := members(largeGroup, "alice", "bob")
	m.Set("g/x", group)
	aliceA := subscribe(t, a, "alice")
	aliceB1 := subscribe(t, b, "alice")
	aliceB2 := newSink()
	cancelAlice, err := b.Subscribe("alice", aliceB2.handle)
	if err != nil {
		t.Fatal(err)
	}
	bobB := newSink()
	cancelBob, err := b.Subscribe("bob", bobB.handle)
	if err != nil {
		t.Fatal(err)
	}
	carolB := subscribe(t, b, "carol")
	before := event("before cancel")
	publish(t, a, []string{"alice", "bob"}, before)
	aliceB2.waitFor(t, "alice's second socket on b", before.Data)
	bobB.waitFor(t, "bob on b", before.Data)

	cancelAlice()
	cancelBob()
	afterEv := event("after cancel")
	publish(t, a, []string{"alice", "bob"}, afterEv)
	publishConv(t, a, bus.Audience{Conv: "g/x", Members: group}, afterEv)
	marker := event("marker")
	publish(t, a, []string{"alice", "carol"}, marker)
	// carol's marker shows b has had everything a published before it.
	carolB.waitFor(t, "carol on b", marker.Data)
	wantData(t, "alice on a", aliceA.waitFor(t, "alice on a", marker.Data), before, afterEv, afterEv, marker)
	wantData(t, "alice's first socket on b", aliceB1.waitFor(t, "alice's first socket on b", marker.Data), before, afterEv, afterEv, marker)
	wantData(t, "alice's cancelled socket on b", aliceB2.got(), before)
	wantData(t, "bob's cancelled socket on b", bobB.got(), before)

	again := subscribe(t, b, "bob")
	ev := event("to bob's new socket")
	publish(t, a, []string{"bob"}, ev)
	wantData(t, "bob's new socket on b", again.waitFor(t, "bob's new socket on b", ev.Data), ev)
}

// testClusterOrder: one node's events reach the other in publish order,
// whichever method and path each took.
func testClusterOrder(t *testing.T, m *Membership, a, b bus.Bus) {
	large := members(largeGroup, "alice")
	m.Set("g/small", []string{"alice", "bob"})
	m.Set("g/large", large)
	aliceB := subscribe(t, b, "alice")
	const n = 200
	want := make([]bus.Event, n)
	for i := range want {
		want[i] = event(fmt.Sprint(i))
		switch i % 4 {
		case 0:
			publish(t, a, []string{"alice"}, want[i])
		case 1:
			publishConv(t, a, bus.Audience{Conv: "g/small", Members: []string{"alice", "bob"}}, want[i])
		case 2:
			publishConv(t, a, bus.Audience{Conv: "g/large", Members: large}, want[i])
		case 3:
			publish(t, a, large, want[i])
		}
	}
	wantData(t, "alice on b", aliceB.waitFor(t, "alice on b", want[n-1].Data), want...)
}
