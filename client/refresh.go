package client

import (
	"context"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/protocol"
)

// Refresh timing. The server closes a connection once its token's exp has
// passed (plus a few seconds' leeway); the provider is asked well before.
const (
	// RefreshLead: a token is refreshed at least this long before its exp,
	// when its lifetime allows.
	RefreshLead = 5 * time.Second
	// minRefreshInterval keeps a provider that hands out very short tokens
	// from being called in a tight loop.
	minRefreshInterval = time.Second
)

// session is one connected socket as connect left it.
type session struct {
	conn  *websocket.Conn
	res   protocol.ConnectResult
	at    time.Time // when the connect answer was read, by the local clock
	early [][]byte  // frames that came before the connect answer, in order
}

// RefreshToken sends connect.refresh with token: the connection then lives
// until the new token's exp. A token that does not verify, or is another
// user's, is a *protocol.Error with code 401 and changes nothing. With
// WithTokenProvider the client does this by itself.
func (c *Client) RefreshToken(ctx context.Context, token string) (protocol.RefreshResult, error) {
	var res protocol.RefreshResult
	err := c.Call(ctx, protocol.MethodConnectRefresh, protocol.RefreshParams{Token: token}, &res)
	return res, err
}

// refreshDelay is how long after now a token with left to live is
// refreshed: at three quarters of its life, but at least RefreshLead
// before its end, and never sooner than minRefreshInterval.
func refreshDelay(left time.Duration) time.Duration {
	d := left * 3 / 4
	if left-d < RefreshLead {
		d = left - RefreshLead
	}
	return max(d, minRefreshInterval)
}

// startRefresh starts the goroutine that keeps s's token fresh, if there
// is a provider and the server said when the token expires. The returned
// function stops that goroutine and waits for it.
func (c *Client) startRefresh(s session) (stop func()) {
	if c.cfg.tokenProvider == nil || s.res.ExpiresAt == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(c.ctx)
	done := make(chan struct{})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(done)
		c.refreshLoop(ctx, s)
	}()
	return func() {
		cancel()
		<-done
	}
}

// refreshLoop refreshes the connection's token before it expires, until ctx
// ends (the connection is gone). Times are reckoned on the server's clock,
// as the connect answer gave it, since exp is the server's to enforce.
func (c *Client) refreshLoop(ctx context.Context, s session) {
	skew := time.UnixMilli(s.res.ServerTime).Sub(s.at)
	left := func(exp int64) time.Duration { return time.UnixMilli(exp).Sub(time.Now().Add(skew)) }
	bo := newBackoff(c.cfg.backoffMin, c.cfg.backoffMax)
	wait := refreshDelay(left(s.res.ExpiresAt))
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		res, err := c.refreshOnce(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			wait = bo.next()
			c.log.Warn("seen client: token refresh failed, retrying", "in", wait, "err", err)
			continue
		}
		bo.reset()
		wait = refreshDelay(left(res.ExpiresAt))
		c.log.Debug("seen client: token refreshed", "expiresAt", res.ExpiresAt, "next", wait)
	}
}

// refreshOnce asks the provider for a token and hands it to the server.
func (c *Client) refreshOnce(ctx context.Context) (protocol.RefreshResult, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.connectTimeout)
	defer cancel()
	tok, err := c.cfg.tokenProvider(ctx)
	if err != nil {
		return protocol.RefreshResult{}, fmt.Errorf("client: token provider: %w", err)
	}
	return c.RefreshToken(ctx, tok)
}
