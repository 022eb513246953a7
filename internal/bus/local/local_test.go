package local_test

import (
	"testing"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/bus/bustest"
	"github.com/seen-im/seen/internal/bus/local"
)

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus {
		b := local.New()
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

// TestReachesKnowsTheCausingConnection: an event to a user whose only
// subscriber is the connection that caused it reaches nobody, so its
// publisher need not encode it; any other subscriber, or one whose
// connection is not known, is reached. ReachesUser, for one user, answers
// as Reaches does.
func TestReachesKnowsTheCausingConnection(t *testing.T) {
	b := local.New()
	t.Cleanup(func() { _ = b.Close() })
	nop := func(bus.Event) {}
	reaches := func(user, conn string) bool {
		t.Helper()
		want := b.Reaches([]string{user}, conn)
		if got := b.ReachesUser(user, conn); got != want {
			t.Errorf("ReachesUser(%q, %q) = %v, Reaches says %v", user, conn, got, want)
		}
		return want
	}
	if reaches("ann", "c1") {
		t.Error("no subscriber at all: reached")
	}
	cancel1, err := b.SubscribeConn("ann", "c1", nop)
	if err != nil {
		t.Fatal(err)
	}
	if reaches("ann", "c1") {
		t.Error("only the causing connection subscribed: reached")
	}
	if !reaches("ann", "") || !reaches("ann", "c9") {
		t.Error("another connection's event to ann's only subscriber: not reached")
	}
	cancel2, err := b.SubscribeConn("ann", "c2", nop)
	if err != nil {
		t.Fatal(err)
	}
	if !reaches("ann", "c1") {
		t.Error("ann's second device subscribed: not reached")
	}
	cancel2()
	if _, err := b.Subscribe("ann", nop); err != nil {
		t.Fatal(err)
	}
	if !reaches("ann", "c1") {
		t.Error("a subscriber of unknown connection: not reached")
	}
	cancel1()
	if !b.Reaches([]string{"bob", "ann"}, "c1") {
		t.Error("a later user's subscriber: not reached")
	}
}
