package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/protocol"
)

// scriptServer is a scripted server over a real socket: each connection
// runs script with its number (1, 2, ...). It returns the socket URL.
func scriptServer(t *testing.T, script func(ctx context.Context, s *scripted, n int)) string {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		script(r.Context(), &scripted{t: t, ws: ws}, int(conns.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/ws"
}

// scripted is one server side socket of scriptServer.
type scripted struct {
	t  *testing.T
	ws *websocket.Conn
}

// request reads the next request. ok is false once the socket is gone.
func (s *scripted) request(ctx context.Context) (id json.RawMessage, method string, token string, ok bool) {
	_, data, err := s.ws.Read(ctx)
	if err != nil {
		return nil, "", "", false
	}
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Token string `json:"token"`
		} `json:"params"`
	}
	if err := json.Unmarshal(data, &req); err != nil {
		s.t.Errorf("client sent %q: %v", data, err)
		return nil, "", "", false
	}
	return req.ID, req.Method, req.Params.Token, true
}

// send writes one frame.
func (s *scripted) send(ctx context.Context, frame []byte) {
	_ = s.ws.Write(ctx, websocket.MessageText, frame)
}

// answer writes the result of request id.
func (s *scripted) answer(ctx context.Context, id json.RawMessage, result any) {
	b, err := json.Marshal(result)
	if err != nil {
		s.t.Error(err)
		return
	}
	s.send(ctx, fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"result":%s}`, id, b))
}

// idle reads until the client goes away.
func (s *scripted) idle(ctx context.Context) {
	for {
		if _, _, _, ok := s.request(ctx); !ok {
			return
		}
	}
}

func connectResult(expiresAt time.Time) protocol.ConnectResult {
	return protocol.ConnectResult{UserID: "bob", Device: "d", ServerTime: time.Now().UnixMilli(), ExpiresAt: expiresAt.UnixMilli()}
}

// TestEventsBeforeConnectAnswerAreKept: the server subscribes before it
// answers connect, so events can come first. They reach the handlers after
// the connect answer, in order, none dropped.
func TestEventsBeforeConnectAnswerAreKept(t *testing.T) {
	alice := protocol.Conversation{Type: protocol.ConvPeer, ID: "alice"}
	url := scriptServer(t, func(ctx context.Context, s *scripted, _ int) {
		id, method, _, ok := s.request(ctx)
		if !ok || method != protocol.MethodConnect {
			s.t.Errorf("first request %q, want connect", method)
			return
		}
		s.send(ctx, msgFrame("alice", alice, 1))
		s.send(ctx, msgFrame("alice", alice, 2))
		s.answer(ctx, id, connectResult(time.Now().Add(time.Hour)))
		s.send(ctx, msgFrame("alice", alice, 3))
		s.idle(ctx)
	})
	got := make(chan uint64, 10)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := Dial(ctx, url, "tok", WithAutoDelivered(false), WithReconnect(false), WithLogger(testLogger(t)),
		WithHandlers(Handlers{Message: func(m protocol.Message) { got <- m.Seq }}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for want := uint64(1); want <= 3; want++ {
		if seq := recv(t, got, fmt.Sprintf("message %d", want)); seq != want {
			t.Fatalf("got message %d, want %d", seq, want)
		}
	}
	if n := c.DroppedEvents(); n != 0 {
		t.Errorf("DroppedEvents = %d, want 0", n)
	}
}

// TestTokenProviderRefreshesThenReconnects: with a provider, the client
// refreshes the token on the live socket before it expires (retrying a
// failed provider call), and after a close for expiry (4001) it reconnects
// with a new token from the provider.
func TestTokenProviderRefreshesThenReconnects(t *testing.T) {
	type seen struct {
		conn          int
		method, token string
	}
	seenCh := make(chan seen, 10)
	url := scriptServer(t, func(ctx context.Context, s *scripted, n int) {
		id, method, token, ok := s.request(ctx)
		if !ok {
			return
		}
		seenCh <- seen{n, method, token}
		if n > 1 {
			s.answer(ctx, id, connectResult(time.Now().Add(time.Hour)))
			s.idle(ctx)
			return
		}
		// Expiring soon: the client must refresh at once (minRefreshInterval).
		s.answer(ctx, id, connectResult(time.Now().Add(2*time.Second)))
		id, method, token, ok = s.request(ctx)
		if !ok {
			return
		}
		seenCh <- seen{n, method, token}
		s.answer(ctx, id, protocol.RefreshResult{UserID: "bob", ExpiresAt: time.Now().Add(time.Hour).UnixMilli()})
		// As the server does when a token ran out after all.
		_ = s.ws.Close(protocol.CloseTokenExpired, "token expired")
	})

	var calls atomic.Int64
	provider := func(context.Context) (string, error) {
		n := calls.Add(1)
		if n == 2 {
			return "", errors.New("identity service down")
		}
		return fmt.Sprintf("t%d", n), nil
	}
	reconnected := make(chan struct{}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := Dial(ctx, url, "", WithTokenProvider(provider), WithAutoDelivered(false), WithLogger(testLogger(t)),
		WithBackoff(10*time.Millisecond, 50*time.Millisecond),
		WithHandlers(Handlers{Reconnect: func() { reconnected <- struct{}{} }}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	want := []seen{
		{1, protocol.MethodConnect, "t1"},
		{1, protocol.MethodConnectRefresh, "t3"}, // t2 was the failed call
		{2, protocol.MethodConnect, "t4"},
	}
	for _, w := range want {
		if got := recv(t, seenCh, w.method); got != w {
			t.Fatalf("server saw %+v, want %+v", got, w)
		}
	}
	recv(t, reconnected, "the reconnect")
	if err := c.Err(); err != nil {
		t.Errorf("Err = %v, want nil: the client runs on", err)
	}
}

func TestRefreshDelay(t *testing.T) {
	tests := []struct{ left, want time.Duration }{
		{time.Hour, 45 * time.Minute},         // three quarters of the lifetime
		{16 * time.Second, 11 * time.Second},  // RefreshLead before the end
		{3 * time.Second, minRefreshInterval}, // too short for either
		{-time.Second, minRefreshInterval},    // past exp: the server's leeway still holds
		{24 * time.Hour, 18 * time.Hour},
	}
	for _, tt := range tests {
		if got := refreshDelay(tt.left); got != tt.want {
			t.Errorf("refreshDelay(%v) = %v, want %v", tt.left, got, tt.want)
		}
	}
}
