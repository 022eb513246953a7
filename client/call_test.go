package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/seen-im/seen/protocol"
)

func TestPendingResolve(t *testing.T) {
	var p pendingTable
	ch := p.add(1)
	if !p.resolve(1, reply{result: json.RawMessage(`{"a":1}`)}) {
		t.Fatal("resolve of a waiting id: got false, want true")
	}
	if got := recv(t, ch, "reply"); string(got.result) != `{"a":1}` || got.err != nil {
		t.Errorf("got %+v, want the result", got)
	}
	if p.resolve(1, reply{}) {
		t.Error("second resolve: got true, want false")
	}
	if p.resolve(99, reply{}) {
		t.Error("resolve of an unknown id: got true, want false")
	}
	if n := p.len(); n != 0 {
		t.Errorf("got %d pending, want 0", n)
	}
}

func TestPendingRemoveThenLateAnswer(t *testing.T) {
	var p pendingTable
	p.add(5)
	p.remove(5)
	if p.resolve(5, reply{}) {
		t.Error("answer after the caller gave up: got delivered, want dropped")
	}
	if n := p.len(); n != 0 {
		t.Errorf("got %d pending, want 0", n)
	}
}

func TestPendingFailAll(t *testing.T) {
	var p pendingTable
	chs := []<-chan reply{p.add(1), p.add(2), p.add(3)}
	if n := p.failAll(ErrDisconnected); n != 3 {
		t.Errorf("failAll: got %d, want 3", n)
	}
	for i, ch := range chs {
		if r := recv(t, ch, "reply"); !errors.Is(r.err, ErrDisconnected) {
			t.Errorf("call %d: got %v, want ErrDisconnected", i, r.err)
		}
	}
	if n := p.failAll(ErrDisconnected); n != 0 {
		t.Errorf("second failAll: got %d, want 0", n)
	}
	// The table works after failAll.
	ch := p.add(4)
	p.resolve(4, reply{result: json.RawMessage(`1`)})
	if r := recv(t, ch, "reply"); string(r.result) != "1" {
		t.Errorf("got %+v, want result 1", r)
	}
}

// TestPendingConcurrent resolves many ids out of order from several
// goroutines while callers wait; each caller must get its own answer.
func TestPendingConcurrent(t *testing.T) {
	const n = 1000
	var p pendingTable
	chs := make([]<-chan reply, n)
	for i := range n {
		chs[i] = p.add(uint64(i))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := n - 1 - w; i >= 0; i -= 4 {
				p.resolve(uint64(i), reply{result: json.RawMessage(fmt.Sprint(i))})
			}
		})
	}
	for i, ch := range chs {
		if r := recv(t, ch, "reply"); string(r.result) != fmt.Sprint(i) {
			t.Fatalf("call %d: got %s, want %d", i, r.result, i)
		}
	}
	wg.Wait()
	if got := p.len(); got != 0 {
		t.Errorf("got %d pending, want 0", got)
	}
}

// newTestClient builds a client with no connection, as while reconnecting.
func newTestClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	cfg, err := newConfig("ws://127.0.0.1:1/v1/ws", "tok", append([]Option{WithLogger(testLogger(t))}, opts...))
	if err != nil {
		t.Fatal(err)
	}
	return newClient(cfg)
}

func TestCallWhileReconnectingWaitsForCtx(t *testing.T) {
	c := newTestClient(t)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Send(ctx, protocol.SendParams{ClientMsgID: "x", Body: json.RawMessage(`1`)})
	if !errors.Is(err, ErrDisconnected) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want ErrDisconnected and DeadlineExceeded", err)
	}
	if n := c.pending.len(); n != 0 {
		t.Errorf("got %d pending, want 0", n)
	}
}

func TestCallWithDoneCtx(t *testing.T) {
	c := newTestClient(t)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Call(ctx, "x", nil, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestCallWaitingIsWokenByClose(t *testing.T) {
	c := newTestClient(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.GroupMembers(context.Background(), protocol.GroupMembersParams{GroupID: "g"})
		errc <- err
	}()
	c.Close()
	if err := recv(t, errc, "call result"); !errors.Is(err, ErrClosed) {
		t.Errorf("got %v, want ErrClosed", err)
	}
	// After Close calls fail at once.
	if err := c.LeaveGroup(context.Background(), protocol.GroupLeaveParams{GroupID: "g"}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: got %v, want ErrClosed", err)
	}
	if !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err: got %v, want ErrClosed", c.Err())
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done not closed after Close")
	}
}

func TestCallWhenStoppedFailsFast(t *testing.T) {
	c := newTestClient(t)
	defer c.Close()
	refused := fmt.Errorf("%w: reconnect refused: %w", ErrDisconnected, &protocol.Error{Code: protocol.CodeUnauthorized, Message: "expired"})
	c.mu.Lock()
	c.stopLocked(refused)
	c.mu.Unlock()

	err := c.Delivered(context.Background(), protocol.DeliveredParams{Seq: 1})
	var pe *protocol.Error
	if !errors.Is(err, ErrDisconnected) || !errors.As(err, &pe) || pe.Code != protocol.CodeUnauthorized {
		t.Errorf("got %v, want ErrDisconnected wrapping the 401", err)
	}
}

func TestCallBadParams(t *testing.T) {
	c := newTestClient(t)
	defer c.Close()
	if err := c.Call(context.Background(), "x", func() {}, nil); err == nil {
		t.Error("unmarshallable params: got no error, want one")
	}
}
