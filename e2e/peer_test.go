package e2e

import (
	"testing"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

func TestPeerChatBothWays(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob")
	alice := connectRaw(t, s, "alice", "phone")
	bob := connectRaw(t, s, "bob", "phone")

	r1 := send(t, alice, peer("bob"), "c1", "hi bob")
	if r1.Seq != 1 || r1.MsgID == "" || r1.SentAt == 0 {
		t.Fatalf("first send = %+v, want seq 1 with id and time", r1)
	}
	ev := decode[protocol.MessageNewEvent](t, bob.Event(protocol.EventMessageNew).Params)
	if ev.Message.MsgID != r1.MsgID || ev.Message.Sender != "alice" || ev.Message.Conversation != peer("alice") {
		t.Fatalf("bob got %+v, want msg %s from alice in conversation peer:alice", ev.Message, r1.MsgID)
	}
	r2 := send(t, bob, peer("alice"), "c1", "hi alice")
	if r2.Seq != 2 {
		t.Fatalf("reply seq = %d, want 2 (one sequence per peer conversation)", r2.Seq)
	}
	ev = decode[protocol.MessageNewEvent](t, alice.Event(protocol.EventMessageNew).Params)
	if ev.Message.Conversation != peer("bob") || ev.Message.Seq != 2 {
		t.Fatalf("alice got %+v, want seq 2 in peer:bob", ev.Message)
	}
	// Replying marks read: Bob has now read Alice's message, and she hears so.
	cr := decode[protocol.ConversationReadEvent](t, alice.Event(protocol.EventConversationRead).Params)
	if cr.UserID != "bob" || cr.Seq != 2 || cr.Conversation != peer("bob") {
		t.Fatalf("alice got conversation.read %+v, want bob read up to 2", cr)
	}
	// The sending device gets no echo.
	alice.NoEvent()
	bob.NoEvent()

	var hist protocol.HistoryResult
	alice.MustCall(protocol.MethodMessageHistory, protocol.HistoryParams{Conversation: peer("bob")}, &hist)
	if len(hist.Messages) != 2 || hist.Messages[0].Seq != 2 || hist.Messages[1].Seq != 1 || hist.HasMore {
		t.Fatalf("history = %+v, want seqs 2,1 and no more", hist)
	}

	// Alice sent seq 1 and then received seq 2: one unread for her, none
	// for Bob, who sent the last message.
	var list protocol.ConversationListResult
	alice.MustCall(protocol.MethodConversationList, protocol.ConversationListParams{Limit: 10}, &list)
	if len(list.Conversations) != 1 {
		t.Fatalf("alice has %d conversations, want 1", len(list.Conversations))
	}
	c := list.Conversations[0]
	if c.Conversation != peer("bob") || c.LastSeq != 2 || c.UnreadCount != 1 || c.ReadSeq != 1 ||
		c.PeerReadSeq == nil || *c.PeerReadSeq != 2 || c.LastMessage == nil || c.LastMessage.Seq != 2 {
		t.Fatalf("alice's conversation = %+v", c)
	}

	// Bob sent seq 2, which made him read (and so delivered) up to 2: his
	// delivered ack at 1 changes nothing and tells nobody.
	bob.MustCall(protocol.MethodMessageDelivered, protocol.DeliveredParams{Conversation: peer("alice"), Seq: 1}, nil)
	alice.NoEvent()

	// Alice's delivery ack reaches Bob.
	alice.MustCall(protocol.MethodMessageDelivered, protocol.DeliveredParams{Conversation: peer("bob"), Seq: 2}, nil)
	d := decode[protocol.ReceiptDeliveredEvent](t, bob.Event(protocol.EventReceiptDelivered).Params)
	if want := (protocol.ReceiptDeliveredEvent{Conversation: peer("alice"), UserID: "alice", Seq: 2}); d.Conversation != want.Conversation || d.UserID != want.UserID || d.Seq != want.Seq {
		t.Fatalf("receipt.delivered = %+v, want %+v", d, want)
	}
	// Reading the conversation tells Bob and clears Alice's unread count.
	var rr protocol.ConversationReadResult
	alice.MustCall(protocol.MethodConversationRead, protocol.ConversationReadParams{Conversation: peer("bob")}, &rr)
	if rr.ReadSeq != 2 {
		t.Fatalf("readSeq = %d, want 2", rr.ReadSeq)
	}
	cr = decode[protocol.ConversationReadEvent](t, bob.Event(protocol.EventConversationRead).Params)
	if cr.UserID != "alice" || cr.Seq != 2 || cr.Conversation != peer("alice") {
		t.Fatalf("conversation.read = %+v", cr)
	}
	// Repeating the read changes nothing and sends nothing.
	alice.MustCall(protocol.MethodConversationRead, protocol.ConversationReadParams{Conversation: peer("bob")}, &rr)
	bob.NoEvent()
	alice.MustCall(protocol.MethodConversationList, protocol.ConversationListParams{}, &list)
	if c := list.Conversations[0]; c.UnreadCount != 0 || c.ReadSeq != 2 {
		t.Fatalf("after read: %+v, want unread 0, readSeq 2", c)
	}
	bob.MustCall(protocol.MethodConversationList, protocol.ConversationListParams{}, &list)
	if c := list.Conversations[0]; c.Conversation != peer("alice") || *c.PeerReadSeq != 2 || *c.PeerDeliveredSeq != 2 {
		t.Fatalf("bob's view: %+v, want peerReadSeq 2 and peerDeliveredSeq 2", c)
	}
}
