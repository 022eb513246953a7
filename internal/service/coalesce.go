package service

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seen-im/seen/internal/routines"
	"github.com/seen-im/seen/internal/store"
)

// maxNewReaders bounds the newReaders list of one receipt.changed entry.
const maxNewReaders = 20

// coalesceKey is one (conversation, sender) pair: receipt.changed events
// to one sender about one conversation are merged.
type coalesceKey struct {
	conv   store.ConvID
	sender string
	// hookOnly marks reads of a peer's receipt messages: their flush
	// reports them to webhooks only (the peer heard of them at once, by
	// receipt.read), batched over the same window as a group's.
	hookOnly bool
}

// pendingChange is what changed for one message since the last event.
type pendingChange struct {
	// newReaders are the new readers in the order heard: at most
	// maxNewReaders, or maxHookNewReader+1 while webhooks want them
	// (hookReaders), so a report knows when there were more.
	newReaders []string
	// readers is newReaders' first array: a group's readers of one
	// message, heard one by one, grew it from one to eight in four
	// allocations.
	readers [8]string
	// dropped is set when a reader was left out of newReaders while
	// webhooks did not want them (the first window after an endpoint
	// was added): a report then asks the engine who they were.
	dropped bool
}

// coalescer gathers receipt changes per (conversation, sender) and flushes
// each pair at most once per window: under a storm of acks, a sender gets a
// few events per second, each computed at flush time, so each carries the
// latest exact counts; the last one always goes out.
//
// # Concurrency
//
// add may be called from any goroutine. flush runs on a timer goroutine,
// one at a time per pair, counted in routines from the moment its timer is
// armed. Close flushes every pending pair at once and joins the flushes
// until its context ends; then it cancels the context the flushes run
// with, so that their store calls give up, and returns.
type coalescer struct {
	window time.Duration
	flush  func(ctx context.Context, k coalesceKey, changes map[uint64]*pendingChange)
	// ctx is what flushes run with; cancel ends it once Close gives up
	// waiting (or is done).
	ctx      context.Context
	cancel   context.CancelFunc
	routines routines.Group // flushes scheduled or running

	// pendingGauge is set to len(pending) whenever it changes, under mu.
	pendingGauge prometheus.Gauge

	// hookReaders is set while some webhook endpoint wants receipt.read:
	// then a window keeps up to maxHookNewReader+1 new readers per
	// message instead of maxNewReaders (hookEndpoints.wantReaders).
	hookReaders *atomic.Bool

	mu      sync.Mutex
	pending map[coalesceKey]map[uint64]*pendingChange // guarded by mu
	timers  map[coalesceKey]armed                     // guarded by mu
	closed  bool                                      // guarded by mu
}

// armed is a pair's timer and the release of its count in routines.
type armed struct {
	t    *time.Timer
	done func()
}

// flushName names flush goroutines in routines' reports.
const flushName = "receipt.changed flush"

// newCoalescer returns a coalescer that calls flush once per window per
// pair; pending is kept at the number of pairs waiting for a flush.
func newCoalescer(window time.Duration, flush func(context.Context, coalesceKey, map[uint64]*pendingChange), pending prometheus.Gauge) *coalescer {
	ctx, cancel := context.WithCancel(context.Background())
	return &coalescer{
		window:       window,
		flush:        flush,
		ctx:          ctx,
		cancel:       cancel,
		pendingGauge: pending,
		hookReaders:  new(atomic.Bool),
		pending:      make(map[coalesceKey]map[uint64]*pendingChange),
		timers:       make(map[coalesceKey]armed),
	}
}

// add records that message seq of k changed, reader being a new reader
// ("" for a change with none, such as a delivery).
func (c *coalescer) add(k coalesceKey, seq uint64, reader string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	changes := c.pending[k]
	if changes == nil {
		changes = make(map[uint64]*pendingChange)
		c.pending[k] = changes
		c.pendingGauge.Set(float64(len(c.pending)))
	}
	pc := changes[seq]
	if pc == nil {
		pc = &pendingChange{}
		pc.newReaders = pc.readers[:0]
		changes[seq] = pc
	}
	// A single read that also moves the reader's watermark reports the
	// same message twice; a reader is listed once. Past maxNewReaders the
	// check is left to the webhook report (once per flush, not per ack).
	if reader != "" {
		switch n := len(pc.newReaders); {
		case n < maxNewReaders:
			if !slices.Contains(pc.newReaders, reader) {
				pc.newReaders = append(pc.newReaders, reader)
			}
		case n <= maxHookNewReader && c.hookReaders.Load():
			pc.newReaders = append(pc.newReaders, reader)
		case n <= maxHookNewReader:
			pc.dropped = true
		}
	}
	if _, scheduled := c.timers[k]; !scheduled {
		c.armLocked(k)
	}
}

// busy reports whether conv has changes waiting for a flush, or a flush
// scheduled or running: the webhook sweep leaves such a conversation to
// the flush, which knows its new readers.
func (c *coalescer) busy(conv store.ConvID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.timers {
		if k.conv == conv {
			return true
		}
	}
	for k := range c.pending {
		if k.conv == conv {
			return true
		}
	}
	return false
}

// armLocked schedules k's flush after one window. c.mu is held and c is
// not closed, so routines (stopped only by Close) takes the count.
func (c *coalescer) armLocked(k coalesceKey) {
	done, _ := c.routines.Add(flushName)
	c.timers[k] = armed{t: time.AfterFunc(c.window, func() { defer done(); c.fire(k) }), done: done}
}

// fire flushes one pair. Changes added while it runs wait for the next
// window, so a pair never gets more than one event per window; once the
// coalescer is closed they are flushed at once instead.
func (c *coalescer) fire(k coalesceKey) {
	for {
		c.mu.Lock()
		changes := c.pending[k]
		delete(c.pending, k)
		c.pendingGauge.Set(float64(len(c.pending)))
		c.mu.Unlock()
		if len(changes) > 0 {
			c.flush(c.ctx, k, changes)
		}
		c.mu.Lock()
		switch {
		case len(c.pending[k]) == 0:
			delete(c.timers, k)
			c.mu.Unlock()
			return
		case !c.closed:
			c.armLocked(k)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// Close flushes every pending pair now and waits for all flushes until ctx
// ends. Then it cancels the flushes still running (their store calls and
// events give up) and returns ctx's error naming them; they end on their
// own once their store calls return.
func (c *coalescer) Close(ctx context.Context) error {
	c.mu.Lock()
	c.closed = true
	for k, a := range c.timers {
		if a.t.Stop() {
			// The timer will not run: flush its pair here.
			delete(c.timers, k)
			c.routines.Go(flushName, func() { c.fire(k) })
			a.done()
		}
	}
	c.mu.Unlock()
	err := c.routines.Wait(ctx)
	c.cancel()
	if err != nil {
		return fmt.Errorf("service: pending receipt.changed not all sent: %w", err)
	}
	return nil
}
