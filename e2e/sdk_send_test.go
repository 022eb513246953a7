package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// TestSDKSendFillsClientMsgID: a Send without a clientMsgId is not refused
// for the missing field; the SDK picks a fresh id per send, so two sends of
// the same body are two messages.
func TestSDKSendFillsClientMsgID(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob")
	alice := dial(t, s, "alice", "a1")
	bob := dial(t, s, "bob", "b1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := protocol.SendParams{Conversation: peer("bob"), Body: json.RawMessage(`{"text":"hi"}`)}
	first, err := alice.Send(ctx, p)
	if err != nil {
		t.Fatalf("send without clientMsgId: %v", err)
	}
	second, err := alice.Send(ctx, p)
	if err != nil {
		t.Fatalf("second send: %v", err)
	}
	if first.MsgID == second.MsgID {
		t.Fatalf("two sends gave one message %s: the clientMsgId was reused", first.MsgID)
	}
	for _, want := range []string{first.MsgID, second.MsgID} {
		if m := next[protocol.Message](bob); m.MsgID != want {
			t.Fatalf("bob got %s, want %s", m.MsgID, want)
		}
	}
}
