package ws

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/internal/auth"
	"github.com/seen-im/seen/internal/service"
	"github.com/seen-im/seen/protocol"
)

// tokenLife ends a connection when the token it was authenticated with
// expires, unless connect.refresh gave it a new one first.
//
// The deadline is the token's exp plus auth.Leeway: until then connect
// itself still accepts the token, so closing earlier would only let a
// client reconnect with the same token and be closed again.
type tokenLife struct {
	mu      sync.Mutex
	exp     time.Time      // guarded by mu: the current token's exp
	timer   *time.Timer    // guarded by mu; nil until start
	expired bool           // guarded by mu: the close is under way
	stopped bool           // guarded by mu: the connection is done; the timer must not act
	firing  sync.WaitGroup // the timer's callback; Add under mu while !stopped
}

// start arms the expiry of c at exp. It is called once, by connect.
func (l *tokenLife) start(c *conn, exp time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.exp = exp
	if l.stopped {
		return
	}
	l.timer = time.AfterFunc(time.Until(exp.Add(auth.Leeway)), func() { l.fire(c) })
}

// fire runs on the timer's goroutine. A refresh may have moved the
// deadline while the timer was already due: then it only re-arms.
func (l *tokenLife) fire(c *conn) {
	l.mu.Lock()
	if l.stopped || l.expired {
		l.mu.Unlock()
		return
	}
	if left := time.Until(l.exp.Add(auth.Leeway)); left > 0 {
		l.timer.Reset(left)
		l.mu.Unlock()
		return
	}
	l.expired = true
	l.firing.Add(1)
	l.mu.Unlock()
	defer l.firing.Done()

	c.h.log.Info("token expired, closing", "conn", c.id, "user", c.caller.UserID)
	// Close writes the close frame ahead of whatever is still queued: the
	// token no longer covers it. The writer's next write fails and stops.
	if err := c.ws.Close(websocket.StatusCode(protocol.CloseTokenExpired), "token expired"); err != nil {
		c.h.log.Debug("close on expiry", "conn", c.id, "err", err)
	}
	c.cancel()
}

// isExpired reports whether the connection is closing for its token: the
// reader runs no request after that.
func (l *tokenLife) isExpired() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expired
}

// stop disarms the timer and waits for a callback already running. The
// connection calls it once, while shutting down.
func (l *tokenLife) stop() {
	l.mu.Lock()
	l.stopped = true
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	l.firing.Wait()
}

// refresh moves the expiry to exp. It reports false if the connection is
// closing for its old token already.
func (l *tokenLife) refresh(exp time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.expired || l.stopped {
		return false
	}
	l.exp = exp
	// A later deadline needs no new timer: fire re-arms. An earlier one
	// (the new token expires sooner) does.
	if l.timer != nil {
		l.timer.Reset(time.Until(exp.Add(auth.Leeway)))
	}
	return true
}

// dispatch runs one request of a connected client: connect.refresh here,
// everything else in the service.
func (c *conn) dispatch(ctx context.Context, req protocol.Request) (any, *protocol.Error) {
	if req.Method == protocol.MethodConnectRefresh {
		return c.refreshToken(req.Params)
	}
	return c.h.o.Service.Dispatch(ctx, c.caller, req.Method, req.Params)
}

// refreshToken answers connect.refresh: a token that verifies and names the
// connection's user becomes the connection's token. Any other is refused
// with 401 and changes nothing; the connection stays open until its old
// token expires.
func (c *conn) refreshToken(raw json.RawMessage) (any, *protocol.Error) {
	var p protocol.RefreshParams
	if pe := service.DecodeParams(raw, &p); pe != nil {
		return nil, pe
	}
	refused := func(msg string) *protocol.Error {
		pe := protocol.Errorf(protocol.CodeUnauthorized, "%s", msg)
		pe.Data = map[string]any{"field": "token"}
		return pe
	}
	userID, exp, err := c.h.o.Tokens.Verify(p.Token)
	if err != nil {
		c.h.log.Debug("refresh refused", "conn", c.id, "err", err)
		return nil, refused("bad or expired token")
	}
	if userID != c.caller.UserID {
		c.h.log.Info("refresh with another user's token refused", "conn", c.id, "user", c.caller.UserID, "token user", userID)
		return nil, refused("token is for another user")
	}
	if !c.tok.refresh(exp) {
		return nil, refused("token expired")
	}
	return protocol.RefreshResult{UserID: userID, ExpiresAt: exp.UnixMilli()}, nil
}
