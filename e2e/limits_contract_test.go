package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// An explicit page limit must be 1-100 on every paged method: 0, 101 and
// -1 are -32602 naming "limit"; only an absent limit takes the default
// (20). The frames are written by hand, so what is tested is what a
// client puts on the wire, not what an SDK chooses to send.
func TestExplicitPageLimits(t *testing.T) {
	s := seentest.Start(t)
	s.Users("own", "mem")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "own", "members": []string{"mem"}})
	own := connectRaw(t, s, "own", "")
	var rm protocol.SendResult
	own.MustCall(protocol.MethodMessageSend, protocol.SendParams{Conversation: group("g"), ClientMsgID: "r", Body: json.RawMessage(`1`), Receipt: true}, &rm)
	for i := range protocol.DefaultPageLimit + 5 {
		send(t, own, group("g"), fmt.Sprint(i), "x")
	}

	methods := []struct {
		method string
		params string // a params object without its closing brace
	}{
		{protocol.MethodMessageHistory, `{"conversation":{"type":"group","id":"g"}`},
		{protocol.MethodConversationList, `{"cursor":""`},
		{protocol.MethodReceiptMembers, `{"conversation":{"type":"group","id":"g"},"msgId":"` + rm.MsgID + `","filter":"unread"`},
		{protocol.MethodGroupMembers, `{"groupId":"g"`},
	}
	for _, m := range methods {
		for _, limit := range []string{"0", "101", "-1", "absent"} {
			t.Run(m.method+"/"+limit, func(t *testing.T) {
				params := m.params + `}`
				if limit != "absent" {
					params = m.params + `,"limit":` + limit + `}`
				}
				f := own.Call(m.method, json.RawMessage(params))
				if limit == "absent" {
					if f.Error != nil {
						t.Fatalf("absent limit: %v, want success", f.Error)
					}
					return
				}
				if errCode(f) != protocol.CodeInvalidParams {
					t.Fatalf("limit %s = %d, want -32602", limit, errCode(f))
				}
				if got := f.Error.Data["field"]; got != "limit" {
					t.Errorf("limit %s: data.field = %v, want \"limit\"", limit, got)
				}
			})
		}
	}
	// The default page is 20 messages.
	var h protocol.HistoryResult
	own.MustCall(protocol.MethodMessageHistory, json.RawMessage(`{"conversation":{"type":"group","id":"g"}}`), &h)
	if len(h.Messages) != protocol.DefaultPageLimit || !h.HasMore {
		t.Errorf("history with no limit: %d messages, hasMore %v; want %d and true", len(h.Messages), h.HasMore, protocol.DefaultPageLimit)
	}

	// The admin members endpoint's limit query parameter follows the same
	// rule.
	for _, limit := range []string{"0", "101", "-1", ""} {
		path := "/v1/admin/messages/" + rm.MsgID + "/members?filter=unread&limit=" + limit
		code, body := s.Admin("GET", path, nil)
		wantAdminError(t, code, body, http.StatusBadRequest, protocol.CodeInvalidParams, "limit")
	}
	if code, body := s.Admin("GET", "/v1/admin/messages/"+rm.MsgID+"/members?filter=unread", nil); code != http.StatusOK {
		t.Errorf("admin members with no limit = %d %s, want 200", code, body)
	}
}
