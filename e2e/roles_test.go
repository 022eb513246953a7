package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// The caller roles of the role table. Each is a user in every cell's group:
//
//   - nonmember: never in the group
//   - member:    a plain member who has read "the message" already
//   - admin:     an admin (it also sent a plain message)
//   - owner:     the owner (it also sent a receipt message)
//   - sender:    the plain member who sent "the message", a receipt message
//   - other:     a plain member who neither sent nor read it
//   - late:      a plain member who joined after it
//   - removed:   a member who was removed after it
var tableRoles = []string{"nonmember", "member", "admin", "owner", "sender", "other", "late", "removed"}

// roleCell is everything one (method, role) call needs: its own group, so
// that what one call changes cannot touch another.
type roleCell struct {
	group    string
	conv     protocol.Conversation
	users    map[string]string // role -> user id
	msg      string            // "the message": the sender's receipt message
	ownerMsg string            // the owner's receipt message
	adminMsg string            // the admin's plain message
}

// ownMsg is the caller's own message in the cell, or the message when it
// has none (a receipt.request of someone else's message).
func (c *roleCell) ownMsg(role string) string {
	switch role {
	case "owner":
		return c.ownerMsg
	case "admin":
		return c.adminMsg
	}
	return c.msg
}

// roleCall is one method as the table calls it in a cell.
type roleCall struct {
	method string
	params func(c *roleCell, role string) any
	want   map[string]int // role -> code; 0 is success
}

// roleCalls is the table under the default policy (sender-only
// visibility, everyone may request).
func roleCalls() []roleCall {
	member := map[string]int{"nonmember": 403, "member": 0, "admin": 0, "owner": 0, "sender": 0, "other": 0, "late": 0, "removed": 403}
	return []roleCall{
		{protocol.MethodMessageSend, func(c *roleCell, role string) any {
			return protocol.SendParams{Conversation: c.conv, ClientMsgID: "rt-" + role, Body: json.RawMessage(`{"t":"x"}`), Receipt: true}
		}, member},
		{protocol.MethodMessageHistory, func(c *roleCell, _ string) any {
			return protocol.HistoryParams{Conversation: c.conv, Limit: 100}
		}, member},
		{protocol.MethodMessageDelivered, func(c *roleCell, _ string) any {
			return protocol.DeliveredParams{Conversation: c.conv, Seq: 3}
		}, member},
		{protocol.MethodMessageRead, func(c *roleCell, _ string) any {
			return protocol.ReadParams{Conversation: c.conv, MsgIDs: []string{c.msg}}
		}, map[string]int{"nonmember": 403, "member": 0, "admin": 0, "owner": 0, "sender": 403, "other": 0, "late": 404, "removed": 403}},
		{protocol.MethodConversationRead, func(c *roleCell, _ string) any {
			return protocol.ConversationReadParams{Conversation: c.conv}
		}, member},
		{protocol.MethodConversationList, func(*roleCell, string) any {
			return protocol.ConversationListParams{Limit: 100}
		}, map[string]int{"nonmember": 0, "member": 0, "admin": 0, "owner": 0, "sender": 0, "other": 0, "late": 0, "removed": 0}},
		{protocol.MethodReceiptRequest, func(c *roleCell, role string) any {
			return protocol.ReceiptRequestParams{Conversation: c.conv, MsgID: c.ownMsg(role)}
		}, map[string]int{"nonmember": 403, "member": 403, "admin": 0, "owner": 0, "sender": 0, "other": 403, "late": 404, "removed": 403}},
		{protocol.MethodReceiptQuery, func(c *roleCell, _ string) any {
			return protocol.ReceiptQueryParams{Conversation: c.conv, MsgIDs: []string{c.msg}}
		}, map[string]int{"nonmember": 403, "member": 403, "admin": 403, "owner": 403, "sender": 0, "other": 403, "late": 404, "removed": 403}},
		{protocol.MethodReceiptMembers, func(c *roleCell, _ string) any {
			return protocol.ReceiptMembersParams{Conversation: c.conv, MsgID: c.msg, Filter: protocol.FilterUnread, Limit: 100}
		}, map[string]int{"nonmember": 403, "member": 403, "admin": 403, "owner": 403, "sender": 0, "other": 403, "late": 404, "removed": 403}},
		{protocol.MethodGroupCreate, func(c *roleCell, role string) any {
			return protocol.GroupCreateParams{GroupID: c.group + "-new-" + role, Members: []string{c.users["member"]}}
		}, map[string]int{"nonmember": 0, "member": 0, "admin": 0, "owner": 0, "sender": 0, "other": 0, "late": 0, "removed": 0}},
		{protocol.MethodGroupAdd, func(c *roleCell, _ string) any {
			return protocol.GroupMembersChangeParams{GroupID: c.group, UserIDs: []string{c.users["nonmember"]}}
		}, map[string]int{"nonmember": 403, "member": 403, "admin": 0, "owner": 0, "sender": 403, "other": 403, "late": 403, "removed": 403}},
		{protocol.MethodGroupRemove, func(c *roleCell, _ string) any {
			return protocol.GroupMembersChangeParams{GroupID: c.group, UserIDs: []string{c.users["other"]}}
		}, map[string]int{"nonmember": 403, "member": 403, "admin": 0, "owner": 0, "sender": 403, "other": 403, "late": 403, "removed": 403}},
		{protocol.MethodGroupLeave, func(c *roleCell, _ string) any {
			return protocol.GroupLeaveParams{GroupID: c.group}
		}, map[string]int{"nonmember": 403, "member": 0, "admin": 0, "owner": 0, "sender": 0, "other": 0, "late": 0, "removed": 403}},
		{protocol.MethodGroupMembers, func(c *roleCell, _ string) any {
			return protocol.GroupMembersParams{GroupID: c.group, Limit: 100}
		}, member},
	}
}

// strictRoleCalls is the table under visibility "members" and requests by
// admins only: every current member who can see the message may query it,
// and only the owner and admins may ask for receipts, at send time or
// later.
func strictRoleCalls() []roleCall {
	calls := roleCalls()
	for i := range calls {
		switch calls[i].method {
		case protocol.MethodMessageSend:
			// The table sends with receipt: true, which the policy governs
			// as it governs receipt.request.
			calls[i].want = map[string]int{"nonmember": 403, "member": 403, "admin": 0, "owner": 0, "sender": 403, "other": 403, "late": 403, "removed": 403}
		case protocol.MethodReceiptRequest:
			calls[i].want = map[string]int{"nonmember": 403, "member": 403, "admin": 0, "owner": 0, "sender": 403, "other": 403, "late": 404, "removed": 403}
		case protocol.MethodReceiptQuery, protocol.MethodReceiptMembers:
			calls[i].want = map[string]int{"nonmember": 403, "member": 0, "admin": 0, "owner": 0, "sender": 0, "other": 0, "late": 404, "removed": 403}
		}
	}
	return calls
}

func TestRoleTableDefaultPolicy(t *testing.T) {
	runRoleTable(t, roleCalls())
}

func TestRoleTableMembersVisibilityAdminsRequest(t *testing.T) {
	runRoleTable(t, strictRoleCalls(), func(c *config.Config) {
		c.Receipts.Visibility = "members"
		c.Receipts.WhoMayRequest = "admins"
	})
}

// runRoleTable calls every method as every role, each in a fresh group,
// and checks the code; a refused call must leave the group as it was.
// Each method has its own users, so that a user's conversation list stays
// short.
func runRoleTable(t *testing.T, calls []roleCall, opts ...func(*config.Config)) {
	s := seentest.Start(t, opts...)
	for mi, call := range calls {
		users := map[string]string{}
		var ids []string
		for _, role := range tableRoles {
			users[role] = fmt.Sprintf("t%d-%s", mi, role)
			ids = append(ids, users[role])
		}
		s.Users(ids...)
		clients := map[string]*client.Client{}
		for _, role := range tableRoles {
			clients[role] = roleClient(t, s, users[role])
		}
		for _, role := range tableRoles {
			cell := newRoleCell(t, s, clients, users, fmt.Sprintf("t%d-%s", mi, role))
			if _, ok := call.want[role]; !ok {
				t.Fatalf("%s: no expectation for role %s", call.method, role)
			}
			var before map[string]any
			if call.want[role] != 0 {
				before = cellSnapshot(t, s, clients, cell)
			}
			err := clients[role].Call(roleCtx(t), call.method, call.params(cell, role), nil)
			if got, want := code(err), call.want[role]; got != want {
				t.Errorf("%s as %s: got %d, want %d (%v)", call.method, role, got, want, err)
			}
			if before != nil && err != nil {
				if diff := cmp.Diff(before, cellSnapshot(t, s, clients, cell)); diff != "" {
					t.Errorf("%s as %s: refused call changed state (-before +after):\n%s", call.method, role, diff)
				}
			}
		}
	}
}

func roleCtx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// roleClient connects user through the SDK with no event handlers (events
// are dropped) and no automatic delivery acks.
func roleClient(t *testing.T, s *seentest.Server, user string) *client.Client {
	t.Helper()
	c, err := client.Dial(roleCtx(t), s.WSURL(), s.Token(user), client.WithAutoDelivered(false), client.WithDevice("d"))
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newRoleCell creates a group named id with every role in place:
//
//	seq 1  sender: the message (receipt)
//	seq 2  owner: a receipt message
//	seq 3  admin: a plain message
//	member reads the message; late joins; removed is removed.
func newRoleCell(t *testing.T, s *seentest.Server, clients map[string]*client.Client, users map[string]string, id string) *roleCell {
	t.Helper()
	c := &roleCell{group: id, conv: group(id), users: users}
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": id, "owner": users["owner"],
		"members": []string{users["admin"], users["member"], users["sender"], users["other"], users["removed"]}})
	s.MustAdmin("PUT", "/v1/admin/groups/"+id+"/members/"+users["admin"], map[string]string{"role": protocol.RoleAdmin})
	adminSend := func(from string, receipt bool) string {
		var res protocol.SendResult
		b := s.MustAdmin("POST", "/v1/admin/messages", map[string]any{"from": from, "conversation": c.conv,
			"clientMsgId": "setup", "body": map[string]string{"t": "setup"}, "receipt": receipt})
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatalf("admin send: %s: %v", b, err)
		}
		return res.MsgID
	}
	// The sender is a plain member; under WhoMayRequest "admins" it may
	// not ask for receipts, so it is an admin just for this send.
	s.MustAdmin("PUT", "/v1/admin/groups/"+id+"/members/"+users["sender"], map[string]string{"role": protocol.RoleAdmin})
	c.msg = adminSend(users["sender"], true)
	s.MustAdmin("PUT", "/v1/admin/groups/"+id+"/members/"+users["sender"], map[string]string{"role": protocol.RoleMember})
	c.ownerMsg = adminSend(users["owner"], true)
	c.adminMsg = adminSend(users["admin"], false)
	if _, err := clients["member"].Read(roleCtx(t), protocol.ReadParams{Conversation: c.conv, MsgIDs: []string{c.msg}}); err != nil {
		t.Fatalf("setup read: %v", err)
	}
	s.MustAdmin("POST", "/v1/admin/groups/"+id+"/members", map[string]any{"userIds": []string{users["late"]}})
	s.MustAdmin("DELETE", "/v1/admin/groups/"+id+"/members/"+users["removed"], nil)
	return c
}

// cellSnapshot is what anyone can observe of a cell's group: each role's
// conversation entry, the owner's view of history and members, and every
// seeded receipt with its four member lists (admin API).
func cellSnapshot(t *testing.T, s *seentest.Server, clients map[string]*client.Client, c *roleCell) map[string]any {
	t.Helper()
	snap := map[string]any{}
	for _, role := range tableRoles {
		list, err := clients[role].Conversations(roleCtx(t), protocol.ConversationListParams{Limit: 100})
		if err != nil {
			t.Fatalf("snapshot: list as %s: %v", role, err)
		}
		if list.NextCursor != "" {
			t.Fatalf("snapshot: %s has more than 100 conversations", role)
		}
		for _, ci := range list.Conversations {
			if ci.Conversation == c.conv {
				snap["list/"+role] = ci
			}
		}
	}
	h, err := clients["owner"].History(roleCtx(t), protocol.HistoryParams{Conversation: c.conv, Limit: 100})
	if err != nil {
		t.Fatalf("snapshot: history: %v", err)
	}
	snap["history"] = h
	var ms protocol.GroupMembersResult
	if err := clients["owner"].Call(roleCtx(t), protocol.MethodGroupMembers, protocol.GroupMembersParams{GroupID: c.group, Limit: 100}, &ms); err != nil {
		t.Fatalf("snapshot: members: %v", err)
	}
	snap["members"] = ms
	for _, id := range []string{c.msg, c.ownerMsg, c.adminMsg} {
		snap["receipt/"+id] = string(s.MustAdmin("GET", "/v1/admin/messages/"+id+"/receipt", nil))
		for _, f := range []string{protocol.FilterRead, protocol.FilterUnread, protocol.FilterDelivered, protocol.FilterUndelivered} {
			code, b := s.Admin("GET", "/v1/admin/messages/"+id+"/members?limit=100&filter="+f, nil)
			snap[fmt.Sprintf("members/%s/%s", id, f)] = fmt.Sprintf("%d %s", code, b)
		}
	}
	return snap
}
