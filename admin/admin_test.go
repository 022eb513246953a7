package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seen-im/seen/admin"
	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

const wait = 10 * time.Second

func start(t *testing.T) (*seentest.Server, *admin.Client) {
	t.Helper()
	s := seentest.Start(t)
	return s, admin.New("http://"+s.AdminAddr(), seentest.AdminKey)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// dial connects userID with token through the Go SDK; every message.new it
// hears goes to the returned channel.
func dial(t *testing.T, s *seentest.Server, token string) (*client.Client, <-chan protocol.Message) {
	t.Helper()
	msgs := make(chan protocol.Message, 100)
	c, err := client.Dial(ctxT(t), s.WSURL(), token, client.WithHandlers(client.Handlers{
		Message: func(m protocol.Message) { msgs <- m },
	}))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, msgs
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatal("timed out waiting for an event")
		var zero T
		return zero
	}
}

// wantCode fails unless err is a *protocol.Error with code.
func wantCode(t *testing.T, err error, code int) *protocol.Error {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want a *protocol.Error %d", err, err, code)
	}
	if pe.Code != code {
		t.Fatalf("code = %d (%v), want %d", pe.Code, pe, code)
	}
	return pe
}

func TestCreateUserAndMintToken(t *testing.T) {
	s, a := start(t)
	ctx := ctxT(t)
	created, err := a.CreateUser(ctx, "alice", "Alice")
	if err != nil || !created {
		t.Fatalf("CreateUser = %v, %v; want true, nil", created, err)
	}
	created, err = a.CreateUser(ctx, "alice", "")
	if err != nil || created {
		t.Fatalf("CreateUser again = %v, %v; want false, nil", created, err)
	}
	tok, err := a.MintToken(ctx, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(tok.ExpiresAt); d < 59*time.Minute || d > time.Hour+time.Second {
		t.Errorf("ExpiresAt %v is not an hour away", tok.ExpiresAt)
	}
	dial(t, s, tok.Token) // the server accepts it

	pe := wantCode(t, func() error { _, err := a.CreateUser(ctx, "a/b", ""); return err }(), protocol.CodeInvalidParams)
	if pe.Data["field"] != "userId" {
		t.Errorf("data.field = %v, want userId", pe.Data["field"])
	}
	_, err = a.MintToken(ctx, "alice", -time.Second)
	wantCode(t, err, protocol.CodeInvalidParams)
}

func TestSignTokenIsAcceptedByTheServer(t *testing.T) {
	s, a := start(t)
	if _, err := a.CreateUser(ctxT(t), "bob", ""); err != nil {
		t.Fatal(err)
	}
	tok, exp, err := admin.SignToken(seentest.TokenSecret, "bob", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if exp.Nanosecond() != 0 || time.Until(exp) < 59*time.Minute {
		t.Errorf("exp %v: want whole seconds an hour away", exp)
	}
	// The server reads the same claims back: same user, same expiry.
	user, gotExp, err := s.Tokens().Verify(tok)
	if err != nil || user != "bob" || !gotExp.Equal(exp) {
		t.Fatalf("Verify = %q, %v, %v; want bob, %v, nil", user, gotExp, err, exp)
	}
	dial(t, s, tok)

	wrong, _, err := admin.SignToken("another-secret-0123456789abcdef", "bob", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Dial(ctxT(t), s.WSURL(), wrong)
	wantCode(t, err, protocol.CodeUnauthorized)
}

func TestSignTokenRejectsBadInput(t *testing.T) {
	for name, f := range map[string]func() error{
		"bad user":     func() error { _, _, err := admin.SignToken("secret", "a b", time.Hour); return err },
		"zero ttl":     func() error { _, _, err := admin.SignToken("secret", "alice", 0); return err },
		"empty secret": func() error { _, _, err := admin.SignToken("", "alice", time.Hour); return err },
	} {
		if f() == nil {
			t.Errorf("%s: got no error", name)
		}
	}
}

func TestGroupMembership(t *testing.T) {
	s, a := start(t)
	ctx := ctxT(t)
	for _, u := range []string{"owner", "ann", "ben", "cat"} {
		if _, err := a.CreateUser(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.CreateGroup(ctx, admin.Group{GroupID: "team", Owner: "owner", Members: []string{"ann"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddMembers(ctx, "team", []string{"ben", "cat"}, protocol.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := a.SetRole(ctx, "team", "ben", protocol.RoleMember); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveMember(ctx, "team", "cat"); err != nil {
		t.Fatal(err)
	}
	c, _ := dial(t, s, s.Token("owner"))
	res, err := c.GroupMembers(ctx, protocol.GroupMembersParams{GroupID: "team"})
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, m := range res.Members {
		roles[m.UserID] = m.Role
	}
	want := map[string]string{"owner": protocol.RoleOwner, "ann": protocol.RoleMember, "ben": protocol.RoleMember}
	if len(roles) != len(want) {
		t.Fatalf("members = %v, want %v", roles, want)
	}
	for u, r := range want {
		if roles[u] != r {
			t.Errorf("members = %v, want %v", roles, want)
		}
	}

	wantCode(t, a.CreateGroup(ctx, admin.Group{GroupID: "team", Owner: "owner"}), protocol.CodeConflict)
	wantCode(t, a.RemoveMember(ctx, "nope", "ann"), protocol.CodeNotFound)
	wantCode(t, a.AddMembers(ctx, "nope", []string{"ann"}, ""), protocol.CodeNotFound)
}

func TestSendAndReceipts(t *testing.T) {
	s, a := start(t)
	ctx := ctxT(t)
	for _, u := range []string{"alice", "bob", "carol"} {
		if _, err := a.CreateUser(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.CreateGroup(ctx, admin.Group{GroupID: "g", Owner: "alice", Members: []string{"bob", "carol"}}); err != nil {
		t.Fatal(err)
	}
	bob, bobMsgs := dial(t, s, s.Token("bob"))

	// No clientMsgId: the client fills one in.
	res, err := a.Send(ctx, "alice", protocol.SendParams{
		Conversation: protocol.Conversation{Type: protocol.ConvGroup, ID: "g"},
		Body:         json.RawMessage(`{"text":"standup in 5"}`),
		Receipt:      true,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := recv(t, bobMsgs)
	if m.MsgID != res.MsgID || m.Sender != "alice" || string(m.Body) != `{"text":"standup in 5"}` {
		t.Fatalf("bob got %+v, want msg %s from alice", m, res.MsgID)
	}
	if _, err := bob.Read(ctx, protocol.ReadParams{Conversation: m.Conversation, MsgIDs: []string{m.MsgID}}); err != nil {
		t.Fatal(err)
	}
	// Receipt counts are folded in the background: poll.
	seentest.Eventually(t, wait, func() error {
		r, err := a.Receipt(ctx, res.MsgID)
		if err != nil {
			return err
		}
		if r.MsgID != res.MsgID || r.ReadCount != 1 || r.UnreadCount != 1 {
			return errors.New("receipt not yet 1 read, 1 unread: " + r.Status)
		}
		return nil
	})
	seentest.Eventually(t, wait, func() error {
		read, err := a.ReceiptMembers(ctx, res.MsgID, protocol.FilterRead, "", 10)
		if err != nil {
			return err
		}
		if len(read.Members) != 1 || read.Members[0].UserID != "bob" {
			return errors.New("read members are not [bob]")
		}
		return nil
	})
	unread, err := a.ReceiptMembers(ctx, res.MsgID, protocol.FilterUnread, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := memberIDs(unread.Members); !slices.Equal(got, []string{"carol"}) {
		t.Errorf("unread = %v, want [carol]", got)
	}

	_, err = a.Receipt(ctx, "no-such-message")
	wantCode(t, err, protocol.CodeNotFound)
	_, err = a.ReceiptMembers(ctx, res.MsgID, "sideways", "", 0)
	wantCode(t, err, protocol.CodeInvalidParams)
	_, err = a.Send(ctx, "nobody", protocol.SendParams{Conversation: protocol.Conversation{Type: protocol.ConvPeer, ID: "bob"}, Body: json.RawMessage(`1`)})
	wantCode(t, err, protocol.CodeNotFound)
}

func memberIDs(ms []protocol.ReceiptMember) []string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.UserID
	}
	return ids
}

func TestWrongKeyIsUnauthorized(t *testing.T) {
	s, _ := start(t)
	a := admin.New("http://"+s.AdminAddr(), "not-the-key")
	_, err := a.CreateUser(ctxT(t), "alice", "")
	wantCode(t, err, protocol.CodeUnauthorized)
}

// TestNonJSONErrorKeepsStatus: an error page from something in between (a
// proxy) still becomes a *protocol.Error with the HTTP status as its code.
func TestNonJSONErrorKeepsStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, err := admin.New(srv.URL, "k").CreateUser(ctxT(t), "alice", "")
	pe := wantCode(t, err, http.StatusBadGateway)
	if pe.Message != "upstream down" {
		t.Errorf("message = %q, want the body", pe.Message)
	}
}

// The admin send checks remindAfterMs as message.send does: 400 with
// data.field "remindAfterMs" for 0, a negative, too large or non-integer
// value, or without receipt: true; nothing is stored.
func TestSendRemindAfterValidation(t *testing.T) {
	s, a := start(t)
	ctx := ctxT(t)
	for _, u := range []string{"alice", "bob"} {
		if _, err := a.CreateUser(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
	}
	for i, tc := range []string{
		`"receipt":true,"remindAfterMs":0`,
		`"receipt":true,"remindAfterMs":-1`,
		`"receipt":true,"remindAfterMs":2592000001`,
		`"receipt":true,"remindAfterMs":1.5`,
		`"receipt":true,"remindAfterMs":"1000"`,
		`"remindAfterMs":1000`,
	} {
		body := `{"from":"alice","conversation":{"type":"peer","id":"bob"},"clientMsgId":"c` + strconv.Itoa(i) + `","body":1,` + tc + `}`
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.AdminAddr()+"/v1/admin/messages", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+seentest.AdminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Error protocol.Error `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadRequest || out.Error.Code != protocol.CodeInvalidParams || out.Error.Data["field"] != "remindAfterMs" {
			t.Errorf("%s: %d %+v, want 400 with field remindAfterMs", tc, resp.StatusCode, out.Error)
		}
	}
	ms := int64(protocol.MaxRemindAfterMs)
	res, err := a.Send(ctx, "alice", protocol.SendParams{
		Conversation: protocol.Conversation{Type: protocol.ConvPeer, ID: "bob"}, Body: json.RawMessage(`1`), Receipt: true, RemindAfterMs: &ms,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Seq != 1 {
		t.Errorf("first accepted message has seq %d: a refused one was stored", res.Seq)
	}
}
