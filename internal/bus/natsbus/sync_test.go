package natsbus_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/bus/natsbus"
)

// lostLog records SyncLost reasons.
type lostLog struct {
	mu      sync.Mutex
	reasons []string
}

func (l *lostLog) ApplySync([]byte) {}

func (l *lostLog) SyncLost(reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reasons = append(l.reasons, reason)
}

func (l *lostLog) count(reason string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reasons {
		if r == reason {
			n++
		}
	}
	return n
}

// fastBus is a bus with a quick heartbeat, so a silent node is noticed
// within a test's patience.
func fastBus(t *testing.T, s *server.Server, name string) *natsbus.Bus {
	t.Helper()
	b, err := natsbus.New(natsbus.Options{
		Name: name, Heartbeat: 20 * time.Millisecond, PeerTimeout: 200 * time.Millisecond,
		Log:  slog.New(slog.DiscardHandler),
		NATS: []nats.Option{nats.InProcessServer(s)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPeerGoneOrRestartedIsLost: a node that falls silent, or comes back
// as a new incarnation under the same name, makes the others drop what
// they built from its messages (it may have committed writes it never
// published), and leaves or rejoins the live list.
func TestPeerGoneOrRestartedIsLost(t *testing.T) {
	s := startServer(t)
	a := fastBus(t, s, "node-a")
	log := &lostLog{}
	a.SetSync(log)
	b := fastBus(t, s, "node-b")
	live := func(want ...string) func() bool {
		return func() bool { _, l := a.Nodes(); return slices.Equal(l, want) }
	}
	waitFor(t, "a to see b", live("node-a", "node-b"))
	if n := log.count(bus.LostPeer); n != 0 {
		t.Fatalf("a new node counted as lost %d times, want 0", n)
	}

	_ = b.Close()
	waitFor(t, "a to count b gone", func() bool { return log.count(bus.LostPeer) == 1 })
	if !live("node-a")() {
		_, l := a.Nodes()
		t.Errorf("live after b went silent: %v, want [node-a]", l)
	}

	// The same name, a new bus: a restarted node.
	fastBus(t, s, "node-b")
	waitFor(t, "a to see b again", live("node-a", "node-b"))
	waitFor(t, "a to count b's return as a loss", func() bool { return log.count(bus.LostPeer) == 2 })
}

// TestReconnectIsLost: a node whose connection comes back drops what it
// built from other nodes' messages.
func TestReconnectIsLost(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	url := s.ClientURL()
	opts.Port = s.Addr().(*net.TCPAddr).Port
	b, err := natsbus.New(natsbus.Options{URL: url, ReconnectWait: 20 * time.Millisecond, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	log := &lostLog{}
	b.SetSync(log)
	s.Shutdown()
	s.WaitForShutdown()
	waitFor(t, "the bus to notice", func() bool { return !b.Connected() })
	// Away from NATS, a barrier or a sync publish fails at once (the
	// caller answers 503, or goes on with what it has) rather than wait
	// for the reconnect.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	away := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, bus.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s while away = %v, want ErrUnavailable without waiting out a timeout", what, err)
		}
	}
	away("Barrier", b.Barrier(ctx))
	away("PublishSync", b.PublishSync(ctx, []byte("x")))
	s2, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s2.Start()
	t.Cleanup(s2.Shutdown)
	waitFor(t, "the reconnect to be counted as a loss", func() bool { return log.count(bus.LostReconnect) == 1 })
	if err := b.Barrier(ctx); err != nil {
		t.Errorf("Barrier after reconnect: %v", err)
	}
}

// BenchmarkPublishSync is the cost a write pays to publish its sync
// message and wait for NATS to have it: one round trip.
func BenchmarkPublishSync(b *testing.B) {
	s := startServer(b)
	a := newBus(b, s, "node-a", nil)
	newBus(b, s, "node-b", nil).SetSync(&lostLog{})
	ctx := context.Background()
	data := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.PublishSync(ctx, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBarrier is the cost a read pays on a node before it answers
// from its engines: a round trip, then a marker through the delivery
// goroutine.
func BenchmarkBarrier(b *testing.B) {
	s := startServer(b)
	n := newBus(b, s, "node-b", nil)
	newBus(b, s, "node-a", nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := n.Barrier(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBarrierParallel is Barrier from many requests at once.
func BenchmarkBarrierParallel(b *testing.B) {
	s := startServer(b)
	n := newBus(b, s, "node-b", nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := n.Barrier(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestSameNameIsNotARestart: live nodes given one name do not make each
// other drop everything at every heartbeat (as a restart would).
func TestSameNameIsNotARestart(t *testing.T) {
	s := startServer(t)
	a := fastBus(t, s, "twin")
	log := &lostLog{}
	a.SetSync(log)
	fastBus(t, s, "twin")
	fastBus(t, s, "twin")
	other := fastBus(t, s, "other")
	waitFor(t, "a to see other", func() bool { _, l := a.Nodes(); return slices.Contains(l, "other") })
	// The twins beat about ten times each while other is missed.
	_ = other.Close()
	waitFor(t, "a to count other gone", func() bool { _, l := a.Nodes(); return !slices.Contains(l, "other") })
	if n := log.count(bus.LostPeer); n != 1 {
		t.Errorf("a counted %d losses, want 1 (other leaving), none for its twins", n)
	}
}

// A node knows the nodes already running when New returns, and they know
// it: with a heartbeat far slower than the test, only the hello and its
// answers can have told them.
func TestNewKnowsRunningNodes(t *testing.T) {
	s := startServer(t)
	slow := func(name string) *natsbus.Bus {
		t.Helper()
		b, err := natsbus.New(natsbus.Options{
			Name: name, Heartbeat: time.Hour, Discover: 500 * time.Millisecond,
			Log:  slog.New(slog.DiscardHandler),
			NATS: []nats.Option{nats.InProcessServer(s)},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	a := slow("a")
	b := slow("b")
	c := slow("c")
	want := []string{"a", "b", "c"}
	if _, live := c.Nodes(); !slices.Equal(live, want) {
		t.Fatalf("c knows %v when New returns, want %v", live, want)
	}
	if _, live := b.Nodes(); !slices.Contains(live, "a") {
		t.Fatalf("b knows %v when New returns, want a among them", live)
	}
	// a and b heard c's hello before answering it, so before c's New
	// returned.
	for _, n := range []*natsbus.Bus{a, b} {
		if _, live := n.Nodes(); !slices.Equal(live, want) {
			t.Fatalf("a running node knows %v once c has started, want %v", live, want)
		}
	}
}
