package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// shortToken mints a token for user that expires in about ttl (exp has
// whole seconds) and returns it with its exp.
func shortToken(t *testing.T, s *seentest.Server, user string, ttl time.Duration) (string, time.Time) {
	t.Helper()
	tok, exp, err := s.Tokens().Mint(user, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok, exp
}

// closedWith reads a raw socket until it ends and returns the close frame
// the server sent, failing the test on any frame before it.
func closedWith(t *testing.T, ws *websocket.Conn) websocket.CloseError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		_, data, err := ws.Read(ctx)
		if err == nil {
			t.Fatalf("frame %s after the token expired, want a close", data)
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("socket ended with %v, want a close frame", err)
		}
		return ce
	}
}

// TestTokenExpiryClosesAndRefreshExtends: a connection whose short token
// expires is closed with 4001 "token expired"; one that refreshed in time
// outlives that moment; a refresh with another user's token is refused
// with 401 and changes nothing.
func TestTokenExpiryClosesAndRefreshExtends(t *testing.T) {
	t.Parallel()
	s := seentest.Start(t)
	short, exp := shortToken(t, s, "alice", 2*time.Second)

	// The connection left alone, spoken to with a bare socket so that its
	// close frame can be read as it is.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lone, _, err := websocket.Dial(ctx, s.WSURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lone.CloseNow()
	connect, _ := json.Marshal(protocol.Request{JSONRPC: "2.0", ID: json.RawMessage("1"), Method: protocol.MethodConnect,
		Params: json.RawMessage(`{"token":"` + short + `"}`)})
	if err := lone.Write(ctx, websocket.MessageText, connect); err != nil {
		t.Fatal(err)
	}
	_, data, err := lone.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var f protocol.Frame
	var res protocol.ConnectResult
	if err := json.Unmarshal(data, &f); err != nil || f.Error != nil || json.Unmarshal(f.Result, &res) != nil {
		t.Fatalf("connect answered %s", data)
	}
	if res.ExpiresAt != exp.UnixMilli() {
		t.Errorf("connect expiresAt = %d, want the token's exp %d", res.ExpiresAt, exp.UnixMilli())
	}

	// The connection that refreshes.
	kept := seentest.DialRaw(t, s.WSURL())
	kept.Connect(short, "kept")
	f = kept.Call(protocol.MethodConnectRefresh, protocol.RefreshParams{Token: s.Token("bob")})
	if errCode(f) != protocol.CodeUnauthorized || f.Error.Data["field"] != "token" {
		t.Fatalf("refresh with bob's token = %+v, want 401 with data.field token", f.Error)
	}
	f = kept.Call(protocol.MethodConnectRefresh, protocol.RefreshParams{Token: "not.a.token"})
	if errCode(f) != protocol.CodeUnauthorized || f.Error.Data["field"] != "token" {
		t.Fatalf("refresh with garbage = %+v, want 401 with data.field token", f.Error)
	}
	long, longExp, err := s.Tokens().Mint("alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var rr protocol.RefreshResult
	kept.MustCall(protocol.MethodConnectRefresh, protocol.RefreshParams{Token: long}, &rr)
	if rr.UserID != "alice" || rr.ExpiresAt != longExp.UnixMilli() {
		t.Fatalf("refresh = %+v, want alice until %d", rr, longExp.UnixMilli())
	}

	// The lone connection's close marks the moment the old token ran out.
	ce := closedWith(t, lone)
	if ce.Code != protocol.CloseTokenExpired || ce.Reason != "token expired" {
		t.Fatalf("closed with %d %q, want %d %q", ce.Code, ce.Reason, protocol.CloseTokenExpired, "token expired")
	}
	if now := time.Now(); now.Before(exp) {
		t.Fatalf("closed at %v, before the token's exp %v", now, exp)
	}
	// The refreshed one, on the same old token until it refreshed, works on.
	kept.MustCall(protocol.MethodConversationList, map[string]any{"limit": 1}, nil)
}

// TestRefreshWithAnotherUsersTokenKeepsOldExpiry: the refused refresh does
// not close the connection, and does not extend it either: it still ends
// when its own token does.
func TestRefreshWithAnotherUsersTokenKeepsOldExpiry(t *testing.T) {
	t.Parallel()
	s := seentest.Start(t)
	short, _ := shortToken(t, s, "alice", 2*time.Second)
	r := seentest.DialRaw(t, s.WSURL())
	r.Connect(short, "a")
	bobs, _ := shortToken(t, s, "bob", time.Hour)
	if f := r.Call(protocol.MethodConnectRefresh, protocol.RefreshParams{Token: bobs}); errCode(f) != protocol.CodeUnauthorized {
		t.Fatalf("refresh with bob's token = %+v, want 401", f.Error)
	}
	r.MustCall(protocol.MethodConversationList, map[string]any{"limit": 1}, nil)
	if code := r.Closed(); code != protocol.CloseTokenExpired {
		t.Fatalf("closed with %d, want %d", code, protocol.CloseTokenExpired)
	}
}

// TestSDKTokenProviderOutlivesExpiries: an SDK client whose provider hands
// out tokens of a few seconds refreshes them on the live socket and keeps
// its connection past the first token's end, with no drop.
func TestSDKTokenProviderOutlivesExpiries(t *testing.T) {
	t.Parallel()
	s := seentest.Start(t)
	var calls atomic.Int64
	provider := func(context.Context) (string, error) {
		calls.Add(1)
		tok, _, err := s.Tokens().Mint("alice", 3*time.Second)
		return tok, err
	}
	var drops atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.WSURL(), "", client.WithTokenProvider(provider),
		client.WithHandlers(client.Handlers{Disconnect: func(error) { drops.Add(1) }}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// A witness on a token minted no earlier than the client's first one
	// is closed no earlier than the client's first token ran out.
	witness := seentest.DialRaw(t, s.WSURL())
	tok, _ := shortToken(t, s, "alice", 3*time.Second)
	witness.Connect(tok, "witness")
	if code := witness.Closed(); code != protocol.CloseTokenExpired {
		t.Fatalf("witness closed with %d, want %d", code, protocol.CloseTokenExpired)
	}

	if _, err := c.Conversations(ctx, protocol.ConversationListParams{Limit: 1}); err != nil {
		t.Fatalf("after the first token's end: %v", err)
	}
	if n := drops.Load(); n != 0 {
		t.Errorf("the client dropped %d times, want 0", n)
	}
	if n := calls.Load(); n < 2 {
		t.Errorf("provider called %d times, want a connect and at least one refresh", n)
	}
}
