package service

import (
	"slices"
	"sync"
	"time"

	"github.com/seen-im/seen/internal/store"
)

// maxNewReaders bounds the newReaders list of one receipt.changed entry.
const maxNewReaders = 20

// coalesceKey is one (conversation, sender) pair: receipt.changed events
// to one sender about one conversation are merged.
type coalesceKey struct {
	conv   store.ConvID
	sender string
}

// pendingChange is what changed for one message since the last event.
type pendingChange struct {
	newReaders []string // at most maxNewReaders
}

// coalescer gathers receipt changes per (conversation, sender) and flushes
// each pair at most once per window: under a storm of acks, a sender gets a
// few events per second, each computed at flush time, so each carries the
// latest exact counts; the last one always goes out.
//
// # Concurrency
//
// add may be called from any goroutine. flush runs on a timer goroutine,
// one at a time per pair; Close waits for flushes in progress and drops
// nothing that was added before it: pending pairs are flushed at once.
type coalescer struct {
	window time.Duration
	flush  func(k coalesceKey, changes map[uint64]*pendingChange)

	mu      sync.Mutex
	pending map[coalesceKey]map[uint64]*pendingChange // guarded by mu
	timers  map[coalesceKey]*time.Timer               // guarded by mu
	closed  bool                                      // guarded by mu
	wg      sync.WaitGroup                            // flushes scheduled or running
}

func newCoalescer(window time.Duration, flush func(coalesceKey, map[uint64]*pendingChange)) *coalescer {
	return &coalescer{
		window:  window,
		flush:   flush,
		pending: make(map[coalesceKey]map[uint64]*pendingChange),
		timers:  make(map[coalesceKey]*time.Timer),
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
	}
	pc := changes[seq]
	if pc == nil {
		pc = &pendingChange{}
		changes[seq] = pc
	}
	// A single read that also moves the reader's watermark reports the
	// same message twice; a reader is listed once.
	if reader != "" && len(pc.newReaders) < maxNewReaders && !slices.Contains(pc.newReaders, reader) {
		pc.newReaders = append(pc.newReaders, reader)
	}
	if _, scheduled := c.timers[k]; !scheduled {
		c.wg.Add(1)
		c.timers[k] = time.AfterFunc(c.window, func() { c.fire(k) })
	}
}

// fire flushes one pair. Changes added while it runs wait for the next
// window, so a pair never gets more than one event per window; once the
// coalescer is closed they are flushed at once instead.
func (c *coalescer) fire(k coalesceKey) {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		changes := c.pending[k]
		delete(c.pending, k)
		c.mu.Unlock()
		if len(changes) > 0 {
			c.flush(k, changes)
		}
		c.mu.Lock()
		switch {
		case len(c.pending[k]) == 0:
			delete(c.timers, k)
			c.mu.Unlock()
			return
		case !c.closed:
			c.wg.Add(1)
			c.timers[k] = time.AfterFunc(c.window, func() { c.fire(k) })
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// Close flushes every pending pair now and waits for all flushes.
func (c *coalescer) Close() {
	c.mu.Lock()
	c.closed = true
	for k, t := range c.timers {
		if t.Stop() {
			// The timer will not run: flush its pair here.
			delete(c.timers, k)
			go c.fire(k)
		}
	}
	c.mu.Unlock()
	c.wg.Wait()
}
