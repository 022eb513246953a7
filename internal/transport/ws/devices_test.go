package ws_test

import (
	"encoding/json"
	"testing"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// A read on one device is told to the reader's other devices, not to the
// one that read: with the connection known to the in-process bus, an
// event the reader alone would get is not even encoded, and this holds
// that the other devices still get theirs.
func TestReadIsToldToTheReadersOtherDevicesOnly(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob")
	bob := seentest.DialRaw(t, s.WSURL())
	bob.Connect(s.Token("bob"), "b1")
	a1 := seentest.DialRaw(t, s.WSURL())
	a1.Connect(s.Token("alice"), "a1")
	toAlice := protocol.Conversation{Type: protocol.ConvPeer, ID: "alice"}
	toBob := protocol.Conversation{Type: protocol.ConvPeer, ID: "bob"}
	send := func() string {
		var res protocol.SendResult
		bob.MustCall(protocol.MethodMessageSend, protocol.SendParams{
			Conversation: toAlice, ClientMsgID: client.NewClientMsgID(), Body: []byte(`"hi"`),
		}, &res)
		return res.MsgID
	}

	// Alice on one device: her read is told to nobody of hers.
	id := send()
	a1.EventAfter(protocol.EventMessageNew)
	a1.MustCall(protocol.MethodMessageRead, protocol.ReadParams{Conversation: toBob, MsgIDs: []string{id}}, nil)
	a1.NoEvent()

	// A second device hears of the first's read, and the first still not.
	a2 := seentest.DialRaw(t, s.WSURL())
	a2.Connect(s.Token("alice"), "a2")
	id = send()
	a1.EventAfter(protocol.EventMessageNew)
	a2.EventAfter(protocol.EventMessageNew)
	a1.MustCall(protocol.MethodMessageRead, protocol.ReadParams{Conversation: toBob, MsgIDs: []string{id}}, nil)
	var ev protocol.ConversationReadEvent
	if err := json.Unmarshal(a2.EventAfter(protocol.EventConversationRead).Params, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.UserID != "alice" || ev.Conversation != toBob || ev.Seq != 2 {
		t.Errorf("a2 got conversation.read %+v, want alice read up to 2 in peer:bob", ev)
	}
	a1.NoEvent()
}
