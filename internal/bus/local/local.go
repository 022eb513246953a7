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
	subs   map[string]map[uint64]bus.Handler // userID -> subscription id -> handler; guarded by mu
	next   uint64                            // guarded by mu
	closed bool                              // guarded by mu
}

var _ bus.Bus = (*Bus)(nil)

// New returns an empty in-process bus.
func New() *Bus { return &Bus{subs: make(map[string]map[uint64]bus.Handler)} }

// Publish calls the handlers of every subscriber of users.
func (b *Bus) Publish(ctx context.Context, users []string, ev bus.Event) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return bus.ErrClosed
	}
	for _, u := range users {
		for _, h := range b.subs[u] {
			h(ev)
		}
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
	a.Recipients(a.Members, func(u string) {
		for _, h := range b.subs[u] {
			h(ev)
		}
	})
	return nil
}

// Subscribe registers h for userID.
func (b *Bus) Subscribe(userID string, h bus.Handler) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, bus.ErrClosed
	}
	b.next++
	id := b.next
	m := b.subs[userID]
	if m == nil {
		m = make(map[uint64]bus.Handler)
		b.subs[userID] = m
	}
	m[id] = h
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

// Close drops every subscription.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.subs = make(map[string]map[uint64]bus.Handler)
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
