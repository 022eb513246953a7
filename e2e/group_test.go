package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

func TestFiveMemberGroup(t *testing.T) {
	s := seentest.Start(t)
	users := []string{"ann", "ben", "cat", "dan", "eve"}
	s.Users(users...)
	devs := map[string]*device{}
	for _, u := range users {
		devs[u] = dial(t, s, u, "phone", client.WithAutoDelivered(false))
	}
	ann := devs["ann"]
	if _, err := ann.CreateGroup(ctx(t), protocol.GroupCreateParams{GroupID: "five", Members: users[1:]}); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		e := next[protocol.GroupMemberEvent](devs[u])
		if e.UserID != u || e.Action != protocol.ActionJoined || e.By != "ann" {
			t.Fatalf("%s got %+v, want itself joined by ann", u, e)
		}
	}
	g := group("five")
	for i, u := range users {
		res := devs[u].say(g, "hello from "+u)
		if res.Seq != uint64(i+1) {
			t.Fatalf("%s's message has seq %d, want %d", u, res.Seq, i+1)
		}
		for _, v := range users {
			if v == u {
				continue
			}
			m := next[protocol.Message](devs[v])
			if m.Seq != res.Seq || m.Sender != u || m.Conversation != g {
				t.Fatalf("%s got %+v, want seq %d from %s", v, m, res.Seq, u)
			}
		}
		devs[u].quiet()
	}
	// Each member has read up to its own message; the rest is unread.
	for i, u := range users {
		unread, readSeq := devs[u].unread(g)
		if readSeq != uint64(i+1) || unread != uint64(len(users)-i-1) {
			t.Errorf("%s: unread %d readSeq %d, want %d and %d", u, unread, readSeq, len(users)-i-1, i+1)
		}
	}
	members, err := ann.GroupMembers(ctx(t), protocol.GroupMembersParams{GroupID: "five", Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	var all []protocol.GroupMember
	for {
		all = append(all, members.Members...)
		if members.NextCursor == "" {
			break
		}
		if members, err = ann.GroupMembers(ctx(t), protocol.GroupMembersParams{GroupID: "five", Limit: 2, Cursor: members.NextCursor}); err != nil {
			t.Fatal(err)
		}
	}
	if len(all) != 5 || all[0].UserID != "ann" || all[0].Role != protocol.RoleOwner || all[4].UserID != "eve" || all[4].Role != protocol.RoleMember {
		t.Fatalf("members = %+v", all)
	}

	// A plain member cannot add or remove; the owner can.
	var pe *protocol.Error
	err = devs["ben"].AddMembers(ctx(t), protocol.GroupMembersChangeParams{GroupID: "five", UserIDs: []string{"ann"}})
	if !errors.As(err, &pe) || pe.Code != protocol.CodeForbidden {
		t.Fatalf("member add = %v, want 403", err)
	}
	if err := ann.RemoveMembers(ctx(t), protocol.GroupMembersChangeParams{GroupID: "five", UserIDs: []string{"eve"}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		e := next[protocol.GroupMemberEvent](devs[u])
		if e.UserID != "eve" || e.Action != protocol.ActionRemoved || e.By != "ann" {
			t.Fatalf("%s got %+v, want eve removed by ann", u, e)
		}
	}
	_, err = devs["eve"].History(ctx(t), protocol.HistoryParams{Conversation: g})
	if !errors.As(err, &pe) || pe.Code != protocol.CodeForbidden {
		t.Fatalf("removed member's history = %v, want 403", err)
	}
	if err := devs["dan"].LeaveGroup(ctx(t), protocol.GroupLeaveParams{GroupID: "five"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ann", "ben", "cat", "dan"} {
		e := next[protocol.GroupMemberEvent](devs[u])
		if e.UserID != "dan" || e.Action != protocol.ActionLeft {
			t.Fatalf("%s got %+v, want dan left", u, e)
		}
	}
	// The owner may leave while others remain: ownership passes on (see
	// TestOwnerLeaveHandsOwnershipOn).
	if err := ann.LeaveGroup(ctx(t), protocol.GroupLeaveParams{GroupID: "five"}); err != nil {
		t.Fatalf("owner leave = %v, want success", err)
	}
}

func TestLateJoinerSeesHistoryFromJoin(t *testing.T) {
	s := seentest.Start(t)
	s.Users("owner", "early", "late")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "owner", "members": []string{"early"}})
	own := dial(t, s, "owner", "d")
	for i := range 3 {
		own.say(group("g"), fmt.Sprint("before ", i))
	}
	if err := own.AddMembers(ctx(t), protocol.GroupMembersChangeParams{GroupID: "g", UserIDs: []string{"late"}}); err != nil {
		t.Fatal(err)
	}
	own.say(group("g"), "after")
	late := dial(t, s, "late", "d")
	h, err := late.History(ctx(t), protocol.HistoryParams{Conversation: group("g")})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 1 || h.Messages[0].Seq != 4 || h.HasMore {
		t.Fatalf("late joiner's history = %+v, want only seq 4 and hasMore false", h)
	}
	unread, readSeq := late.unread(group("g"))
	if unread != 1 || readSeq != 3 {
		t.Fatalf("late joiner: unread %d readSeq %d, want 1 and 3", unread, readSeq)
	}
	m, err := own.GroupMembers(ctx(t), protocol.GroupMembersParams{GroupID: "g"})
	if err != nil {
		t.Fatal(err)
	}
	for _, gm := range m.Members {
		want := uint64(1)
		if gm.UserID == "late" {
			want = 4
		}
		if gm.JoinSeq != want {
			t.Errorf("%s joinSeq = %d, want %d", gm.UserID, gm.JoinSeq, want)
		}
	}
}

func TestMultiDevice(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob")
	phone := dial(t, s, "alice", "phone")
	laptop := dial(t, s, "alice", "laptop")
	bob := dial(t, s, "bob", "phone", client.WithAutoDelivered(false))
	res := phone.say(peer("bob"), "from my phone")
	// The other device of the sender gets it, with its own receipt view;
	// the sending device does not.
	m := next[protocol.Message](laptop)
	if m.MsgID != res.MsgID || m.Conversation != peer("bob") || m.Sender != "alice" {
		t.Fatalf("laptop got %+v", m)
	}
	if m := next[protocol.Message](bob); m.Conversation != peer("alice") {
		t.Fatalf("bob got %+v", m)
	}
	phone.quiet()
	// Reading on one device tells the others; the reader's device hears nothing.
	bob.say(peer("alice"), "hi")
	next[protocol.Message](phone)
	next[protocol.Message](laptop)
	// Bob's reply marks alice's message read by him.
	for _, d := range []*device{phone, laptop} {
		if e := next[protocol.ConversationReadEvent](d); e.UserID != "bob" || e.Seq != 2 {
			t.Fatalf("alice's device got %+v, want bob read up to 2", e)
		}
	}
	// Wait for the auto delivered acks from both devices to reach bob.
	next[protocol.ReceiptDeliveredEvent](bob)
	if _, err := laptop.ReadConversation(ctx(t), protocol.ConversationReadParams{Conversation: peer("bob")}); err != nil {
		t.Fatal(err)
	}
	e := next[protocol.ConversationReadEvent](phone)
	if e.UserID != "alice" || e.Seq != 2 || e.Conversation != peer("bob") {
		t.Fatalf("phone got %+v", e)
	}
	if e := next[protocol.ConversationReadEvent](bob); e.UserID != "alice" || e.Conversation != peer("alice") {
		t.Fatalf("bob got %+v", e)
	}
	laptop.quiet()
}

func TestIdempotentResend(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob")
	alice := dial(t, s, "alice", "d")
	bob := dial(t, s, "bob", "d")
	p := protocol.SendParams{Conversation: peer("bob"), ClientMsgID: "same", Body: json.RawMessage(`{"text": "once"}`)}
	first, err := alice.Send(ctx(t), p)
	if err != nil {
		t.Fatal(err)
	}
	p.Body = json.RawMessage(`{"text":"once"}`) // same value, other spacing
	again, err := alice.Send(ctx(t), p)
	if err != nil || again != first {
		t.Fatalf("resend = %+v, %v; want %+v", again, err, first)
	}
	p.Body = json.RawMessage(`{"text":"twice"}`)
	_, err = alice.Send(ctx(t), p)
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeConflict {
		t.Fatalf("resend with another body = %v, want 409", err)
	}
	next[protocol.Message](bob)
	bob.quiet()
	h, _ := bob.History(ctx(t), protocol.HistoryParams{Conversation: peer("alice")})
	if len(h.Messages) != 1 {
		t.Fatalf("history holds %d messages, want 1", len(h.Messages))
	}
}

func TestHistoryPaging(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob")
	alice := dial(t, s, "alice", "d")
	for i := range 45 {
		alice.say(peer("bob"), fmt.Sprint(i))
	}
	var seqs []uint64
	var before uint64
	for pages := 0; ; pages++ {
		h, err := alice.History(ctx(t), protocol.HistoryParams{Conversation: peer("bob"), BeforeSeq: before, Limit: 20})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range h.Messages {
			seqs = append(seqs, m.Seq)
		}
		if !h.HasMore {
			if pages != 2 {
				t.Fatalf("%d pages, want 3", pages+1)
			}
			break
		}
		before = h.Messages[len(h.Messages)-1].Seq
	}
	if len(seqs) != 45 {
		t.Fatalf("got %d messages, want 45", len(seqs))
	}
	for i, s := range seqs {
		if s != uint64(45-i) {
			t.Fatalf("seqs[%d] = %d, want %d", i, s, 45-i)
		}
	}
}
