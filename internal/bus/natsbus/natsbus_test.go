package natsbus_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/bus/bustest"
	"github.com/seen-im/seen/internal/bus/natsbus"
)

// startServer starts an in-process nats-server that listens nowhere, and
// shuts it down when t ends.
func startServer(t testing.TB) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{DontListen: true, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// newBus connects a bus to s in-process.
func newBus(t testing.TB, s *server.Server, name string, resolve bus.Resolver) *natsbus.Bus {
	t.Helper()
	b, err := natsbus.New(natsbus.Options{
		Name:    name,
		Resolve: resolve,
		Log:     slog.New(slog.DiscardHandler),
		NATS:    []nats.Option{nats.InProcessServer(s)},
	})
	if err != nil {
		t.Fatalf("natsbus.New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus {
		return newBus(t, startServer(t), "node", nil)
	})
}

func TestCluster(t *testing.T) {
	bustest.RunCluster(t, func(t *testing.T, resolve bus.Resolver) (bus.Bus, bus.Bus) {
		s := startServer(t)
		return newBus(t, s, "node-a", resolve), newBus(t, s, "node-b", resolve)
	})
}

// sink collects events on a channel.
func sink(t *testing.T, b bus.Bus, user string) chan bus.Event {
	t.Helper()
	ch := make(chan bus.Event, 100)
	cancel, err := b.Subscribe(user, func(ev bus.Event) { ch <- ev })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return ch
}

func waitEvent(t *testing.T, ch chan bus.Event, want string) {
	t.Helper()
	select {
	case ev := <-ch:
		if string(ev.Data) != want {
			t.Fatalf("got %s, want %s", ev.Data, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no event %s", want)
	}
}

// TestNodeHoldsOnlyItsUsersSubjects checks the routing claim: a node is
// subscribed to a user's subject while, and only while, it holds one of
// the user's sockets, so NATS sends it nothing for other users.
func TestNodeHoldsOnlyItsUsersSubjects(t *testing.T) {
	s := startServer(t)
	base := s.NumSubscriptions() // the server's own
	b := newBus(t, s, "node", nil)
	// The broadcast, sync and heartbeat subjects are always there.
	base += 3
	waitSubs(t, s, base)
	sink(t, b, "alice")
	cancel2, err := b.Subscribe("alice", func(bus.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	waitSubs(t, s, base+1) // alice's two sockets share one subscription
	cancelBob, err := b.Subscribe("bob", func(bus.Event) {})
	if err != nil {
		t.Fatal(err)
	}
	waitSubs(t, s, base+2)
	cancelBob()
	waitSubs(t, s, base+1)
	cancel2()
	waitSubs(t, s, base+1) // alice keeps one socket
}

// waitSubs polls the server until it counts want subscriptions.
func waitSubs(t *testing.T, s *server.Server, want uint32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.NumSubscriptions() != want {
		if time.Now().After(deadline) {
			t.Fatalf("server has %d subscriptions, want %d", s.NumSubscriptions(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReconnectAfterServerRestart stops the NATS server, starts a new one
// on the same port, and checks that both nodes notice, reconnect with
// their subscriptions, and deliver again.
func TestReconnectAfterServerRestart(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	s1, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	s1.Start()
	if !s1.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	port := s1.Addr().(*net.TCPAddr).Port
	url := s1.ClientURL()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			s1.Shutdown()
		}
	})

	down := make(chan struct{}, 2)
	up := make(chan struct{}, 2)
	node := func(name string) *natsbus.Bus {
		b, err := natsbus.New(natsbus.Options{
			URL: url, Name: name, ReconnectWait: 20 * time.Millisecond,
			Log:          slog.New(slog.DiscardHandler),
			OnDisconnect: func(error) { down <- struct{}{} },
			OnReconnect:  func() { up <- struct{}{} },
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	a, b := node("node-a"), node("node-b")
	alice := sink(t, b, "alice")
	if err := a.Publish(context.Background(), []string{"alice"}, bus.Event{Data: []byte(`"before"`)}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, alice, `"before"`)

	s1.Shutdown()
	stopped = true
	for range 2 {
		wait(t, down, "disconnect")
	}
	if a.Connected() || b.Connected() {
		t.Error("Connected() is true with the server down")
	}

	s2, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s2.Start()
	t.Cleanup(s2.Shutdown)
	if !s2.ReadyForConnections(10 * time.Second) {
		t.Fatal("restarted nats server not ready")
	}
	for range 2 {
		wait(t, up, "reconnect")
	}
	if !a.Connected() || !b.Connected() {
		t.Error("Connected() is false after reconnecting")
	}
	// b's subscription for alice went back with the reconnect; a's first
	// publish may still beat it to the server, so publish until one lands.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		data := fmt.Appendf(nil, `"after %d"`, i)
		if err := a.Publish(context.Background(), []string{"alice"}, bus.Event{Data: data}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-alice:
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery after the restart")
		}
	}
}

func wait(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
	}
}
