// Package natsbus is the bus between server nodes, on core NATS.
//
// # Subjects
//
// A node subscribes to <prefix>.u.<user> (the id base64url-encoded) while
// it holds at least one socket of that user, and to <prefix>.all always.
// An event for a few users goes out once per user on their subjects, so
// NATS hands it only to the nodes that hold them. An event for many users
// goes out once on <prefix>.all: for a conversation's members it carries
// the conversation id and the few users to add or leave out, and each node
// finds its own recipients among the members its Resolver names; for a
// plain long list it carries the list. Every node also subscribes to
// <prefix>.sync (other nodes' PublishSync, delivered like events) and
// <prefix>.nodes (heartbeats, which make Nodes and report silent or
// restarted nodes). See docs/cluster.md.
//
// # Delivery
//
// A node's own events reach its own subscribers in-process, before they go
// out, and the connection asks NATS not to echo them back (nats.NoEcho), so
// nothing arrives twice. Events from other nodes arrive on one channel,
// whatever their subject, and one goroutine hands them to the handlers, so
// one publisher's events keep their order on every node. Core NATS is at
// most once: an event lost in a reconnect or a full channel is lost, and
// clients re-sync by state.
//
// # Concurrency
//
// All methods are safe for concurrent use. Handlers run on the publisher's
// goroutine (events of this node) or on the delivery goroutine (events of
// other nodes), under a read lock: they must not block or call back into
// the bus.
package natsbus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/seen-im/seen/internal/bus"
)

// subscribeFlushTimeout bounds the wait for NATS to confirm a user's new
// subscription: a connect waits at most this long on a NATS that stalls.
const subscribeFlushTimeout = 5 * time.Second

// Options configure a Bus. URL (or a NATS option that supplies the
// server) is required; the rest have defaults.
type Options struct {
	// URL is the NATS server URL, or several, comma-separated, for a
	// NATS cluster.
	URL string
	// Name names the connection on the NATS server (its monitoring shows
	// it) and is the node's id in Nodes: it must differ between the nodes
	// of a cluster. Empty: a random id.
	Name string
	// Prefix begins every subject; nodes of one cluster share it.
	// Default "seen".
	Prefix string
	// Resolve names a conversation's members on this node; without one,
	// events to large conversations from other nodes are dropped (and
	// logged). SetResolver sets it later.
	Resolve bus.Resolver
	// ResolveTimeout bounds one Resolve call. Default 5s.
	ResolveTimeout time.Duration
	// InlineMax is the most recipients an event goes out to one by one,
	// on their own subjects; more go out once on the broadcast subject.
	// Default 64.
	InlineMax int
	// Buffer is how many messages from other nodes may wait for the
	// delivery goroutine; beyond it NATS drops them (a slow consumer).
	// Default 65536.
	Buffer int
	// ReconnectWait is the pause between reconnect attempts. Default 1s.
	// The bus retries for ever.
	ReconnectWait time.Duration
	// OnDisconnect, if set, is called when the connection drops: a node
	// answers /healthz with 503 until OnReconnect.
	OnDisconnect func(err error)
	// OnReconnect, if set, is called when the connection is back: events
	// in between are lost, so the node re-syncs what it caches.
	OnReconnect func()
	// Heartbeat is how often the node tells the others it is alive, on
	// <prefix>.nodes. Default 1s.
	Heartbeat time.Duration
	// PeerTimeout is how long a node may be silent before the others
	// count it gone (and drop what they built from its messages).
	// Default 3s.
	PeerTimeout time.Duration
	// Discover is how long New waits for the other nodes to answer its
	// first heartbeat before it returns (0: 150ms; negative: not at all).
	Discover time.Duration
	// Log receives connection changes and dropped messages. Default
	// slog.Default().
	Log *slog.Logger
	// NATS are extra connection options (tests pass nats.InProcessServer).
	NATS []nats.Option
}

// Bus is a bus.Bus over NATS.
type Bus struct {
	o       Options
	log     *slog.Logger
	nc      *nats.Conn
	all     string // the broadcast subject
	resolve atomic.Pointer[bus.Resolver]
	sync    atomic.Pointer[bus.SyncReceiver]
	id      string // this node's id in Nodes
	inc     string // this bus's incarnation, random
	// syncSubj carries sync messages, nodesSubj heartbeats.
	syncSubj, nodesSubj string
	dropped             atomic.Uint64 // messages lost to a full channel or undecodable

	in     chan *nats.Msg // every subscription's messages, in arrival order
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}  // closed when the delivery goroutine returns
	beats  sync.WaitGroup // the heartbeat goroutine

	marksMu sync.Mutex
	marks   map[*nats.Msg]chan struct{} // Barrier markers on their way; guarded by marksMu

	dupOnce sync.Once // logs a duplicate node name once

	peersMu sync.Mutex
	peers   map[string]*peer // other nodes by id; guarded by peersMu
	// answered receives a signal, without blocking, for each heartbeat
	// that answers this node's first one (see discover).
	answered chan struct{}

	mu     sync.RWMutex
	users  map[string]*user // guarded by mu
	next   uint64           // guarded by mu
	closed bool             // guarded by mu
}

// user is one user's subscriptions on this node.
type user struct {
	handlers map[uint64]bus.Handler // guarded by Bus.mu
	sub      *nats.Subscription
	// ready is closed once NATS has the subscription (or the bus stopped
	// waiting), so no Subscribe returns before events can arrive.
	ready chan struct{}
}

var _ bus.Bus = (*Bus)(nil)

// New connects to NATS and starts the delivery goroutine. It fails if the
// server cannot be reached now; once connected, the bus reconnects by
// itself.
func New(o Options) (*Bus, error) {
	if o.Prefix == "" {
		o.Prefix = "seen"
	}
	if o.ResolveTimeout <= 0 {
		o.ResolveTimeout = 5 * time.Second
	}
	if o.InlineMax <= 0 {
		o.InlineMax = 64
	}
	if o.Buffer <= 0 {
		o.Buffer = 1 << 16
	}
	if o.ReconnectWait <= 0 {
		o.ReconnectWait = time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.Discover == 0 {
		o.Discover = 150 * time.Millisecond
	}
	if o.PeerTimeout <= 0 {
		o.PeerTimeout = 3 * time.Second
	}
	b := &Bus{
		o:         o,
		log:       o.Log.With("component", "natsbus"),
		all:       o.Prefix + ".all",
		syncSubj:  o.Prefix + ".sync",
		nodesSubj: o.Prefix + ".nodes",
		inc:       rand.Text(),
		in:        make(chan *nats.Msg, o.Buffer),
		done:      make(chan struct{}),
		users:     make(map[string]*user),
		marks:     make(map[*nats.Msg]chan struct{}),
		peers:     make(map[string]*peer),
		answered:  make(chan struct{}, 1),
	}
	b.id = o.Name
	if b.id == "" {
		b.id = b.inc
	}
	if o.Resolve != nil {
		b.SetResolver(o.Resolve)
	}
	opts := append([]nats.Option{
		nats.Name(o.Name),
		nats.NoEcho(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(o.ReconnectWait),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				return // Close, not a lost connection
			}
			b.log.Warn("nats disconnected", "err", err)
			if o.OnDisconnect != nil {
				o.OnDisconnect(err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
			b.lost(bus.LostReconnect)
			if o.OnReconnect != nil {
				o.OnReconnect()
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				b.dropped.Add(1)
				b.lost(bus.LostDropped)
			}
			b.log.Warn("nats", "err", err)
		}),
	}, o.NATS...)
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect to %q: %w", o.URL, err)
	}
	b.nc = nc
	for _, subj := range []string{b.all, b.syncSubj} {
		if _, err := nc.ChanSubscribe(subj, b.in); err != nil {
			nc.Close()
			return nil, fmt.Errorf("natsbus: subscribe %s: %w", subj, err)
		}
	}
	// Heartbeats need no order with the rest: their own subscription.
	if _, err := nc.Subscribe(b.nodesSubj, b.onBeat); err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: subscribe %s: %w", b.nodesSubj, err)
	}
	// The subscriptions are on the server before the node serves: a
	// sync message another node publishes after New returns reaches it.
	if err := nc.FlushTimeout(syncTimeout); err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: subscribe: %w", err)
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	go b.run()
	b.beats.Add(1)
	go b.heartbeat()
	b.discover()
	return b, nil
}

// SetResolver sets how this node names a conversation's members (the
// service exists after the bus it is given).
func (b *Bus) SetResolver(r bus.Resolver) { b.resolve.Store(&r) }

// Connected reports whether the bus is connected to NATS now.
func (b *Bus) Connected() bool { return b.nc.IsConnected() }

// Dropped is how many messages from other nodes were lost here: to a full
// delivery channel, or undecodable.
func (b *Bus) Dropped() uint64 { return b.dropped.Load() }

// Publish delivers ev to users' subscribers here, then sends it to the
// other nodes: one message per user, or one message with the list.
func (b *Bus) Publish(ctx context.Context, users []string, ev bus.Event) error {
	if err := b.deliverLocal(func(deliver func(string)) {
		for _, u := range users {
			deliver(u)
		}
	}, ev); err != nil {
		return err
	}
	if len(users) <= b.o.InlineMax {
		return b.publishEach(users, ev)
	}
	return b.publishList(users, ev)
}

// PublishConv delivers ev to a's recipients here, from a.Members, then
// sends it to the other nodes: one message per recipient for a small
// audience, or one message naming the conversation.
func (b *Bus) PublishConv(ctx context.Context, a bus.Audience, ev bus.Event) error {
	if err := b.deliverLocal(func(deliver func(string)) { a.Recipients(a.Members, deliver) }, ev); err != nil {
		return err
	}
	if len(a.Members)+len(a.Also) <= b.o.InlineMax {
		users := make([]string, 0, len(a.Members)+len(a.Also))
		a.Recipients(a.Members, func(u string) { users = append(users, u) })
		return b.publishEach(users, ev)
	}
	return b.send(b.all, encode(message{
		kind: kindConv, ev: ev,
		aud: bus.Audience{Conv: a.Conv, Also: a.Also, Except: a.Except},
	}))
}

// deliverLocal hands ev to this node's subscribers of the users each
// calls deliver with.
func (b *Bus) deliverLocal(each func(deliver func(string)), ev bus.Event) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return bus.ErrClosed
	}
	if len(b.users) == 0 {
		return nil
	}
	each(func(u string) {
		if us := b.users[u]; us != nil {
			for _, h := range us.handlers {
				h(ev)
			}
		}
	})
	return nil
}

// publishEach sends ev on each user's subject, encoded once.
func (b *Bus) publishEach(users []string, ev bus.Event) error {
	if len(users) == 0 {
		return nil
	}
	p := encode(message{kind: kindUser, ev: ev})
	for _, u := range users {
		if u == "" {
			continue
		}
		if err := b.send(userSubject(b.o.Prefix, u), p); err != nil {
			return err
		}
	}
	return nil
}

// publishList sends ev with users on the broadcast subject, in as many
// messages as NATS's payload limit needs.
func (b *Bus) publishList(users []string, ev bus.Event) error {
	budget := int(b.nc.MaxPayload()) - len(ev.Data) - len(ev.ExceptConn) - 32
	for len(users) > 0 {
		n, size := 0, 0
		for n < len(users) && size+len(users[n])+2 <= budget {
			size += len(users[n]) + 2
			n++
		}
		if n == 0 {
			return fmt.Errorf("natsbus: event of %d bytes leaves no room for recipients under NATS's payload limit of %d", len(ev.Data), b.nc.MaxPayload())
		}
		if err := b.send(b.all, encode(message{kind: kindList, users: users[:n], ev: ev})); err != nil {
			return err
		}
		users = users[n:]
	}
	return nil
}

// send publishes one message. While NATS is away, nats.go buffers it and
// sends it on reconnect.
func (b *Bus) send(subject string, p []byte) error {
	if err := b.nc.Publish(subject, p); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return bus.ErrClosed
		}
		return fmt.Errorf("natsbus: publish %s: %w", subject, err)
	}
	return nil
}

// Subscribe registers h for userID's events. The node subscribes to the
// user's subject with its first subscriber, and returns once NATS has the
// subscription, so events published after Subscribe returns arrive.
func (b *Bus) Subscribe(userID string, h bus.Handler) (func(), error) {
	if userID == "" {
		return nil, errors.New("natsbus: empty user id")
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, bus.ErrClosed
	}
	us := b.users[userID]
	created := us == nil
	if created {
		sub, err := b.nc.ChanSubscribe(userSubject(b.o.Prefix, userID), b.in)
		if err != nil {
			b.mu.Unlock()
			if errors.Is(err, nats.ErrConnectionClosed) {
				return nil, bus.ErrClosed
			}
			return nil, fmt.Errorf("natsbus: subscribe %q: %w", userID, err)
		}
		us = &user{handlers: make(map[uint64]bus.Handler), sub: sub, ready: make(chan struct{})}
		b.users[userID] = us
	}
	b.next++
	id := b.next
	us.handlers[id] = h
	b.mu.Unlock()

	if created {
		// A round trip puts the subscription on the server before a
		// client is told it is connected. While NATS is away there is
		// nothing to wait for: the subscription goes out on reconnect,
		// and OnReconnect's re-sync covers the gap.
		if b.nc.IsConnected() {
			if err := b.nc.FlushTimeout(subscribeFlushTimeout); err != nil {
				b.log.Warn("flush subscription", "user", userID, "err", err)
			}
		}
		close(us.ready)
	} else {
		<-us.ready
	}
	var once sync.Once
	return func() { once.Do(func() { b.cancelSub(userID, us, id) }) }, nil
}

// cancelSub removes one subscription, and the user's NATS subscription
// with its last.
func (b *Bus) cancelSub(userID string, us *user, id uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(us.handlers, id)
	if len(us.handlers) > 0 || b.users[userID] != us {
		return
	}
	delete(b.users, userID)
	if err := us.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		b.log.Warn("unsubscribe", "user", userID, "err", err)
	}
}

// Close stops delivery and closes the connection. Cancel funcs stay safe
// to call.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.users = make(map[string]*user)
	b.mu.Unlock()
	b.nc.Close()
	b.cancel()
	<-b.done
	b.beats.Wait()
	return nil
}
