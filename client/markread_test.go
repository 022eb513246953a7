package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/protocol"
)

// readReq is one message.read the scripted server got; answer with reply.
type readReq struct {
	ids     []string
	private bool
	reply   chan json.RawMessage // the whole response frame's result or error member
}

// readServer is a scripted server over a real socket: it answers connect
// and hands every message.read to the test, which answers it when it wants.
func readServer(t *testing.T) (url string, reads chan readReq) {
	t.Helper()
	reads = make(chan readReq, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		var wmu sync.Mutex
		send := func(id json.RawMessage, member string) {
			wmu.Lock()
			defer wmu.Unlock()
			_ = ws.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,%s}`, id, member))
		}
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var req struct {
				ID     json.RawMessage     `json:"id"`
				Method string              `json:"method"`
				Params protocol.ReadParams `json:"params"`
			}
			if err := json.Unmarshal(data, &req); err != nil {
				return
			}
			switch req.Method {
			case protocol.MethodConnect:
				send(req.ID, `"result":{"userId":"bob","device":"d","serverTime":1}`)
			case protocol.MethodMessageRead:
				rr := readReq{ids: req.Params.MsgIDs, private: req.Params.Private, reply: make(chan json.RawMessage, 1)}
				reads <- rr
				go func() {
					select {
					case m := <-rr.reply:
						send(req.ID, string(m))
					case <-ctx.Done():
					}
				}()
			}
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/ws", reads
}

func dialReads(t *testing.T, url string, opts ...Option) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	opts = append([]Option{WithAutoDelivered(false), WithReconnect(false), WithLogger(testLogger(t))}, opts...)
	c, err := Dial(ctx, url, "tok", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waiting is how many MarkRead calls of conv wait for a request.
func (rq *readQueues) waiting(conv protocol.Conversation) int {
	rq.mu.Lock()
	defer rq.mu.Unlock()
	if q := rq.convs[conv]; q != nil {
		return len(q.waiting)
	}
	return 0
}

// TestMarkReadSharesRequests: 60 calls, the first one's request held by
// the server until the other 59 wait, go out as exactly two requests: the
// first, and one carrying the 59.
func TestMarkReadSharesRequests(t *testing.T) {
	url, reads := readServer(t)
	c := dialReads(t, url)
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	errs := make([]error, 60)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); errs[0] = c.MarkRead(context.Background(), conv, "m0") }()
	first := recv(t, reads, "the first message.read")
	if !slices.Equal(first.ids, []string{"m0"}) {
		t.Fatalf("first request ids %v, want [m0]", first.ids)
	}
	var want []string
	for i := 1; i < 60; i++ {
		id := fmt.Sprint("m", i)
		want = append(want, id)
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.MarkRead(context.Background(), conv, id) }()
	}
	checkFor(t, func() error {
		if n := c.reads.waiting(conv); n != 59 {
			return fmt.Errorf("%d calls waiting, want 59", n)
		}
		return nil
	})
	first.reply <- json.RawMessage(`"result":{"read":1}`)
	second := recv(t, reads, "the second message.read")
	slices.Sort(second.ids)
	slices.Sort(want)
	if !slices.Equal(second.ids, want) {
		t.Fatalf("second request ids %v, want the 59 others", second.ids)
	}
	second.reply <- json.RawMessage(`"result":{"read":59}`)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("MarkRead m%d: %v", i, err)
		}
	}
	select {
	case r := <-reads:
		t.Fatalf("a third request %v", r.ids)
	default:
	}
	if n := c.reads.waiting(conv); n != 0 {
		t.Errorf("%d calls still waiting", n)
	}
}

// TestMarkReadRefusedBatchGoesIdByID: a batch the server refuses for one
// id is sent again id by id, and only that id's caller gets the error.
func TestMarkReadRefusedBatchGoesIdByID(t *testing.T) {
	url, reads := readServer(t)
	c := dialReads(t, url)
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	var wg sync.WaitGroup
	errs := map[string]error{}
	var mu sync.Mutex
	mark := func(id string) {
		defer wg.Done()
		err := c.MarkRead(context.Background(), conv, id)
		mu.Lock()
		errs[id] = err
		mu.Unlock()
	}
	wg.Add(1)
	go mark("lead")
	lead := recv(t, reads, "the leader's request")
	wg.Add(2)
	go mark("good")
	go mark("bad")
	checkFor(t, func() error {
		if n := c.reads.waiting(conv); n != 2 {
			return fmt.Errorf("%d calls waiting, want 2", n)
		}
		return nil
	})
	lead.reply <- json.RawMessage(`"result":{"read":1}`)
	batch := recv(t, reads, "the shared request")
	if len(batch.ids) != 2 {
		t.Fatalf("shared request ids %v, want good and bad", batch.ids)
	}
	batch.reply <- json.RawMessage(`"error":{"code":404,"message":"no message","data":{"field":"msgIds[1]"}}`)
	for range 2 {
		alone := recv(t, reads, "a request of one id")
		if len(alone.ids) != 1 {
			t.Fatalf("resent ids %v, want one", alone.ids)
		}
		if alone.ids[0] == "bad" {
			alone.reply <- json.RawMessage(`"error":{"code":404,"message":"no message"}`)
		} else {
			alone.reply <- json.RawMessage(`"result":{"read":1}`)
		}
	}
	wg.Wait()
	if errs["lead"] != nil || errs["good"] != nil {
		t.Errorf("lead %v, good %v; want no error", errs["lead"], errs["good"])
	}
	var pe *protocol.Error
	if !errors.As(errs["bad"], &pe) || pe.Code != protocol.CodeNotFound {
		t.Errorf("bad = %v, want 404", errs["bad"])
	}
}

// TestMarkReadAsyncSharesRequests: asynchronous reads queue behind the
// request in flight like MarkRead's and go out together, each callback
// called once with its own result; a MarkRead among them returns once its
// own batch is answered, and the client's goroutine sends the rest.
func TestMarkReadAsyncSharesRequests(t *testing.T) {
	url, reads := readServer(t)
	c := dialReads(t, url)
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	done := make(chan string, 100)
	mark := func(id string) {
		c.MarkReadAsync(conv, id, func(err error) {
			if err != nil {
				t.Errorf("MarkReadAsync %s: %v", id, err)
			}
			done <- id
		})
	}
	mark("a0")
	first := recv(t, reads, "the first message.read")
	if !slices.Equal(first.ids, []string{"a0"}) {
		t.Fatalf("first request ids %v, want [a0]", first.ids)
	}
	// A synchronous read next in line, then more asynchronous ones.
	syncErr := make(chan error, 1)
	go func() { syncErr <- c.MarkRead(context.Background(), conv, "s") }()
	checkFor(t, func() error {
		if n := c.reads.waiting(conv); n != 1 {
			return fmt.Errorf("%d calls waiting, want 1", n)
		}
		return nil
	})
	var want []string
	for i := 1; i < 30; i++ {
		id := fmt.Sprint("a", i)
		want = append(want, id)
		mark(id)
	}
	first.reply <- json.RawMessage(`"result":{"read":1}`)
	if got := recv(t, done, "a0's callback"); got != "a0" {
		t.Fatalf("callback for %s, want a0", got)
	}
	second := recv(t, reads, "the second message.read")
	want = append(want, "s")
	slices.Sort(second.ids)
	slices.Sort(want)
	if !slices.Equal(second.ids, want) {
		t.Fatalf("second request ids %v, want s and the 29 others", second.ids)
	}
	// Two more while the second is in flight: the MarkRead caller must not
	// be the one to send them.
	mark("late1")
	mark("late2")
	second.reply <- json.RawMessage(`"result":{"read":30}`)
	if err := recv(t, syncErr, "MarkRead's return"); err != nil {
		t.Fatalf("MarkRead: %v", err)
	}
	third := recv(t, reads, "the third message.read")
	if !slices.Equal(third.ids, []string{"late1", "late2"}) {
		t.Fatalf("third request ids %v, want [late1 late2]", third.ids)
	}
	third.reply <- json.RawMessage(`"result":{"read":2}`)
	got := map[string]int{}
	for range 31 {
		got[recv(t, done, "a callback")]++
	}
	for _, id := range append(want[:len(want):len(want)], "late1", "late2") {
		if id != "s" && got[id] != 1 {
			t.Errorf("callback of %s called %d times, want once", id, got[id])
		}
	}
	checkFor(t, func() error {
		if n := c.reads.waiting(conv); n != 0 {
			return fmt.Errorf("%d calls still waiting", n)
		}
		return nil
	})
}

// TestMarkReadAsyncFailsOnClose: a read waiting for its answer when the
// client closes gets an error, Close still returns, and a read after
// Close fails at once.
func TestMarkReadAsyncFailsOnClose(t *testing.T) {
	url, reads := readServer(t)
	c := dialReads(t, url)
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	errs := make(chan error, 3)
	c.MarkReadAsync(conv, "m0", func(err error) { errs <- err })
	recv(t, reads, "the first message.read")
	c.MarkReadAsync(conv, "m1", func(err error) { errs <- err })
	checkFor(t, func() error {
		if n := c.reads.waiting(conv); n != 1 {
			return fmt.Errorf("%d calls waiting, want 1", n)
		}
		return nil
	})
	c.Close()
	for _, id := range []string{"m0", "m1"} {
		if err := recv(t, errs, id+"'s callback"); err == nil {
			t.Errorf("%s: no error after Close", id)
		}
	}
	c.MarkReadAsync(conv, "after", func(err error) { errs <- err })
	if err := recv(t, errs, "the callback after Close"); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

// readAsyncResult is one ReadAsync callback's arguments.
type readAsyncResult struct {
	id  string
	res protocol.ReadResult
	err error
}

// TestReadAsyncAlone: without read batching each ReadAsync is a request
// of its own, answered in any order, each callback called once with its
// own answer: a count, or the server's error for it alone.
func TestReadAsyncAlone(t *testing.T) {
	url, reads := readServer(t)
	c := dialReads(t, url, WithReadBatching(false))
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	got := make(chan readAsyncResult, 3)
	for _, id := range []string{"m0", "m1", "bad"} {
		c.ReadAsync(protocol.ReadParams{Conversation: conv, MsgIDs: []string{id}}, func(res protocol.ReadResult, err error) {
			got <- readAsyncResult{id, res, err}
		})
	}
	reqs := map[string]readReq{}
	for range 3 {
		r := recv(t, reads, "a message.read")
		if len(r.ids) != 1 {
			t.Fatalf("request ids %v, want one", r.ids)
		}
		reqs[r.ids[0]] = r
	}
	reqs["m1"].reply <- json.RawMessage(`"result":{"read":1}`)
	reqs["bad"].reply <- json.RawMessage(`"error":{"code":404,"message":"no message"}`)
	reqs["m0"].reply <- json.RawMessage(`"result":{"read":0}`)
	byID := map[string]readAsyncResult{}
	for range 3 {
		r := recv(t, got, "a callback")
		if _, dup := byID[r.id]; dup {
			t.Fatalf("callback of %s called twice", r.id)
		}
		byID[r.id] = r
	}
	if r := byID["m1"]; r.err != nil || r.res.Read != 1 {
		t.Errorf("m1: %+v, want read 1", r)
	}
	if r := byID["m0"]; r.err != nil || r.res.Read != 0 {
		t.Errorf("m0: %+v, want read 0", r)
	}
	var pe *protocol.Error
	if r := byID["bad"]; !errors.As(r.err, &pe) || pe.Code != protocol.CodeNotFound {
		t.Errorf("bad: %+v, want 404", r)
	}
	if n := c.pending.len(); n != 0 {
		t.Errorf("%d calls still pending", n)
	}
}

// TestReadAsyncShares: with read batching, ReadAsync calls queue behind
// the request in flight and share the next one, as MarkReadAsync's do.
func TestReadAsyncShares(t *testing.T) {
	url, reads := readServer(t)
	c := dialReads(t, url)
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	got := make(chan readAsyncResult, 3)
	read := func(ids ...string) {
		c.ReadAsync(protocol.ReadParams{Conversation: conv, MsgIDs: ids}, func(res protocol.ReadResult, err error) {
			got <- readAsyncResult{ids[0], res, err}
		})
	}
	read("m0")
	first := recv(t, reads, "the first message.read")
	read("m1", "m2")
	read("m3")
	checkFor(t, func() error {
		if n := c.reads.waiting(conv); n != 2 {
			return fmt.Errorf("%d calls waiting, want 2", n)
		}
		return nil
	})
	first.reply <- json.RawMessage(`"result":{"read":1}`)
	second := recv(t, reads, "the shared message.read")
	if !slices.Equal(second.ids, []string{"m1", "m2", "m3"}) {
		t.Fatalf("shared request ids %v, want [m1 m2 m3]", second.ids)
	}
	second.reply <- json.RawMessage(`"result":{"read":3}`)
	want := map[string]int{"m0": 1, "m1": 2, "m3": 1}
	for range 3 {
		r := recv(t, got, "a callback")
		if r.err != nil || r.res.Read != want[r.id] {
			t.Errorf("%s: %+v, want read %d", r.id, r, want[r.id])
		}
	}
}

// TestReadAsyncFailsOnClose: a read alone waiting for its answer fails
// when the client closes, and one after Close fails at once.
func TestReadAsyncFailsOnClose(t *testing.T) {
	url, reads := readServer(t)
	c := dialReads(t, url, WithReadBatching(false))
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	errs := make(chan error, 2)
	read := func(id string) {
		c.ReadAsync(protocol.ReadParams{Conversation: conv, MsgIDs: []string{id}}, func(_ protocol.ReadResult, err error) { errs <- err })
	}
	read("m0")
	recv(t, reads, "the message.read")
	c.Close()
	if err := recv(t, errs, "the pending read's callback"); !errors.Is(err, ErrClosed) {
		t.Errorf("pending read after Close: %v, want ErrClosed", err)
	}
	read("after")
	if err := recv(t, errs, "the callback after Close"); !errors.Is(err, ErrClosed) {
		t.Errorf("read after Close: %v, want ErrClosed", err)
	}
}
