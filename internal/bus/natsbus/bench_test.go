package natsbus_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/bus/natsbus"
)

// benchMembers is the group size of the benchmarks.
const benchMembers = 1000

// benchNodes starts a NATS server and two nodes; node b holds a socket
// for every tenth member, as one of ten nodes would. done receives once
// per event the last member's socket gets.
func benchNodes(b *testing.B, inlineMax int) (a *natsbus.Bus, members []string, done chan struct{}, bytes func() int64) {
	s := startServer(b)
	members = make([]string, benchMembers)
	for i := range members {
		members[i] = fmt.Sprintf("user-%05d", i)
	}
	resolve := func(context.Context, string) ([]string, error) { return members, nil }
	node := func(name string) *natsbus.Bus {
		n, err := natsbus.New(natsbus.Options{
			Name: name, Resolve: resolve, InlineMax: inlineMax,
			Log:  slog.New(slog.DiscardHandler),
			NATS: []nats.Option{nats.InProcessServer(s)},
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = n.Close() })
		return n
	}
	a, nb := node("node-a"), node("node-b")
	done = make(chan struct{}, 1)
	for i := 9; i < benchMembers; i += 10 {
		h := func(bus.Event) {}
		if i == benchMembers-1 {
			h = func(bus.Event) { done <- struct{}{} }
		}
		cancel, err := nb.Subscribe(members[i], h)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cancel)
	}
	bytes = func() int64 {
		v, err := s.Varz(nil)
		if err != nil {
			b.Fatal(err)
		}
		return v.InBytes
	}
	return a, members, done, bytes
}

// runBench publishes b.N events with publish and waits for each to reach
// node b, reporting the bytes each put on NATS.
func runBench(b *testing.B, done chan struct{}, bytes func() int64, publish func(bus.Event) error) {
	ev := bus.Event{Data: []byte(`{"jsonrpc":"2.0","method":"message.new","params":{"conversation":{"type":"group","id":"team"},"message":{"msgId":"01JDTK8Q9ZP7R2M4N6V8X0Y2Z4","seq":42,"sender":"user-00001","sentAt":1732900000000,"body":{"text":"hello everyone"}}}}`), ExceptConn: "conn-1"}
	before := bytes()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := publish(ev); err != nil {
			b.Fatal(err)
		}
		<-done
	}
	b.StopTimer()
	b.ReportMetric(float64(bytes()-before)/float64(b.N), "nats-bytes/op")
}

// BenchmarkNATSBus_PublishConv_1000Members: one event to a 1,000-member
// group, named by conversation; node b resolves the members.
func BenchmarkNATSBus_PublishConv_1000Members(b *testing.B) {
	a, members, done, bytes := benchNodes(b, 0)
	runBench(b, done, bytes, func(ev bus.Event) error {
		return a.PublishConv(context.Background(), bus.Audience{Conv: "g/team", Members: members, Except: []string{"user-00001"}}, ev)
	})
}

// BenchmarkNATSBus_Publish_1000Members: the same event to the same users,
// listed: one broadcast message carrying the list.
func BenchmarkNATSBus_Publish_1000Members(b *testing.B) {
	a, members, done, bytes := benchNodes(b, 0)
	runBench(b, done, bytes, func(ev bus.Event) error {
		return a.Publish(context.Background(), members, ev)
	})
}

// BenchmarkNATSBus_PublishPerUser_1000Members: one message per member on
// the members' own subjects, what a bus with per-user subjects only does.
func BenchmarkNATSBus_PublishPerUser_1000Members(b *testing.B) {
	a, members, done, bytes := benchNodes(b, benchMembers)
	runBench(b, done, bytes, func(ev bus.Event) error {
		return a.Publish(context.Background(), members, ev)
	})
}
