package ws

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// countConn records every Write it gets, as the socket's system calls.
type countConn struct {
	net.Conn
	mu        sync.Mutex
	writes    [][]byte
	deadlines []time.Time // every write deadline set
	fail      error
}

func (c *countConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return 0, c.fail
	}
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func (c *countConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadlines = append(c.deadlines, t)
	return nil
}

func (c *countConn) SetDeadline(t time.Time) error { return c.SetWriteDeadline(t) }

func TestBatchConnCollectsWhileCorked(t *testing.T) {
	cc := &countConn{}
	b := &batchConn{Conn: cc, timeout: time.Second}

	// Uncorked, each write goes through.
	for _, s := range []string{"a", "b"} {
		if _, err := b.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	// Corked, writes are collected and sent as one.
	b.cork()
	for _, s := range []string{"c", "d", "e"} {
		if n, err := b.Write([]byte(s)); err != nil || n != 1 {
			t.Fatalf("corked write = %d, %v", n, err)
		}
	}
	if len(cc.writes) != 2 {
		t.Fatalf("%d writes before uncork, want 2", len(cc.writes))
	}
	if err := b.uncork(); err != nil {
		t.Fatal(err)
	}
	// A write that would pass the cap sends what was collected, then itself.
	b.cork()
	_, _ = b.Write([]byte("f"))
	big := bytes.Repeat([]byte("x"), maxBatchBytes)
	if _, err := b.Write(big); err != nil {
		t.Fatal(err)
	}
	if err := b.uncork(); err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "b", "cde", "f", string(big)}
	if len(cc.writes) != len(want) {
		t.Fatalf("writes %q, want %q", cc.writes, want)
	}
	for i, w := range want {
		if string(cc.writes[i]) != w {
			t.Fatalf("write %d = %.20q, want %.20q", i, cc.writes[i], w)
		}
	}
}

func TestBatchConnErrorSticks(t *testing.T) {
	boom := errors.New("boom")
	cc := &countConn{fail: boom}
	b := &batchConn{Conn: cc, timeout: time.Second}
	b.cork()
	if _, err := b.Write([]byte("a")); err != nil {
		t.Fatalf("corked write = %v, want nil (nothing sent yet)", err)
	}
	if err := b.uncork(); !errors.Is(err, boom) {
		t.Fatalf("uncork = %v, want %v", err, boom)
	}
	cc.fail = nil
	if _, err := b.Write([]byte("b")); !errors.Is(err, boom) {
		t.Fatalf("write after a failed one = %v, want %v", err, boom)
	}
	if len(cc.writes) != 0 {
		t.Fatalf("%d writes reached the socket, want 0", len(cc.writes))
	}
}

// Every write runs under a deadline of between 7/8 of the timeout and the
// timeout, which a write moves only when less than 7/8 is left, and sets
// afresh after someone else set one.
func TestBatchConnMovesTheWriteDeadlineWhenItRunsLow(t *testing.T) {
	cc := &countConn{}
	const timeout = time.Hour
	b := &batchConn{Conn: cc, timeout: timeout}
	write := func(want int, why string) {
		t.Helper()
		before := time.Now()
		if _, err := b.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if len(cc.deadlines) != want {
			t.Fatalf("%s: %d deadlines set, want %d", why, len(cc.deadlines), want)
		}
		dl := cc.deadlines[len(cc.deadlines)-1]
		if dl.IsZero() || dl.Before(before.Add(timeout-timeout/8)) {
			t.Fatalf("%s: the write runs under deadline %v, less than 7/8 of %v after %v", why, dl, timeout, before)
		}
	}
	write(1, "the first write")
	write(1, "a write right after")
	// As if the deadline had been set a quarter of the timeout ago.
	b.wdl.Store(time.Now().Add(timeout - timeout/4).UnixNano())
	cc.deadlines[0] = time.Unix(0, b.wdl.Load())
	write(2, "a write with 3/4 of the timeout left")
	// net/http clears the deadlines when it hands the connection over.
	if err := b.SetDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	write(4, "a write after the deadline was cleared")
}
