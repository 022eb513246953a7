package seentest

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/protocol"
)

// Raw is a bare WebSocket client that speaks frames, for tests that must
// send what a well-behaved SDK never would.
type Raw struct {
	t  testing.TB
	ws *websocket.Conn

	mu        sync.Mutex
	responses map[string]chan protocol.Frame // by id; guarded by mu
	events    chan protocol.Frame
	nextID    int // guarded by mu

	closed   chan struct{} // closed when the read loop ends
	closeErr error         // set before closed is closed
}

// DialRaw opens a socket to url; it is closed when the test ends.
func DialRaw(t testing.TB, url string) *Raw {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatalf("seentest: dial %s: %v", url, err)
	}
	c.SetReadLimit(16 << 20)
	r := &Raw{
		t:         t,
		ws:        c,
		responses: make(map[string]chan protocol.Frame),
		events:    make(chan protocol.Frame, 4096),
		closed:    make(chan struct{}),
	}
	go r.readLoop()
	t.Cleanup(func() {
		r.ws.CloseNow()
		<-r.closed
	})
	return r
}

func (r *Raw) readLoop() {
	defer close(r.closed)
	for {
		_, data, err := r.ws.Read(context.Background())
		if err != nil {
			r.closeErr = err
			return
		}
		if !utf8.Valid(data) {
			// A browser drops a socket that sends such a frame (close 1006).
			r.t.Errorf("seentest: server sent a frame that is not valid UTF-8: %q", data)
		}
		var f protocol.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			r.t.Errorf("seentest: server sent invalid JSON %q: %v", data, err)
			continue
		}
		if f.Method != "" && f.ID == nil {
			select {
			case r.events <- f:
			default:
				r.t.Errorf("seentest: event buffer full")
			}
			continue
		}
		r.mu.Lock()
		ch, ok := r.responses[string(f.ID)]
		if !ok {
			ch = make(chan protocol.Frame, 1)
			r.responses[string(f.ID)] = ch
		}
		r.mu.Unlock()
		ch <- f
	}
}

// Send writes one raw text frame.
func (r *Raw) Send(frame string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.ws.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		r.t.Fatalf("seentest: write: %v", err)
	}
}

// SendBinary writes one binary frame.
func (r *Raw) SendBinary(frame string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.ws.Write(ctx, websocket.MessageBinary, []byte(frame)); err != nil {
		r.t.Fatalf("seentest: write: %v", err)
	}
}

// Response waits for the response whose id is id (raw JSON, e.g. `7`, `"a"`, `null`).
func (r *Raw) Response(id string) protocol.Frame {
	r.t.Helper()
	r.mu.Lock()
	ch, ok := r.responses[id]
	if !ok {
		ch = make(chan protocol.Frame, 1)
		r.responses[id] = ch
	}
	r.mu.Unlock()
	select {
	case f := <-ch:
		r.mu.Lock()
		delete(r.responses, id)
		r.mu.Unlock()
		return f
	case <-time.After(10 * time.Second):
		r.t.Fatalf("seentest: no response with id %s", id)
		return protocol.Frame{}
	}
}

// Call sends a request with params marshalled as JSON (a json.RawMessage
// or string is sent as it is) and waits for its response.
func (r *Raw) Call(method string, params any) protocol.Frame {
	r.t.Helper()
	r.mu.Lock()
	r.nextID++
	id := strconv.Itoa(r.nextID)
	r.mu.Unlock()
	var p []byte
	switch v := params.(type) {
	case string:
		p = []byte(v)
	case json.RawMessage:
		p = v
	default:
		var err error
		if p, err = json.Marshal(v); err != nil {
			r.t.Fatalf("seentest: marshal: %v", err)
		}
	}
	r.Send(`{"jsonrpc":"2.0","id":` + id + `,"method":` + strconv.Quote(method) + `,"params":` + string(p) + `}`)
	return r.Response(id)
}

// MustCall is Call that fails the test on an error response and decodes
// the result into res (if not nil).
func (r *Raw) MustCall(method string, params, res any) {
	r.t.Helper()
	f := r.Call(method, params)
	if f.Error != nil {
		r.t.Fatalf("seentest: %s: %v", method, f.Error)
	}
	if res != nil {
		if err := json.Unmarshal(f.Result, res); err != nil {
			r.t.Fatalf("seentest: %s result %s: %v", method, f.Result, err)
		}
	}
}

// Connect sends connect with token and fails the test unless it succeeds.
func (r *Raw) Connect(token, device string) protocol.ConnectResult {
	r.t.Helper()
	var res protocol.ConnectResult
	r.MustCall(protocol.MethodConnect, protocol.ConnectParams{Token: token, Device: device}, &res)
	return res
}

// Event waits for the next event, which must be method.
func (r *Raw) Event(method string) protocol.Frame {
	r.t.Helper()
	select {
	case f := <-r.events:
		if f.Method != method {
			r.t.Fatalf("seentest: got event %s %s, want %s", f.Method, f.Params, method)
		}
		return f
	case <-time.After(10 * time.Second):
		r.t.Fatalf("seentest: no %s event", method)
		return protocol.Frame{}
	}
}

// EventAfter waits for the next event that is method, discarding the
// events before it: for a test that does not care which others a step
// also sends (a delivery receipt before a read receipt, say).
func (r *Raw) EventAfter(method string) protocol.Frame {
	r.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-r.events:
			if f.Method == method {
				return f
			}
		case <-deadline:
			r.t.Fatalf("seentest: no %s event", method)
			return protocol.Frame{}
		}
	}
}

// NoEvent checks that no event is waiting, after a round trip to the
// server so that anything already sent has arrived.
func (r *Raw) NoEvent() {
	r.t.Helper()
	r.Call("conversation.list", map[string]any{"limit": 1})
	select {
	case f := <-r.events:
		r.t.Fatalf("seentest: unexpected event %s %s", f.Method, f.Params)
	default:
	}
}

// Closed waits for the server to close the socket and returns the close
// status (-1 if it was not a clean close).
func (r *Raw) Closed() websocket.StatusCode {
	r.t.Helper()
	select {
	case <-r.closed:
	case <-time.After(10 * time.Second):
		r.t.Fatalf("seentest: socket still open")
	}
	var ce websocket.CloseError
	if errors.As(r.closeErr, &ce) {
		return ce.Code
	}
	return -1
}

// Close closes the socket normally and waits for the read loop to end.
func (r *Raw) Close() {
	_ = r.ws.Close(websocket.StatusNormalClosure, "")
	<-r.closed
}
