package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/seen-im/seen/protocol"
)

// Handlers holds event handlers, one field per event; nil fields are
// ignored. Handlers run one at a time, in arrival order, on the client's
// event goroutine (see the package documentation). A handler must not modify
// the slices of the event it is given: every handler sees the same value.
type Handlers struct {
	Message          func(protocol.Message)
	ReceiptDelivered func(protocol.ReceiptDeliveredEvent)
	ReceiptRead      func(protocol.ReceiptReadEvent)
	ConversationRead func(protocol.ConversationReadEvent)
	ReceiptChanged   func(protocol.ReceiptChangedEvent)
	ReceiptRequested func(protocol.ReceiptRequestedEvent)
	GroupMember      func(protocol.GroupMemberEvent)
	// SettingsChanged: another device of the user (or the app server)
	// changed the user's settings.
	SettingsChanged func(protocol.Settings)

	// Event sees every server event as it came off the wire, known or not,
	// just before the typed handler of the same Handlers.
	Event func(method string, params json.RawMessage)

	// Reconnect runs after a dropped connection was connected again. The
	// server does not replay what was missed: re-sync by state
	// (conversation.list, message.history, receipt.query).
	Reconnect func()

	// Disconnect runs when a live connection is lost (err wraps
	// ErrDisconnected and the cause), and when the client gives up
	// reconnecting (err wraps ErrDisconnected and the reason, e.g. a
	// *protocol.Error with code 401; Done is closed by then). It does not run
	// after Close.
	Disconnect func(err error)
}

// handlerSet is the registered handlers. The list only grows, so a snapshot
// taken under mu stays valid without it.
type handlerSet struct {
	mu   sync.Mutex
	list []Handlers // guarded by mu
}

func (s *handlerSet) add(h Handlers) {
	s.mu.Lock()
	s.list = append(s.list, h)
	s.mu.Unlock()
}

func (s *handlerSet) snapshot() []Handlers {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list
}

// OnMessage registers a handler of message.new.
func (c *Client) OnMessage(f func(protocol.Message)) { c.handlers.add(Handlers{Message: f}) }

// OnReceiptDelivered registers a handler of receipt.delivered.
func (c *Client) OnReceiptDelivered(f func(protocol.ReceiptDeliveredEvent)) {
	c.handlers.add(Handlers{ReceiptDelivered: f})
}

// OnReceiptRead registers a handler of receipt.read.
func (c *Client) OnReceiptRead(f func(protocol.ReceiptReadEvent)) {
	c.handlers.add(Handlers{ReceiptRead: f})
}

// OnConversationRead registers a handler of conversation.read.
func (c *Client) OnConversationRead(f func(protocol.ConversationReadEvent)) {
	c.handlers.add(Handlers{ConversationRead: f})
}

// OnReceiptChanged registers a handler of receipt.changed.
func (c *Client) OnReceiptChanged(f func(protocol.ReceiptChangedEvent)) {
	c.handlers.add(Handlers{ReceiptChanged: f})
}

// OnReceiptRequested registers a handler of receipt.requested.
func (c *Client) OnReceiptRequested(f func(protocol.ReceiptRequestedEvent)) {
	c.handlers.add(Handlers{ReceiptRequested: f})
}

// OnGroupMember registers a handler of group.member.
func (c *Client) OnGroupMember(f func(protocol.GroupMemberEvent)) {
	c.handlers.add(Handlers{GroupMember: f})
}

// OnSettingsChanged registers a handler of settings.changed.
func (c *Client) OnSettingsChanged(f func(protocol.Settings)) {
	c.handlers.add(Handlers{SettingsChanged: f})
}

// OnEvent registers a handler that sees every event raw, known or not.
func (c *Client) OnEvent(f func(method string, params json.RawMessage)) {
	c.handlers.add(Handlers{Event: f})
}

// OnReconnect registers a handler run after every successful reconnect.
func (c *Client) OnReconnect(f func()) { c.handlers.add(Handlers{Reconnect: f}) }

// OnDisconnect registers a handler run when the connection is lost or the
// client gives up reconnecting; see Handlers.Disconnect.
func (c *Client) OnDisconnect(f func(error)) { c.handlers.add(Handlers{Disconnect: f}) }

// event is one entry of the event queue: a server event, or a change of the
// connection.
type event struct {
	method string          // wire method of a server event; "" otherwise
	params json.RawMessage // raw params of a server event
	value  any             // decoded params, reconnected or disconnected; nil for unknown events
}

type (
	reconnected  struct{}
	disconnected struct{ err error }
	settled      struct{ done chan struct{} } // see Settle
)

// deliver runs the handlers of one event, in registration order.
func (c *Client) deliver(ev event) {
	for _, h := range c.handlers.snapshot() {
		if ev.method != "" && h.Event != nil {
			h.Event(ev.method, ev.params)
		}
		switch v := ev.value.(type) {
		case protocol.MessageNewEvent:
			if h.Message != nil {
				h.Message(v.Message)
			}
		case protocol.ReceiptDeliveredEvent:
			if h.ReceiptDelivered != nil {
				h.ReceiptDelivered(v)
			}
		case protocol.ReceiptReadEvent:
			if h.ReceiptRead != nil {
				h.ReceiptRead(v)
			}
		case protocol.ConversationReadEvent:
			if h.ConversationRead != nil {
				h.ConversationRead(v)
			}
		case protocol.ReceiptChangedEvent:
			if h.ReceiptChanged != nil {
				h.ReceiptChanged(v)
			}
		case protocol.ReceiptRequestedEvent:
			if h.ReceiptRequested != nil {
				h.ReceiptRequested(v)
			}
		case protocol.GroupMemberEvent:
			if h.GroupMember != nil {
				h.GroupMember(v)
			}
		case protocol.Settings:
			if h.SettingsChanged != nil {
				h.SettingsChanged(v)
			}
		case reconnected:
			if h.Reconnect != nil {
				h.Reconnect()
			}
		case disconnected:
			if h.Disconnect != nil {
				h.Disconnect(v.err)
			}
		}
	}
}

// dispatchLoop is the event goroutine: it runs the handlers of one event at
// a time until Close.
func (c *Client) dispatchLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case ev := <-c.events:
			if m, ok := ev.value.(settled); ok {
				close(m.done)
				continue
			}
			c.deliver(ev)
		}
	}
}

// queueServerEvent queues an event read off the socket. It never waits: the
// read loop must keep reading responses and answering pings, so when the
// queue is full the event is dropped and counted.
func (c *Client) queueServerEvent(ev event) {
	select {
	case c.events <- ev:
	default:
		n := c.dropped.Add(1)
		c.log.Error("seen client: event queue full, event dropped; re-sync by state",
			"method", ev.method, "dropped", n)
	}
}

// queueLifecycle queues a connection change. These are never dropped: the
// caller waits for room, or for Close.
func (c *Client) queueLifecycle(v any) {
	select {
	case c.events <- event{value: v}:
	case <-c.ctx.Done():
	}
}

// Settle returns once the handlers have run for every event the server
// sent before it answered a round trip made now. Responses overtake events
// in the client (handlers run on their own goroutine), so a caller that
// must know "nothing more is on its way about what I did" — a test, or an
// app before it compares its state with the server's — settles first.
func (c *Client) Settle(ctx context.Context) error {
	if _, err := c.Settings(ctx); err != nil {
		return err
	}
	return c.handledQueued(ctx)
}

// handledQueued returns once the handlers have run for every event queued
// so far.
func (c *Client) handledQueued(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case c.events <- event{value: settled{done: done}}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return ErrClosed
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return ErrClosed
	}
}

// DroppedEvents reports how many server events were dropped because the
// event queue was full. When it grows, re-sync by state as after a
// reconnect.
func (c *Client) DroppedEvents() uint64 { return c.dropped.Load() }

// frameKind tells what a frame read off the socket is.
type frameKind int

const (
	frameResponse frameKind = iota + 1 // answers the request with id
	frameEvent                         // a server notification
	frameOrphan                        // an error answering no known request (null id)
)

// inbound is one decoded frame.
type inbound struct {
	kind   frameKind
	id     uint64
	result json.RawMessage
	err    *protocol.Error
	method string
	params json.RawMessage
}

// decodeFrame tells a response from an event and pulls out its parts.
func decodeFrame(data []byte) (inbound, error) {
	if f, ok := decodeFrameFast(data); ok {
		return f, nil
	}
	return decodeFrameStd(data)
}

// decodeFrameStd is decodeFrame with encoding/json: the reference for the
// fast path, and the decoder of what that does not accept.
func decodeFrameStd(data []byte) (inbound, error) {
	var f protocol.Frame
	if err := json.Unmarshal(data, &f); err != nil {
		return inbound{}, fmt.Errorf("client: bad frame: %w", err)
	}
	if len(f.ID) == 0 || string(f.ID) == "null" {
		switch {
		case f.Method != "":
			return inbound{kind: frameEvent, method: f.Method, params: f.Params}, nil
		case f.Error != nil:
			return inbound{kind: frameOrphan, err: f.Error}, nil
		default:
			return inbound{}, errors.New("client: frame with neither id nor method")
		}
	}
	if f.Method != "" {
		return inbound{}, fmt.Errorf("client: server request %q not supported", f.Method)
	}
	id, err := parseID(f.ID)
	if err != nil {
		return inbound{}, err
	}
	return inbound{kind: frameResponse, id: id, result: f.Result, err: f.Error}, nil
}

// parseID reads the id the client sent: a number, or the same number
// quoted by a server that echoes ids as strings.
func parseID(raw json.RawMessage) (uint64, error) {
	s := string(raw)
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("client: response id %s is not one of ours", raw)
	}
	return id, nil
}

// decodeEvent decodes the params of a known event; value is nil for an
// unknown one.
func decodeEvent(method string, params json.RawMessage) (any, error) {
	if method == protocol.EventMessageNew {
		if e, ok := decodeMessageNewFast(params); ok {
			return e, nil
		}
	}
	return decodeEventStd(method, params)
}

// decodeEventStd is decodeEvent with encoding/json: the reference for the
// fast path, and the decoder of what that does not accept.
func decodeEventStd(method string, params json.RawMessage) (any, error) {
	var (
		v   any
		err error
	)
	switch method {
	case protocol.EventMessageNew:
		var e protocol.MessageNewEvent
		if err = unmarshal(params, &e); err == nil {
			err = normalizeReceipt(&e.Message)
		}
		v = e
	case protocol.EventReceiptDelivered:
		v, err = decodeAs[protocol.ReceiptDeliveredEvent](params)
	case protocol.EventReceiptRead:
		v, err = decodeAs[protocol.ReceiptReadEvent](params)
	case protocol.EventConversationRead:
		v, err = decodeAs[protocol.ConversationReadEvent](params)
	case protocol.EventReceiptChanged:
		v, err = decodeAs[protocol.ReceiptChangedEvent](params)
	case protocol.EventReceiptRequested:
		v, err = decodeAs[protocol.ReceiptRequestedEvent](params)
	case protocol.EventGroupMember:
		v, err = decodeAs[protocol.GroupMemberEvent](params)
	case protocol.EventSettingsChanged:
		v, err = decodeAs[protocol.Settings](params)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("client: bad %s params: %w", method, err)
	}
	return v, nil
}

func decodeAs[T any](raw json.RawMessage) (T, error) {
	var v T
	err := unmarshal(raw, &v)
	return v, err
}

// unmarshal decodes raw into v; absent params decode as {}.
func unmarshal(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, v)
}

// normalizeReceipt turns the receipt of a decoded message, a map after
// decoding into protocol.Message's any field, into the *protocol.Receipt
// (the caller's own message) or *protocol.AckState (someone else's) that
// protocol.Message documents.
func normalizeReceipt(m *protocol.Message) error {
	raw, ok := m.Receipt.(map[string]any)
	if !ok {
		return nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	_, hasStatus := raw["status"]
	_, hasMsgID := raw["msgId"]
	if hasStatus || hasMsgID {
		r := new(protocol.Receipt)
		if err := json.Unmarshal(b, r); err != nil {
			return err
		}
		m.Receipt = r
		return nil
	}
	a := new(protocol.AckState)
	if err := json.Unmarshal(b, a); err != nil {
		return err
	}
	m.Receipt = a
	return nil
}

// MessageReceipt returns the receipt of the caller's own message, or nil
// when it asks for none (or is someone else's).
func MessageReceipt(m protocol.Message) *protocol.Receipt {
	r, _ := m.Receipt.(*protocol.Receipt)
	return r
}

// MessageAckState returns whether the caller acked someone else's receipt
// message, or nil when it asks for no receipt (or is the caller's own).
func MessageAckState(m protocol.Message) *protocol.AckState {
	a, _ := m.Receipt.(*protocol.AckState)
	return a
}
