package client

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/seen-im/seen/internal/writedeadline"
)

// Every frame the client writes is bounded by the write timeout. Bounding
// it with a context cost, per frame, a timer, a cancel context registered
// with the client's, and the WebSocket library's AfterFunc registered and
// stopped around the write, with a select over the context in its write
// lock: about a tenth of the CPU a client spends acking a group's messages
// one request each. A deadline on the socket bounds it as well, moved
// only when it runs low (writedeadline, as the server's sockets), so where
// the client dials the socket itself it writes that way.

// deadlineClient returns an HTTP client like hc (http.DefaultClient when
// nil) whose sockets bound every write with timeout, and true; or hc and
// false when its transport cannot be made to, because it is not an
// *http.Transport or dials TLS itself (a deadline on a connection it hands
// back would not be below TLS). The handshake is unchanged.
func deadlineClient(hc *http.Client, timeout time.Duration) (*http.Client, bool) {
	if hc == nil {
		hc = http.DefaultClient
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	t, ok := rt.(*http.Transport)
	// The deprecated Dial and DialTLS are read only to decline transports
	// that use them.
	if !ok || t.DialTLSContext != nil || t.DialTLS != nil || (t.DialContext == nil && t.Dial != nil) {
		return hc, false
	}
	t = t.Clone()
	dial := t.DialContext
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return writedeadline.New(c, timeout), nil
	}
	out := *hc
	out.Transport = t
	return &out, true
}
