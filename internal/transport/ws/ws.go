// Package ws serves the client protocol: JSON-RPC 2.0 over WebSocket at
// /v1/ws. It owns the sockets — framing, limits, pings, send queues — and
// hands each request to the service.
//
// # Concurrency
//
// Each connection runs a reader (the HTTP handler's goroutine), a writer
// and a pinger, plus one goroutine per request in progress, at most
// Config.MaxInflight, and a timer check while its send queue is over its
// byte budget (queue.go). Every goroutine is joined before ServeHTTP
// returns, and Shutdown waits for every ServeHTTP. Lock order: Handler.mu
// is never held while taking a conn's locks; a conn's mu and qmu are
// never held together.
package ws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/seen-im/seen/internal/auth"
	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/metrics"
	"github.com/seen-im/seen/internal/service"
)

// Options are what a Handler is built from.
type Options struct {
	Service *service.Service
	Tokens  *auth.Tokens
	Bus     bus.Bus
	Config  config.Config
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// OriginPatterns lists the extra origins browsers may connect from;
	// the page's own origin is always allowed.
	OriginPatterns []string
}

// Handler is the http.Handler of /v1/ws.
type Handler struct {
	o       Options
	log     *slog.Logger
	prefix  string // connection id prefix, unique per process
	nextID  atomic.Uint64
	metrics metricsCache // per-method instruments (metrics.go)
	inline  bool         // the reader may run cheap requests (inline.go); set by New

	mu       sync.Mutex
	unauth   int                   // guarded by mu: open sockets that have not connected
	conns    map[*conn]struct{}    // guarded by mu
	users    map[string]*userState // guarded by mu: users with a connected socket
	draining bool                  // guarded by mu; no new connections once set
	wg       sync.WaitGroup        // one per ServeHTTP in progress
}

// userState is what the node keeps per connected user: how many sockets it
// holds and the request budget they share.
type userState struct {
	conns   int           // guarded by Handler.mu
	limiter *rate.Limiter // safe for concurrent use
}

// admit counts a new connection of userID, unless the user holds
// MaxConnsPerUser already.
func (h *Handler) admit(userID string) (*userState, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	us := h.users[userID]
	if us == nil {
		cfg := h.o.Config
		us = &userState{limiter: rate.NewLimiter(rate.Limit(cfg.RatePerUser), cfg.BurstPerUser)}
		h.users[userID] = us
	}
	if us.conns >= h.o.Config.MaxConnsPerUser {
		return nil, false
	}
	us.conns++
	return us, true
}

// release uncounts a connection admitted for userID.
func (h *Handler) release(userID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if us := h.users[userID]; us != nil {
		if us.conns--; us.conns <= 0 {
			delete(h.users, userID)
		}
	}
}

// New returns a Handler.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	h := &Handler{
		o:      o,
		log:    o.Logger,
		prefix: hex.EncodeToString(b[:]) + "-",
		conns:  make(map[*conn]struct{}),
		users:  make(map[string]*userState),
	}
	h.inline = h.inlineAllowed()
	return h
}

// ServeHTTP upgrades the request and serves the connection until it closes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.draining {
		h.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if h.unauth >= h.o.Config.MaxUnauthenticated {
		// Sockets that have not connected cost memory and a goroutine
		// each, and cannot be told apart from a flood until they connect.
		h.mu.Unlock()
		h.o.Metrics.UnauthRefused.Inc()
		http.Error(w, "too many unauthenticated connections, retry later", http.StatusServiceUnavailable)
		return
	}
	h.unauth++
	h.o.Metrics.Unauthenticated.Inc()
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()

	opts := &websocket.AcceptOptions{
		CompressionMode: websocket.CompressionDisabled,
		OriginPatterns:  h.o.OriginPatterns,
	}
	bc := batchConnOf(r.Context())
	var stream *streamCount
	if bc != nil {
		// Counts what is read of the socket against the frames (inline.go).
		stream = &streamCount{bc: bc}
		opts.OnPingReceived, opts.OnPongReceived = stream.ping, stream.pong
		w = &hijackWatch{ResponseWriter: w, stream: stream}
	}
	wsc, err := websocket.Accept(w, r, opts)
	if err != nil {
		h.leaveUnauth()
		h.log.Debug("websocket accept", "err", err)
		return
	}
	// The frame limit is enforced by reading, so that an oversized frame
	// can be answered with 413 before the socket is closed.
	wsc.SetReadLimit(-1)
	c := newConn(h, wsc, bc, h.prefix+strconv.FormatUint(h.nextID.Add(1), 36))
	c.stream = stream
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	c.serve()
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
	if !c.authed {
		h.leaveUnauth()
	}
}

// authenticated uncounts c, which has just connected, from the
// unauthenticated sockets. Called on c's reader goroutine.
func (h *Handler) authenticated(c *conn) {
	if !c.authed {
		c.authed = true
		h.leaveUnauth()
	}
}

func (h *Handler) leaveUnauth() {
	h.mu.Lock()
	h.unauth--
	h.mu.Unlock()
	h.o.Metrics.Unauthenticated.Dec()
}

// Shutdown stops accepting connections, lets every connection finish the
// requests it is running, closes each with 1001, and waits for all of them
// until ctx ends; then it drops whatever remains.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.draining = true
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.drain()
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		h.mu.Lock()
		for c := range h.conns {
			c.abort()
		}
		h.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// writeTimeout bounds one frame write.
func (h *Handler) writeTimeout() time.Duration { return h.o.Config.WriteTimeout }
