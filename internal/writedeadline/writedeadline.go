// Package writedeadline bounds every write to a socket with a write
// deadline, for the server's connections and the Go SDK's alike.
//
// Setting a deadline costs a runtime timer update: when it was set before
// every write it was 2.5 % of the server's CPU in `seen bench group
// --members 1000`, and about as much of each client's. A Conn moves the
// deadline only when less than 7/8 of the timeout is left, so every write
// still runs under between 7/8 of the timeout and all of it, and a
// connection that writes often moves it a few times a second at most.
package writedeadline

import (
	"net"
	"sync/atomic"
	"time"
)

// Conn is a net.Conn whose every Write runs under a write deadline (see
// the package comment).
type Conn struct {
	net.Conn
	timeout time.Duration
	// set is the write deadline Write last set, in Unix nanoseconds; 0
	// when unknown (never set, or set by someone else).
	set atomic.Int64
}

// New wraps c so that every write to it is bounded by timeout.
func New(c net.Conn, timeout time.Duration) *Conn {
	return &Conn{Conn: c, timeout: timeout}
}

// Write moves the write deadline if it runs low, then writes p.
func (c *Conn) Write(p []byte) (int, error) {
	now := time.Now()
	if left := time.Duration(c.set.Load() - now.UnixNano()); left < c.timeout-c.timeout/8 {
		dl := now.Add(c.timeout)
		if err := c.Conn.SetWriteDeadline(dl); err != nil {
			return 0, err
		}
		c.set.Store(dl.UnixNano())
	}
	return c.Conn.Write(p)
}

// SetDeadline sets the socket's deadlines; the next write sets its own.
// (net/http clears them when it hands a connection over.)
func (c *Conn) SetDeadline(t time.Time) error {
	c.set.Store(0)
	return c.Conn.SetDeadline(t)
}

// SetWriteDeadline sets the socket's write deadline; the next write sets
// its own.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.set.Store(0)
	return c.Conn.SetWriteDeadline(t)
}
