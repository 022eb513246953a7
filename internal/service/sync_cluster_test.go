package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/bus/natsbus"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/receipts"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pgstore"
	"github.com/seen-im/seen/internal/testpg"
	"github.com/seen-im/seen/protocol"
)

// pgCluster is n services, each with its own PostgreSQL store handle on
// one database and its own bus on one NATS server: n cluster nodes.
type pgCluster struct {
	nodes []*Service
	buses []*natsbus.Bus
	st    store.Store // a handle of its own, for the truth
}

func newPGCluster(t *testing.T, n int, cfg config.Config) *pgCluster {
	t.Helper()
	return newPGClusterAt(t, n, cfg, nil)
}

// newPGClusterAt is newPGCluster with every node on the clock now (nil:
// time.Now).
func newPGClusterAt(t *testing.T, n int, cfg config.Config, now func() time.Time) *pgCluster {
	t.Helper()
	ns := inProcessNATS(t)
	dbURL := testpg.Database(t)
	ctx := context.Background()
	open := func() store.Store {
		st, err := pgstore.Open(ctx, dbURL, pgstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	log := slog.New(slog.DiscardHandler)
	c := &pgCluster{st: open()}
	for i := range n {
		st := open()
		b, err := natsbus.New(natsbus.Options{
			Name: fmt.Sprint("node-", i), Log: log, Heartbeat: 50 * time.Millisecond,
			NATS: []nats.Option{nats.InProcessServer(ns)},
		})
		if err != nil {
			t.Fatal(err)
		}
		svc := New(Options{Store: st, Bus: b, Config: cfg, Logger: log, Now: now})
		b.SetResolver(svc.ConvMembers)
		t.Cleanup(func() {
			_ = svc.Close(context.Background())
			_ = b.Close()
		})
		c.nodes, c.buses = append(c.nodes, svc), append(c.buses, b)
	}
	// Every node knows every other before the test starts: which node
	// coalesces a conversation depends on it.
	deadline := time.Now().Add(10 * time.Second)
	for _, b := range c.buses {
		for {
			if _, live := b.Nodes(); len(live) == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("nodes do not see each other")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return c
}

func caller(user string) Caller { return Caller{UserID: user, ConnID: "conn-" + user, Device: "d"} }

func groupConv(g string) protocol.Conversation {
	return protocol.Conversation{Type: protocol.ConvGroup, ID: g}
}

// makeGroup creates group g owned by owner with members, through node.
func makeGroup(t *testing.T, node *Service, g, owner string, members []string) {
	t.Helper()
	ctx := context.Background()
	for _, u := range append([]string{owner}, members...) {
		if _, err := node.CreateUser(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := node.CreateGroup(ctx, owner, protocol.GroupCreateParams{GroupID: g}); err != nil {
		t.Fatal(err)
	}
	for len(members) > 0 {
		k := min(len(members), protocol.MaxPageLimit)
		if err := node.AddMembers(ctx, caller(owner), g, members[:k], protocol.RoleMember, true); err != nil {
			t.Fatal(err)
		}
		members = members[k:]
	}
}

func send(t *testing.T, node *Service, from, g, text string, receipt bool) protocol.SendResult {
	t.Helper()
	res, err := node.Send(context.Background(), caller(from), protocol.SendParams{
		Conversation: groupConv(g), ClientMsgID: text, Body: json.RawMessage(fmt.Sprintf("%q", text)), Receipt: receipt,
	})
	if err != nil {
		t.Fatalf("send %s through a node: %v", text, err)
	}
	return res
}

// engineAgrees checks that node's engine for conv, after a barrier,
// counts every receipt message of seqs as an engine freshly loaded from
// the store does, and names the same members.
func engineAgrees(t *testing.T, step string, i int, node *Service, conv store.ConvID, msgs []store.Message) {
	t.Helper()
	ctx := context.Background()
	if err := node.syncBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	fresh, err := node.loadEngine(ctx, conv)
	if err != nil {
		t.Fatal(err)
	}
	err = node.withEngine(ctx, conv, func(e *receipts.Conv) error {
		if got, want := sorted(e.MemberIDs()), sorted(fresh.MemberIDs()); !slices.Equal(got, want) {
			t.Fatalf("%s: node %d members %v, store %v", step, i, got, want)
		}
		for _, m := range msgs {
			if got, want := e.Counts(m.Seq, m.Sender), fresh.Counts(m.Seq, m.Sender); got != want {
				t.Fatalf("%s: node %d counts of seq %d: %+v, store %+v", step, i, m.Seq, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// recorder keeps the events one subscription receives.
type recorder struct {
	mu  sync.Mutex
	evs []syncTestEvent // guarded by mu
}

type syncTestEvent struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

func record(t *testing.T, b bus.Bus, user string) *recorder {
	t.Helper()
	r := &recorder{}
	cancel, err := b.Subscribe(user, func(ev bus.Event) {
		var e syncTestEvent
		_ = json.Unmarshal(ev.Data, &e)
		r.mu.Lock()
		r.evs = append(r.evs, e)
		r.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return r
}

// of returns the events of method received so far.
func (r *recorder) of(method string) []syncTestEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []syncTestEvent
	for _, e := range r.evs {
		if e.Method == method {
			out = append(out, e)
		}
	}
	return out
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newBodies lists the bodies of the message.new events r got.
func (r *recorder) newBodies() []string {
	var out []string
	for _, e := range r.of(protocol.EventMessageNew) {
		var p protocol.MessageNewEvent
		_ = json.Unmarshal(e.Params, &p)
		var body string
		_ = json.Unmarshal(p.Message.Body, &body)
		out = append(out, body)
	}
	return out
}

// A member removed through node 0 gets no more of the group's messages
// sent through node 1, on node 1's sockets (node 1's own member list) or
// node 2's (node 2's resolver, as the group is over 64 members), and
// node 1 counts without it at once; a member added through node 0 gets
// the next message on node 2.
func TestClusterMembershipAcrossNodes(t *testing.T) {
	c := newPGCluster(t, 3, config.Default())
	ctx := context.Background()
	members := make([]string, 100)
	for i := range members {
		members[i] = fmt.Sprintf("m-%03d", i)
	}
	makeGroup(t, c.nodes[0], "big", "alice", members)
	if _, err := c.nodes[0].CreateUser(ctx, "newbie", ""); err != nil {
		t.Fatal(err)
	}
	// Nodes 1 and 2 load the group's engine and member list.
	send(t, c.nodes[1], "alice", "big", "warm", false)
	if _, err := c.nodes[2].ConvMembers(ctx, string(store.GroupConv("big"))); err != nil {
		t.Fatal(err)
	}
	gone1, gone2 := record(t, c.buses[1], "m-000"), record(t, c.buses[2], "m-000")
	stays2, newbie2 := record(t, c.buses[2], "m-001"), record(t, c.buses[2], "newbie")

	if err := c.nodes[0].RemoveMembers(ctx, caller("alice"), "big", []string{"m-000"}, true); err != nil {
		t.Fatal(err)
	}
	after := send(t, c.nodes[1], "alice", "big", "after", true)
	// A marker from node 1 reaches each socket after anything node 1
	// published before it.
	c.nodes[1].publish(ctx, []string{"m-000", "m-001"}, "", "test.marker", struct{}{})
	for name, r := range map[string]*recorder{"m-000 on node 1": gone1, "m-000 on node 2": gone2, "m-001 on node 2": stays2} {
		waitUntil(t, name+" marker", func() bool { return len(r.of("test.marker")) == 1 })
	}
	if got := gone1.newBodies(); len(got) != 0 {
		t.Errorf("removed member on node 1 got %v, want nothing", got)
	}
	if got := gone2.newBodies(); len(got) != 0 {
		t.Errorf("removed member on node 2 got %v, want nothing", got)
	}
	if got := stays2.newBodies(); !slices.Equal(got, []string{"after"}) {
		t.Errorf("member on node 2 got %v, want [after]", got)
	}
	for i, node := range c.nodes {
		res, err := node.QueryReceipts(ctx, caller("alice"), protocol.ReceiptQueryParams{Conversation: groupConv("big"), MsgIDs: []string{after.MsgID}})
		if err != nil {
			t.Fatal(err)
		}
		// 100 members and alice, less the removed one and the sender.
		if r := res.Receipts[0]; r.UnreadCount != 99 || r.ReadCount != 0 {
			t.Errorf("node %d counts %d unread, %d read; want 99, 0", i, r.UnreadCount, r.ReadCount)
		}
	}

	if err := c.nodes[0].AddMembers(ctx, caller("alice"), "big", []string{"newbie"}, protocol.RoleMember, true); err != nil {
		t.Fatal(err)
	}
	send(t, c.nodes[1], "alice", "big", "welcome", false)
	waitUntil(t, "newbie's message on node 2", func() bool { return slices.Contains(newbie2.newBodies(), "welcome") })
}

// Random operations through three nodes: after each, every node's engine
// (after a barrier) counts every receipt message as an engine loaded
// from the store does, and names the same members.
func TestClusterEnginesMatchStore(t *testing.T) {
	c := newPGCluster(t, 3, config.Default())
	ctx := context.Background()
	users := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6"}
	makeGroup(t, c.nodes[0], "g", "owner", users[:4])
	conv := store.GroupConv("g")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed) // a failure is replayed with this seed
	rng := rand.New(rand.NewPCG(11, seed))
	var msgs []store.Message
	isMember := func(u string) bool {
		_, err := c.st.GetMember(ctx, conv, u)
		return err == nil
	}
	pick := func(want bool) string {
		var out []string
		for _, u := range append([]string{"owner"}, users...) {
			if isMember(u) == want {
				out = append(out, u)
			}
		}
		if len(out) == 0 {
			return ""
		}
		return out[rng.IntN(len(out))]
	}
	check := func(err error, step string) {
		var pe *protocol.Error
		if err != nil && (!errors.As(err, &pe) || pe.Code >= 500) {
			t.Fatalf("%s: %v", step, err)
		}
	}
	for step := range 80 {
		node := c.nodes[rng.IntN(len(c.nodes))]
		u := pick(true)
		var desc string
		switch op := rng.IntN(10); {
		case op < 3 || len(msgs) == 0:
			desc = "send by " + u
			res := send(t, node, u, "g", fmt.Sprint("m", step), rng.IntN(2) == 0)
			m, err := c.st.MessageAt(ctx, conv, res.Seq)
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, m)
		case op < 5:
			m := msgs[rng.IntN(len(msgs))]
			desc = fmt.Sprintf("read of %d by %s", m.Seq, u)
			_, err := node.Read(ctx, caller(u), protocol.ReadParams{Conversation: groupConv("g"), MsgIDs: []string{m.ID}})
			check(err, desc)
		case op < 6:
			seq := msgs[rng.IntN(len(msgs))].Seq
			desc = fmt.Sprintf("conversation read to %d by %s", seq, u)
			_, err := node.ReadConversation(ctx, caller(u), protocol.ConversationReadParams{Conversation: groupConv("g"), Seq: seq})
			check(err, desc)
		case op < 7:
			seq := msgs[rng.IntN(len(msgs))].Seq
			desc = fmt.Sprintf("delivered to %d for %s", seq, u)
			_, err := node.Delivered(ctx, caller(u), protocol.DeliveredParams{Conversation: groupConv("g"), Seq: seq})
			check(err, desc)
		case op < 8:
			if v := pick(false); v != "" {
				desc = "add " + v
				check(node.AddMembers(ctx, caller("owner"), "g", []string{v}, protocol.RoleMember, true), desc)
			}
		case op < 9:
			if u != "owner" {
				desc = "remove " + u
				check(node.RemoveMembers(ctx, caller("owner"), "g", []string{u}, true), desc)
			}
		default:
			var rms []store.Message
			for _, m := range msgs {
				if m.Receipt && m.Sender == u {
					rms = append(rms, m)
				}
			}
			if len(rms) > 0 {
				desc = "receipt.request by " + u
				_, err := node.RequestReceipt(ctx, caller(u), protocol.ReceiptRequestParams{Conversation: groupConv("g"), MsgID: rms[0].ID})
				check(err, desc)
			}
		}
		for i, n := range c.nodes {
			engineAgrees(t, fmt.Sprintf("step %d (%s)", step, desc), i, n, conv, msgs)
		}
	}
}

// Readers spread over three nodes read one receipt message: its sender
// gets one stream of receipt.changed, from the one node that coalesces
// the conversation, at most one event per window, the last with the
// exact final counts.
func TestClusterReceiptChangedOneStream(t *testing.T) {
	cfg := config.Default()
	cfg.Receipts.Coalesce = time.Second
	c := newPGCluster(t, 3, cfg)
	ctx := context.Background()
	readers := make([]string, 18)
	for i := range readers {
		readers[i] = fmt.Sprintf("r-%02d", i)
	}
	makeGroup(t, c.nodes[0], "rc", "alice", readers)
	alice := record(t, c.buses[0], "alice")
	msg := send(t, c.nodes[0], "alice", "rc", "please read", true)
	start := time.Now()
	for i, r := range readers {
		if _, err := c.nodes[i%3].Read(ctx, caller(r), protocol.ReadParams{Conversation: groupConv("rc"), MsgIDs: []string{msg.MsgID}}); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	final := func() (protocol.ReceiptChangedEvent, int) {
		evs := alice.of(protocol.EventReceiptChanged)
		var last protocol.ReceiptChangedEvent
		if len(evs) > 0 {
			_ = json.Unmarshal(evs[len(evs)-1].Params, &last)
		}
		return last, len(evs)
	}
	waitUntil(t, "receipt.changed with every read", func() bool {
		last, _ := final()
		return len(last.Receipts) == 1 && last.Receipts[0].ReadCount == len(readers)
	})
	// Every node's coalescer idle, and every event each node published
	// since arrived (a marker from each comes after them): nothing more is
	// on its way.
	waitUntil(t, "idle coalescers", func() bool {
		for _, node := range c.nodes {
			node.changes.mu.Lock()
			busy := len(node.changes.timers) + len(node.changes.pending)
			node.changes.mu.Unlock()
			if busy > 0 {
				return false
			}
		}
		return true
	})
	for _, node := range c.nodes {
		node.publish(ctx, []string{"alice"}, "", "test.marker", struct{}{})
	}
	waitUntil(t, "markers", func() bool { return len(alice.of("test.marker")) == len(c.nodes) })
	last, n := final()
	if r := last.Receipts[0]; r.UnreadCount != 0 || r.Status != protocol.StatusDone {
		t.Errorf("last receipt.changed: %+v, want 0 unread, done", r)
	}
	t.Logf("%d events over %v", n, elapsed)
	// One stream: a first flush one window after the first read, then at
	// most one per window. A stream per node would give at least three.
	if most := 1 + int(elapsed/cfg.Receipts.Coalesce); n > most {
		t.Errorf("alice got %d receipt.changed events for reads over %v, want at most %d", n, elapsed, most)
	}
}

// Two nodes freeze one receipt when its window closes, each from its own
// engine; node 1's engine counts differently (as a node that missed an op
// would). The store keeps the first freeze, and both nodes answer the
// stored counts from then on.
func TestClusterExpiryFrozenOnce(t *testing.T) {
	var clock atomic.Int64
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	clock.Store(t0)
	cfg := config.Default()
	cfg.Receipts.TTL = time.Minute
	c := newPGClusterAt(t, 2, cfg, func() time.Time { return time.UnixMilli(clock.Load()) })
	ctx := context.Background()
	makeGroup(t, c.nodes[0], "x", "alice", []string{"r1", "r2", "r3"})
	msg := send(t, c.nodes[0], "alice", "x", "expiring", true)
	if _, err := c.nodes[1].Read(ctx, caller("r1"), protocol.ReadParams{Conversation: groupConv("x"), MsgIDs: []string{msg.MsgID}}); err != nil {
		t.Fatal(err)
	}
	query := func(node *Service) protocol.Receipt {
		t.Helper()
		res, err := node.QueryReceipts(ctx, caller("alice"), protocol.ReceiptQueryParams{Conversation: groupConv("x"), MsgIDs: []string{msg.MsgID}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Receipts[0]
	}
	for i, node := range c.nodes {
		if r := query(node); r.ReadCount != 1 || r.UnreadCount != 2 {
			t.Fatalf("node %d before expiry: %+v, want 1 read, 2 unread", i, r)
		}
	}
	// Node 1's engine alone hears of a read no store has: it would freeze
	// 2 read.
	conv := store.GroupConv("x")
	c.nodes[1].applyEngine(ctx, conv, func(e *receipts.Conv) error {
		_, _, err := e.ReadOne("r2", msg.Seq, t0+1)
		return err
	})
	clock.Store(t0 + time.Minute.Milliseconds() + 1)
	first := query(c.nodes[0]) // node 0 freezes first
	if first.Status != protocol.StatusExpired || first.ReadCount != 1 || first.UnreadCount != 2 {
		t.Fatalf("node 0 after expiry: %+v, want expired with 1 read, 2 unread", first)
	}
	if r := query(c.nodes[1]); r != first {
		t.Errorf("node 1 after expiry: %+v, want the stored %+v", r, first)
	}
	m, err := c.st.MessageAt(ctx, conv, msg.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if m.Frozen == nil || m.Frozen.Read != 1 || m.Frozen.Unread != 2 {
		t.Errorf("stored frozen counts %+v, want 1 read, 2 unread", m.Frozen)
	}
}
