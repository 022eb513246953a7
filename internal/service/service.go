// Package service is Seen's application layer: it checks who may do what,
// turns protocol requests into store writes, and publishes the resulting
// events on the bus once the writes are durable. Transports (WebSocket,
// admin HTTP) call it; it knows nothing of sockets.
//
// # Concurrency
//
// A Service is safe for concurrent use. Ordering and atomicity live in the
// store (seq allocation, join positions, watermarks); the service holds no
// lock across a store call.
package service

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/metrics"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// Caller is who makes a request: a connected device, or the admin API
// acting for a user (ConnID empty).
type Caller struct {
	UserID string
	// ConnID identifies the connection, so events it causes skip it.
	ConnID string
	Device string
}

// Options are the parts a Service is built from.
type Options struct {
	Store  store.Store
	Bus    bus.Bus
	Config config.Config
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Metrics receives the service's counters; nil: a private set.
	Metrics *metrics.Metrics
	// WebhookNotify is called after webhook deliveries are enqueued, so
	// the delivery loop need not wait for its next poll; nil: nothing.
	WebhookNotify func()
}

// Service implements every protocol method.
type Service struct {
	store store.Store
	bus   bus.Bus
	cfg   config.Config
	log   *slog.Logger
	now   func() time.Time
	met   *metrics.Metrics

	handlers map[string]handler // built once by New, read-only after
	// ackHandlers are the acks' entries of handlers (protocol.AckIndex), found
	// without hashing the method: most requests are acks.
	ackHandlers [len(protocol.AckMethods)]handler
	engines     engines       // receipt engines by conversation
	changes     *coalescer    // receipt.changed to group senders
	settings    settingsCache // users' settings, on a single node
	// single is set by New when the bus connects no other node: then no
	// engine change need be encoded for other nodes, no barrier waits
	// for them, and this node coalesces every conversation's changes.
	single bool
	// hookEps caches the store's webhook endpoints.
	hookEps    hookEndpoints
	hookNotify func() // never nil
	sweep      hookSweep
	timers     hookTimers

	idMu    sync.Mutex // guards entropy
	entropy io.Reader
}

// New builds a Service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	s := &Service{
		met:     o.Metrics,
		store:   o.Store,
		bus:     o.Bus,
		cfg:     o.Config,
		log:     o.Logger,
		now:     o.Now,
		entropy: ulid.Monotonic(rand.Reader, 0),
	}
	s.handlers = s.methods()
	for i, m := range protocol.AckMethods {
		s.ackHandlers[i] = s.handlers[m]
	}
	s.hookNotify = o.WebhookNotify
	if s.hookNotify == nil {
		s.hookNotify = func() {}
	}
	if sn, ok := s.bus.(singleNode); ok {
		s.single = sn.SingleNode()
		s.settings.on = s.single
	}
	// Other nodes' engine changes reach this node's engines.
	s.bus.SetSync(s)
	s.changes = newCoalescer(s.cfg.Receipts.Coalesce, s.flushChanges, s.met.CoalescerPending)
	// Keep readers for webhooks until the first load of the endpoints
	// (the sweep's, at once) says whether any wants them.
	s.hookEps.wantReaders.Store(true)
	s.changes.hookReaders = &s.hookEps.wantReaders
	s.engines.initLRU(s.cfg.EngineMemory, s.met.EngineEvictions, s.met.EnginesLoaded)
	s.met.SetEngineMemory(func() float64 { return float64(s.engines.memoryBytes()) })
	s.startHookSweep()
	return s
}

// Close flushes pending receipt notifications and joins the service's
// goroutines, until ctx ends: then it cancels what is still running and
// returns an error naming it. Call it before closing the store and the bus.
func (s *Service) Close(ctx context.Context) error {
	// The sweep first: the flushes Close makes report what it would.
	return errors.Join(s.stopHookSweep(ctx), s.stopTimers(ctx), s.changes.Close(ctx))
}

// nowMs is the current time in Unix milliseconds.
func (s *Service) nowMs() int64 { return s.now().UnixMilli() }

// newMsgID returns a fresh, time-ordered, server-unique message id.
func (s *Service) newMsgID() string {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(s.now()), s.entropy).String()
}

// internal turns an unexpected error into the protocol error a client sees:
// 503 when the store or bus is unavailable (safe to retry), 500 otherwise.
// The detail is logged, not sent.
func (s *Service) internal(ctx context.Context, op string, err error) *protocol.Error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe
	}
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, bus.ErrClosed) || errors.Is(err, bus.ErrUnavailable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		s.log.WarnContext(ctx, "unavailable", "op", op, "err", err)
		return protocol.Errorf(protocol.CodeUnavailable, "service unavailable, retry")
	}
	s.log.ErrorContext(ctx, "internal error", "op", op, "err", err)
	return protocol.Errorf(protocol.CodeInternal, "internal error")
}

// publish sends one event to users, encoded once. Events are best effort:
// the write they report is already durable, and a client that misses one
// re-syncs by state, so a failure is logged and not returned.
func (s *Service) publish(ctx context.Context, users []string, exceptConn, method string, params any) {
	if len(users) == 0 {
		return
	}
	if r, ok := s.bus.(reacher); ok && !r.Reaches(users, exceptConn) {
		// Nobody would receive it: most readers have no other device to
		// tell of their read, and encoding it cost every ack.
		return
	}
	data, err := encodeEvent(method, params)
	if err != nil {
		s.log.ErrorContext(ctx, "encode event", "method", method, "err", err)
		return
	}
	// Events are published even if the request's context is done: the
	// write happened and the others must hear of it.
	if err := s.bus.Publish(context.WithoutCancel(ctx), users, bus.Event{Data: data, ExceptConn: exceptConn}); err != nil {
		s.log.WarnContext(ctx, "publish", "method", method, "err", err)
	}
}

// reacher is a bus that knows whether an event would reach any
// subscriber (bus/local: one node, all its subscribers known).
type reacher interface {
	Reaches(users []string, exceptConn string) bool
	// ReachesUser is Reaches for one user, which a caller can ask without
	// building a list: an ack asks it for the reader's other devices.
	ReachesUser(user, exceptConn string) bool
}

// reachesUser reports whether an event to user, except to connection
// exceptConn, may reach anyone: false only if the bus knows it would not.
func (s *Service) reachesUser(user, exceptConn string) bool {
	r, ok := s.bus.(reacher)
	return !ok || r.ReachesUser(user, exceptConn)
}

// publishConv sends one event to a conversation's audience, encoded once:
// a bus spanning nodes sends it once, not once per member. Failures are
// logged, as in publish.
func (s *Service) publishConv(ctx context.Context, a bus.Audience, exceptConn, method string, params any) {
	data, err := encodeEvent(method, params)
	if err != nil {
		s.log.ErrorContext(ctx, "encode event", "method", method, "err", err)
		return
	}
	if err := s.bus.PublishConv(context.WithoutCancel(ctx), a, bus.Event{Data: data, ExceptConn: exceptConn}); err != nil {
		s.log.WarnContext(ctx, "publish", "method", method, "conv", a.Conv, "err", err)
	}
}

// ConvMembers is the bus.Resolver of this node: the members of a group,
// as its receipt engine knows them, for the bus to deliver another node's
// group events to this node's sockets. The slice must not be modified.
func (s *Service) ConvMembers(ctx context.Context, conv string) ([]string, error) {
	id := store.ConvID(conv)
	if !id.IsGroup() {
		return nil, fmt.Errorf("conversation members: %q is not a group", conv)
	}
	ids, err := s.memberIDs(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("conversation members of %q: %w", conv, err)
	}
	return ids, nil
}

// EnsureUser registers userID if it is unknown: a user exists once it
// connects with a valid token.
func (s *Service) EnsureUser(ctx context.Context, userID string) error {
	if _, err := s.store.GetUser(ctx, userID); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return s.internal(ctx, "get user", err)
	}
	if _, err := s.store.PutUser(ctx, store.User{ID: userID, CreatedAt: s.nowMs()}); err != nil {
		return s.internal(ctx, "put user", err)
	}
	return nil
}

// CreateUser registers a user through the admin API; created is false if
// it already existed.
func (s *Service) CreateUser(ctx context.Context, userID, name string) (bool, error) {
	if !protocol.ValidID(userID) {
		return false, protocol.BadParam("userId", "userId must be 1-64 characters of [A-Za-z0-9_.@-]")
	}
	if len(name) > 256 {
		return false, protocol.BadParam("name", "name is longer than 256 bytes")
	}
	created, err := s.store.PutUser(ctx, store.User{ID: userID, Name: name, CreatedAt: s.nowMs()})
	if err != nil {
		return false, s.internal(ctx, "put user", err)
	}
	return created, nil
}

// CreateDemoUser registers userID for the browser demo, marked as the
// demo's, and reports whether the demo may act as it: true if the demo
// created it now or before, false for a user the app made (admin API, or a
// connect with a real token).
func (s *Service) CreateDemoUser(ctx context.Context, userID string) (bool, error) {
	if !protocol.ValidID(userID) {
		return false, protocol.BadParam("userId", "userId must be 1-64 characters of [A-Za-z0-9_.@-]")
	}
	created, err := s.store.PutUser(ctx, store.User{ID: userID, CreatedAt: s.nowMs(), Demo: true})
	if err != nil {
		return false, s.internal(ctx, "put user", err)
	}
	if created {
		return true, nil
	}
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return false, s.internal(ctx, "get user", err)
	}
	return u.Demo, nil
}

// RequireUser answers 404, naming field, for an unknown user.
func (s *Service) RequireUser(ctx context.Context, field, userID string) error {
	return s.requireUser(ctx, field, userID)
}

// requireUser answers 404 for an unknown user.
func (s *Service) requireUser(ctx context.Context, field, userID string) error {
	if _, err := s.store.GetUser(ctx, userID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return noSuchUser(field, userID)
		}
		return s.internal(ctx, "get user", err)
	}
	return nil
}

// noSuchUser is the 404 for an unknown user, field naming the parameter.
func noSuchUser(field, userID string) error {
	pe := protocol.Errorf(protocol.CodeNotFound, "no such user %q", userID)
	pe.Data = map[string]any{"field": field}
	return pe
}

// forEachMember calls fn with every member of conv, a page at a time.
func (s *Service) forEachMember(ctx context.Context, conv store.ConvID, fn func([]store.Member) error) error {
	after := ""
	for {
		page, err := s.store.ListMembers(ctx, conv, after, 1000)
		if err != nil {
			return fmt.Errorf("list members of %s: %w", conv, err)
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return err
		}
		if len(page) < 1000 {
			return nil
		}
		after = page[len(page)-1].UserID
	}
}
