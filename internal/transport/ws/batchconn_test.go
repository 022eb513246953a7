package ws

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/writedeadline"
)

// countConn records every Write it gets, as the socket's system calls.
type countConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	fail   error
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

func (c *countConn) SetWriteDeadline(time.Time) error { return nil }

func TestBatchConnCollectsWhileCorked(t *testing.T) {
	cc := &countConn{}
	b := &batchConn{Conn: writedeadline.New(cc, time.Second)}

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
	b := &batchConn{Conn: writedeadline.New(cc, time.Second)}
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
