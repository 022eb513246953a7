package e2e

import (
	"encoding/json"
	"testing"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// connectRaw opens a raw socket for user, connected.
func connectRaw(t *testing.T, s *seentest.Server, user, device string) *seentest.Raw {
	t.Helper()
	r := seentest.DialRaw(t, s.WSURL())
	r.Connect(s.Token(user), device)
	return r
}

func peer(id string) protocol.Conversation {
	return protocol.Conversation{Type: protocol.ConvPeer, ID: id}
}
func group(id string) protocol.Conversation {
	return protocol.Conversation{Type: protocol.ConvGroup, ID: id}
}

// decode unmarshals raw into a fresh T.
func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// send sends a text message and returns its result.
func send(t *testing.T, r *seentest.Raw, conv protocol.Conversation, clientMsgID, text string) protocol.SendResult {
	t.Helper()
	var res protocol.SendResult
	body, _ := json.Marshal(map[string]string{"text": text})
	r.MustCall(protocol.MethodMessageSend, protocol.SendParams{Conversation: conv, ClientMsgID: clientMsgID, Body: body}, &res)
	return res
}

// errCode returns the error code of a response frame, 0 for success.
func errCode(f protocol.Frame) int {
	if f.Error == nil {
		return 0
	}
	return f.Error.Code
}
