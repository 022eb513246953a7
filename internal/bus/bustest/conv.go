package bustest

import (
	"context"
	"fmt"
	"testing"

	"github.com/seen-im/seen/internal/bus"
)

// largeGroup is more members than any bus should list in one message per
// user: a bus that sends one message per conversation takes its other path.
const largeGroup = 300

func publishConv(t *testing.T, b bus.Bus, a bus.Audience, ev bus.Event) {
	t.Helper()
	if err := b.PublishConv(context.Background(), a, ev); err != nil {
		t.Fatalf("PublishConv(%s, %s): %v", a.Conv, ev.Data, err)
	}
}

// members returns n user ids "m0".."m<n-1>" followed by extra.
func members(n int, extra ...string) []string {
	out := make([]string, 0, n+len(extra))
	for i := range n {
		out = append(out, fmt.Sprint("m", i))
	}
	return append(out, extra...)
}

func testConvAudience(t *testing.T, b bus.Bus) {
	sinks := map[string]*sink{}
	for _, u := range []string{"alice", "bob", "carol", "dave", "eve"} {
		sinks[u] = subscribe(t, b, u)
	}
	// alice is both a member and in Also: she gets the event once. bob is
	// a member but excepted; dave is not a member but in Also; eve is
	// neither.
	a := bus.Audience{
		Conv:    "g/team",
		Members: []string{"alice", "bob", "carol"},
		Also:    []string{"dave", "alice", "dave"},
		Except:  []string{"bob"},
	}
	ev := event("to the team")
	ev.ExceptConn = "conn-1"
	publishConv(t, b, a, ev)
	marker := event("marker")
	publish(t, b, []string{"alice", "bob", "carol", "dave", "eve"}, marker)
	for u, want := range map[string][]bus.Event{
		"alice": {ev, marker}, "bob": {marker}, "carol": {ev, marker}, "dave": {ev, marker}, "eve": {marker},
	} {
		got := sinks[u].waitFor(t, u, marker.Data)
		wantData(t, u, got, want...)
		if len(want) == 2 && len(got) == 2 && got[0].ExceptConn != ev.ExceptConn {
			t.Errorf("%s got ExceptConn %q, want %q", u, got[0].ExceptConn, ev.ExceptConn)
		}
	}
}

func testConvLarge(t *testing.T, b bus.Bus) {
	all := members(largeGroup, "alice")
	alice := subscribe(t, b, "alice")
	first := subscribe(t, b, "m0")
	last := subscribe(t, b, fmt.Sprint("m", largeGroup-1))
	sender := subscribe(t, b, "m1")
	outsider := subscribe(t, b, "zed")

	ev := event("to a large group")
	publishConv(t, b, bus.Audience{Conv: "g/big", Members: all, Except: []string{"m1"}}, ev)
	// Publish to a long list takes a bus's batched path too.
	listed := event("to a long list")
	publish(t, b, all, listed)
	marker := event("marker")
	publish(t, b, []string{"alice", "m0", "m1", fmt.Sprint("m", largeGroup-1), "zed"}, marker)
	wantData(t, "alice", alice.waitFor(t, "alice", marker.Data), ev, listed, marker)
	wantData(t, "m0", first.waitFor(t, "m0", marker.Data), ev, listed, marker)
	wantData(t, "last member", last.waitFor(t, "last member", marker.Data), ev, listed, marker)
	wantData(t, "excepted sender", sender.waitFor(t, "excepted sender", marker.Data), listed, marker)
	wantData(t, "outsider", outsider.waitFor(t, "outsider", marker.Data), marker)
}

// testOrderAcrossPublishAndConv checks that one publisher's events keep
// their order whichever method, and whichever path inside the bus, each
// took.
func testOrderAcrossPublishAndConv(t *testing.T, b bus.Bus) {
	alice := subscribe(t, b, "alice")
	small := bus.Audience{Conv: "g/small", Members: []string{"alice", "bob"}}
	large := bus.Audience{Conv: "g/large", Members: members(largeGroup, "alice")}
	long := members(largeGroup, "alice")
	const n = 60
	want := make([]bus.Event, n)
	for i := range want {
		want[i] = event(fmt.Sprint(i))
		switch i % 4 {
		case 0:
			publish(t, b, []string{"alice"}, want[i])
		case 1:
			publishConv(t, b, small, want[i])
		case 2:
			publishConv(t, b, large, want[i])
		case 3:
			publish(t, b, long, want[i])
		}
	}
	wantData(t, "alice", alice.waitFor(t, "alice", want[n-1].Data), want...)
}
