package service

import (
	"container/list"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seen-im/seen/internal/store"
)

// engineLRU bounds the receipt engines a node keeps in memory by their
// measured bytes (Conv.MemoryBytes), evicting the least recently used.
// An evicted engine is rebuilt from the store when next needed: the store
// is the truth, and a load gives the same counts (see engines), so a node
// serves any number of conversations with at most budget bytes of engines
// (plus the ones in use at that moment).
//
// Entries are pinned while in use (pin .. unpin): between the two a
// caller may lock the entry, load it, register a write in flight on it
// (beginWrite keeps its pin until the write ends) or wait on it. A pinned
// entry is neither evicted nor removed from the map, so every user of a
// conversation meets the same entry, and the writes in flight a freeze
// must wait for are never lost with it. An unpinned entry whose engine is
// not loaded holds nothing and leaves the map, which so holds the loaded
// engines (bounded by the budget) and the entries in use.
//
// # Concurrency
//
// Every field but total, and each entry's lruSlot, is guarded by
// engines.mu; total is written with the entry's mutex held (setMem). The
// order engines.mu, then an entry's mutex holds, and only TryLock is used
// that way round: an entry's mutex may be held across a store read, and
// engines.mu is never held waiting for one.
type engineLRU struct {
	// budget is the bytes of loaded engines to keep; <= 0: no bound.
	budget int64
	// order holds every entry of engines.m, the most recently unpinned
	// first.
	order list.List
	// total is the sum of the entries' mem: the loaded engines' bytes as
	// last measured.
	total atomic.Int64
	// evictions counts engines evicted; nil until init.
	evictions prometheus.Counter
	// loaded is the gauge of loaded engines, shared with load and unload.
	loaded prometheus.Gauge
}

// lruSlot is an entry's place in the LRU, guarded by engines.mu.
type lruSlot struct {
	key  store.ConvID  // the entry's key in engines.m
	pins int           // callers between pin and unpin
	elem *list.Element // in engineLRU.order
}

// initLRU sets the byte budget and the metrics; called once by New.
func (e *engines) initLRU(budget int64, evictions prometheus.Counter, loaded prometheus.Gauge) {
	e.lru.budget, e.lru.evictions, e.lru.loaded = budget, evictions, loaded
}

// pin returns conv's entry, created if need be, pinned until unpin: it
// stays in the map and keeps its engine meanwhile.
func (e *engines) pin(conv store.ConvID) *convEngine {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = make(map[store.ConvID]*convEngine)
	}
	ce := e.m[conv]
	if ce == nil {
		ce = newConvEngine()
		ce.slot.key = conv
		ce.slot.elem = e.lru.order.PushFront(ce)
		e.m[conv] = ce
	}
	ce.slot.pins++
	return ce
}

// pinLoaded is pin for a conversation whose entry exists, or nil: a
// change from another node matters only to an engine this node holds (or
// is loading, under the entry's lock), and must not fill the map with
// entries for every conversation the cluster touches.
func (e *engines) pinLoaded(conv store.ConvID) *convEngine {
	e.mu.Lock()
	defer e.mu.Unlock()
	ce := e.m[conv]
	if ce != nil {
		ce.slot.pins++
	}
	return ce
}

// unpin releases a pin of ce, taken by pin, with ce.mu not held. The last
// pin out measures ce's engine, marks it most recently used, and evicts
// others while the loaded engines are over budget; an entry left with no
// engine leaves the map.
func (e *engines) unpin(ce *convEngine) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ce.slot.pins--
	if ce.slot.pins > 0 {
		return
	}
	e.lru.order.MoveToFront(ce.slot.elem)
	// Only a scrape or DropEngines could hold ce.mu now, neither for long;
	// if one does, ce is measured on a later unpin or scrape.
	if ce.mu.TryLock() {
		loaded := ce.conv != nil
		if loaded {
			e.setMem(ce, int64(ce.conv.MemoryBytes()))
		}
		ce.mu.Unlock()
		if !loaded {
			e.removeLocked(ce)
		}
	}
	e.evictLocked(ce)
}

// evictLocked unloads the least recently used engines, other than keep
// (the one just used: it would only be loaded again), until the loaded
// engines fit the budget. Pinned entries and entries whose mutex is held
// are passed over. e.mu is held.
func (e *engines) evictLocked(keep *convEngine) {
	if e.lru.budget <= 0 {
		return
	}
	for el := e.lru.order.Back(); el != nil && e.lru.total.Load() > e.lru.budget; {
		ce := el.Value.(*convEngine)
		el = el.Prev()
		if ce == keep || ce.slot.pins > 0 || !ce.mu.TryLock() {
			continue
		}
		if ce.conv != nil {
			ce.conv, ce.ids = nil, nil
			e.setMem(ce, 0)
			if e.lru.loaded != nil {
				e.lru.loaded.Dec()
			}
			if e.lru.evictions != nil {
				e.lru.evictions.Inc()
			}
		}
		ce.mu.Unlock()
		e.removeLocked(ce)
	}
}

// sweep removes the unpinned entries that hold no engine, as DropEngines
// leaves them.
func (e *engines) sweep() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for el := e.lru.order.Back(); el != nil; {
		ce := el.Value.(*convEngine)
		el = el.Prev()
		if ce.slot.pins > 0 || !ce.mu.TryLock() {
			continue
		}
		idle := ce.conv == nil
		ce.mu.Unlock()
		if idle {
			e.removeLocked(ce)
		}
	}
}

// removeLocked takes ce, unpinned and without an engine, out of the map.
// e.mu is held.
func (e *engines) removeLocked(ce *convEngine) {
	e.lru.order.Remove(ce.slot.elem)
	delete(e.m, ce.slot.key)
}

// setMem records n as ce's measured bytes and keeps the total the sum of
// the entries' mem. ce.mu is held: one writer of ce.mem at a time.
func (e *engines) setMem(ce *convEngine, n int64) {
	e.lru.total.Add(n - ce.mem.Swap(n))
}

// entries is the number of entries in the map, for tests and metrics.
func (e *engines) entries() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.m)
}
