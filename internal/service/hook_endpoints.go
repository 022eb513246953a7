package service

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seen-im/seen/internal/store"
)

// hookEndpointsTTL bounds how long a node trusts its copy of the webhook
// endpoints: a change made through any node reaches the others at once
// (opHooks), and the TTL covers a sync op lost with a NATS hiccup.
const hookEndpointsTTL = 30 * time.Second

// hookEndpoints caches the registered webhook endpoints: every send and
// every receipt report asks which endpoints want an event, and reading
// the store each time would cost a round trip per send on PostgreSQL.
//
// # Concurrency
//
// A load records the generation before it reads the store and keeps what
// it read only if no change came meanwhile, as settingsCache does.
type hookEndpoints struct {
	// wantReaders is whether some endpoint wants receipt.read, as of the
	// last load, and true from a change until the next load: the
	// coalescer keeps the new readers a receipt.read names while it is
	// set, and a node that hears of a new endpoint must keep them at
	// once, not from its next load (its first flush), or that window's
	// readers would be looked up in the engine, where a read recorded
	// but not yet handed to the coalescer would be named twice.
	wantReaders atomic.Bool

	mu     sync.Mutex
	gen    uint64          // guarded by mu; bumped by every change
	loaded bool            // guarded by mu
	at     time.Time       // guarded by mu; when list was read
	list   []store.Webhook // guarded by mu; read-only once stored
}

// webhooks returns the registered endpoints, nil when the store keeps
// none (webhooks off). The slice is shared: callers must not modify it.
func (s *Service) webhooks(ctx context.Context) ([]store.Webhook, error) {
	c := &s.hookEps
	now := s.now()
	c.mu.Lock()
	if c.loaded && now.Sub(c.at) < hookEndpointsTTL {
		list := c.list
		c.mu.Unlock()
		return list, nil
	}
	gen := c.gen
	c.mu.Unlock()
	list, err := s.store.ListWebhooks(ctx)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	c.mu.Lock()
	if gen == c.gen {
		c.list, c.at, c.loaded = list, now, true
		c.wantReaders.Store(wantsReads(list))
	}
	c.mu.Unlock()
	return list, nil
}

// forget drops the cached endpoints.
func (c *hookEndpoints) forget() {
	c.mu.Lock()
	c.gen++
	c.loaded, c.list = false, nil
	c.wantReaders.Store(true) // until the next load says
	c.mu.Unlock()
}

// webhooksChanged is called after every write of the endpoints (create,
// delete): this node and every other forget their copy, so the next event
// is routed by the endpoints as they now stand.
func (s *Service) webhooksChanged(ctx context.Context) {
	s.hookEps.forget()
	s.publishSync(ctx, syncOp{Kind: opHooks, Conv: hooksConv})
}

// hooksConv stands in for the conversation of an opHooks sync op, which
// concerns none (a sync op must name one).
const hooksConv store.ConvID = "*hooks"
