package e2e

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// TestClusterSyncMembership: a member removed through node 1's admin API
// gets no more group messages sent through node 2, whose member list
// (warm, and over 64 members, so other nodes resolve it too) drops it at
// once; node 2 counts without it, and node 1 counts node 2's reads.
func TestClusterSyncMembership(t *testing.T) {
	pg := seentest.PostgresDB(t)
	n := seentest.StartNATS(t)
	a := seentest.Start(t, seentest.Cluster(pg, n.URL()))
	b := seentest.Start(t, seentest.Cluster(pg, n.URL()))
	members := make([]string, 80)
	for i := range members {
		members[i] = fmt.Sprintf("m-%02d", i)
	}
	a.Users(append([]string{"alice"}, members...)...)
	a.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "big", "owner": "alice", "members": members})

	alice := connectRaw(t, b, "alice", "phone")
	victim := connectRaw(t, b, "m-00", "phone")
	keeper := connectRaw(t, b, "m-01", "phone")
	// Node 2 loads the group's engine and member list.
	send(t, alice, group("big"), "warm", "warm")
	victim.EventAfter(protocol.EventMessageNew)
	keeper.EventAfter(protocol.EventMessageNew)

	a.MustAdmin("DELETE", "/v1/admin/groups/big/members/m-00", nil)
	if e := decode[protocol.GroupMemberEvent](t, victim.EventAfter(protocol.EventGroupMember).Params); e.UserID != "m-00" || e.Action != protocol.ActionRemoved {
		t.Fatalf("removed member got %+v, want its removal", e)
	}

	var after protocol.SendResult
	alice.MustCall(protocol.MethodMessageSend, protocol.SendParams{
		Conversation: group("big"), ClientMsgID: "after", Body: json.RawMessage(`"after"`), Receipt: true,
	}, &after)
	if got := decode[protocol.MessageNewEvent](t, keeper.EventAfter(protocol.EventMessageNew).Params).Message; got.MsgID != after.MsgID {
		t.Fatalf("member on node 2 got %s, want %s", got.MsgID, after.MsgID)
	}
	// Node 2 delivers to its own sockets before it answers the sender.
	victim.NoEvent()

	// 80 members and alice, less the removed one and the sender.
	query := func(r *seentest.Raw) protocol.Receipt {
		var res protocol.ReceiptQueryResult
		r.MustCall(protocol.MethodReceiptQuery, protocol.ReceiptQueryParams{Conversation: group("big"), MsgIDs: []string{after.MsgID}}, &res)
		return res.Receipts[0]
	}
	if r := query(alice); r.UnreadCount != 79 || r.ReadCount != 0 {
		t.Errorf("node 2 counts %d unread, %d read; want 79, 0", r.UnreadCount, r.ReadCount)
	}
	// A read through node 2 is in node 1's counts as soon as it is done.
	keeper.MustCall(protocol.MethodMessageRead, protocol.ReadParams{Conversation: group("big"), MsgIDs: []string{after.MsgID}}, nil)
	aliceOnA := connectRaw(t, a, "alice", "laptop")
	if r := query(aliceOnA); r.UnreadCount != 78 || r.ReadCount != 1 {
		t.Errorf("node 1 counts %d unread, %d read; want 78, 1", r.UnreadCount, r.ReadCount)
	}
}
