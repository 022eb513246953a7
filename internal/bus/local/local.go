// Package local is the in-process bus: one server node, events handed
// straight to the subscribers' handlers.
//
// # Concurrency
//
// All methods are safe for concurrent use. Handlers run on the publisher's
// goroutine under a read lock, so they must not block or call back into the
// bus.
package local

import (
	"context"
	"sync"

	"github.com/seen-im/seen/internal/bus"
)

// Bus is an in-process bus.Bus.
type Bus struct {
	mu     sync.RWMutex
	subs   map[string]map[uint64]sub // userID -> subscription id -> subscriber; guarded by mu
	next   uint64                    // guarded by mu
	closed bool                      // guarded by mu
}

// sub is one subscription: its handler and the connection it delivers to
// ("" if not known).
type sub struct {
	h    bus.Handler
	conn string
}

var _ bus.Bus = (*Bus)(nil)

// New returns an empty in-process bus.
func New() *Bus { return &Bus{subs: make(map[string]map[uint64]sub)} }

// Publish calls the handlers of every subscriber of users.
func (b *Bus) Publish(ctx context.Context, users []string, ev bus.Event) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return bus.ErrClosed
	}
	for _, u := range users {
		b.deliverLocked(u, ev)
	}
	return nil
}

// PublishConv calls the handlers of every subscriber among a's recipients,
// taking the members from a: this node is the only one.
func (b *Bus) PublishConv(ctx context.Context, a bus.Audience, ev bus.Event) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return bus.ErrClosed
	}
	a.Recipients(a.Members, func(u string) { b.deliverLocked(u, ev) })
	return nil
}

// deliverLocked hands ev to u's subscribers but the connection that caused
// it. b.mu is held.
func (b *Bus) deliverLocked(u string, ev bus.Event) {
	for _, sb := range b.subs[u] {
		if ev.ExceptConn == "" || sb.conn != ev.ExceptConn {
			sb.h(ev)
		}
	}
}

// Subscribe registers h for userID.
func (b *Bus) Subscribe(userID string, h bus.Handler) (func(), error) {
	return b.SubscribeConn(userID, "", h)
}

// SubscribeConn registers h for userID as the subscriber of connection
// conn, which Reaches then knows apart from the others.
func (b *Bus) SubscribeConn(userID, conn string, h bus.Handler) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, bus.ErrClosed
	}
	b.next++
	id := b.next
	m := b.subs[userID]
	if m == nil {
		m = make(map[uint64]sub)
		b.subs[userID] = m
	}
	m[id] = sub{h: h, conn: conn}
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if m := b.subs[userID]; m != nil {
				delete(m, id)
				if len(m) == 0 {
					delete(b.subs, userID)
				}
			}
		})
	}, nil
}

// Reaches reports whether an event to users, except to connection
// exceptConn, would reach any subscriber now: if not, a publisher need not
// encode it. Every ack tells the reader's other devices of its read, and
// most readers have none. A subscriber of unknown connection counts.
func (b *Bus) Reaches(users []string, exceptConn string) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, u := range users {
		for _, sb := range b.subs[u] {
			if sb.conn == "" || sb.conn != exceptConn {
				return true
			}
		}
	}
	return false
}

// ReachesUser is Reaches for the one user, with no list to build.
func (b *Bus) ReachesUser(user, exceptConn string) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, sb := range b.subs[user] {
		if sb.conn == "" || sb.conn != exceptConn {
			return true
		}
	}
	return false
}

// Close drops every subscription.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.subs = make(map[string]map[uint64]sub)
	return nil
}

// PublishSync does nothing: there is no other node.
func (b *Bus) PublishSync(context.Context, []byte) error { return nil }

// SetSync does nothing: no other node publishes.
func (b *Bus) SetSync(bus.SyncReceiver) {}

// Barrier returns at once: there is no other node to wait for.
func (b *Bus) Barrier(context.Context) error { return nil }

// Nodes names this node alone.
func (b *Bus) Nodes() (string, []string) { return "local", []string{"local"} }

// SingleNode reports that this bus connects no other node: whatever a
// service on it caches from its own writes, no other node can change.
func (b *Bus) SingleNode() bool { return true }
