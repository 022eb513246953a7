package e2e

import (
	"net/http"
	"testing"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// TestAdminRejectsInvalidUTF8 checks that an admin body that is not UTF-8
// text is not JSON (RFC 8259 §8.1) and changes nothing: stored, such bytes
// would be relayed to browsers, which drop the socket on them.
func TestAdminRejectsInvalidUTF8(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "alice", "members": []string{"bob"}})
	tests := []struct {
		name, method, path, body string
	}{
		{"message body", "POST", "/v1/admin/messages",
			`{"from":"alice","conversation":{"type":"group","id":"g"},"clientMsgId":"m1","body":{"text":"caf` + "\xe9" + `"}}`},
		{"message body, lone continuation byte", "POST", "/v1/admin/messages",
			`{"from":"alice","conversation":{"type":"group","id":"g"},"clientMsgId":"m2","body":"` + "\x80" + `"}`},
		{"user name", "POST", "/v1/admin/users", `{"userId":"carol","name":"` + "\xff\xfe" + `"}`},
		{"group type", "POST", "/v1/admin/groups", `{"groupId":"g2","owner":"alice","type":"w` + "\xc3" + `"}`},
		{"role", "PUT", "/v1/admin/groups/g/members/bob", `{"role":"admin` + "\xed\xa0\x80" + `"}`},
		{"outside a string", "POST", "/v1/admin/tokens", `{"userId":"alice"} ` + "\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := s.Admin(tt.method, tt.path, tt.body)
			wantAdminError(t, code, body, http.StatusBadRequest, protocol.CodeParseError, "")
		})
	}
	// Nothing was stored: no message, no user, no group, no role change.
	bob := connectRaw(t, s, "bob", "")
	var h protocol.HistoryResult
	bob.MustCall(protocol.MethodMessageHistory, protocol.HistoryParams{Conversation: group("g")}, &h)
	if len(h.Messages) != 0 {
		t.Errorf("history holds %d messages, want none", len(h.Messages))
	}
	if code, body := s.Admin("POST", "/v1/admin/users", map[string]string{"userId": "carol"}); code != http.StatusCreated {
		t.Errorf("POST users carol = %d %s, want 201: the invalid body created her", code, body)
	}
	if code, body := s.Admin("POST", "/v1/admin/groups", map[string]any{"groupId": "g2", "owner": "alice"}); code != http.StatusCreated {
		t.Errorf("POST groups g2 = %d %s, want 201: the invalid body created it", code, body)
	}
	var members protocol.GroupMembersResult
	bob.MustCall(protocol.MethodGroupMembers, protocol.GroupMembersParams{GroupID: "g"}, &members)
	for _, m := range members.Members {
		if m.UserID == "bob" && m.Role != protocol.RoleMember {
			t.Errorf("bob's role = %q, want member", m.Role)
		}
	}
}
