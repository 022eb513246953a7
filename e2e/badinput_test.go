package e2e

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// snapshot is everything alice and bob can see, to prove a rejected
// request changed nothing.
func snapshot(t *testing.T, r *seentest.Raw) map[string]any {
	t.Helper()
	var list protocol.ConversationListResult
	r.MustCall(protocol.MethodConversationList, protocol.ConversationListParams{Limit: 100}, &list)
	snap := map[string]any{"list": list}
	for _, c := range list.Conversations {
		var h protocol.HistoryResult
		r.MustCall(protocol.MethodMessageHistory, protocol.HistoryParams{Conversation: c.Conversation, Limit: 100}, &h)
		snap[c.Conversation.String()] = h
	}
	return snap
}

func TestBadInputAfterConnect(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob", "carol")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "team", "owner": "bob", "members": []string{"carol"}})
	alice := connectRaw(t, s, "alice", "")
	send(t, alice, peer("bob"), "seed-1", "hello")
	before := snapshot(t, alice)

	big := `"` + strings.Repeat("x", s.Cfg.MaxBodyBytes) + `"`
	cases := []struct {
		name      string
		frame     string // sent as is when set
		method    string
		params    string
		wantCode  int
		wantField string
	}{
		{name: "malformed JSON", frame: `{"jsonrpc":"2.0","id":1,"method":`, wantCode: protocol.CodeParseError},
		{name: "array", frame: `[1,2]`, wantCode: protocol.CodeInvalidRequest},
		{name: "string", frame: `"hello"`, wantCode: protocol.CodeInvalidRequest},
		{name: "no method", frame: `{"jsonrpc":"2.0","id":1}`, wantCode: protocol.CodeInvalidRequest},
		{name: "method not a string", frame: `{"jsonrpc":"2.0","id":1,"method":7}`, wantCode: protocol.CodeInvalidRequest},
		{name: "wrong version", frame: `{"jsonrpc":"1.0","id":1,"method":"conversation.list"}`, wantCode: protocol.CodeInvalidRequest},
		{name: "object id", frame: `{"jsonrpc":"2.0","id":{},"method":"conversation.list"}`, wantCode: protocol.CodeInvalidRequest},
		{name: "no id", frame: `{"jsonrpc":"2.0","method":"conversation.list"}`, wantCode: protocol.CodeInvalidRequest},
		{name: "id not UTF-8", frame: "{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"conversation.list\"}", wantCode: protocol.CodeParseError},
		{name: "unknown method", method: "message.explode", params: `{}`, wantCode: protocol.CodeMethodNotFound},
		{name: "connect twice", method: "connect", params: `{"token":"x"}`, wantCode: protocol.CodeInvalidRequest},
		{name: "params array", method: "message.send", params: `[1]`, wantCode: protocol.CodeInvalidParams, wantField: "params"},
		{name: "conversation not object", method: "message.send", params: `{"conversation":"bob","clientMsgId":"x","body":1}`, wantCode: protocol.CodeInvalidParams, wantField: "conversation"},
		{name: "conversation bad type", method: "message.send", params: `{"conversation":{"type":"room","id":"bob"},"clientMsgId":"x","body":1}`, wantCode: protocol.CodeInvalidParams, wantField: "conversation.type"},
		{name: "conversation id number", method: "message.send", params: `{"conversation":{"type":"peer","id":5},"clientMsgId":"x","body":1}`, wantCode: protocol.CodeInvalidParams, wantField: "conversation.id"},
		{name: "conversation id bad chars", method: "message.send", params: `{"conversation":{"type":"peer","id":"b/ob"},"clientMsgId":"x","body":1}`, wantCode: protocol.CodeInvalidParams, wantField: "conversation.id"},
		{name: "clientMsgId number", method: "message.send", params: `{"conversation":{"type":"peer","id":"bob"},"clientMsgId":5,"body":1}`, wantCode: protocol.CodeInvalidParams, wantField: "clientMsgId"},
		{name: "clientMsgId missing", method: "message.send", params: `{"conversation":{"type":"peer","id":"bob"},"body":1}`, wantCode: protocol.CodeInvalidParams, wantField: "clientMsgId"},
		{name: "body missing", method: "message.send", params: `{"conversation":{"type":"peer","id":"bob"},"clientMsgId":"x"}`, wantCode: protocol.CodeInvalidParams, wantField: "body"},
		{name: "receipt not bool", method: "message.send", params: `{"conversation":{"type":"peer","id":"bob"},"clientMsgId":"x","body":1,"receipt":"yes"}`, wantCode: protocol.CodeInvalidParams, wantField: "receipt"},
		{name: "body too large", method: "message.send", params: `{"conversation":{"type":"peer","id":"bob"},"clientMsgId":"x","body":` + big + `}`, wantCode: protocol.CodeTooLarge},
		{name: "unknown peer", method: "message.send", params: `{"conversation":{"type":"peer","id":"nobody"},"clientMsgId":"x","body":1}`, wantCode: protocol.CodeNotFound},
		{name: "peer is self", method: "message.send", params: `{"conversation":{"type":"peer","id":"alice"},"clientMsgId":"x","body":1}`, wantCode: protocol.CodeInvalidParams, wantField: "conversation.id"},
		{name: "unknown group", method: "message.send", params: `{"conversation":{"type":"group","id":"nogroup"},"clientMsgId":"x","body":1}`, wantCode: protocol.CodeNotFound},
		{name: "non-member send", method: "message.send", params: `{"conversation":{"type":"group","id":"team"},"clientMsgId":"x","body":1}`, wantCode: protocol.CodeForbidden},
		{name: "non-member history", method: "message.history", params: `{"conversation":{"type":"group","id":"team"}}`, wantCode: protocol.CodeForbidden},
		{name: "history limit string", method: "message.history", params: `{"conversation":{"type":"peer","id":"bob"},"limit":"10"}`, wantCode: protocol.CodeInvalidParams, wantField: "limit"},
		{name: "history limit 101", method: "message.history", params: `{"conversation":{"type":"peer","id":"bob"},"limit":101}`, wantCode: protocol.CodeInvalidParams, wantField: "limit"},
		{name: "history limit negative", method: "message.history", params: `{"conversation":{"type":"peer","id":"bob"},"limit":-1}`, wantCode: protocol.CodeInvalidParams, wantField: "limit"},
		{name: "history beforeSeq string", method: "message.history", params: `{"conversation":{"type":"peer","id":"bob"},"beforeSeq":"x"}`, wantCode: protocol.CodeInvalidParams, wantField: "beforeSeq"},
		{name: "delivered seq negative", method: "message.delivered", params: `{"conversation":{"type":"peer","id":"bob"},"seq":-1}`, wantCode: protocol.CodeInvalidParams, wantField: "seq"},
		{name: "delivered seq missing", method: "message.delivered", params: `{"conversation":{"type":"peer","id":"bob"}}`, wantCode: protocol.CodeInvalidParams, wantField: "seq"},
		{name: "read conversation non-member", method: "conversation.read", params: `{"conversation":{"type":"group","id":"team"}}`, wantCode: protocol.CodeForbidden},
		{name: "list limit 0 is default, 1000 is not", method: "conversation.list", params: `{"limit":1000}`, wantCode: protocol.CodeInvalidParams, wantField: "limit"},
		{name: "list bad cursor", method: "conversation.list", params: `{"cursor":"%%%"}`, wantCode: protocol.CodeInvalidParams, wantField: "cursor"},
		{name: "group create bad id", method: "group.create", params: `{"groupId":"a b"}`, wantCode: protocol.CodeInvalidParams, wantField: "groupId"},
		{name: "group create members not array", method: "group.create", params: `{"groupId":"g2","members":"bob"}`, wantCode: protocol.CodeInvalidParams, wantField: "members"},
		{name: "group create unknown member", method: "group.create", params: `{"groupId":"g2","members":["ghost"]}`, wantCode: protocol.CodeNotFound},
		{name: "group create exists", method: "group.create", params: `{"groupId":"team"}`, wantCode: protocol.CodeConflict},
		{name: "group add by non-member", method: "group.add", params: `{"groupId":"team","userIds":["alice"]}`, wantCode: protocol.CodeForbidden},
		{name: "group add unknown group", method: "group.add", params: `{"groupId":"nope","userIds":["alice"]}`, wantCode: protocol.CodeNotFound},
		{name: "group remove by non-member", method: "group.remove", params: `{"groupId":"team","userIds":["carol"]}`, wantCode: protocol.CodeForbidden},
		{name: "group leave non-member", method: "group.leave", params: `{"groupId":"team"}`, wantCode: protocol.CodeForbidden},
		{name: "group members non-member", method: "group.members", params: `{"groupId":"team"}`, wantCode: protocol.CodeForbidden},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var f protocol.Frame
			if tc.frame != "" {
				alice.Send(tc.frame)
				id := "1"
				if tc.wantCode == protocol.CodeParseError || tc.name == "array" || tc.name == "string" || tc.name == "object id" || tc.name == "no id" || tc.name == "id not UTF-8" {
					id = "null"
				}
				f = alice.Response(id)
			} else {
				f = alice.Call(tc.method, tc.params)
			}
			if got := errCode(f); got != tc.wantCode {
				t.Fatalf("case %d: code = %d (%v), want %d", i, got, f.Error, tc.wantCode)
			}
			if tc.wantField != "" && f.Error.Data["field"] != tc.wantField {
				t.Errorf("data.field = %v, want %q", f.Error.Data["field"], tc.wantField)
			}
		})
	}
	if diff := cmp.Diff(before, snapshot(t, alice)); diff != "" {
		t.Errorf("rejected requests changed state (-before +after):\n%s", diff)
	}
	// The socket survived every rejected request.
	send(t, alice, peer("bob"), "after", "still here")
}

func TestRequestBeforeConnect(t *testing.T) {
	s := seentest.Start(t)
	r := seentest.DialRaw(t, s.WSURL())
	f := r.Call(protocol.MethodConversationList, `{}`)
	if errCode(f) != protocol.CodeUnauthorized {
		t.Fatalf("code = %d, want 401", errCode(f))
	}
	if code := r.Closed(); code != websocket.StatusPolicyViolation {
		t.Fatalf("close status = %d, want %d", code, websocket.StatusPolicyViolation)
	}
}

func TestBadTokens(t *testing.T) {
	s := seentest.Start(t)
	now := time.Now()
	sign := func(m jwt.SigningMethod, key any, c jwt.MapClaims) string {
		tok, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	b64 := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
	secret := []byte(seentest.TokenSecret)
	exp := now.Add(time.Hour).Unix()
	tokens := map[string]string{
		"garbage":        "garbage",
		"empty":          "",
		"expired":        sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": now.Add(-time.Hour).Unix()}),
		"wrongly signed": sign(jwt.SigningMethodHS256, []byte("some-other-secret-0123456789"), jwt.MapClaims{"sub": "alice", "exp": exp}),
		"alg none":       b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(`{"sub":"alice","exp":9999999999}`) + ".",
		"HS384":          sign(jwt.SigningMethodHS384, secret, jwt.MapClaims{"sub": "alice", "exp": exp}),
		"no sub":         sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"exp": exp}),
		"not yet valid":  sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "alice", "exp": exp, "nbf": now.Add(time.Hour).Unix()}),
		"oversized":      strings.Repeat("a", 5000),
	}
	for name, tok := range tokens {
		t.Run(name, func(t *testing.T) {
			r := seentest.DialRaw(t, s.WSURL())
			f := r.Call(protocol.MethodConnect, protocol.ConnectParams{Token: tok})
			if errCode(f) != protocol.CodeUnauthorized {
				t.Fatalf("code = %d (%v), want 401", errCode(f), f.Error)
			}
			r.Closed()
		})
	}
	// None of them created a user.
	code, _ := s.Admin("POST", "/v1/admin/users", map[string]string{"userId": "alice"})
	if code != 201 {
		t.Fatalf("alice was created by a rejected connect: POST users = %d, want 201", code)
	}
}

func TestOversizedFrame(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) { c.MaxFrameBytes, c.MaxBodyBytes = 4096, 1024 })
	s.Users("alice")
	r := connectRaw(t, s, "alice", "")
	r.Send(`{"jsonrpc":"2.0","id":1,"method":"conversation.list","params":{"pad":"` + strings.Repeat("x", 5000) + `"}}`)
	f := r.Response("null")
	if errCode(f) != protocol.CodeTooLarge {
		t.Fatalf("code = %d, want 413", errCode(f))
	}
	if code := r.Closed(); code != websocket.StatusMessageTooBig {
		t.Fatalf("close status = %d, want 1009", code)
	}
}
