package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// historyOf is the whole history of conv as r's user sees it.
func historyOf(t *testing.T, r *seentest.Raw, conv protocol.Conversation) []protocol.Message {
	t.Helper()
	var h protocol.HistoryResult
	r.MustCall(protocol.MethodMessageHistory, protocol.HistoryParams{Conversation: conv, Limit: 100}, &h)
	return h.Messages
}

// With WhoMayRequest "admins", asking for receipts at send time is the
// owner's and admins' alone, on a socket and through the admin API (which
// acts as its `from` user): a plain member's receipt message is 403 and
// stores nothing.
func TestReceiptPolicyAtSend(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) { c.Receipts.WhoMayRequest = "admins" })
	s.Users("own", "adm", "mem")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "own", "members": []string{"adm", "mem"}})
	s.MustAdmin("PUT", "/v1/admin/groups/g/members/adm", map[string]string{"role": protocol.RoleAdmin})
	own := connectRaw(t, s, "own", "")
	adm := connectRaw(t, s, "adm", "")
	mem := connectRaw(t, s, "mem", "")

	withReceipt := func(id string) protocol.SendParams {
		return protocol.SendParams{Conversation: group("g"), ClientMsgID: id, Body: json.RawMessage(`{"t":1}`), Receipt: true}
	}
	if f := mem.Call(protocol.MethodMessageSend, withReceipt("m1")); errCode(f) != protocol.CodeForbidden {
		t.Fatalf("a plain member's send with receipt = %d (%s), want 403", errCode(f), f.Result)
	}
	code, body := s.Admin("POST", "/v1/admin/messages", map[string]any{"from": "mem", "conversation": group("g"),
		"clientMsgId": "m2", "body": map[string]int{"t": 1}, "receipt": true})
	wantAdminError(t, code, body, http.StatusForbidden, protocol.CodeForbidden, "")
	if h := historyOf(t, own, group("g")); len(h) != 0 {
		t.Fatalf("history after refused sends = %+v, want empty", h)
	}

	// The same member may send without receipts, and the owner and an
	// admin may ask for them; the refused sends took no seq.
	var res protocol.SendResult
	mem.MustCall(protocol.MethodMessageSend, protocol.SendParams{Conversation: group("g"), ClientMsgID: "m1", Body: json.RawMessage(`{"t":1}`)}, &res)
	if res.Seq != 1 {
		t.Errorf("first stored message has seq %d, want 1", res.Seq)
	}
	own.MustCall(protocol.MethodMessageSend, withReceipt("o1"), nil)
	adm.MustCall(protocol.MethodMessageSend, withReceipt("a1"), nil)
	code, body = s.Admin("POST", "/v1/admin/messages", map[string]any{"from": "adm", "conversation": group("g"),
		"clientMsgId": "a2", "body": map[string]int{"t": 1}, "receipt": true})
	if code != http.StatusOK {
		t.Fatalf("admin API send with receipt from an admin = %d %s, want 200", code, body)
	}
	if h := historyOf(t, own, group("g")); len(h) != 4 {
		t.Errorf("history holds %d messages, want 4", len(h))
	}
	// Peer messages are not governed by a group policy.
	mem.MustCall(protocol.MethodMessageSend, protocol.SendParams{Conversation: peer("own"), ClientMsgID: "p1", Body: json.RawMessage(`1`), Receipt: true}, nil)
}

// Nobody removes or demotes a group's owner, neither the admin API nor an
// admin over its socket; the owner's role changes only by a transfer.
func TestOwnerCannotBeRemovedOrDemoted(t *testing.T) {
	s := seentest.Start(t)
	s.Users("own", "adm", "mem")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "own", "members": []string{"adm", "mem"}})
	s.MustAdmin("PUT", "/v1/admin/groups/g/members/adm", map[string]string{"role": protocol.RoleAdmin})
	adm := connectRaw(t, s, "adm", "")
	want := map[string]string{"own": "owner", "adm": "admin", "mem": "member"}

	code, body := s.Admin("DELETE", "/v1/admin/groups/g/members/own", nil)
	wantAdminError(t, code, body, http.StatusForbidden, protocol.CodeForbidden, "")
	for _, role := range []string{protocol.RoleMember, protocol.RoleAdmin} {
		code, body := s.Admin("PUT", "/v1/admin/groups/g/members/own", map[string]string{"role": role})
		wantAdminError(t, code, body, http.StatusForbidden, protocol.CodeForbidden, "")
	}
	// Several users in one call: the owner among them refuses the call as
	// a whole.
	f := adm.Call(protocol.MethodGroupRemove, protocol.GroupMembersChangeParams{GroupID: "g", UserIDs: []string{"mem", "own"}})
	if errCode(f) != protocol.CodeForbidden {
		t.Errorf("an admin removing the owner = %d, want 403", errCode(f))
	}
	if got := roles(groupMembersOf(t, adm, "g")); !cmp.Equal(got, want) {
		t.Errorf("roles after refused calls = %v, want %v", got, want)
	}

	// A transfer: mem becomes owner, own an admin; now own is the one who
	// may be removed, and mem the one who may not.
	if code, body := s.Admin("PUT", "/v1/admin/groups/g/members/mem", map[string]string{"role": protocol.RoleOwner}); code != http.StatusOK {
		t.Fatalf("transfer = %d %s, want 200", code, body)
	}
	want = map[string]string{"own": "admin", "adm": "admin", "mem": "owner"}
	if got := roles(groupMembersOf(t, adm, "g")); !cmp.Equal(got, want) {
		t.Errorf("roles after transfer = %v, want %v", got, want)
	}
	code, body = s.Admin("DELETE", "/v1/admin/groups/g/members/mem", nil)
	wantAdminError(t, code, body, http.StatusForbidden, protocol.CodeForbidden, "")
	if code, body := s.Admin("DELETE", "/v1/admin/groups/g/members/own", nil); code != http.StatusNoContent {
		t.Errorf("removing the former owner = %d %s, want 204", code, body)
	}
}

// An owner leaving hands ownership on: to the oldest admin, else to the
// oldest member (lowest joinSeq first). Everyone, the leaver included,
// gets the usual "left" event.
func TestOwnerLeaveHandsOwnershipOn(t *testing.T) {
	s := seentest.Start(t)
	s.Users("own", "early", "a-late", "z-admin", "b-member")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "own", "members": []string{"early"}})
	own := connectRaw(t, s, "own", "")
	// Each message moves the join position on, so the later a member is
	// added the higher its joinSeq.
	send(t, own, group("g"), "1", "one")
	s.MustAdmin("POST", "/v1/admin/groups/g/members", map[string]any{"userIds": []string{"z-admin"}, "role": protocol.RoleAdmin})
	send(t, own, group("g"), "2", "two")
	s.MustAdmin("POST", "/v1/admin/groups/g/members", map[string]any{"userIds": []string{"a-late"}, "role": protocol.RoleAdmin})
	s.MustAdmin("POST", "/v1/admin/groups/g/members", map[string]any{"userIds": []string{"b-member"}})
	for _, u := range []string{"z-admin", "a-late", "b-member"} {
		if e := memberEvent(t, own); e.UserID != u || e.Action != protocol.ActionJoined {
			t.Fatalf("own got %+v, want %s joined", e, u)
		}
	}
	others := map[string]*seentest.Raw{}
	for _, u := range []string{"early", "a-late", "z-admin", "b-member"} {
		others[u] = connectRaw(t, s, u, "")
	}

	// The oldest admin is z-admin (joined before a-late, whose id sorts
	// first); early is older but a plain member.
	own.MustCall(protocol.MethodGroupLeave, protocol.GroupLeaveParams{GroupID: "g"}, nil)
	for name, r := range map[string]*seentest.Raw{"own": own, "early": others["early"], "z-admin": others["z-admin"]} {
		if e := memberEvent(t, r); e.UserID != "own" || e.Action != protocol.ActionLeft || e.By != "own" {
			t.Errorf("%s got %+v, want own left", name, e)
		}
	}
	want := map[string]string{"early": "member", "a-late": "admin", "z-admin": "owner", "b-member": "member"}
	if got := roles(groupMembersOf(t, others["early"], "g")); !cmp.Equal(got, want) {
		t.Fatalf("roles after the owner left = %v, want %v", got, want)
	}

	// The admins leave; then the owner, with only plain members left:
	// early, the oldest member, becomes owner, not b-member.
	others["a-late"].MustCall(protocol.MethodGroupLeave, protocol.GroupLeaveParams{GroupID: "g"}, nil)
	others["z-admin"].MustCall(protocol.MethodGroupLeave, protocol.GroupLeaveParams{GroupID: "g"}, nil)
	want = map[string]string{"early": "owner", "b-member": "member"}
	if got := roles(groupMembersOf(t, others["early"], "g")); !cmp.Equal(got, want) {
		t.Fatalf("roles after the second owner left = %v, want %v", got, want)
	}
	// The new owner manages the group.
	others["early"].MustCall(protocol.MethodGroupRemove, protocol.GroupMembersChangeParams{GroupID: "g", UserIDs: []string{"b-member"}}, nil)
}

// The last member leaving deletes the group: its id can be created again,
// and the new group shares nothing with the old one.
func TestLastMemberLeaveDeletesGroup(t *testing.T) {
	s := seentest.Start(t)
	s.Users("own", "mem", "new")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "own", "members": []string{"mem"}})
	own := connectRaw(t, s, "own", "")
	mem := connectRaw(t, s, "mem", "")
	var old protocol.SendResult
	own.MustCall(protocol.MethodMessageSend, protocol.SendParams{Conversation: group("g"), ClientMsgID: "c1", Body: json.RawMessage(`"old"`), Receipt: true}, &old)
	send(t, mem, group("g"), "c2", "old too")

	create := protocol.GroupCreateParams{GroupID: "g", Members: []string{"own"}}
	if f := mem.Call(protocol.MethodGroupCreate, create); errCode(f) != protocol.CodeConflict {
		t.Fatalf("group.create of a live group's id = %d, want 409", errCode(f))
	}
	own.MustCall(protocol.MethodGroupLeave, protocol.GroupLeaveParams{GroupID: "g"}, nil)
	mem.MustCall(protocol.MethodGroupLeave, protocol.GroupLeaveParams{GroupID: "g"}, nil)

	// The deletion is durable: it holds after a restart as well.
	s.Restart()
	code, body := s.Admin("GET", "/v1/admin/messages/"+old.MsgID+"/receipt", nil)
	wantAdminError(t, code, body, http.StatusNotFound, protocol.CodeNotFound, "")
	code, body = s.Admin("POST", "/v1/admin/groups/g/members", map[string]any{"userIds": []string{"new"}})
	wantAdminError(t, code, body, http.StatusNotFound, protocol.CodeNotFound, "")

	// A new group under the old id, created by someone else: seqs start
	// at 1, the old history is gone, and a clientMsgId of the old group
	// makes a new message.
	nw := connectRaw(t, s, "new", "")
	nw.MustCall(protocol.MethodGroupCreate, protocol.GroupCreateParams{GroupID: "g", Members: []string{"own"}}, nil)
	want := map[string]string{"new": "owner", "own": "member"}
	if got := roles(groupMembersOf(t, nw, "g")); !cmp.Equal(got, want) {
		t.Errorf("roles of the new group = %v, want %v", got, want)
	}
	own = connectRaw(t, s, "own", "")
	var res protocol.SendResult
	own.MustCall(protocol.MethodMessageSend, protocol.SendParams{Conversation: group("g"), ClientMsgID: "c1", Body: json.RawMessage(`"new"`)}, &res)
	if res.Seq != 1 || res.MsgID == old.MsgID {
		t.Errorf("first message of the new group = %+v, want seq 1 and a new msgId", res)
	}
	h := historyOf(t, nw, group("g"))
	if len(h) != 1 || string(h[0].Body) != `"new"` {
		t.Errorf("history of the new group = %s, want only the new message", fmt.Sprint(h))
	}
}
