package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// The admin API of PROTOCOL.md's "Server API" section, over real HTTP.

// adminErrorBody is the body of every admin API error.
type adminErrorBody struct {
	Error *protocol.Error `json:"error"`
}

// wantAdminError checks that an admin answer is the error wantCode with
// HTTP status wantStatus, naming wantField in data.field if it is set.
func wantAdminError(t *testing.T, status int, body []byte, wantStatus, wantCode int, wantField string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("status = %d (%s), want %d", status, body, wantStatus)
	}
	var e adminErrorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil {
		t.Errorf("body %s is not {\"error\":{...}} (%v)", body, err)
		return
	}
	if e.Error.Code != wantCode {
		t.Errorf("error code = %d (%s), want %d", e.Error.Code, e.Error.Message, wantCode)
	}
	if e.Error.Message == "" {
		t.Errorf("error %s has no message", body)
	}
	if wantField != "" && e.Error.Data["field"] != wantField {
		t.Errorf("data.field = %v, want %q (%s)", e.Error.Data["field"], wantField, body)
	}
}

// adminHTTP sends a request with authz as the Authorization header (none
// if empty) and returns the response, its body read.
func adminHTTP(t *testing.T, method, url, authz string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, data
}

// wantJSON checks that body is the JSON value want.
func wantJSON(t *testing.T, body []byte, want string) {
	t.Helper()
	var got, w any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Errorf("body %s is not JSON: %v", body, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if diff := cmp.Diff(w, got); diff != "" {
		t.Errorf("body %s, want %s", body, want)
	}
}

// groupMembersOf lists a group's members as r's user sees them.
func groupMembersOf(t *testing.T, r *seentest.Raw, groupID string) []protocol.GroupMember {
	t.Helper()
	var res protocol.GroupMembersResult
	r.MustCall(protocol.MethodGroupMembers, protocol.GroupMembersParams{GroupID: groupID, Limit: 100}, &res)
	if res.NextCursor != "" {
		t.Fatalf("group %s has more than 100 members", groupID)
	}
	return res.Members
}

// roles maps each member of a list to its role.
func roles(ms []protocol.GroupMember) map[string]string {
	out := make(map[string]string, len(ms))
	for _, m := range ms {
		out[m.UserID] = m.Role
	}
	return out
}

// memberEvent waits for r's next event, which must be group.member.
func memberEvent(t *testing.T, r *seentest.Raw) protocol.GroupMemberEvent {
	t.Helper()
	return decode[protocol.GroupMemberEvent](t, r.Event(protocol.EventGroupMember).Params)
}

// messageEvent waits for r's next event, which must be message.new.
func messageEvent(t *testing.T, r *seentest.Raw) protocol.Message {
	t.Helper()
	return decode[protocol.MessageNewEvent](t, r.Event(protocol.EventMessageNew).Params).Message
}

func TestAdminUsers(t *testing.T) {
	s := seentest.Start(t)
	code, body := s.Admin("POST", "/v1/admin/users", map[string]string{"userId": "alice", "name": "Alice"})
	if code != http.StatusCreated {
		t.Fatalf("first POST users = %d %s, want 201", code, body)
	}
	wantJSON(t, body, `{"userId":"alice"}`)
	code, body = s.Admin("POST", "/v1/admin/users", map[string]string{"userId": "alice"})
	if code != http.StatusOK {
		t.Fatalf("second POST users = %d %s, want 200", code, body)
	}
	wantJSON(t, body, `{"userId":"alice"}`)

	// A user also exists once it connects with a valid token.
	connectRaw(t, s, "bob", "")
	if code, body := s.Admin("POST", "/v1/admin/users", map[string]string{"userId": "bob"}); code != http.StatusOK {
		t.Errorf("POST users for a user who connected = %d %s, want 200", code, body)
	}

	tests := []struct {
		name      string
		body      any
		wantField string
	}{
		{"bad id", map[string]any{"userId": "a b"}, "userId"},
		{"id too long", map[string]any{"userId": strings.Repeat("a", 65)}, "userId"},
		{"no id", map[string]any{"name": "Nobody"}, "userId"},
		{"empty body", "", "userId"},
		{"id a number", `{"userId":5}`, "userId"},
		{"name a number", `{"userId":"carol","name":5}`, "name"},
		{"not an object", `["carol"]`, "params"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := s.Admin("POST", "/v1/admin/users", tt.body)
			wantAdminError(t, code, body, http.StatusBadRequest, protocol.CodeInvalidParams, tt.wantField)
		})
	}
	// None of the rejected requests created carol.
	if code, body := s.Admin("POST", "/v1/admin/users", map[string]string{"userId": "carol"}); code != http.StatusCreated {
		t.Errorf("POST users carol = %d %s, want 201", code, body)
	}
}

func TestAdminTokens(t *testing.T) {
	s := seentest.Start(t)
	type tokenResult struct {
		Token     string `json:"token"`
		ExpiresAt int64  `json:"expiresAt"`
	}
	mint := func(body any) (tokenResult, time.Time, time.Time) {
		t.Helper()
		before := time.Now()
		code, b := s.Admin("POST", "/v1/admin/tokens", body)
		after := time.Now()
		if code != http.StatusOK {
			t.Fatalf("POST tokens %v = %d %s, want 200", body, code, b)
		}
		return decode[tokenResult](t, b), before, after
	}
	// wantExpiry checks exp against [before, after] + ttl; the token's exp
	// has whole seconds, so it may be up to a second early.
	wantExpiry := func(exp int64, before, after time.Time, ttl time.Duration) {
		t.Helper()
		lo, hi := before.Add(ttl-time.Second).UnixMilli(), after.Add(ttl).UnixMilli()
		if exp < lo || exp > hi {
			t.Errorf("expiresAt = %d, want within [%d, %d] (now + %v)", exp, lo, hi, ttl)
		}
	}

	// Default lifetime: a day. The user need not exist yet.
	tok, before, after := mint(map[string]any{"userId": "alice"})
	wantExpiry(tok.ExpiresAt, before, after, 24*time.Hour)
	if sub, _, err := s.Tokens().Verify(tok.Token); err != nil || sub != "alice" {
		t.Fatalf("Verify(token) = %q, %v; want alice", sub, err)
	}
	r := seentest.DialRaw(t, s.WSURL())
	if res := r.Connect(tok.Token, "phone"); res.UserID != "alice" || res.Device != "phone" {
		t.Fatalf("connect with the minted token = %+v, want alice on phone", res)
	}
	// The socket is connected: a request other than connect succeeds.
	r.MustCall(protocol.MethodConversationList, protocol.ConversationListParams{Limit: 1}, nil)

	// Explicit lifetime.
	tok, before, after = mint(map[string]any{"userId": "bob", "ttlSeconds": 60})
	wantExpiry(tok.ExpiresAt, before, after, time.Minute)
	r = seentest.DialRaw(t, s.WSURL())
	if res := r.Connect(tok.Token, ""); res.UserID != "bob" {
		t.Fatalf("connect with the minted token = %+v, want bob", res)
	}
	// The longest lifetime allowed: 366 days.
	tok, before, after = mint(map[string]any{"userId": "carol", "ttlSeconds": 366 * 24 * 3600})
	wantExpiry(tok.ExpiresAt, before, after, 366*24*time.Hour)

	tests := []struct {
		name      string
		body      any
		wantField string
	}{
		{"ttl zero", map[string]any{"userId": "alice", "ttlSeconds": 0}, "ttlSeconds"},
		{"ttl negative", map[string]any{"userId": "alice", "ttlSeconds": -60}, "ttlSeconds"},
		{"ttl over 366 days", map[string]any{"userId": "alice", "ttlSeconds": 366*24*3600 + 1}, "ttlSeconds"},
		{"ttl a string", `{"userId":"alice","ttlSeconds":"60"}`, "ttlSeconds"},
		{"ttl fractional", `{"userId":"alice","ttlSeconds":1.5}`, "ttlSeconds"},
		// Seconds times 1e9 overflows int64 as nanoseconds: the largest
		// int64 once answered 500, and 18446744074 wrapped to a token that
		// expired at once.
		{"ttl max int64", `{"userId":"alice","ttlSeconds":9223372036854775807}`, "ttlSeconds"},
		{"ttl wraps to short", `{"userId":"alice","ttlSeconds":18446744074}`, "ttlSeconds"},
		{"ttl beyond int64", `{"userId":"alice","ttlSeconds":9223372036854775808}`, "ttlSeconds"},
		{"no user", map[string]any{"ttlSeconds": 60}, "userId"},
		{"bad user", map[string]any{"userId": "al/ice"}, "userId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := s.Admin("POST", "/v1/admin/tokens", tt.body)
			wantAdminError(t, code, body, http.StatusBadRequest, protocol.CodeInvalidParams, tt.wantField)
		})
	}
}

func TestAdminCreateGroup(t *testing.T) {
	s := seentest.Start(t)
	s.Users("owner", "ann", "ben", "cat")
	ann := connectRaw(t, s, "ann", "")
	code, body := s.Admin("POST", "/v1/admin/groups", map[string]any{
		"groupId": "team", "type": "work", "owner": "owner",
		"members": []string{"ann", "ben", "owner", "ann"}, // duplicates and the owner are fine
	})
	if code != http.StatusCreated {
		t.Fatalf("POST groups = %d %s, want 201", code, body)
	}
	wantJSON(t, body, `{"groupId":"team"}`)
	// A connected member hears that it joined.
	if e := memberEvent(t, ann); e.Conversation != group("team") || e.UserID != "ann" || e.Action != protocol.ActionJoined {
		t.Errorf("ann got %+v, want ann joined team", e)
	}

	own := connectRaw(t, s, "owner", "")
	want := []protocol.GroupMember{
		{UserID: "ann", Role: protocol.RoleMember, JoinSeq: 1},
		{UserID: "ben", Role: protocol.RoleMember, JoinSeq: 1},
		{UserID: "owner", Role: protocol.RoleOwner, JoinSeq: 1},
	}
	if diff := cmp.Diff(want, groupMembersOf(t, own, "team")); diff != "" {
		t.Errorf("group.members as the owner (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, groupMembersOf(t, ann, "team")); diff != "" {
		t.Errorf("group.members as a member (-want +got):\n%s", diff)
	}
	// cat was not named: not a member.
	cat := connectRaw(t, s, "cat", "")
	if f := cat.Call(protocol.MethodGroupMembers, protocol.GroupMembersParams{GroupID: "team"}); errCode(f) != protocol.CodeForbidden {
		t.Errorf("group.members by a non-member = %d, want 403", errCode(f))
	}
	// A group with no members but its owner.
	if code, body := s.Admin("POST", "/v1/admin/groups", map[string]any{"groupId": "solo", "owner": "cat"}); code != http.StatusCreated {
		t.Fatalf("POST groups without members = %d %s, want 201", code, body)
	}
	if got := groupMembersOf(t, cat, "solo"); len(got) != 1 || got[0].UserID != "cat" || got[0].Role != protocol.RoleOwner {
		t.Errorf("solo members = %+v, want cat alone as owner", got)
	}

	tests := []struct {
		name       string
		body       any
		wantStatus int
		wantCode   int
		wantField  string
	}{
		{"duplicate", map[string]any{"groupId": "team", "owner": "cat"}, 409, protocol.CodeConflict, "groupId"},
		{"unknown owner", map[string]any{"groupId": "g1", "owner": "ghost"}, 404, protocol.CodeNotFound, "owner"},
		{"unknown member", map[string]any{"groupId": "g1", "owner": "ann", "members": []string{"ben", "ghost"}}, 404, protocol.CodeNotFound, "members[1]"},
		{"no owner", map[string]any{"groupId": "g1", "members": []string{"ann"}}, 400, protocol.CodeInvalidParams, "owner"},
		{"bad group id", map[string]any{"groupId": "a b", "owner": "ann"}, 400, protocol.CodeInvalidParams, "groupId"},
		{"no group id", map[string]any{"owner": "ann"}, 400, protocol.CodeInvalidParams, "groupId"},
		{"bad member id", map[string]any{"groupId": "g1", "owner": "ann", "members": []string{"b en"}}, 400, protocol.CodeInvalidParams, "members[0]"},
		{"members not an array", `{"groupId":"g1","owner":"ann","members":"ben"}`, 400, protocol.CodeInvalidParams, "members"},
		{"owner a number", `{"groupId":"g1","owner":7}`, 400, protocol.CodeInvalidParams, "owner"},
		{"type too long", map[string]any{"groupId": "g1", "owner": "ann", "type": strings.Repeat("t", 65)}, 400, protocol.CodeInvalidParams, "type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := s.Admin("POST", "/v1/admin/groups", tt.body)
			wantAdminError(t, code, body, tt.wantStatus, tt.wantCode, tt.wantField)
		})
	}
	// None of the rejected requests created g1, nor changed team.
	if code, body := s.Admin("POST", "/v1/admin/groups", map[string]any{"groupId": "g1", "owner": "ann"}); code != http.StatusCreated {
		t.Errorf("POST groups g1 = %d %s, want 201", code, body)
	}
	if diff := cmp.Diff(want, groupMembersOf(t, own, "team")); diff != "" {
		t.Errorf("team changed (-want +got):\n%s", diff)
	}
}

func TestAdminAddMembers(t *testing.T) {
	s := seentest.Start(t)
	s.Users("owner", "ann", "ben", "cat", "dan")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "owner", "members": []string{"ann"}})
	own := connectRaw(t, s, "owner", "")
	ann := connectRaw(t, s, "ann", "")
	ben := connectRaw(t, s, "ben", "")
	send(t, own, group("g"), "m1", "before ben")
	messageEvent(t, ann)

	code, body := s.Admin("POST", "/v1/admin/groups/g/members", map[string]any{"userIds": []string{"ben"}})
	if code != http.StatusOK {
		t.Fatalf("POST members = %d %s, want 200", code, body)
	}
	wantJSON(t, body, `{}`)
	// Every member hears of it, the newcomer included.
	for name, r := range map[string]*seentest.Raw{"owner": own, "ann": ann, "ben": ben} {
		if e := memberEvent(t, r); e.Conversation != group("g") || e.UserID != "ben" || e.Action != protocol.ActionJoined {
			t.Errorf("%s got %+v, want ben joined g", name, e)
		}
	}
	code, body = s.Admin("POST", "/v1/admin/groups/g/members", map[string]any{"userIds": []string{"cat", "dan"}, "role": "admin"})
	if code != http.StatusOK {
		t.Fatalf("POST members with role = %d %s, want 200", code, body)
	}
	for name, r := range map[string]*seentest.Raw{"owner": own, "ann": ann, "ben": ben} {
		for _, who := range []string{"cat", "dan"} {
			if e := memberEvent(t, r); e.UserID != who || e.Action != protocol.ActionJoined {
				t.Errorf("%s got %+v, want %s joined", name, e, who)
			}
		}
	}
	want := []protocol.GroupMember{
		{UserID: "ann", Role: protocol.RoleMember, JoinSeq: 1},
		{UserID: "ben", Role: protocol.RoleMember, JoinSeq: 2},
		{UserID: "cat", Role: protocol.RoleAdmin, JoinSeq: 2},
		{UserID: "dan", Role: protocol.RoleAdmin, JoinSeq: 2},
		{UserID: "owner", Role: protocol.RoleOwner, JoinSeq: 1},
	}
	if diff := cmp.Diff(want, groupMembersOf(t, ben, "g")); diff != "" {
		t.Errorf("group.members (-want +got):\n%s", diff)
	}
	// Adding a member again changes nothing and tells nobody.
	if code, body := s.Admin("POST", "/v1/admin/groups/g/members", map[string]any{"userIds": []string{"ben"}, "role": "admin"}); code != http.StatusOK {
		t.Fatalf("POST members again = %d %s, want 200", code, body)
	}
	own.NoEvent()
	ben.NoEvent()

	tests := []struct {
		name       string
		path       string
		body       any
		wantStatus int
		wantCode   int
		wantField  string
	}{
		{"unknown group", "/v1/admin/groups/nope/members", map[string]any{"userIds": []string{"ann"}}, 404, protocol.CodeNotFound, ""},
		{"unknown user", "/v1/admin/groups/g/members", map[string]any{"userIds": []string{"ghost"}}, 404, protocol.CodeNotFound, "userIds[0]"},
		{"no users", "/v1/admin/groups/g/members", map[string]any{"userIds": []string{}}, 400, protocol.CodeInvalidParams, "userIds"},
		{"users not an array", "/v1/admin/groups/g/members", `{"userIds":"ann"}`, 400, protocol.CodeInvalidParams, "userIds"},
		{"bad user id", "/v1/admin/groups/g/members", map[string]any{"userIds": []string{"ann", "x y"}}, 400, protocol.CodeInvalidParams, "userIds[1]"},
		{"unknown role", "/v1/admin/groups/g/members", map[string]any{"userIds": []string{"ann"}, "role": "king"}, 400, protocol.CodeInvalidParams, "role"},
		{"role a number", "/v1/admin/groups/g/members", `{"userIds":["ann"],"role":1}`, 400, protocol.CodeInvalidParams, "role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := s.Admin("POST", tt.path, tt.body)
			wantAdminError(t, code, body, tt.wantStatus, tt.wantCode, tt.wantField)
		})
	}
	if diff := cmp.Diff(want, groupMembersOf(t, ben, "g")); diff != "" {
		t.Errorf("rejected requests changed the members (-want +got):\n%s", diff)
	}
}

func TestAdminRemoveMember(t *testing.T) {
	s := seentest.Start(t)
	s.Users("owner", "ann", "ben")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "owner", "members": []string{"ann", "ben"}})
	own := connectRaw(t, s, "owner", "")
	ann := connectRaw(t, s, "ann", "")
	ben := connectRaw(t, s, "ben", "")

	code, body := s.Admin("DELETE", "/v1/admin/groups/g/members/ann", nil)
	if code != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("DELETE member = %d %q, want 204 and no body", code, body)
	}
	// Every member hears of it, the removed one included.
	for name, r := range map[string]*seentest.Raw{"owner": own, "ann": ann, "ben": ben} {
		if e := memberEvent(t, r); e.Conversation != group("g") || e.UserID != "ann" || e.Action != protocol.ActionRemoved {
			t.Errorf("%s got %+v, want ann removed from g", name, e)
		}
	}
	if f := ann.Call(protocol.MethodMessageHistory, protocol.HistoryParams{Conversation: group("g")}); errCode(f) != protocol.CodeForbidden {
		t.Errorf("removed member's history = %d, want 403", errCode(f))
	}
	// Messages no longer reach the removed member.
	res := send(t, own, group("g"), "after", "ann is gone")
	if m := messageEvent(t, ben); m.MsgID != res.MsgID {
		t.Errorf("ben got %+v, want %s", m, res.MsgID)
	}
	ann.NoEvent()
	if got := roles(groupMembersOf(t, own, "g")); !cmp.Equal(got, map[string]string{"owner": "owner", "ben": "member"}) {
		t.Errorf("members after removal = %v", got)
	}

	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantCode   int
	}{
		{"no longer a member", "/v1/admin/groups/g/members/ann", 404, protocol.CodeNotFound},
		{"unknown user", "/v1/admin/groups/g/members/ghost", 404, protocol.CodeNotFound},
		{"unknown group", "/v1/admin/groups/nope/members/ben", 404, protocol.CodeNotFound},
		{"bad user id", "/v1/admin/groups/g/members/b%20en", 400, protocol.CodeInvalidParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := s.Admin("DELETE", tt.path, nil)
			wantAdminError(t, code, body, tt.wantStatus, tt.wantCode, "")
		})
	}
	own.NoEvent()
}

func TestAdminSetRole(t *testing.T) {
	s := seentest.Start(t)
	s.Users("owner", "ann", "ben", "cat", "dan", "eve")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "owner", "members": []string{"ann", "ben", "cat"}})
	ann := connectRaw(t, s, "ann", "")
	ben := connectRaw(t, s, "ben", "")
	add := protocol.GroupMembersChangeParams{GroupID: "g", UserIDs: []string{"dan"}}
	if f := ann.Call(protocol.MethodGroupAdd, add); errCode(f) != protocol.CodeForbidden {
		t.Fatalf("group.add by a plain member = %d, want 403", errCode(f))
	}

	code, body := s.Admin("PUT", "/v1/admin/groups/g/members/ann", map[string]string{"role": "admin"})
	if code != http.StatusOK {
		t.Fatalf("PUT role admin = %d %s, want 200", code, body)
	}
	wantJSON(t, body, `{}`)
	// The new admin may now add members over its socket.
	ann.MustCall(protocol.MethodGroupAdd, add, nil)
	for name, r := range map[string]*seentest.Raw{"ann": ann, "ben": ben} {
		if e := memberEvent(t, r); e.UserID != "dan" || e.Action != protocol.ActionJoined || e.By != "ann" {
			t.Errorf("%s got %+v, want dan joined by ann", name, e)
		}
	}

	// Making ben owner demotes the old owner to admin: one owner.
	if code, body := s.Admin("PUT", "/v1/admin/groups/g/members/ben", map[string]string{"role": "owner"}); code != http.StatusOK {
		t.Fatalf("PUT role owner = %d %s, want 200", code, body)
	}
	want := map[string]string{"owner": "admin", "ann": "admin", "ben": "owner", "cat": "member", "dan": "member"}
	if got := roles(groupMembersOf(t, ann, "g")); !cmp.Equal(got, want) {
		t.Errorf("roles = %v, want %v", got, want)
	}
	// The roles hold: the old owner, now an admin, may not remove the new
	// owner; the new owner may remove the old one.
	own := connectRaw(t, s, "owner", "")
	if f := own.Call(protocol.MethodGroupRemove, protocol.GroupMembersChangeParams{GroupID: "g", UserIDs: []string{"ben"}}); errCode(f) != protocol.CodeForbidden {
		t.Errorf("an admin removing the owner = %d, want 403", errCode(f))
	}
	// Making the owner owner again changes nothing.
	if code, body := s.Admin("PUT", "/v1/admin/groups/g/members/ben", map[string]string{"role": "owner"}); code != http.StatusOK {
		t.Fatalf("PUT role owner again = %d %s, want 200", code, body)
	}
	// Demoted back to member, ann may no longer add.
	if code, body := s.Admin("PUT", "/v1/admin/groups/g/members/ann", map[string]string{"role": "member"}); code != http.StatusOK {
		t.Fatalf("PUT role member = %d %s, want 200", code, body)
	}
	if f := ann.Call(protocol.MethodGroupAdd, protocol.GroupMembersChangeParams{GroupID: "g", UserIDs: []string{"eve"}}); errCode(f) != protocol.CodeForbidden {
		t.Errorf("group.add by a demoted admin = %d, want 403", errCode(f))
	}
	want["ann"] = "member"
	if got := roles(groupMembersOf(t, ben, "g")); !cmp.Equal(got, want) {
		t.Errorf("roles = %v, want %v", got, want)
	}

	tests := []struct {
		name       string
		path       string
		body       any
		wantStatus int
		wantCode   int
		wantField  string
	}{
		{"unknown role", "/v1/admin/groups/g/members/cat", map[string]string{"role": "king"}, 400, protocol.CodeInvalidParams, "role"},
		{"no role", "/v1/admin/groups/g/members/cat", map[string]string{}, 400, protocol.CodeInvalidParams, "role"},
		{"role a number", "/v1/admin/groups/g/members/cat", `{"role":2}`, 400, protocol.CodeInvalidParams, "role"},
		{"not a member", "/v1/admin/groups/g/members/eve", map[string]string{"role": "admin"}, 404, protocol.CodeNotFound, ""},
		{"unknown user", "/v1/admin/groups/g/members/ghost", map[string]string{"role": "admin"}, 404, protocol.CodeNotFound, ""},
		{"unknown group", "/v1/admin/groups/nope/members/cat", map[string]string{"role": "admin"}, 404, protocol.CodeNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := s.Admin("PUT", tt.path, tt.body)
			wantAdminError(t, code, body, tt.wantStatus, tt.wantCode, tt.wantField)
		})
	}
	if got := roles(groupMembersOf(t, ben, "g")); !cmp.Equal(got, want) {
		t.Errorf("rejected requests changed the roles: %v, want %v", got, want)
	}
}

func TestAdminSendMessage(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob", "carol", "dave")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "alice", "members": []string{"bob", "carol"}})
	phone := connectRaw(t, s, "alice", "phone")
	laptop := connectRaw(t, s, "alice", "laptop")
	bob := connectRaw(t, s, "bob", "")
	carol := connectRaw(t, s, "carol", "")
	dave := connectRaw(t, s, "dave", "")
	members := map[string]*seentest.Raw{"alice's phone": phone, "alice's laptop": laptop, "bob": bob, "carol": carol}

	post := func(body map[string]any) protocol.SendResult {
		t.Helper()
		code, b := s.Admin("POST", "/v1/admin/messages", body)
		if code != http.StatusOK {
			t.Fatalf("POST messages = %d %s, want 200", code, b)
		}
		return decode[protocol.SendResult](t, b)
	}
	text := json.RawMessage(`{"text": "from the app server", "n": [1, 2]}`)
	before := time.Now().UnixMilli()
	res := post(map[string]any{"from": "alice", "conversation": group("g"), "clientMsgId": "app-1", "body": text})
	after := time.Now().UnixMilli()
	if res.MsgID == "" || res.Seq != 1 || res.SentAt < before || res.SentAt > after {
		t.Fatalf("POST messages = %+v, want a msgId, seq 1 and sentAt in [%d, %d]", res, before, after)
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, text)
	// Every device of every member hears of it, the sender's included.
	for name, r := range members {
		m := messageEvent(t, r)
		if m.MsgID != res.MsgID || m.Seq != 1 || m.Sender != "alice" || m.Conversation != group("g") || m.SentAt != res.SentAt {
			t.Errorf("%s got %+v, want %+v from alice in g", name, m, res)
		}
		if !bytes.Equal(m.Body, compact.Bytes()) {
			t.Errorf("%s got body %s, want %s", name, m.Body, compact.Bytes())
		}
		if m.Receipt != nil {
			t.Errorf("%s got receipt %v on a message that asks for none", name, m.Receipt)
		}
	}
	dave.NoEvent()

	// The next message takes the next seq; a resend with the same
	// clientMsgId returns the original and tells nobody. Bob reads first,
	// so that his sending does not move his read mark over anyone else's
	// message (which would tell his devices with conversation.read).
	bob.MustCall(protocol.MethodConversationRead, protocol.ConversationReadParams{Conversation: group("g"), Seq: 1}, nil)
	res2 := post(map[string]any{"from": "bob", "conversation": group("g"), "clientMsgId": "app-2", "body": "second"})
	if res2.Seq != 2 {
		t.Errorf("second message seq = %d, want 2", res2.Seq)
	}
	for name, r := range members {
		if m := messageEvent(t, r); m.MsgID != res2.MsgID || m.Sender != "bob" {
			t.Errorf("%s got %+v, want %s from bob", name, m, res2.MsgID)
		}
	}
	if again := post(map[string]any{"from": "alice", "conversation": group("g"), "clientMsgId": "app-1", "body": text}); again != res {
		t.Errorf("resend = %+v, want the original %+v", again, res)
	}
	for _, r := range members {
		r.NoEvent()
	}
	// Sending marks the sender's conversation read up to its message.
	var list protocol.ConversationListResult
	bob.MustCall(protocol.MethodConversationList, protocol.ConversationListParams{Limit: 10}, &list)
	if len(list.Conversations) != 1 || list.Conversations[0].ReadSeq != 2 || list.Conversations[0].UnreadCount != 0 {
		t.Errorf("bob's conversations after sending = %+v, want g read up to 2", list.Conversations)
	}

	// A peer message: each side sees the conversation from its own side.
	pres := post(map[string]any{"from": "alice", "conversation": peer("bob"), "clientMsgId": "p-1", "body": "psst"})
	if pres.Seq != 1 {
		t.Errorf("first peer message seq = %d, want 1", pres.Seq)
	}
	for name, r := range map[string]*seentest.Raw{"alice's phone": phone, "alice's laptop": laptop} {
		if m := messageEvent(t, r); m.MsgID != pres.MsgID || m.Conversation != peer("bob") {
			t.Errorf("%s got %+v, want %s in peer:bob", name, m, pres.MsgID)
		}
	}
	if m := messageEvent(t, bob); m.MsgID != pres.MsgID || m.Conversation != peer("alice") || m.Sender != "alice" {
		t.Errorf("bob got %+v, want %s in peer:alice", m, pres.MsgID)
	}
	carol.NoEvent()

	// A receipt message: the sender's devices see its receipt, the others
	// their own ack state. Alice first reads bob's message on her phone;
	// her laptop hears of it.
	phone.MustCall(protocol.MethodConversationRead, protocol.ConversationReadParams{Conversation: group("g")}, nil)
	if e := decode[protocol.ConversationReadEvent](t, laptop.Event(protocol.EventConversationRead).Params); e.UserID != "alice" || e.Seq != 2 || e.Conversation != group("g") {
		t.Errorf("alice's laptop got %+v, want alice read g up to 2", e)
	}
	rres := post(map[string]any{"from": "alice", "conversation": group("g"), "clientMsgId": "r-1", "body": "read me", "receipt": true})
	for name, r := range members {
		m := messageEvent(t, r)
		if m.MsgID != rres.MsgID {
			t.Errorf("%s got %+v, want %s", name, m, rres.MsgID)
			continue
		}
		got, _ := m.Receipt.(map[string]any)
		if strings.HasPrefix(name, "alice") {
			if got["msgId"] != rres.MsgID || got["status"] != protocol.StatusPending || got["unreadCount"] != float64(2) {
				t.Errorf("%s got receipt %v, want pending with 2 unread", name, m.Receipt)
			}
		} else if got["read"] != false || got["delivered"] != false {
			t.Errorf("%s got receipt %v, want {read: false, delivered: false}", name, m.Receipt)
		}
	}

	big := `"` + strings.Repeat("x", s.Cfg.MaxBodyBytes) + `"`
	tests := []struct {
		name       string
		body       any
		wantStatus int
		wantCode   int
		wantField  string
	}{
		{"unknown sender", map[string]any{"from": "ghost", "conversation": group("g"), "clientMsgId": "e", "body": 1}, 404, protocol.CodeNotFound, "from"},
		{"no sender", map[string]any{"conversation": group("g"), "clientMsgId": "e", "body": 1}, 400, protocol.CodeInvalidParams, "from"},
		{"bad sender", map[string]any{"from": "a lice", "conversation": group("g"), "clientMsgId": "e", "body": 1}, 400, protocol.CodeInvalidParams, "from"},
		{"sender not a member", map[string]any{"from": "dave", "conversation": group("g"), "clientMsgId": "e", "body": 1}, 403, protocol.CodeForbidden, ""},
		{"unknown group", map[string]any{"from": "alice", "conversation": group("nope"), "clientMsgId": "e", "body": 1}, 404, protocol.CodeNotFound, ""},
		{"unknown peer", map[string]any{"from": "alice", "conversation": peer("ghost"), "clientMsgId": "e", "body": 1}, 404, protocol.CodeNotFound, ""},
		{"peer is self", map[string]any{"from": "alice", "conversation": peer("alice"), "clientMsgId": "e", "body": 1}, 400, protocol.CodeInvalidParams, "conversation.id"},
		{"bad conversation type", map[string]any{"from": "alice", "conversation": map[string]string{"type": "room", "id": "g"}, "clientMsgId": "e", "body": 1}, 400, protocol.CodeInvalidParams, "conversation.type"},
		{"no body", map[string]any{"from": "alice", "conversation": group("g"), "clientMsgId": "e"}, 400, protocol.CodeInvalidParams, "body"},
		{"no clientMsgId", map[string]any{"from": "alice", "conversation": group("g"), "body": 1}, 400, protocol.CodeInvalidParams, "clientMsgId"},
		{"conversation id a number", `{"from":"alice","conversation":{"type":"peer","id":5},"clientMsgId":"e","body":1}`, 400, protocol.CodeInvalidParams, "conversation.id"},
		{"clientMsgId a number", `{"from":"alice","conversation":{"type":"group","id":"g"},"clientMsgId":5,"body":1}`, 400, protocol.CodeInvalidParams, "clientMsgId"},
		{"receipt not a bool", `{"from":"alice","conversation":{"type":"group","id":"g"},"clientMsgId":"e","body":1,"receipt":"yes"}`, 400, protocol.CodeInvalidParams, "receipt"},
		{"clientMsgId reused", map[string]any{"from": "alice", "conversation": group("g"), "clientMsgId": "app-1", "body": "other"}, 409, protocol.CodeConflict, "clientMsgId"},
		{"body too large", `{"from":"alice","conversation":{"type":"group","id":"g"},"clientMsgId":"e","body":` + big + `}`, 413, protocol.CodeTooLarge, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := s.Admin("POST", "/v1/admin/messages", tt.body)
			wantAdminError(t, code, body, tt.wantStatus, tt.wantCode, tt.wantField)
		})
	}
	for _, r := range members {
		r.NoEvent()
	}
	dave.NoEvent()
}

func TestAdminAuth(t *testing.T) {
	s := seentest.Start(t)
	base := s.URL()
	body := `{"userId":"alice"}`
	for name, authz := range map[string]string{
		"no header":    "",
		"wrong key":    "Bearer not-the-admin-key",
		"key prefix":   "Bearer " + seentest.AdminKey[:len(seentest.AdminKey)-1],
		"key and more": "Bearer " + seentest.AdminKey + "x",
		"empty bearer": "Bearer ",
		"other scheme": "Basic " + seentest.AdminKey,
		"bare key":     seentest.AdminKey,
		"user token":   "Bearer " + s.Token("alice"),
		"token secret": "Bearer " + seentest.TokenSecret,
	} {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/v1/admin/users", "/v1/admin/nothing-here"} {
				resp, b := adminHTTP(t, "POST", base+path, authz, strings.NewReader(body))
				wantAdminError(t, resp.StatusCode, b, http.StatusUnauthorized, protocol.CodeUnauthorized, "")
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("%s: Content-Type = %q, want application/json", path, ct)
				}
			}
		})
	}
	// None of them created alice.
	if code, b := s.Admin("POST", "/v1/admin/users", body); code != http.StatusCreated {
		t.Errorf("POST users with the key = %d %s, want 201", code, b)
	}
}

// TestAdminNoKey checks that a server with an empty admin key after start
// is impossible: it makes one in its data directory, and no empty key
// opens the API.
func TestAdminNoKey(t *testing.T) {
	s := seentest.StartSingle(t, "a key made in the data directory: cluster nodes must be given theirs", func(c *config.Config) { c.AdminKey = "" })
	resp, b := adminHTTP(t, "POST", s.URL()+"/v1/admin/users", "Bearer ", strings.NewReader(`{"userId":"alice"}`))
	wantAdminError(t, resp.StatusCode, b, http.StatusUnauthorized, protocol.CodeUnauthorized, "")
	key := s.Config().AdminKey
	if len(key) < 16 {
		t.Fatalf("generated admin key %q is too short", key)
	}
	if code, b := seentest.Admin(t, s.URL(), key, "POST", "/v1/admin/users", map[string]string{"userId": "alice"}); code != http.StatusCreated {
		t.Errorf("POST users with the generated key = %d %s, want 201", code, b)
	}
}

func TestAdminBadRequests(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice")
	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		wantStatus int
		wantCode   int
	}{
		{"malformed JSON", "POST", "/v1/admin/users", `{"userId":`, 400, protocol.CodeParseError},
		{"trailing garbage", "POST", "/v1/admin/users", `{"userId":"bob"} x`, 400, protocol.CodeParseError},
		{"malformed JSON on groups", "POST", "/v1/admin/groups", `{"groupId":"g",`, 400, protocol.CodeParseError},
		{"malformed JSON on role", "PUT", "/v1/admin/groups/g/members/alice", `{role:admin}`, 400, protocol.CodeParseError},
		{"malformed JSON on messages", "POST", "/v1/admin/messages", `not json`, 400, protocol.CodeParseError},
		{"wrong type", "POST", "/v1/admin/users", `{"userId":["bob"]}`, 400, protocol.CodeInvalidParams},
		{"number body", "POST", "/v1/admin/tokens", `42`, 400, protocol.CodeInvalidParams},
		{"unknown endpoint", "POST", "/v1/admin/widgets", `{}`, 404, protocol.CodeNotFound},
		{"unknown nested endpoint", "GET", "/v1/admin/groups/g/members/alice/extra", nil, 404, protocol.CodeNotFound},
		{"admin root", "GET", "/v1/admin/", nil, 404, protocol.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := s.Admin(tt.method, tt.path, tt.body)
			wantAdminError(t, code, body, tt.wantStatus, tt.wantCode, "")
		})
	}
	// An endpoint asked with the wrong method answers an error, not success.
	for _, mp := range [][2]string{{"GET", "/v1/admin/users"}, {"DELETE", "/v1/admin/groups"}, {"GET", "/v1/admin/messages"}} {
		code, body := s.Admin(mp[0], mp[1], nil)
		if code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s = %d %s, want 404 or 405", mp[0], mp[1], code, body)
		}
	}
}

func TestAdminBodyTooLarge(t *testing.T) {
	s := seentest.Start(t)
	// Just over the 8 MiB limit; a group of 100,000 members fits below it.
	pad := strings.Repeat("x", 8<<20)
	resp, b := adminHTTP(t, "POST", s.URL()+"/v1/admin/users", "Bearer "+seentest.AdminKey,
		strings.NewReader(`{"userId":"alice","name":"`+pad+`"}`))
	wantAdminError(t, resp.StatusCode, b, http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "")
	// The server is fine afterwards, and nothing was created.
	if code, body := s.Admin("POST", "/v1/admin/users", map[string]string{"userId": "alice"}); code != http.StatusCreated {
		t.Errorf("POST users after the large body = %d %s, want 201", code, body)
	}
	// A large body under the limit (about 2 MB) is read and judged, not
	// refused: its ids are unknown users.
	ids := make([]string, 30000)
	for i := range ids {
		ids[i] = fmt.Sprintf("member-%057d", i)
	}
	code, body := s.Admin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "alice", "members": ids})
	wantAdminError(t, code, body, http.StatusNotFound, protocol.CodeNotFound, "members[0]")
}

// TestAdminListen checks that with AdminListen set the admin API is served
// there and only there.
func TestAdminListen(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) { c.AdminListen = "127.0.0.1:0" })
	if s.AdminAddr() == s.Addr() {
		t.Fatalf("admin address %s is the client address", s.AdminAddr())
	}
	code, body := s.Admin("POST", "/v1/admin/users", map[string]string{"userId": "alice"})
	if code != http.StatusCreated {
		t.Fatalf("POST users on the admin listener = %d %s, want 201", code, body)
	}
	code, body = seentest.Admin(t, s.URL(), seentest.AdminKey, "POST", "/v1/admin/users", map[string]string{"userId": "bob"})
	if code != http.StatusNotFound {
		t.Errorf("POST users on the client listener = %d %s, want 404", code, body)
	}
	code, _ = seentest.Admin(t, s.URL(), seentest.AdminKey, "POST", "/v1/admin/tokens", map[string]string{"userId": "bob"})
	if code != http.StatusNotFound {
		t.Errorf("POST tokens on the client listener = %d, want 404", code)
	}
	// bob was not created by the client listener.
	if code, body := s.Admin("POST", "/v1/admin/users", map[string]string{"userId": "bob"}); code != http.StatusCreated {
		t.Errorf("POST users bob on the admin listener = %d %s, want 201", code, body)
	}
	// The client listener still serves clients and health.
	r := connectRaw(t, s, "alice", "")
	r.MustCall(protocol.MethodConversationList, protocol.ConversationListParams{Limit: 1}, nil)
	for _, addr := range []string{s.Addr(), s.AdminAddr()} {
		resp, _ := adminHTTP(t, "GET", "http://"+addr+"/healthz", "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s/healthz = %d, want 200", addr, resp.StatusCode)
		}
	}
	// And the admin listener serves no client sockets.
	resp, _ := adminHTTP(t, "GET", "http://"+s.AdminAddr()+"/v1/ws", "", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /v1/ws on the admin listener = %d, want 404", resp.StatusCode)
	}
}

func TestAdminReceiptEndpoints(t *testing.T) {
	s := seentest.Start(t)
	readers := []string{"bob", "carol", "dan", "erin"}
	s.Users(append([]string{"alice"}, readers...)...)
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "alice", "members": readers})
	post := func(clientMsgID string, receipt bool) protocol.SendResult {
		t.Helper()
		b := s.MustAdmin("POST", "/v1/admin/messages", map[string]any{
			"from": "alice", "conversation": group("g"), "clientMsgId": clientMsgID, "body": clientMsgID, "receipt": receipt,
		})
		return decode[protocol.SendResult](t, b)
	}
	getReceipt := func(msgID string) protocol.Receipt {
		t.Helper()
		return decode[protocol.Receipt](t, s.MustAdmin("GET", "/v1/admin/messages/"+msgID+"/receipt", nil))
	}
	// membersBy walks every page of a member list, limit ids at a time.
	membersBy := func(msgID, filter string, limit int) []string {
		t.Helper()
		var ids []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatalf("members?filter=%s: more than 10 pages", filter)
			}
			path := "/v1/admin/messages/" + msgID + "/members?filter=" + filter + "&limit=" + strconv.Itoa(limit)
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			res := decode[protocol.ReceiptMembersResult](t, s.MustAdmin("GET", path, nil))
			if len(res.Members) > limit {
				t.Errorf("members?filter=%s&limit=%d returned %d members", filter, limit, len(res.Members))
			}
			for _, m := range res.Members {
				ids = append(ids, m.UserID)
			}
			if res.NextCursor == "" {
				break
			}
			cursor = res.NextCursor
		}
		slices.Sort(ids)
		return ids
	}

	msg := post("ask", true)
	want := protocol.Receipt{MsgID: msg.MsgID, Status: protocol.StatusPending, UnreadCount: 4}
	if got := getReceipt(msg.MsgID); got != want {
		t.Errorf("fresh receipt = %+v, want %+v", got, want)
	}
	bob := connectRaw(t, s, "bob", "")
	var read protocol.ReadResult
	bob.MustCall(protocol.MethodMessageRead, protocol.ReadParams{Conversation: group("g"), MsgIDs: []string{msg.MsgID}}, &read)
	if read.Read != 1 {
		t.Errorf("message.read = %+v, want 1 newly read", read)
	}
	got := getReceipt(msg.MsgID)
	if got.Status != protocol.StatusPending || got.ReadCount != 1 || got.UnreadCount != 3 || got.DeliveredCount < got.ReadCount {
		t.Errorf("receipt after bob read = %+v, want pending, 1 read, 3 unread, delivered >= read", got)
	}
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{protocol.FilterRead, []string{"bob"}},
		{protocol.FilterUnread, []string{"carol", "dan", "erin"}},
		{protocol.FilterUndelivered, []string{"carol", "dan", "erin"}},
		{protocol.FilterDelivered, []string{"bob"}},
	} {
		for _, limit := range []int{1, 2, 100} {
			if ids := membersBy(msg.MsgID, tc.filter, limit); !slices.Equal(ids, tc.want) {
				t.Errorf("members?filter=%s&limit=%d = %q, want %q", tc.filter, limit, ids, tc.want)
			}
		}
	}

	// A message that asks for no receipt has status none.
	plain := post("plain", false)
	if got := getReceipt(plain.MsgID); got.MsgID != plain.MsgID || got.Status != protocol.StatusNone {
		t.Errorf("receipt of a plain message = %+v, want status none", got)
	}

	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantCode   int
		wantField  string
	}{
		{"unknown message receipt", "/v1/admin/messages/no-such-message/receipt", 404, protocol.CodeNotFound, ""},
		{"unknown message members", "/v1/admin/messages/no-such-message/members?filter=read", 404, protocol.CodeNotFound, ""},
		{"bad filter", "/v1/admin/messages/" + msg.MsgID + "/members?filter=seen", 400, protocol.CodeInvalidParams, "filter"},
		{"limit not a number", "/v1/admin/messages/" + msg.MsgID + "/members?filter=read&limit=ten", 400, protocol.CodeInvalidParams, "limit"},
		{"limit over 100", "/v1/admin/messages/" + msg.MsgID + "/members?filter=read&limit=101", 400, protocol.CodeInvalidParams, "limit"},
		{"bad cursor", "/v1/admin/messages/" + msg.MsgID + "/members?filter=unread&cursor=%25%25", 400, protocol.CodeInvalidParams, "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := s.Admin("GET", tt.path, nil)
			wantAdminError(t, code, body, tt.wantStatus, tt.wantCode, tt.wantField)
		})
	}
	// Without the key, nothing.
	resp, b := adminHTTP(t, "GET", s.URL()+"/v1/admin/messages/"+msg.MsgID+"/receipt", "", nil)
	wantAdminError(t, resp.StatusCode, b, http.StatusUnauthorized, protocol.CodeUnauthorized, "")
}
