package e2e

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// Before connect, the first protocol error closes the socket: a hostile
// socket cannot keep itself open, or grow the server's memory, with a
// stream of invalid frames.
func TestUnconnectedSocketClosedOnFirstProtocolError(t *testing.T) {
	s := seentest.Start(t)
	cases := []struct {
		name      string
		frame     string
		binary    bool
		wantCode  int
		wantClose websocket.StatusCode
	}{
		{name: "bad JSON", frame: `{"jsonrpc":`, wantCode: protocol.CodeParseError, wantClose: websocket.StatusPolicyViolation},
		{name: "not UTF-8", frame: "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"connect\",\"params\":{\"token\":\"\xff\"}}", wantCode: protocol.CodeParseError, wantClose: websocket.StatusPolicyViolation},
		{name: "not an object", frame: `[1]`, wantCode: protocol.CodeInvalidRequest, wantClose: websocket.StatusPolicyViolation},
		{name: "no id", frame: `{"jsonrpc":"2.0","method":"connect","params":{}}`, wantCode: protocol.CodeInvalidRequest, wantClose: websocket.StatusPolicyViolation},
		{name: "binary frame", frame: `{"jsonrpc":"2.0","id":1,"method":"connect"}`, binary: true, wantCode: protocol.CodeInvalidRequest, wantClose: websocket.StatusPolicyViolation},
		{name: "bad connect params", frame: `{"jsonrpc":"2.0","id":1,"method":"connect","params":{"token":5}}`, wantCode: protocol.CodeInvalidParams, wantClose: websocket.StatusPolicyViolation},
		{name: "bad device", frame: `{"jsonrpc":"2.0","id":1,"method":"connect","params":{"token":"x","device":"a b"}}`, wantCode: protocol.CodeInvalidParams, wantClose: websocket.StatusPolicyViolation},
		{name: "frame over the connect limit", frame: `{"jsonrpc":"2.0","id":1,"method":"connect","params":{"token":"` + strings.Repeat("x", 9000) + `"}}`, wantCode: protocol.CodeTooLarge, wantClose: websocket.StatusMessageTooBig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := seentest.DialRaw(t, s.WSURL())
			if tc.binary {
				r.SendBinary(tc.frame)
			} else {
				r.Send(tc.frame)
			}
			id := "null"
			if tc.wantCode == protocol.CodeInvalidParams {
				id = "1"
			}
			if f := r.Response(id); errCode(f) != tc.wantCode {
				t.Fatalf("code = %d (%v), want %d", errCode(f), f.Error, tc.wantCode)
			}
			if code := r.Closed(); code != tc.wantClose {
				t.Fatalf("close status = %d, want %d", code, tc.wantClose)
			}
		})
	}
}

// The connect deadline runs from the socket's opening: nothing the client
// does before connect moves it.
func TestConnectDeadlineIsFixedFromOpening(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) { c.ConnectTimeout = 300 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.WSURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	// Read in the background, so that pongs arrive and a close is seen.
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	// Pings every 20 ms, answered by the server, for up to 100 times the
	// deadline: the socket must be gone long before.
	for i := 0; ; i++ {
		select {
		case <-closed:
			return
		case <-time.After(20 * time.Millisecond):
		}
		if i == 1500 {
			t.Fatalf("an unconnected socket that pings is still open after %d pings", i)
		}
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		_ = c.Ping(pctx)
		pcancel()
	}
}

// Unconnected sockets count against a global limit; beyond it the upgrade
// is refused with 503, and a socket that connects frees its place.
func TestUnauthenticatedSocketLimit(t *testing.T) {
	s := seentest.StartSingle(t, "max_unauthenticated bounds one process's sockets", func(c *config.Config) { c.MaxUnauthenticated = 2 })
	s.Users("alice")
	first := seentest.DialRaw(t, s.WSURL())
	seentest.DialRaw(t, s.WSURL())
	refused := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, s.WSURL(), nil)
		if err == nil {
			c.CloseNow()
			return nil
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("dial beyond the limit: %v (response %+v), want HTTP 503", err, resp)
		}
		return errors.New("refused with 503")
	}
	if refused() == nil {
		t.Fatal("a third unconnected socket was accepted with max_unauthenticated = 2")
	}
	first.Connect(s.Token("alice"), "")
	// The third socket is accepted now (and closed at once, freeing its place).
	seentest.Eventually(t, 10*time.Second, refused)
}

// After connect, invalid frames draw on the request budget like requests:
// a flood of garbage gets 429 once the budget is spent.
func TestInvalidFramesAfterConnectAreRateLimited(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) { c.RatePerConn, c.BurstPerConn = 1, 5 })
	s.Users("alice")
	r := connectRaw(t, s, "alice", "")
	limited := 0
	for range 20 {
		r.Send(`not json`)
		switch f := r.Response("null"); errCode(f) {
		case protocol.CodeRateLimited:
			limited++
			if ms, ok := f.Error.Data["retryAfterMs"].(float64); !ok || ms <= 0 {
				t.Fatalf("429 without a positive retryAfterMs: %+v", f.Error)
			}
		case protocol.CodeParseError:
		default:
			t.Fatalf("garbage frame = %d (%v), want -32700 or 429", errCode(f), f.Error)
		}
	}
	if limited < 14 {
		t.Fatalf("%d of 20 invalid frames were limited with a burst of 5, want at least 14", limited)
	}
	r.SendBinary(`{}`)
	if f := r.Response("null"); errCode(f) != protocol.CodeRateLimited {
		t.Fatalf("binary frame with the budget spent = %d (%v), want 429", errCode(f), f.Error)
	}
}
