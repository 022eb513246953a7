package writedeadline

import (
	"net"
	"testing"
	"time"
)

// deadlineConn records the write deadlines set on it and takes every
// write.
type deadlineConn struct {
	net.Conn
	deadlines []time.Time
}

func (c *deadlineConn) Write(p []byte) (int, error) { return len(p), nil }

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.deadlines = append(c.deadlines, t)
	return nil
}

func (c *deadlineConn) SetDeadline(t time.Time) error { return c.SetWriteDeadline(t) }

// Every write runs under a deadline of between 7/8 of the timeout and the
// timeout, which a write moves only when less than 7/8 is left, and sets
// afresh after someone else set one.
func TestMovesTheWriteDeadlineWhenItRunsLow(t *testing.T) {
	dc := &deadlineConn{}
	const timeout = time.Hour
	c := New(dc, timeout)
	write := func(want int, why string) {
		t.Helper()
		before := time.Now()
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if len(dc.deadlines) != want {
			t.Fatalf("%s: %d deadlines set, want %d", why, len(dc.deadlines), want)
		}
		dl := dc.deadlines[len(dc.deadlines)-1]
		if dl.IsZero() || dl.Before(before.Add(timeout-timeout/8)) {
			t.Fatalf("%s: the write runs under deadline %v, less than 7/8 of %v after %v", why, dl, timeout, before)
		}
	}
	write(1, "the first write")
	write(1, "a write right after")
	// As if the deadline had been set a quarter of the timeout ago.
	c.set.Store(time.Now().Add(timeout - timeout/4).UnixNano())
	dc.deadlines[0] = time.Unix(0, c.set.Load())
	write(2, "a write with 3/4 of the timeout left")
	// net/http clears the deadlines when it hands a connection over.
	if err := c.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	write(4, "a write after the deadline was cleared")
}
