package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/seen-im/seen/protocol"
)

// startLoops starts the event and ack goroutines of a client built by
// newTestClient, as Dial does; Close joins them.
func startLoops(c *Client) *manualTimer {
	c.wg.Add(1)
	go c.dispatchLoop()
	var mt *manualTimer
	if c.acks != nil {
		mt = newManualTimer()
		c.acks.after = mt.after
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.acks.run(c.ctx)
		}()
	}
	return mt
}

func msgFrame(sender string, conv protocol.Conversation, seq uint64) []byte {
	b, err := json.Marshal(protocol.Notification{
		JSONRPC: protocol.Version,
		Method:  protocol.EventMessageNew,
		Params: protocol.MessageNewEvent{Message: protocol.Message{
			MsgID: fmt.Sprintf("m%d", seq), Seq: seq, Conversation: conv, Sender: sender,
			Body: json.RawMessage(`"hi"`), SentAt: 1,
		}},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func TestHandleFrameResolvesCall(t *testing.T) {
	c := newTestClient(t)
	defer c.Close()
	ok := c.pending.add(1)
	bad := c.pending.add(2)
	c.handleFrame([]byte(`{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"bad limit","data":{"field":"limit"}}}`), "alice")
	c.handleFrame([]byte(`{"jsonrpc":"2.0","id":1,"result":{"readSeq":12}}`), "alice")

	if r := recv(t, ok, "reply 1"); r.err != nil || string(r.result) != `{"readSeq":12}` {
		t.Errorf("call 1: got %+v, want the result", r)
	}
	r := recv(t, bad, "reply 2")
	var pe *protocol.Error
	if !errors.As(r.err, &pe) || pe.Code != protocol.CodeInvalidParams || pe.Data["field"] != "limit" {
		t.Errorf("call 2: got %v, want -32602 naming limit", r.err)
	}
	if e := c.handleFrame([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":413,"message":"too large"}}`), "alice"); e == nil || e.Code != 413 {
		t.Errorf("null id error: got %v, want it returned", e)
	}
}

func TestEventsInOrderToEveryHandler(t *testing.T) {
	type seen struct {
		who  string
		what string
	}
	got := make(chan seen, 100)
	c := newTestClient(t, WithAutoDelivered(false), WithHandlers(Handlers{
		Message:     func(m protocol.Message) { got <- seen{"opt", "msg " + m.MsgID} },
		GroupMember: func(e protocol.GroupMemberEvent) { got <- seen{"opt", "member " + e.Action} },
		Reconnect:   func() { got <- seen{"opt", "reconnect"} },
	}))
	c.OnMessage(func(m protocol.Message) { got <- seen{"on", "msg " + m.MsgID} })
	c.OnEvent(func(method string, _ json.RawMessage) { got <- seen{"raw", method} })
	c.OnDisconnect(func(err error) { got <- seen{"on", "disconnect " + err.Error()} })
	startLoops(c)
	defer c.Close()

	bob := peer("bob")
	c.handleFrame(msgFrame("bob", bob, 1), "alice")
	c.handleFrame([]byte(`{"jsonrpc":"2.0","method":"group.member","params":{"conversation":{"type":"group","id":"g"},"userId":"carol","action":"joined","by":"alice"}}`), "alice")
	c.handleFrame([]byte(`{"jsonrpc":"2.0","method":"future.thing","params":{}}`), "alice")
	c.queueLifecycle(disconnected{ErrDisconnected})
	c.queueLifecycle(reconnected{})
	c.handleFrame(msgFrame("bob", bob, 2), "alice")

	want := []seen{
		{"opt", "msg m1"}, {"on", "msg m1"}, {"raw", "message.new"},
		{"opt", "member joined"}, {"raw", "group.member"},
		{"raw", "future.thing"},
		{"on", "disconnect " + ErrDisconnected.Error()},
		{"opt", "reconnect"},
		{"opt", "msg m2"}, {"on", "msg m2"}, {"raw", "message.new"},
	}
	for i, w := range want {
		if g := recv(t, got, fmt.Sprintf("handler call %d", i)); g != w {
			t.Errorf("handler call %d: got %+v, want %+v", i, g, w)
		}
	}
}

// Settle's second half: it returns only after the handlers have run for
// the events queued before it, however slow they are.
func TestHandledQueuedWaitsForHandlers(t *testing.T) {
	release := make(chan struct{})
	var handled atomic.Int32
	c := newTestClient(t, WithAutoDelivered(false), WithHandlers(Handlers{
		Message: func(protocol.Message) { <-release; handled.Add(1) },
	}))
	startLoops(c)
	defer c.Close()
	c.handleFrame(msgFrame("bob", peer("bob"), 1), "alice")
	c.handleFrame(msgFrame("bob", peer("bob"), 2), "alice")
	type result struct {
		err     error
		handled int32 // events handled when handledQueued returned
	}
	done := make(chan result, 1)
	go func() {
		err := c.handledQueued(context.Background())
		done <- result{err, handled.Load()}
	}()
	close(release) // the handlers finish while handledQueued waits for them
	if r := recv(t, done, "handledQueued"); r.err != nil || r.handled != 2 {
		t.Fatalf("handledQueued = %v with %d events handled when it returned, want nil after 2", r.err, r.handled)
	}
}

func TestFullQueueDropsEvents(t *testing.T) {
	c := newTestClient(t, WithEventQueueSize(2), WithAutoDelivered(false))
	defer c.Close()
	for seq := uint64(1); seq <= 5; seq++ {
		c.handleFrame(msgFrame("bob", peer("bob"), seq), "alice") // nobody drains the queue
	}
	if got := c.DroppedEvents(); got != 3 {
		t.Errorf("got %d dropped, want 3", got)
	}
}

func TestAutoDeliveredFromFrames(t *testing.T) {
	c := newTestClient(t)
	fs := newFakeSend()
	c.acks.send = fs.send
	mt := startLoops(c)
	defer c.Close()

	bob, grp := peer("bob"), protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	for seq := uint64(1); seq <= 100; seq++ {
		c.handleFrame(msgFrame("bob", bob, seq), "alice")
	}
	c.handleFrame(msgFrame("alice", grp, 7), "alice") // from another device of ours: no ack
	c.handleFrame(msgFrame("carol", grp, 6), "alice")
	mt.tick(t)
	if got, want := collect(t, fs.sent, 2), map[string]uint64{"bob": 100, "g": 6}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestAutoDeliveredOff(t *testing.T) {
	c := newTestClient(t, WithAutoDelivered(false))
	defer c.Close()
	if c.acks != nil {
		t.Fatal("got an acker, want none")
	}
	c.handleFrame(msgFrame("bob", peer("bob"), 1), "alice") // must not panic
}

func TestCloseIsIdempotentAndJoins(t *testing.T) {
	c := newTestClient(t)
	startLoops(c)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { c.Close() })
	}
	wg.Wait()
	// goleak in TestMain checks that nothing is left running.
}

func TestDialErrors(t *testing.T) {
	if _, err := Dial(context.Background(), "", "tok"); err == nil {
		t.Error("empty url: got no error, want one")
	}
	if _, err := Dial(context.Background(), "ftp://127.0.0.1:1/v1/ws", "tok"); err == nil {
		t.Error("bad scheme: got no error, want one")
	}
}

// TestImports keeps the SDK apart from the server: it may use protocol,
// jsonwalk (the JSON walking the server's request path shares, itself on
// protocol and the standard library alone) and writedeadline (the write
// deadline the server's sockets share, on the standard library alone),
// and nothing else of this module. The dependencies listed are
// transitive, so what those import is held to the same rule.
func TestImports(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/seen-im/seen/"
	for _, pkg := range strings.Fields(string(out)) {
		switch strings.TrimPrefix(pkg, module) {
		case "protocol", "client", "internal/jsonwalk", "internal/writedeadline":
			continue
		}
		if strings.HasPrefix(pkg, module) {
			t.Errorf("client depends on %s", pkg)
		}
	}
}
