package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/protocol"
)

// A body with bytes that are not UTF-8 would be relayed to the peer, whose
// browser drops the socket on such a frame: the frame is refused whole and
// nothing is stored or relayed.
func TestInvalidUTF8FrameIsRefusedAndNotStored(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob")
	alice := connectRaw(t, s, "alice", "")
	bob := connectRaw(t, s, "bob", "")

	alice.Send(`{"jsonrpc":"2.0","id":1,"method":"message.send","params":{"conversation":{"type":"peer","id":"bob"},` +
		`"clientMsgId":"bad","body":{"text":"caf` + "\xe9 au lait \xff" + `"}}}`)
	if f := alice.Response("null"); errCode(f) != protocol.CodeParseError {
		t.Fatalf("send with invalid UTF-8 = %d (%v), want -32700", errCode(f), f.Error)
	}
	var h protocol.HistoryResult
	bob.MustCall(protocol.MethodMessageHistory, protocol.HistoryParams{Conversation: peer("alice"), Limit: 100}, &h)
	if len(h.Messages) != 0 {
		t.Fatalf("bob's history holds %d messages, want none: %+v", len(h.Messages), h.Messages)
	}
	bob.NoEvent()
	// After connect the socket stays open: -32700 is an answer, not a close.
	send(t, alice, peer("bob"), "good", "café au lait")
	bob.Event(protocol.EventMessageNew)
}

// The admin API reaches the same service: the body is checked there too.
func TestAdminSendRefusesInvalidUTF8Body(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob")
	bob := connectRaw(t, s, "bob", "")
	code, b := s.Admin("POST", "/v1/admin/messages",
		`{"from":"alice","conversation":{"type":"peer","id":"bob"},"clientMsgId":"bad","body":{"text":"`+"\xc3\x28"+`"}}`)
	if code != 400 {
		t.Fatalf("POST messages with invalid UTF-8 = %d %s, want 400", code, b)
	}
	var h protocol.HistoryResult
	bob.MustCall(protocol.MethodMessageHistory, protocol.HistoryParams{Conversation: peer("alice"), Limit: 100}, &h)
	if len(h.Messages) != 0 {
		t.Fatalf("bob's history holds %d messages, want none", len(h.Messages))
	}
}

// A body stored with invalid bytes before they were refused still reaches
// clients in valid UTF-8 frames: each invalid sequence becomes U+FFFD.
// (The raw client fails the test on any frame that is not UTF-8.)
func TestStoredInvalidUTF8IsSentAsValidUTF8(t *testing.T) {
	s := seentest.StartSingle(t, "plants bytes in the embedded store")
	s.Users("alice", "bob")
	alice := connectRaw(t, s, "alice", "")
	send(t, alice, peer("bob"), "first", "hello")
	alice.Close()
	s.RestartAfter(func() {
		st, err := pebblestore.Open(filepath.Join(s.Cfg.Data, "store"), pebblestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_, _, err = st.Append(context.Background(), store.Message{
			ID: "01OLDBODYWITHINVALIDUTF8", Conv: store.PeerConv("alice", "bob"), Sender: "alice",
			ClientMsgID: "old", Body: []byte(`{"text":"a` + "\xff" + `b"}`), SentAt: time.Now().UnixMilli(),
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	bob := connectRaw(t, s, "bob", "")
	var h protocol.HistoryResult
	bob.MustCall(protocol.MethodMessageHistory, protocol.HistoryParams{Conversation: peer("alice"), Limit: 100}, &h)
	if len(h.Messages) != 2 {
		t.Fatalf("history holds %d messages, want 2", len(h.Messages))
	}
	if got, want := string(h.Messages[0].Body), `{"text":"a`+"\ufffd"+`b"}`; got != want {
		t.Fatalf("stored invalid body sent as %q, want %q", got, want)
	}
	var list protocol.ConversationListResult
	bob.MustCall(protocol.MethodConversationList, protocol.ConversationListParams{Limit: 10}, &list)
	if len(list.Conversations) != 1 || !strings.Contains(string(list.Conversations[0].LastMessage.Body), "\ufffd") {
		t.Fatalf("conversation.list = %+v, want the last message with U+FFFD", list.Conversations)
	}
}
