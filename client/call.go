package client

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/internal/jsonwalk"
	"github.com/seen-im/seen/protocol"
)

// reply is what a pending call gets back: a result, or an error (a
// *protocol.Error from the server, or one wrapping ErrDisconnected or
// ErrClosed).
type reply struct {
	result json.RawMessage
	err    error
}

// pendingTable matches responses to the calls waiting for them.
type pendingTable struct {
	mu    sync.Mutex
	calls map[uint64]pendingCall // guarded by mu
}

// pendingCall is one call waiting for its reply: on ch (a caller waits), or
// through fn (an asynchronous call; fn runs on the goroutine that resolves
// it and must not block).
type pendingCall struct {
	ch chan reply
	fn func(reply)
}

// give hands r to the call.
func (pc pendingCall) give(r reply) {
	if pc.fn != nil {
		pc.fn(r)
		return
	}
	pc.ch <- r
}

// add registers id and returns the channel its reply will arrive on.
func (p *pendingTable) add(id uint64) <-chan reply {
	ch := make(chan reply, 1) // resolve never waits for the caller
	p.put(id, pendingCall{ch: ch})
	return ch
}

// addFunc registers id; fn gets its reply.
func (p *pendingTable) addFunc(id uint64, fn func(reply)) {
	p.put(id, pendingCall{fn: fn})
}

func (p *pendingTable) put(id uint64, pc pendingCall) {
	p.mu.Lock()
	if p.calls == nil {
		p.calls = make(map[uint64]pendingCall)
	}
	p.calls[id] = pc
	p.mu.Unlock()
}

// resolve hands r to the call waiting for id and forgets it. It reports
// false when no call waits: the caller gave up, or the id is not ours.
func (p *pendingTable) resolve(id uint64, r reply) bool {
	pc, ok := p.take(id)
	if ok {
		pc.give(r)
	}
	return ok
}

// take forgets id and returns its call, if it still waited.
func (p *pendingTable) take(id uint64) (pendingCall, bool) {
	p.mu.Lock()
	pc, ok := p.calls[id]
	delete(p.calls, id)
	p.mu.Unlock()
	return pc, ok
}

// remove forgets id; the caller stopped waiting.
func (p *pendingTable) remove(id uint64) {
	p.take(id)
}

// failAll fails every waiting call with err and returns how many there were.
func (p *pendingTable) failAll(err error) int {
	p.mu.Lock()
	calls := p.calls
	p.calls = nil
	p.mu.Unlock()
	for _, pc := range calls {
		pc.give(reply{err: err})
	}
	return len(calls)
}

// len returns how many calls wait.
func (p *pendingTable) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

// encodeRequest builds the frame of one request. params must be valid JSON
// or nil (no params member).
func encodeRequest(id uint64, method string, params json.RawMessage) ([]byte, error) {
	if b, ok := encodeRequestFast(id, method, params); ok {
		return b, nil
	}
	return encodeRequestStd(id, method, params)
}

// encodeRequestFast writes the frame json.Marshal writes, without its
// reflection (a ninth of a group member's CPU in seen bench group, and
// the stack growth of a fresh goroutine's call), when method and params
// are what json.Marshal copies as they are: printable ASCII, nothing it
// escapes, params valid JSON without whitespace. It reports false
// otherwise. FuzzEncodeRequestMatchesStd holds it to json.Marshal's bytes.
func encodeRequestFast(id uint64, method string, params json.RawMessage) ([]byte, bool) {
	if !copiedAsIs(method, false) || !copiedAsIs(string(params), true) {
		return nil, false
	}
	if len(params) > 0 {
		if end := jsonwalk.Value(params, 0, 1); end != len(params) {
			return nil, false
		}
	}
	const head = `{"jsonrpc":"` + protocol.Version + `","id":`
	b := make([]byte, 0, len(head)+20+len(`,"method":""`)+len(method)+len(`,"params":}`)+len(params))
	b = append(b, head...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"method":"`...)
	b = append(b, method...)
	b = append(b, '"')
	if len(params) > 0 {
		b = append(b, `,"params":`...)
		b = append(b, params...)
	}
	return append(b, '}'), true
}

// copiedAsIs reports whether json.Marshal copies s as it is: printable
// ASCII without the bytes it escapes in HTML-safe output (<, >, &); for a
// string's contents (jsonText false) without a quote or a backslash, for
// JSON text (jsonText true) without whitespace, which it compacts away.
func copiedAsIs(s string, jsonText bool) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '&':
			if c == ' ' && !jsonText {
				continue
			}
			return false
		case !jsonText && (c == '"' || c == '\\'):
			return false
		}
	}
	return true
}

// encodeRequestStd is encodeRequest with encoding/json: the reference for
// the fast path, and the encoder of what that does not take.
func encodeRequestStd(id uint64, method string, params json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(protocol.Request{
		JSONRPC: protocol.Version,
		ID:      json.RawMessage(strconv.FormatUint(id, 10)),
		Method:  method,
		Params:  params,
	})
	if err != nil {
		return nil, fmt.Errorf("client: encode %s: %w", method, err)
	}
	return b, nil
}

// Call sends method with params (marshalled to JSON; nil sends no params)
// and decodes the result into result (nil discards it). Server errors are
// *protocol.Error; see CallRaw for the rest.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	var raw json.RawMessage
	if params != nil {
		b, err := marshalParams(params)
		if err != nil {
			return fmt.Errorf("client: encode %s params: %w", method, err)
		}
		raw = b
	}
	res, err := c.CallRaw(ctx, method, raw)
	if err != nil {
		return err
	}
	if result == nil || len(res) == 0 {
		return nil
	}
	if err := unmarshalResult(res, result); err != nil {
		return fmt.Errorf("client: decode %s result: %w", method, err)
	}
	return nil
}

// CallRaw sends method with params (valid JSON, or nil for none) and returns
// the raw result.
//
// While the client is reconnecting, CallRaw waits for the connection until
// ctx ends; it then returns an error wrapping both ErrDisconnected and
// ctx.Err(). Once the client stopped for good it fails at once: with
// ErrClosed after Close, else with an error wrapping ErrDisconnected and the
// reason. A call in flight when the connection drops fails with an error
// wrapping ErrDisconnected; the server may or may not have carried it out
// (message.send is safe to repeat with the same clientMsgId). When ctx ends
// first, CallRaw returns ctx.Err() and the response, if one comes, is
// dropped.
func (c *Client) CallRaw(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := c.nextID.Add(1)
	frame, err := encodeRequest(id, method, params)
	if err != nil {
		return nil, err
	}
	conn, err := c.waitConn(ctx)
	if err != nil {
		return nil, err
	}
	ch := c.pending.add(id)
	defer c.pending.remove(id)
	if err := c.write(conn, frame); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDisconnected, method, err)
	}
	select {
	case r := <-ch:
		return r.result, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// callAsync is CallRaw without the wait: it returns once the request is
// written, and done gets the raw result or the error, exactly once, on the
// goroutine that reads the socket (or this one), so it must not block. It
// does not wait for a connection: while the client reconnects it fails at
// once with ErrDisconnected, and once the client stopped, with why. A call
// in flight fails when the connection drops or the client closes; the
// server answers every request it reads, so there is no other timeout.
func (c *Client) callAsync(method string, params json.RawMessage, done func(json.RawMessage, error)) {
	id := c.nextID.Add(1)
	frame, err := encodeRequest(id, method, params)
	if err != nil {
		done(nil, err)
		return
	}
	c.mu.Lock()
	conn, stopErr := c.conn, c.stopErr
	c.mu.Unlock()
	switch {
	case stopErr != nil:
		done(nil, stopErr)
		return
	case conn == nil:
		done(nil, fmt.Errorf("%w: %s: reconnecting", ErrDisconnected, method))
		return
	}
	c.pending.addFunc(id, func(r reply) { done(r.result, r.err) })
	// A drop or Close clears c.conn, then fails every pending call. If conn
	// is still the client's after the call was added, that failure is yet
	// to come and will fail it; if not, the call may have missed it.
	c.mu.Lock()
	current := c.conn == conn
	c.mu.Unlock()
	if !current {
		if _, ok := c.pending.take(id); ok {
			done(nil, fmt.Errorf("%w: %s: connection lost", ErrDisconnected, method))
		}
		return
	}
	if err := c.write(conn, frame); err != nil {
		if _, ok := c.pending.take(id); ok {
			done(nil, fmt.Errorf("%w: %s: %w", ErrDisconnected, method, err))
		}
	}
}

// write sends one frame. It does not use the caller's context: cancelling a
// write half way would close the connection under every other call, so a
// write is bounded by the write timeout instead, as a deadline on the
// socket where the client dialed it (deadline.go), else as a context. A
// write that fails or times out drops the connection either way.
func (c *Client) write(conn *websocket.Conn, frame []byte) error {
	if c.cfg.writeDeadlines {
		err := conn.Write(context.Background(), websocket.MessageText, frame)
		if err != nil {
			// A socket past its deadline may have taken part of the frame.
			conn.CloseNow()
		}
		return err
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.writeTimeout)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, frame)
}

// waitConn returns the live connection, waiting while the client reconnects.
func (c *Client) waitConn(ctx context.Context) (*websocket.Conn, error) {
	for {
		c.mu.Lock()
		conn, stopErr, changed := c.conn, c.stopErr, c.stateCh
		c.mu.Unlock()
		switch {
		case stopErr != nil:
			return nil, stopErr
		case conn != nil:
			return conn, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: still reconnecting: %w", ErrDisconnected, ctx.Err())
		}
	}
}
