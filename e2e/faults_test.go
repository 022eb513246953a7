package e2e

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/internal/store/faultstore"
	"github.com/seen-im/seen/protocol"
	"github.com/seen-im/seen/server"
)

func startFaulty(t *testing.T, opts ...func(*config.Config)) (*seentest.Server, *faultstore.Faults) {
	f := faultstore.New()
	s := seentest.StartWith(t, []server.Option{server.WithStoreHook(f)}, opts...)
	return s, f
}

func TestStoreWriteFailuresAnswer503AndChangeNothing(t *testing.T) {
	s, faults := startFaulty(t)
	s.Users("alice", "bob")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "alice", "members": []string{"bob"}})
	alice := connectRaw(t, s, "alice", "")
	bob := connectRaw(t, s, "bob", "")
	first := send(t, alice, group("g"), "ok-1", "before the fault")
	bob.Event(protocol.EventMessageNew)
	before := snapshot(t, bob)

	faults.FailWrites()
	calls := []struct {
		method string
		params any
	}{
		{protocol.MethodMessageSend, protocol.SendParams{Conversation: group("g"), ClientMsgID: "during", Body: []byte(`"x"`), Receipt: true}},
		{protocol.MethodMessageDelivered, protocol.DeliveredParams{Conversation: group("g"), Seq: 1}},
		{protocol.MethodMessageRead, protocol.ReadParams{Conversation: group("g"), MsgIDs: []string{first.MsgID}}},
		{protocol.MethodConversationRead, protocol.ConversationReadParams{Conversation: group("g")}},
		{protocol.MethodGroupCreate, protocol.GroupCreateParams{GroupID: "g2", Members: []string{"alice"}}},
		{protocol.MethodGroupLeave, protocol.GroupLeaveParams{GroupID: "g"}},
	}
	for _, c := range calls {
		if f := bob.Call(c.method, c.params); errCode(f) != protocol.CodeUnavailable {
			t.Errorf("%s during a write outage = %d (%v), want 503", c.method, errCode(f), f.Error)
		}
	}
	// Reads still answer, and show nothing of the failed writes.
	if diff := cmp.Diff(before, snapshot(t, bob)); diff != "" {
		t.Errorf("failed writes changed state:\n%s", diff)
	}
	alice.NoEvent()

	faults.Heal()
	// The same requests, retried, now succeed: 503 meant safe to retry.
	for _, c := range calls[:4] {
		bob.MustCall(c.method, c.params, nil)
	}
	var h protocol.HistoryResult
	bob.MustCall(protocol.MethodMessageHistory, protocol.HistoryParams{Conversation: group("g")}, &h)
	if len(h.Messages) != 2 || h.Messages[0].Seq != 2 {
		t.Fatalf("history after recovery = %d messages, want the first and the retried one", len(h.Messages))
	}
}

func TestStoreOutageRefusesConnectThenRecovers(t *testing.T) {
	s, faults := startFaulty(t)
	faults.FailAll()
	r := seentest.DialRaw(t, s.WSURL())
	if f := r.Call(protocol.MethodConnect, protocol.ConnectParams{Token: s.Token("carol")}); errCode(f) != protocol.CodeUnavailable {
		t.Fatalf("connect during an outage = %d (%v), want 503", errCode(f), f.Error)
	}
	faults.Heal()
	connectRaw(t, s, "carol", "")
}

func TestStalledStoreTimesOutWith503(t *testing.T) {
	s, faults := startFaulty(t, func(c *config.Config) { c.RequestTimeout = 200 * time.Millisecond })
	s.Users("alice", "bob")
	alice := connectRaw(t, s, "alice", "")
	faults.StallWrites()
	p := protocol.SendParams{Conversation: peer("bob"), ClientMsgID: "stalled", Body: []byte(`1`)}
	if f := alice.Call(protocol.MethodMessageSend, p); errCode(f) != protocol.CodeUnavailable {
		t.Fatalf("send into a stalled store = %d (%v), want 503", errCode(f), f.Error)
	}
	faults.Heal()
	// The retry with the same clientMsgId is answered once, at seq 1.
	var r protocol.SendResult
	alice.MustCall(protocol.MethodMessageSend, p, &r)
	if r.Seq != 1 {
		t.Fatalf("retry = seq %d, want 1", r.Seq)
	}
}
