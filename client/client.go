package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/protocol"
)

// Sentinel errors. Test for them with errors.Is.
var (
	// ErrDisconnected: the connection was lost, or is not back yet. Errors
	// wrapping it also wrap the cause where there is one.
	ErrDisconnected = errors.New("client: disconnected")
	// ErrClosed: Close was called.
	ErrClosed = errors.New("client: closed")
)

// ackTimeout bounds one automatic delivered ack, waiting for a reconnect
// included.
const ackTimeout = 10 * time.Second

// Client is a connection to a Seen server that reconnects by itself. Its
// methods are safe for concurrent use.
type Client struct {
	cfg config
	log *slog.Logger

	ctx    context.Context // ends at Close; every goroutine and wait of the client watches it
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the client started; Close waits for them

	nextID   atomic.Uint64 // request ids; never reused, so a late answer cannot match a new call
	pending  pendingTable
	events   chan event // the event queue, read by dispatchLoop
	dropped  atomic.Uint64
	handlers handlerSet
	acks     *acker // nil when auto delivered acks are off
	reads    readQueues

	closeOnce sync.Once

	mu      sync.Mutex
	conn    *websocket.Conn // guarded by mu; the live connection, nil while reconnecting or stopped
	stateCh chan struct{}   // guarded by mu; closed and replaced when conn or stopErr changes
	stopErr error           // guarded by mu; why the client stopped for good, nil until then
	done    chan struct{}   // closed when stopErr is set
	closed  bool            // guarded by mu; Close was called
	userID  string          // guarded by mu; as connect answered
	device  string          // guarded by mu; as connect answered
}

// Dial connects to the server at url (e.g. ws://127.0.0.1:8080/v1/ws) and
// sends connect with token. It returns once connect succeeded, or its error:
// a *protocol.Error when the server answered with one (code 401 for a bad
// token). ctx bounds the dial and connect only; the client lives until
// Close.
func Dial(ctx context.Context, url, token string, opts ...Option) (*Client, error) {
	cfg, err := newConfig(url, token, opts)
	if err != nil {
		return nil, err
	}
	c := newClient(cfg)
	s, err := c.connect(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.mu.Lock()
	c.conn, c.userID, c.device = s.conn, s.res.UserID, s.res.Device
	c.mu.Unlock()
	c.log.Debug("seen client: connected", "user", s.res.UserID, "device", s.res.Device)

	c.wg.Add(1)
	go c.dispatchLoop()
	if c.acks != nil {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.acks.run(c.ctx)
		}()
	}
	c.wg.Add(1)
	go c.run(s)
	return c, nil
}

// newClient builds a client with no connection and no goroutines.
func newClient(cfg config) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:     cfg,
		log:     cfg.logger,
		ctx:     ctx,
		cancel:  cancel,
		events:  make(chan event, cfg.eventQueue),
		stateCh: make(chan struct{}),
		done:    make(chan struct{}),
	}
	for _, h := range cfg.handlers {
		c.handlers.add(h)
	}
	if cfg.autoDelivered {
		c.acks = newAcker(cfg.deliveredDelay, c.log, c.sendDelivered)
	}
	return c
}

func (c *Client) sendDelivered(ctx context.Context, conv protocol.Conversation, seq uint64) error {
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	return c.Delivered(ctx, protocol.DeliveredParams{Conversation: conv, Seq: seq})
}

// UserID returns the user id connect answered.
func (c *Client) UserID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.userID
}

// Device returns the device name connect answered.
func (c *Client) Device() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.device
}

// Connected reports whether the client has a live connection right now.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

// Done is closed once the client stopped for good: after Close, after the
// server refused a reconnect with 401, or after a drop with reconnecting
// off.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the client stopped (ErrClosed after Close), or nil while
// it runs.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopErr
}

// Close closes the connection with status 1000, stops reconnecting, fails
// waiting calls with ErrClosed, and returns once every goroutine of the
// client has ended. It waits for a running handler to return, so a handler
// must not call Close itself (use go c.Close()). Close is idempotent and
// returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		conn := c.conn
		c.conn = nil
		c.stopLocked(ErrClosed)
		c.mu.Unlock()

		if conn != nil {
			// The read loop sees the close handshake finish and returns.
			if err := conn.Close(websocket.StatusNormalClosure, ""); err != nil {
				c.log.Debug("seen client: close", "err", err)
			}
		}
		c.cancel()
		// Before the wait: a handler may be waiting for an answer that
		// will not come now.
		c.pending.failAll(ErrClosed)
		c.wg.Wait()
	})
	return nil
}

// stopLocked records that the client stopped for good. c.mu must be held.
func (c *Client) stopLocked(err error) {
	if c.stopErr != nil {
		return
	}
	c.stopErr = err
	close(c.done)
	c.signalLocked()
}

// signalLocked wakes the calls waiting for a connection. c.mu must be held.
func (c *Client) signalLocked() {
	close(c.stateCh)
	c.stateCh = make(chan struct{})
}

// run owns the connection: it reads until the connection drops, then
// reconnects, until Close or until it gives up.
func (c *Client) run(s session) {
	defer c.wg.Done()
	for {
		conn := s.conn
		stopRefresh := c.startRefresh(s)
		cause := c.readLoop(s)
		stopRefresh()
		conn.CloseNow() // a read error leaves it closed or broken; make sure no write goes through

		c.mu.Lock()
		closed := c.closed
		if c.conn == conn {
			c.conn = nil
			c.signalLocked()
		}
		c.mu.Unlock()
		if closed {
			return // Close fails the pending calls
		}

		err := fmt.Errorf("%w: %w", ErrDisconnected, cause)
		c.log.Warn("seen client: connection lost", "err", cause)
		c.pending.failAll(err)
		if !c.cfg.reconnect {
			c.mu.Lock()
			c.stopLocked(err)
			c.mu.Unlock()
			c.queueLifecycle(disconnected{err})
			return
		}
		c.queueLifecycle(disconnected{err})

		s = c.reconnect()
		if s.conn == nil {
			return
		}
		c.queueLifecycle(reconnected{})
		if c.acks != nil {
			c.acks.wake() // acks that waited for the connection
		}
	}
}

// readLoop handles the frames that came before the connect answer, then
// reads frames until the connection fails and returns why. Reading is also
// what answers the server's pings.
func (c *Client) readLoop(s session) error {
	conn, userID := s.conn, s.res.UserID
	var orphan *protocol.Error // the last error the server sent with a null id
	for _, data := range s.early {
		if e := c.handleFrame(data, userID); e != nil {
			orphan = e
		}
	}
	// Close closes the socket, which ends the read; this is in case it
	// missed conn (a reconnect under way). One registration per
	// connection: reading with c.ctx registered one per frame.
	stop := context.AfterFunc(c.ctx, func() { conn.CloseNow() })
	defer stop()
	for {
		_, data, err := conn.Read(context.Background())
		if err != nil {
			if orphan != nil {
				// E.g. 413 then close 1009: the server's error says more.
				return fmt.Errorf("%w (%w)", orphan, err)
			}
			return err
		}
		if e := c.handleFrame(data, userID); e != nil {
			orphan = e
		}
	}
}

// handleFrame routes one frame: a response to its call, an event to the
// queue (and the acker). It returns the error of a frame answering no
// request, which usually comes just before the server closes the socket.
func (c *Client) handleFrame(data []byte, userID string) *protocol.Error {
	f, err := decodeFrame(data)
	if err != nil {
		c.log.Warn("seen client: frame ignored", "err", err)
		return nil
	}
	switch f.kind {
	case frameResponse:
		r := reply{result: f.result}
		if f.err != nil {
			r = reply{err: f.err}
		}
		if !c.pending.resolve(f.id, r) {
			c.log.Debug("seen client: response to no waiting call", "id", f.id)
		}
	case frameOrphan:
		c.log.Warn("seen client: server error for no request", "err", f.err)
		return f.err
	case frameEvent:
		v, err := decodeEvent(f.method, f.params)
		if err != nil {
			c.log.Warn("seen client: event ignored", "method", f.method, "err", err)
			return nil
		}
		if m, ok := v.(protocol.MessageNewEvent); ok && c.acks != nil && m.Message.Sender != userID {
			c.acks.note(m.Message.Conversation, m.Message.Seq)
		}
		c.queueServerEvent(event{method: f.method, params: f.params, value: v})
	}
	return nil
}

// reconnect dials until connect succeeds (it returns the session), Close
// is called or the server refuses the token (it returns no connection).
func (c *Client) reconnect() session {
	bo := newBackoff(c.cfg.backoffMin, c.cfg.backoffMax)
	for attempt := 1; ; attempt++ {
		t := time.NewTimer(bo.next())
		select {
		case <-c.ctx.Done():
			t.Stop()
			return session{}
		case <-t.C:
		}

		s, err := c.connect(c.ctx)
		if err == nil {
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				s.conn.CloseNow()
				return session{}
			}
			c.conn, c.userID, c.device = s.conn, s.res.UserID, s.res.Device
			c.signalLocked()
			c.mu.Unlock()
			c.log.Info("seen client: reconnected", "attempt", attempt)
			return s
		}
		if c.ctx.Err() != nil {
			return session{}
		}
		if pe := (*protocol.Error)(nil); errors.As(err, &pe) && pe.Code == protocol.CodeUnauthorized {
			err = fmt.Errorf("%w: reconnect refused: %w", ErrDisconnected, err)
			c.log.Error("seen client: giving up reconnecting", "err", err)
			c.mu.Lock()
			c.stopLocked(err)
			c.mu.Unlock()
			c.queueLifecycle(disconnected{err})
			return session{}
		}
		c.log.Warn("seen client: reconnect failed", "attempt", attempt, "err", err)
	}
}

// connect dials and sends connect, bounded by ctx and the connect timeout.
func (c *Client) connect(ctx context.Context) (session, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.connectTimeout)
	defer cancel()
	var zero session

	token := c.cfg.token
	if c.cfg.tokenProvider != nil {
		t, err := c.cfg.tokenProvider(ctx)
		if err != nil {
			return zero, fmt.Errorf("client: token provider: %w", err)
		}
		token = t
	}
	conn, resp, err := websocket.Dial(ctx, c.cfg.url, &websocket.DialOptions{
		HTTPClient:      c.cfg.httpClient,
		HTTPHeader:      c.cfg.header,
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return zero, &protocol.Error{Code: protocol.CodeUnauthorized, Message: "handshake refused: " + resp.Status}
		}
		return zero, fmt.Errorf("client: dial %s: %w", c.cfg.url, err)
	}
	conn.SetReadLimit(c.cfg.readLimit)
	s, err := c.handshake(ctx, conn, token)
	if err != nil {
		conn.CloseNow()
		return zero, err
	}
	return s, nil
}

// handshake sends connect on a fresh connection and reads its answer. No
// other goroutine uses conn yet, so it reads the socket itself.
//
// The server subscribes the connection to its events before it answers
// connect, so events may arrive ahead of the answer: they are kept, in
// order, for the read loop to handle first.
func (c *Client) handshake(ctx context.Context, conn *websocket.Conn, token string) (session, error) {
	var zero session
	var early [][]byte
	device := c.cfg.device
	if device == "" {
		device = c.Device() // keep the name the server gave on the first connect
	}
	params, err := json.Marshal(protocol.ConnectParams{Token: token, Device: device})
	if err != nil {
		return zero, fmt.Errorf("client: encode connect: %w", err)
	}
	id := c.nextID.Add(1)
	frame, err := encodeRequest(id, protocol.MethodConnect, params)
	if err != nil {
		return zero, err
	}
	if err := conn.Write(ctx, websocket.MessageText, frame); err != nil {
		return zero, fmt.Errorf("client: send connect: %w", err)
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return zero, fmt.Errorf("client: await connect answer: %w", err)
		}
		f, err := decodeFrame(data)
		if err != nil {
			c.log.Warn("seen client: frame ignored", "err", err)
			continue
		}
		switch {
		case f.kind == frameResponse && f.id == id:
			if f.err != nil {
				return zero, f.err
			}
			var res protocol.ConnectResult
			if err := unmarshal(f.result, &res); err != nil {
				return zero, fmt.Errorf("client: decode connect result: %w", err)
			}
			return session{conn: conn, res: res, at: time.Now(), early: early}, nil
		case f.kind == frameOrphan:
			return zero, f.err
		case len(early) < c.cfg.eventQueue:
			early = append(early, data)
		default:
			// As with a full event queue: the event is lost, and counted.
			n := c.dropped.Add(1)
			c.log.Error("seen client: too many events before the connect answer, event dropped; re-sync by state", "dropped", n)
		}
	}
}
