package ws

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/service"
	"github.com/seen-im/seen/protocol"
)

// closeReq asks the writer to flush and close with a status.
type closeReq struct {
	code   websocket.StatusCode
	reason string
}

// conn is one client connection.
type conn struct {
	h      *Handler
	ws     *websocket.Conn
	bc     *batchConn   // the socket under ws, if it batches writes; else nil
	stream *streamCount // what was read against the frames had (inline.go); nil without bc
	id     string

	ctx    context.Context // cancelled when the connection is done
	cancel context.CancelFunc

	// caller is set by connect on the reader goroutine before any request
	// goroutine starts, and read-only after.
	caller      service.Caller
	connected   bool // reader goroutine only
	authed      bool // reader goroutine only: uncounted from Handler.unauth
	unsubscribe func()
	user        *userState    // set with caller
	limiter     *rate.Limiter // this connection's request budget
	tok         tokenLife     // closes the connection when its token expires (token.go)

	sem   chan struct{} // bounds requests in progress or with a response not yet written
	pages chan struct{} // the same for requests answered with pages of messages
	ping  *time.Timer   // pings the client; no goroutine while it waits

	// The send queue costs only its last array (a few frames' slots) while
	// empty, and a writer goroutine runs only while there is something to
	// write: an idle connection holds one goroutine (its reader). See
	// queue.go.
	qmu       sync.Mutex
	queue     []outFrame     // guarded by qmu: frames to write, in order
	spare     []outFrame     // guarded by qmu: a drained queue's array, empty, for the next
	events    int            // guarded by qmu: events in queue (capped at SendQueue)
	qbytes    int64          // guarded by qmu: bytes queued or being written, not yet written
	evbytes   int64          // guarded by qmu: the part of qbytes that is events
	overSince time.Time      // guarded by qmu: when qbytes went over MaxQueueBytes; zero if within
	overTimer *time.Timer    // guarded by qmu: drops a connection over its budget too long
	room      chan struct{}  // guarded by qmu: closed when qbytes is back within budget
	writing   bool           // guarded by qmu: a writer is draining queue
	closing   *closeReq      // guarded by qmu: close once the queue is written
	dead      bool           // guarded by qmu: no new goroutine may start
	workers   sync.WaitGroup // writers, pings, the drain, over-budget checks; Add under qmu while !dead

	jobs     chan job       // requests for a waiting worker (worker.go)
	nworkers atomic.Int32   // workers running
	handoffs atomic.Int64   // requests handed to a worker (the rest ran on the reader)
	runners  sync.WaitGroup // the workers

	mu       sync.Mutex
	draining bool           // guarded by mu: no new requests once set
	inflight sync.WaitGroup // Add under mu while !draining
}

func newConn(h *Handler, wsc *websocket.Conn, bc *batchConn, id string) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		h:       h,
		ws:      wsc,
		bc:      bc,
		id:      id,
		ctx:     ctx,
		cancel:  cancel,
		sem:     make(chan struct{}, h.o.Config.MaxInflight),
		pages:   make(chan struct{}, MaxPagesInflight),
		jobs:    make(chan job),
		limiter: rate.NewLimiter(rate.Limit(h.o.Config.RatePerConn), h.o.Config.BurstPerConn),
	}
}

// serve runs the connection until it ends and joins all its goroutines.
func (c *conn) serve() {
	c.ping = time.AfterFunc(c.h.o.Config.PingInterval, c.pingOnce)
	// Whatever ends the connection (a failed write, a drop, the token's
	// expiry) cancels c.ctx, and that closes the socket, which stops a
	// read or write in progress. So the reader and the writer need not
	// hand the library a cancellable context for every frame: it would
	// register and unregister a callback on c.ctx for each.
	stopClose := context.AfterFunc(c.ctx, func() { c.ws.CloseNow() })
	defer stopClose()
	if c.readLoop() {
		// The reader stopped on purpose and asked for a close: let the
		// writer flush the last frames and finish the handshake.
		<-c.ctx.Done()
	}
	c.cancel()
	c.ws.CloseNow()
	c.ping.Stop()
	c.tok.stop()
	c.inflight.Wait()
	c.runners.Wait()
	c.qmu.Lock()
	c.dead = true
	// Frames still queued will never be written.
	c.uncountLocked(c.queue)
	c.queue = nil
	if c.overTimer != nil {
		c.overTimer.Stop()
	}
	c.qmu.Unlock()
	c.workers.Wait()
	if c.unsubscribe != nil {
		c.unsubscribe()
		c.h.release(c.caller.UserID)
		c.h.o.Metrics.Connections.Dec()
	}
}

// maxConnectFrame bounds a frame before connect: a connect request needs
// no more (a token is at most 4 KiB), and an unauthenticated socket gets
// no more of the server's memory than that.
const maxConnectFrame = 8 << 10

// readLoop reads frames until the socket fails or a close is requested.
// It reports whether it stopped to let a requested close finish.
func (c *conn) readLoop() (closing bool) {
	// The connect deadline is fixed when the socket opens: frames do not
	// move it, so a socket cannot stay unauthenticated by sending some.
	connectBy := time.Now().Add(c.h.o.Config.ConnectTimeout)
	for {
		ctx, cancel := c.ctx, context.CancelFunc(func() {})
		limit := c.h.o.Config.MaxFrameBytes
		if !c.connected {
			ctx, cancel = context.WithDeadline(c.ctx, connectBy)
			limit = min(limit, maxConnectFrame)
		}
		// Back-pressure: while the client lets its queue grow past the
		// budget, it gets no more requests read.
		if !c.waitRoom(ctx) {
			cancel()
			return false
		}
		readCtx := ctx
		if c.connected {
			readCtx = context.Background() // c.ctx closes the socket (serve)
		}
		typ, r, err := c.ws.Reader(readCtx)
		if err != nil {
			cancel()
			return false
		}
		buf := frameBufs.Get().(*[]byte)
		data, err := readFrameInto(r, (*buf)[:0], limit)
		cancel()
		if err != nil {
			return false
		}
		*buf = data
		if c.stream != nil {
			c.stream.frame(len(data))
		}
		if int64(len(data)) > limit {
			pe := protocol.Errorf(protocol.CodeTooLarge, "frame larger than %d bytes", limit)
			pe.Data = map[string]any{"limit": limit}
			c.reply(nil, "", nil, pe)
			c.requestClose(websocket.StatusMessageTooBig, "frame too large")
			return true
		}
		if typ != websocket.MessageText {
			if c.protocolError(nil, protocol.Errorf(protocol.CodeInvalidRequest, "frames must be text")) {
				return true
			}
			continue
		}
		stop, done := c.handleFrame(buf)
		if done && cap(data) <= maxPooledFrame {
			frameBufs.Put(buf)
		}
		if stop {
			return true
		}
	}
}

// handleFrame parses the frame in buf and runs it; it reports whether the
// connection must stop reading, and with done that nothing holds the
// frame any more: the request was run and answered on the reader, so its
// buffer may be used again. A cheap request handed to a worker takes the
// buffer with it, and the worker puts it back (runJob).
func (c *conn) handleFrame(buf *[]byte) (stop, done bool) {
	stop = c.handleFrameFrom(buf, &done)
	return stop, done
}

// handleFrameFrom is handleFrame; it sets *done where a request ran on
// the reader.
func (c *conn) handleFrameFrom(buf *[]byte, done *bool) (stop bool) {
	data := *buf
	id, req, pe := parseRequest(data)
	if pe != nil {
		return c.protocolError(id, pe)
	}
	if !c.connected {
		if req.Method != protocol.MethodConnect {
			c.reply(id, req.Method, nil, protocol.Errorf(protocol.CodeUnauthorized, "connect first"))
			c.requestClose(websocket.StatusPolicyViolation, "connect first")
			return true
		}
		// connect runs deep (token parsing, store lookups) on a goroutine of
		// its own: the reader, which lives as long as the connection, keeps
		// a small stack. The reader waits for it, so connect stays first.
		done := make(chan bool, 1)
		go func() { done <- c.connect(id, req.Params) }()
		stop := <-done
		switch {
		case c.connected:
			c.h.authenticated(c)
		case !stop:
			// A connect that failed (bad params, a store error) leaves the
			// socket unauthenticated: one attempt per socket.
			c.requestClose(websocket.StatusPolicyViolation, "connect failed")
			return true
		}
		return stop
	}
	if c.tok.isExpired() {
		return true // the token's close is under way: run nothing more
	}
	c.mu.Lock()
	if c.draining {
		c.mu.Unlock()
		c.reply(id, req.Method, nil, protocol.Errorf(protocol.CodeUnavailable, "server shutting down, retry"))
		return false
	}
	c.inflight.Add(1)
	c.mu.Unlock()
	if c.limited(id, req.Method) {
		c.inflight.Done()
		return false
	}
	// A full semaphore stops the reader: back-pressure on the socket.
	page := isPageMethod(req.Method)
	if page {
		select {
		case c.pages <- struct{}{}:
		case <-c.ctx.Done():
			c.inflight.Done()
			return false
		}
	}
	// A slot free, as it almost always is, is taken without a select
	// over two channels (the runtime locks both for one).
	select {
	case c.sem <- struct{}{}:
	default:
		select {
		case c.sem <- struct{}{}:
		case <-c.ctx.Done():
			if page {
				<-c.pages
			}
			c.inflight.Done()
			return false
		}
	}
	j := job{id: id, req: req, page: page}
	if c.runInline(req) {
		c.runJob(j)
		*done = true
		return false
	}
	if isCheapMethod(req.Method) && cap(data) <= maxPooledFrame {
		// Decoded into fresh strings, as on the reader: once answered,
		// nothing holds the frame.
		j.buf = buf
	}
	c.run(j)
	return false
}

// protocolError answers a frame that is not a request. Before connect the
// socket is then closed: a client that has not authenticated gets one
// chance, not a stream of answers. After connect the frame draws on the
// request budget like a request, so a flood of garbage is limited too. It
// reports whether the connection must stop reading.
func (c *conn) protocolError(id json.RawMessage, pe *protocol.Error) (stop bool) {
	if !c.connected {
		c.reply(id, "", nil, pe)
		c.requestClose(websocket.StatusPolicyViolation, "protocol error before connect")
		return true
	}
	if !c.limited(id, "") {
		c.reply(id, "", nil, pe)
	}
	return false
}

// limited answers 429 and reports true if the request budget is spent.
func (c *conn) limited(id json.RawMessage, method string) bool {
	wait := c.throttle()
	if wait <= 0 {
		return false
	}
	pe := protocol.Errorf(protocol.CodeRateLimited, "rate limited, retry later")
	pe.Data = map[string]any{"retryAfterMs": (wait + time.Millisecond - 1).Milliseconds()}
	c.reply(id, method, nil, pe)
	return true
}

// connect authenticates the connection. A bad token is answered with 401
// and the socket closed.
func (c *conn) connect(id json.RawMessage, raw json.RawMessage) (stop bool) {
	var p protocol.ConnectParams
	if pe := service.DecodeParams(raw, &p); pe != nil {
		c.reply(id, protocol.MethodConnect, nil, pe)
		return false
	}
	if p.Device != "" && !protocol.ValidID(p.Device) {
		c.reply(id, protocol.MethodConnect, nil, protocol.BadParam("device", "device must be 1-64 characters of [A-Za-z0-9_.@-]"))
		return false
	}
	userID, exp, err := c.h.o.Tokens.Verify(p.Token)
	if err != nil {
		c.h.o.Metrics.ConnectsTotal.WithLabelValues("unauthorized").Inc()
		c.h.log.Debug("connect refused", "conn", c.id, "err", err)
		pe := protocol.Errorf(protocol.CodeUnauthorized, "bad or expired token")
		pe.Data = map[string]any{"field": "token"}
		c.reply(id, protocol.MethodConnect, nil, pe)
		c.requestClose(websocket.StatusPolicyViolation, "unauthorized")
		return true
	}
	if err := c.h.o.Service.EnsureUser(c.ctx, userID); err != nil {
		var pe *protocol.Error
		if !errors.As(err, &pe) {
			pe = protocol.Errorf(protocol.CodeInternal, "internal error")
		}
		c.reply(id, protocol.MethodConnect, nil, pe)
		return false
	}
	device := p.Device
	if device == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		device = "d-" + hex.EncodeToString(b[:])
	}
	c.caller = service.Caller{UserID: userID, ConnID: c.id, Device: device}
	us, ok := c.h.admit(userID)
	if !ok {
		pe := protocol.Errorf(protocol.CodeRateLimited, "too many connections for this user")
		pe.Data = map[string]any{"limit": c.h.o.Config.MaxConnsPerUser, "retryAfterMs": 1000}
		c.reply(id, protocol.MethodConnect, nil, pe)
		c.requestClose(websocket.StatusPolicyViolation, "too many connections")
		return true
	}
	// Subscribe before answering, so no event after connect is missed.
	unsub, err := c.subscribe(userID)
	if err != nil {
		c.h.release(userID)
		c.reply(id, protocol.MethodConnect, nil, protocol.Errorf(protocol.CodeUnavailable, "unavailable, retry"))
		return false
	}
	c.user = us
	c.unsubscribe = unsub
	c.connected = true
	c.tok.start(c, exp)
	c.h.o.Metrics.Connections.Inc()
	c.h.o.Metrics.ConnectsTotal.WithLabelValues("ok").Inc()
	c.reply(id, protocol.MethodConnect, protocol.ConnectResult{
		UserID: userID, Device: device, ServerTime: time.Now().UnixMilli(), ExpiresAt: exp.UnixMilli(),
	}, nil)
	return false
}

// throttle takes one request from the connection's and the user's budgets;
// if either is spent it takes nothing and returns how long to wait.
func (c *conn) throttle() time.Duration {
	now := time.Now()
	r := c.limiter.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	ur := c.user.limiter.ReserveN(now, 1)
	if d := ur.DelayFrom(now); d > 0 {
		ur.CancelAt(now)
		r.CancelAt(now)
		return d
	}
	return 0
}

// connSubscriber is a bus that can be told which connection a
// subscription delivers to (bus/local), so that publishers can ask it
// whether an event would reach anyone but the connection that caused it.
type connSubscriber interface {
	SubscribeConn(userID, conn string, h bus.Handler) (cancel func(), err error)
}

// subscribe registers the connection's deliver for userID's events, with
// its id where the bus takes one.
func (c *conn) subscribe(userID string) (func(), error) {
	if cs, ok := c.h.o.Bus.(connSubscriber); ok {
		return cs.SubscribeConn(userID, c.id, c.deliver)
	}
	return c.h.o.Bus.Subscribe(userID, c.deliver)
}

// deliver takes an event from the bus. It never blocks: a client whose
// queue holds SendQueue events, or MaxQueueBytes of events, already is too
// slow and is dropped.
func (c *conn) deliver(ev bus.Event) {
	if ev.ExceptConn == c.id {
		return
	}
	if !c.enqueue(outFrame{b: ev.Data, event: true}) {
		c.h.o.Metrics.SlowDrops.Inc()
		c.h.log.Info("dropping slow client", "conn", c.id, "user", c.caller.UserID)
		c.abort()
	}
}

// reply queues a response that holds no in-flight slot (an answer from
// the reader: connect, refusals). Responses are always queued, whatever
// the budget: there are at most MaxInflight of them from requests, and
// the reader stops while the queue is over its budget.
func (c *conn) reply(id json.RawMessage, method string, res any, pe *protocol.Error) {
	c.enqueue(outFrame{b: c.response(id, method, res, pe)})
}

// response counts and encodes a response.
func (c *conn) response(id json.RawMessage, method string, res any, pe *protocol.Error) []byte {
	var mm *methodMetrics
	if pe == nil {
		mm = c.h.metricsOf(c.methodLabel(method))
	}
	return c.responseWith(nil, mm, id, method, res, pe)
}

// responseWith is response with the instruments of method's label, which
// its caller has (requestMetrics; not used when pe is set), encoded into
// buf's array when it has room (nil: a fresh one).
func (c *conn) responseWith(buf []byte, mm *methodMetrics, id json.RawMessage, method string, res any, pe *protocol.Error) []byte {
	if pe != nil {
		c.h.o.Metrics.Requests.WithLabelValues(c.methodLabel(method), strconv.Itoa(pe.Code)).Inc()
	} else {
		mm.ok.Inc()
	}
	b, err := responseFrameTo(buf, id, res, pe)
	if err != nil {
		c.h.log.Error("encode response", "method", method, "err", err)
	}
	return b
}

// responseFrame renders a response as it goes on the wire: a result that
// cannot be encoded becomes a 500 (the error says why), and the frame is
// UTF-8 text.
func responseFrame(id json.RawMessage, res any, pe *protocol.Error) ([]byte, error) {
	return responseFrameTo(nil, id, res, pe)
}

// responseFrameTo is responseFrame encoded into buf's array when it has
// room.
func responseFrameTo(buf []byte, id json.RawMessage, res any, pe *protocol.Error) ([]byte, error) {
	b, err := encodeResponseTo(buf, id, res, pe)
	if err != nil {
		b, _ = encodeResponse(id, nil, protocol.Errorf(protocol.CodeInternal, "internal error"))
	}
	return wireText(b), err
}

// methodLabel keeps the metrics' label set bounded.
func (c *conn) methodLabel(method string) string {
	if method == protocol.MethodConnect || method == protocol.MethodConnectRefresh || c.h.o.Service.Known(method) {
		return method
	}
	return "other"
}

// abort drops the connection at once.
func (c *conn) abort() {
	c.cancel()
}

// drain stops taking requests; once those in progress are answered, the
// socket is closed with 1001.
func (c *conn) drain() {
	c.mu.Lock()
	c.draining = true
	c.mu.Unlock()
	// The goroutine is one of c.workers, which serve joins: counted under
	// qmu while !dead, like the writers.
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.dead {
		return // serve is past its requests: the socket is closing anyway
	}
	c.workers.Add(1)
	go func() {
		defer c.workers.Done()
		c.inflight.Wait()
		c.requestClose(websocket.StatusGoingAway, "server shutting down")
	}()
}

// pingOnce pings the client from the ping timer's goroutine and re-arms
// the timer; a client that does not answer in time is dropped.
func (c *conn) pingOnce() {
	c.qmu.Lock()
	if c.dead || c.ctx.Err() != nil {
		c.qmu.Unlock()
		return
	}
	c.workers.Add(1)
	c.qmu.Unlock()
	defer c.workers.Done()
	cfg := c.h.o.Config
	ctx, cancel := context.WithTimeout(c.ctx, cfg.IdleTimeout-cfg.PingInterval)
	err := c.ws.Ping(ctx)
	cancel()
	if err != nil {
		if c.ctx.Err() == nil {
			c.h.log.Debug("idle client dropped", "conn", c.id, "err", err)
		}
		c.abort()
		return
	}
	c.ping.Reset(cfg.PingInterval)
}

// wireText makes sure a frame is UTF-8 text, as the protocol promises: a
// browser drops a socket that receives anything else. Frames are built
// from checked input, but a body stored before that check existed (or
// relayed by another node) may hold invalid bytes. In a valid JSON text
// they can only sit inside strings, so each invalid sequence becomes
// U+FFFD, as encoding/json does for Go strings; b is not modified.
func wireText(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return bytes.ToValidUTF8(b, []byte("\uFFFD"))
}
