package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/bus/natsbus"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/protocol"
)

// twoNodes is two services on one store and one NATS server: what two
// cluster nodes share. Engines are per node; these tests read membership
// that node b loads fresh, so they do not depend on engines agreeing.
type twoNodes struct {
	nats   *server.Server
	a, b   *Service
	busA   *natsbus.Bus
	busB   *natsbus.Bus
	caller Caller
}

// inProcessNATS starts a nats-server that listens on no port (nodes reach
// it with nats.InProcessServer), shut down when the test ends.
func inProcessNATS(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{DontListen: true, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	return ns
}

func newTwoNodes(t *testing.T) *twoNodes {
	t.Helper()
	ns := inProcessNATS(t)
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	log := slog.New(slog.DiscardHandler)
	node := func(name string) (*natsbus.Bus, *Service) {
		b, err := natsbus.New(natsbus.Options{Name: name, Log: log, NATS: []nats.Option{nats.InProcessServer(ns)}})
		if err != nil {
			t.Fatal(err)
		}
		svc := New(Options{Store: st, Bus: b, Config: config.Default(), Logger: log})
		// The service exists after its bus: the resolver comes second.
		b.SetResolver(svc.ConvMembers)
		t.Cleanup(func() {
			_ = svc.Close(context.Background())
			_ = b.Close()
		})
		return b, svc
	}
	n := &twoNodes{nats: ns, caller: Caller{UserID: "alice", ConnID: "conn-alice", Device: "d"}}
	n.busA, n.a = node("node-a")
	n.busB, n.b = node("node-b")
	return n
}

// group creates group g owned by alice with the given other members, all
// through node a.
func (n *twoNodes) group(t *testing.T, g string, others []string) {
	t.Helper()
	ctx := context.Background()
	for _, u := range append([]string{"alice"}, others...) {
		if _, err := n.a.CreateUser(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.a.CreateGroup(ctx, "alice", protocol.GroupCreateParams{GroupID: g}); err != nil {
		t.Fatal(err)
	}
	for len(others) > 0 {
		k := min(len(others), protocol.MaxPageLimit)
		if err := n.a.AddMembers(ctx, n.caller, g, others[:k], protocol.RoleMember, true); err != nil {
			t.Fatal(err)
		}
		others = others[k:]
	}
}

func (n *twoNodes) send(t *testing.T, g, text string) protocol.SendResult {
	t.Helper()
	res, err := n.a.Send(context.Background(), n.caller, protocol.SendParams{
		Conversation: protocol.Conversation{Type: protocol.ConvGroup, ID: g},
		ClientMsgID:  text, Body: json.RawMessage(fmt.Sprintf("%q", text)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// settle waits until node b has taken every event node a published so
// far (building the group publishes a join per member), so that a
// subscription made next sees only what comes after.
func (n *twoNodes) settle(t *testing.T) {
	t.Helper()
	in := subscribeInbox(t, n.busB, "settle")
	n.a.publish(context.Background(), []string{"settle"}, "", "test.settled", struct{}{})
	in.waitFor(t, "settle on b", "test.settled")
}

// inBytes is how many message bytes the NATS server has received.
func (n *twoNodes) inBytes(t *testing.T) int64 {
	t.Helper()
	v, err := n.nats.Varz(nil)
	if err != nil {
		t.Fatal(err)
	}
	return v.InBytes
}

// inbox records the methods of the events one subscription receives.
type inbox struct {
	mu  sync.Mutex
	got []string // "method" or "method:action"; guarded by mu
}

func subscribeInbox(t *testing.T, b bus.Bus, user string) *inbox {
	t.Helper()
	in := &inbox{}
	cancel, err := b.Subscribe(user, func(ev bus.Event) {
		var e struct {
			Method string `json:"method"`
			Params struct {
				Action string `json:"action"`
			} `json:"params"`
		}
		_ = json.Unmarshal(ev.Data, &e)
		tag := e.Method
		if e.Params.Action != "" {
			tag += ":" + e.Params.Action
		}
		in.mu.Lock()
		in.got = append(in.got, tag)
		in.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return in
}

// waitFor polls until the inbox holds want, in order, and fails if it
// holds anything else.
func (in *inbox) waitFor(t *testing.T, name string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		in.mu.Lock()
		got := append([]string(nil), in.got...)
		in.mu.Unlock()
		if len(got) >= len(want) {
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s got %v, want %v", name, got, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s got %v within 10s, want %v", name, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A group message sent through node a reaches members' sockets on node b,
// once each, found by node b among the members it resolves itself; the
// bus carries the group's id, not its member list.
func TestGroupEventsReachOtherNode(t *testing.T) {
	n := newTwoNodes(t)
	others := make([]string, 0, 300)
	for i := range 300 {
		others = append(others, fmt.Sprintf("member-%03d", i))
	}
	n.group(t, "big", others)
	if _, err := n.a.CreateUser(context.Background(), "zed", ""); err != nil {
		t.Fatal(err)
	}
	n.settle(t)
	first := subscribeInbox(t, n.busB, "member-000")
	last := subscribeInbox(t, n.busB, "member-299")
	aliceB := subscribeInbox(t, n.busB, "alice") // the sender's other device
	zed := subscribeInbox(t, n.busB, "zed")

	before := n.inBytes(t)
	n.send(t, "big", "hello")
	bytes := n.inBytes(t) - before
	// The member ids alone would be over 3 KB; the two events (the
	// sender's own copy and the members') are a few hundred bytes each.
	if bytes > 2000 {
		t.Errorf("one group message put %d bytes on NATS, want the event without its member list", bytes)
	}
	first.waitFor(t, "member-000 on b", "message.new")
	last.waitFor(t, "member-299 on b", "message.new")
	aliceB.waitFor(t, "alice on b", "message.new")

	// A member removed through node a hears of it on node b, as do the
	// others; a later message reaches the others only. Node b's engine
	// has not loaded the removal: the event names the removed member.
	if err := n.a.RemoveMembers(context.Background(), n.caller, "big", []string{"member-000"}, true); err != nil {
		t.Fatal(err)
	}
	last.waitFor(t, "member-299 on b", "message.new", "group.member:removed")
	first.waitFor(t, "member-000 on b", "message.new", "group.member:removed")
	// zed, no member, has heard nothing: a message to zed alone, from the
	// same node, arrives after anything still due.
	n.a.publish(context.Background(), []string{"zed"}, "", "test.marker", struct{}{})
	zed.waitFor(t, "zed on b", "test.marker")
}
