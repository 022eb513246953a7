package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// TestClusterNATSRestartedUnderLoad: three nodes take the failure tests'
// mixed load while NATS is shut down and started again on its port. Every
// node reports the loss (/healthz 503) and the return (200); the load goes
// on meanwhile (a request a node cannot serve without the other nodes may
// be refused with 503 and is sent again), events from other nodes are
// lost; once NATS is back and the load has stopped, every node must
// converge to the counts recomputed from the members' state.
func TestClusterNATSRestartedUnderLoad(t *testing.T) {
	pg := seentest.PostgresDB(t)
	nats := seentest.StartNATS(t)
	var nodes []*seentest.Server
	var urls, bases []string
	for range 3 {
		s := seentest.Start(t, seentest.Cluster(pg, nats.URL()))
		nodes = append(nodes, s)
		urls, bases = append(urls, s.WSURL()), append(bases, s.URL())
	}
	w := newClusterWorld(t, "natsload", urls, bases)
	seed := crashSeed(t)
	t.Logf("seed %d (replay with SEEN_CRASH_SEED=%d)", seed, seed)
	stop := w.run(seed, 0)
	w.waitOps(t, "before the NATS restart", w.ops.Load(), 100)
	nats.Shutdown()
	for _, s := range nodes {
		waitHealth(t, s, http.StatusServiceUnavailable, "nats")
	}
	// While NATS is down a node may refuse what needs the other nodes
	// (503, and the client goes on to another node and tries again):
	// the load goes on, and every client must have tried at least once.
	waitWrites(t, "requests tried while NATS is down", w.attempts.Load, w.attempts.Load()+int64(2*len(loadUsers)))
	nats.Restart()
	for _, s := range nodes {
		waitHealth(t, s, http.StatusOK, "ok")
	}
	w.waitOps(t, "after the NATS restart", w.ops.Load(), 100)
	stop()
	if !w.checkNodes(t, []int{0, 1, 2}, 30*time.Second) {
		t.Fatalf("the nodes' counts did not converge to the members' state after NATS came back (above)")
	}
	t.Logf("%d operations acknowledged, %d requests sent again", w.ops.Load(), w.resends.Load())
}

// outageLoad is a client sending and reading through one node while its
// database goes away and comes back, recording what it was answered.
type outageLoad struct {
	user string
	c    *client.Client

	mu       sync.Mutex
	acked    map[string]protocol.SendResult // clientMsgId -> acknowledged
	refused  map[string]bool                // clientMsgIds of sends answered 503
	ok, n503 atomic.Int64
}

// run sends and reads until stop; every answer must be success or 503.
func (l *outageLoad) run(t *testing.T, conv protocol.Conversation, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var err error
		switch i % 3 {
		case 0, 1:
			id := fmt.Sprintf("%s-%d", l.user, i)
			var res protocol.SendResult
			res, err = l.c.Send(ctx, protocol.SendParams{Conversation: conv, ClientMsgID: id, Body: json.RawMessage(`"` + id + `"`), Receipt: true})
			l.mu.Lock()
			if err == nil {
				l.acked[id] = res
			} else {
				l.refused[id] = true
			}
			l.mu.Unlock()
		default:
			_, err = l.c.ReadConversation(ctx, protocol.ConversationReadParams{Conversation: conv})
		}
		cancel()
		var pe *protocol.Error
		switch {
		case err == nil:
			l.ok.Add(1)
		case errors.As(err, &pe) && pe.Code == protocol.CodeUnavailable:
			l.n503.Add(1)
			time.Sleep(20 * time.Millisecond) // a client's pause before retrying, not an assertion
		default:
			t.Errorf("%s: %v, want success or 503", l.user, err)
			return
		}
	}
}

// rawHistory is the whole history of conv as r's user sees it, oldest
// first.
func rawHistory(t *testing.T, r *seentest.Raw, conv protocol.Conversation) []protocol.Message {
	t.Helper()
	var all []protocol.Message
	var before uint64
	for {
		var h protocol.HistoryResult
		r.MustCall(protocol.MethodMessageHistory, protocol.HistoryParams{Conversation: conv, BeforeSeq: before, Limit: 100}, &h)
		all = append(all, h.Messages...)
		if !h.HasMore || len(h.Messages) == 0 {
			break
		}
		before = h.Messages[len(h.Messages)-1].Seq
	}
	slices.SortFunc(all, func(a, b protocol.Message) int { return int(a.Seq) - int(b.Seq) })
	return all
}

// heldState is what a member's own requests set, for comparing before and
// after an outage in which all its requests were refused.
type heldState struct {
	ReadSeq uint64
	Acks    map[string]protocol.AckState // msgId -> its ack state
	Members []string                     // the group's members
}

func heldStateOf(t *testing.T, r *seentest.Raw, conv protocol.Conversation, groupID string, msgIDs []string) heldState {
	t.Helper()
	var list protocol.ConversationListResult
	r.MustCall(protocol.MethodConversationList, protocol.ConversationListParams{Limit: 100}, &list)
	st := heldState{Acks: map[string]protocol.AckState{}}
	for _, ci := range list.Conversations {
		if ci.Conversation == conv {
			st.ReadSeq = ci.ReadSeq
		}
	}
	for _, m := range rawHistory(t, r, conv) {
		if slices.Contains(msgIDs, m.MsgID) {
			// A raw frame's receipt field is decoded as a JSON object:
			// the caller's ack state when it holds "read".
			if f, ok := m.Receipt.(map[string]any); ok && f["read"] != nil {
				st.Acks[m.MsgID] = protocol.AckState{Read: f["read"] == true, Delivered: f["delivered"] == true}
			}
		}
		if strings.Contains(string(m.Body), "during-outage") {
			t.Errorf("a send refused with 503 during the outage is stored: %s at seq %d", m.Body, m.Seq)
		}
	}
	var gm protocol.GroupMembersResult
	r.MustCall(protocol.MethodGroupMembers, protocol.GroupMembersParams{GroupID: groupID, Limit: 100}, &gm)
	for _, m := range gm.Members {
		st.Members = append(st.Members, m.UserID)
	}
	slices.Sort(st.Members)
	return st
}

// TestClusterPostgresUnreachable: two cluster nodes reach their database
// through a loopback proxy, which the test cuts while clients send and
// read through both nodes, and restores. While it is cut: /healthz answers
// 503, and every write request (message.send, message.read,
// conversation.read, message.delivered, group.add, group.leave, the admin
// API's message and member requests) and every read (message.history,
// conversation.list, group.members) is answered 503, and no write leaves a
// trace:
// the same member's watermark, ack states and the group's members are
// what they were before, no refused message is stored. A request in flight
// at the cut either committed whole or not at all: each clientMsgId is in
// history at most once, in the gap-free seqs, and its resend returns it.
// Once restored: /healthz answers 200 and the refused requests, sent again,
// succeed.
func TestClusterPostgresUnreachable(t *testing.T) {
	pg := seentest.PostgresDB(t)
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	proxy := seentest.StartProxy(t, u.Host)
	u.Host = proxy.Addr()
	nats := seentest.StartNATS(t)
	a := seentest.Start(t, seentest.Cluster(u.String(), nats.URL()))
	b := seentest.Start(t, seentest.Cluster(u.String(), nats.URL()))
	a.Users("alice", "bob", "carol", "dave", "erin")
	a.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "alice", "members": []string{"bob", "carol", "dave"}})
	b.MustAdmin("PUT", "/v1/admin/groups/g/members/carol", map[string]any{"role": "admin"})
	g := group("g")
	carol := connectRaw(t, a, "carol", "phone")
	dave := connectRaw(t, b, "dave", "phone")
	var first protocol.SendResult
	connectRaw(t, a, "alice", "admin").MustCall(protocol.MethodMessageSend, protocol.SendParams{
		Conversation: g, ClientMsgID: "first", Body: json.RawMessage(`"before the outage"`), Receipt: true,
	}, &first)
	msgIDs := []string{first.MsgID}
	before := map[string]heldState{"carol": heldStateOf(t, carol, g, "g", msgIDs), "dave": heldStateOf(t, dave, g, "g", msgIDs)}
	if len(before["carol"].Acks) != 1 || len(before["dave"].Acks) != 1 {
		t.Fatalf("state before the outage = %+v, want the ack state of %s", before, first.MsgID)
	}

	// Load through both nodes, across the cut.
	var loads []*outageLoad
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, x := range []struct {
		user string
		s    *seentest.Server
	}{{"alice", a}, {"bob", b}} {
		c, err := dialProc(x.s.WSURL(), x.s.Token(x.user))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		l := &outageLoad{user: x.user, c: c, acked: map[string]protocol.SendResult{}, refused: map[string]bool{}}
		loads = append(loads, l)
		wg.Add(1)
		go func() { defer wg.Done(); l.run(t, g, stop) }()
	}
	waitLoad := func(what string, count func(*outageLoad) int64, k int64) {
		t.Helper()
		from := make([]int64, len(loads))
		for i, l := range loads {
			from[i] = count(l)
		}
		seentest.Eventually(t, 60*time.Second, func() error {
			for i, l := range loads {
				if got := count(l) - from[i]; got < k {
					return fmt.Errorf("%s: %s has %d, waiting for %d", what, l.user, got, k)
				}
			}
			return nil
		})
	}
	acks := func(l *outageLoad) int64 { return l.ok.Load() }
	waitLoad("before the cut", acks, 20)

	proxy.Cut()
	waitHealth(t, a, http.StatusServiceUnavailable, "postgresql")
	waitHealth(t, b, http.StatusServiceUnavailable, "postgresql")
	waitLoad("during the cut", func(l *outageLoad) int64 { return l.n503.Load() }, 3)
	refused := []struct {
		r      *seentest.Raw
		method string
		params any
	}{
		{carol, protocol.MethodMessageSend, protocol.SendParams{Conversation: g, ClientMsgID: "during-outage-carol", Body: json.RawMessage(`"during-outage-carol"`), Receipt: true}},
		{carol, protocol.MethodMessageRead, protocol.ReadParams{Conversation: g, MsgIDs: msgIDs}},
		{carol, protocol.MethodGroupAdd, protocol.GroupMembersChangeParams{GroupID: "g", UserIDs: []string{"erin"}}},
		{dave, protocol.MethodMessageDelivered, protocol.DeliveredParams{Conversation: g, Seq: first.Seq}},
		{dave, protocol.MethodConversationRead, protocol.ConversationReadParams{Conversation: g}},
		// Reads too: their answer would come from a database the node
		// cannot reach.
		{carol, protocol.MethodMessageHistory, protocol.HistoryParams{Conversation: g}},
		{dave, protocol.MethodConversationList, protocol.ConversationListParams{}},
		{dave, protocol.MethodGroupMembers, protocol.GroupMembersParams{GroupID: "g"}},
		{dave, protocol.MethodGroupLeave, protocol.GroupLeaveParams{GroupID: "g"}}, // last: retried last
	}
	for _, c := range refused {
		if f := c.r.Call(c.method, c.params); errCode(f) != protocol.CodeUnavailable {
			t.Errorf("%s while PostgreSQL is unreachable = %d (%v), want 503", c.method, errCode(f), f.Error)
		}
	}
	for _, c := range []struct {
		s            *seentest.Server
		method, path string
		body         any
	}{
		{a, "POST", "/v1/admin/messages", map[string]any{"from": "dave", "conversation": g, "clientMsgId": "during-outage-admin", "body": "during-outage-admin"}},
		{b, "POST", "/v1/admin/groups/g/members", map[string]any{"userIds": []string{"erin"}}},
		{b, "DELETE", "/v1/admin/groups/g/members/dave", nil},
	} {
		if code, body := c.s.Admin(c.method, c.path, c.body); code != http.StatusServiceUnavailable {
			t.Errorf("admin %s %s while PostgreSQL is unreachable = %d %s, want 503", c.method, c.path, code, body)
		}
	}

	proxy.Restore()
	waitHealth(t, a, http.StatusOK, "ok")
	waitHealth(t, b, http.StatusOK, "ok")
	waitLoad("after the cut", acks, 20)
	close(stop)
	wg.Wait()

	// Nothing refused left a trace.
	for name, r := range map[string]*seentest.Raw{"carol": carol, "dave": dave} {
		if diff := cmp.Diff(before[name], heldStateOf(t, r, g, "g", msgIDs)); diff != "" {
			t.Errorf("%s's state changed by requests refused with 503 (-before +after):\n%s", name, diff)
		}
	}
	// In-flight sends: committed whole or not at all, and safe to repeat.
	hist := rawHistory(t, carol, g)
	bodies := map[string]protocol.Message{}
	for i, m := range hist {
		if i > 0 && m.Seq != hist[i-1].Seq+1 {
			t.Errorf("history: seq %d after %d, want gap-free seqs", m.Seq, hist[i-1].Seq)
		}
		var id string
		if json.Unmarshal(m.Body, &id) == nil {
			if prev, dup := bodies[id]; dup {
				t.Errorf("%s stored twice, at seqs %d and %d", id, prev.Seq, m.Seq)
			}
			bodies[id] = m
		}
	}
	resent := 0
	for _, l := range loads {
		for id, res := range l.acked {
			if m, ok := bodies[id]; !ok || m.MsgID != res.MsgID || m.Seq != res.Seq {
				t.Errorf("acknowledged send %s (%s at %d) is not in history as acknowledged", id, res.MsgID, res.Seq)
			}
		}
		for id := range l.refused {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			res, err := l.c.Send(ctx, protocol.SendParams{Conversation: g, ClientMsgID: id, Body: json.RawMessage(`"` + id + `"`), Receipt: true})
			cancel()
			if err != nil {
				t.Fatalf("resend of %s after recovery: %v", id, err)
			}
			if m, stored := bodies[id]; stored && (m.MsgID != res.MsgID || m.Seq != res.Seq) {
				t.Errorf("resend of %s (answered 503, but committed at %d as %s) = %s at %d, want the original", id, m.Seq, m.MsgID, res.MsgID, res.Seq)
			}
			resent++
		}
	}
	// Service resumes: the refused requests, sent again, succeed.
	for _, c := range refused {
		c.r.MustCall(c.method, c.params, nil)
	}
	t.Logf("%d sends refused with 503 and sent again; %d in-flight ones had committed", resent, countStored(loads, bodies))
}

// countStored counts the sends answered 503 that were committed anyway
// (their commit's answer was cut off).
func countStored(loads []*outageLoad, bodies map[string]protocol.Message) int {
	n := 0
	for _, l := range loads {
		for id := range l.refused {
			if _, ok := bodies[id]; ok {
				n++
			}
		}
	}
	return n
}
