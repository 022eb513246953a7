package service

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/seen-im/seen/internal/metrics"
	"github.com/seen-im/seen/internal/receipts"
	"github.com/seen-im/seen/internal/store"
)

// engines caches one receipt engine per conversation. The store is the
// truth: every change is written to the store first, then applied to the
// engine if it is loaded. The engine's operations are monotone merges
// (watermarks only rise, acks only add), so changes applied in another
// order than the store's converge to the same state; an engine that cannot
// apply a change (a member it does not know) is dropped and reloaded.
//
// # Concurrency
//
// mu guards the map; each convEngine's own mutex guards its engine, and is
// held across a store write only to store a receipt's frozen counts (once
// per receipt) and across store reads only to load the engine. A write
// that may move receipt counts registers with beginWrite and may wait
// there (the mutex released) for writes stamped before a receipt's
// expiresAt to reach the engine; a registered write never waits, so waits
// do not chain.
type engines struct {
	mu  sync.Mutex
	m   map[store.ConvID]*convEngine // guarded by mu
	lru engineLRU                    // bounds m by bytes (engines_lru.go)
}

// convEngine is one conversation's engine; conv is nil until loaded.
type convEngine struct {
	mu   sync.Mutex
	conv *receipts.Conv // guarded by mu
	// ids caches conv's member ids for fan-out: nil until asked, dropped
	// when membership changes. Read-only once built.
	ids []string // guarded by mu
	// inflight holds the times of the writes that may move receipt counts
	// and are between beginWrite and their end (see beginWrite); guarded
	// by mu. ended is signalled, with mu, when one ends.
	inflight []int64
	ended    *sync.Cond
	// waiting counts the writes waiting in beginWrite for a freeze;
	// guarded by mu.
	waiting int
	// mem is conv's MemoryBytes as last measured (at load, or by a scrape
	// that found mu free); 0 when not loaded. Written with mu held,
	// through engines.setMem.
	mem atomic.Int64
	// slot is the entry's place in the LRU, guarded by engines.mu.
	slot lruSlot
}

func newConvEngine() *convEngine {
	ce := &convEngine{}
	ce.ended = sync.NewCond(&ce.mu)
	return ce
}

// dropEngine forgets what is cached of conv (its engine and member ids), as when
// the group is deleted or its id is created again. The entry itself stays
// while pinned: it holds the writes in flight (beginWrite).
func (s *Service) dropEngine(conv store.ConvID) {
	ce := s.engines.pin(conv)
	defer s.engines.unpin(ce)
	ce.mu.Lock()
	s.unloadLocked(ce, metrics.ReloadDropped)
	ce.mu.Unlock()
	s.publishSync(context.Background(), syncOp{Kind: opDrop, Conv: conv})
}

// DropEngines forgets every cached receipt engine and member list; each
// reloads from the store when next needed. A node calls it when its bus
// reconnects: events from other nodes may have been lost meanwhile, and an
// engine that missed one would count from stale state.
func (s *Service) DropEngines() { s.dropAll(metrics.ReloadResync) }

// dropAll forgets every cached engine and member list, counting them as
// reloaded for reason.
func (s *Service) dropAll(reason string) {
	s.engines.mu.Lock()
	all := make([]*convEngine, 0, len(s.engines.m))
	for _, ce := range s.engines.m {
		all = append(all, ce)
	}
	s.engines.mu.Unlock()
	// One engine at a time, engines.mu released: an engine's mutex may be
	// held across a store read, and the map must not wait for it.
	for _, ce := range all {
		ce.mu.Lock()
		s.unloadLocked(ce, reason)
		ce.mu.Unlock()
	}
	s.engines.sweep()
}

// unloadLocked forgets ce's engine and member ids, counting a loaded
// engine as reloaded for reason. ce.mu is held.
func (s *Service) unloadLocked(ce *convEngine, reason string) {
	if ce.conv != nil {
		s.met.EnginesLoaded.Dec()
		s.met.EngineReloads.WithLabelValues(reason).Inc()
	}
	ce.conv, ce.ids = nil, nil
	s.engines.setMem(ce, 0)
}

// memoryBytes sums the loaded engines' MemoryBytes for the metrics, when
// they are scraped. An engine whose mutex is held (it may be held across
// a store read) gives its last measure: a scrape never waits on one. It
// holds e.mu for one pass over the map, as long as a scrape's worth of
// O(1) MemoryBytes calls, once per scrape.
func (e *engines) memoryBytes() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var total int64
	for _, ce := range e.m {
		if ce.mu.TryLock() {
			n := 0
			if ce.conv != nil {
				n = ce.conv.MemoryBytes()
			}
			e.setMem(ce, int64(n))
			ce.mu.Unlock()
		}
		total += ce.mem.Load()
	}
	return total
}

// memberIDs returns every member of conv, from the engine's membership
// (built from the store on first use) and cached until it changes: a group
// message's fan-out reads no member records. The slice must not be
// modified.
func (s *Service) memberIDs(ctx context.Context, conv store.ConvID) ([]string, error) {
	ce := s.engines.pin(conv)
	defer s.engines.unpin(ce)
	ce.mu.Lock()
	defer ce.mu.Unlock()
	if err := s.loadLocked(ctx, conv, ce); err != nil {
		return nil, err
	}
	if ce.ids == nil {
		ce.ids = ce.conv.MemberIDs()
	}
	return ce.ids, nil
}

// membershipChanged drops conv's cached member ids here, where the
// engine has the change, and conv's engine on the other nodes, which
// reload it from the store.
func (s *Service) membershipChanged(conv store.ConvID) {
	ce := s.engines.pin(conv)
	defer s.engines.unpin(ce)
	ce.mu.Lock()
	ce.ids = nil
	ce.mu.Unlock()
	s.publishSync(context.Background(), syncOp{Kind: opDrop, Conv: conv})
}

// withEngine runs fn with conv's engine loaded and locked. fn must not
// write to the store.
func (s *Service) withEngine(ctx context.Context, conv store.ConvID, fn func(*receipts.Conv) error) error {
	ce := s.engines.pin(conv)
	defer s.engines.unpin(ce)
	ce.mu.Lock()
	defer ce.mu.Unlock()
	if err := s.loadLocked(ctx, conv, ce); err != nil {
		return err
	}
	s.expireLocked(ctx, conv, ce, s.nowMs())
	return fn(ce.conv)
}

// loadLocked loads conv's engine into ce unless it is loaded. ce.mu is
// held.
func (s *Service) loadLocked(ctx context.Context, conv store.ConvID, ce *convEngine) error {
	if ce.conv != nil {
		return nil
	}
	c, err := s.loadEngine(ctx, conv)
	if err != nil {
		// Logged and counted here, where every path meets: some callers
		// (events after a durable write) can only go on without it.
		s.met.EngineLoadErrors.Inc()
		s.log.WarnContext(ctx, "load receipt engine", "conv", conv, "err", err)
		return fmt.Errorf("load receipt engine of %s: %w", conv, err)
	}
	ce.conv = c
	s.engines.setMem(ce, int64(c.MemoryBytes()))
	s.met.EnginesLoaded.Inc()
	return nil
}

// applyEngine applies a change the store has made durable to conv's engine
// if it is loaded. If the engine cannot take it, it is dropped.
func (s *Service) applyEngine(ctx context.Context, conv store.ConvID, fn func(*receipts.Conv) error) {
	ce := s.engines.pin(conv)
	defer s.engines.unpin(ce)
	ce.mu.Lock()
	defer ce.mu.Unlock()
	if ce.conv == nil {
		return // the next load reads the store, which has the change
	}
	// Receipts whose window has closed are frozen before the change can
	// move their counts.
	s.expireLocked(ctx, conv, ce, s.nowMs())
	if err := fn(ce.conv); err != nil {
		s.log.WarnContext(ctx, "receipt engine out of step; reloading", "conv", conv, "err", err)
		// Reloaded on next use. The entry itself stays: it holds the
		// writes in flight (beginWrite).
		s.unloadLocked(ce, metrics.ReloadOutOfStep)
	}
}

// loadEngine builds conv's engine from the store: every member, then every
// live receipt.
func (s *Service) loadEngine(ctx context.Context, conv store.ConvID) (*receipts.Conv, error) {
	c := receipts.NewConv()
	err := s.forEachMember(ctx, conv, func(page []store.Member) error {
		for _, m := range page {
			c.Restore(engineState(m))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	live, err := s.store.LiveReceipts(ctx, conv)
	if err != nil {
		return nil, fmt.Errorf("live receipts of %s: %w", conv, err)
	}
	for _, m := range live {
		c.Track(s.tracked(m))
	}
	return c, nil
}

// tracked is the engine's view of a receipt message.
func (s *Service) tracked(m store.Message) receipts.Tracked {
	return receipts.Tracked{Seq: m.Seq, Sender: m.Sender, SentAt: m.SentAt, ExpiresAt: s.expiresAt(m)}
}

// expiresAt is when m's receipt validity window closes; 0 for never (peer
// receipts, or no TTL).
func (s *Service) expiresAt(m store.Message) int64 {
	if !m.Conv.IsGroup() || s.cfg.Receipts.TTL <= 0 || !m.Receipt {
		return 0
	}
	return m.ReceiptAt + s.cfg.Receipts.TTL.Milliseconds()
}

// expireLocked freezes the receipts of conv whose window has closed by now
// and stores their counts. It runs before every use of the engine, so
// frozen counts are the counts at the close of the window; and it leaves
// a receipt alone while a write stamped before its expiresAt is still on
// its way to the engine (beginWrite), so that write is in them. ce.mu is
// held.
func (s *Service) expireLocked(ctx context.Context, conv store.ConvID, ce *convEngine, now int64) {
	for _, at := range ce.inflight {
		now = min(now, at)
	}
	for _, t := range ce.conv.Expire(now) {
		f := &store.Frozen{Read: t.Frozen.Read, Unread: t.Frozen.Unread, Delivered: t.Frozen.Delivered}
		if t.Frozen.Unread == 0 {
			f = nil // done before it expired: done for good, counts stay live
		}
		// A store write under the engine lock, but a rare one: once per
		// receipt, at the close of its window.
		if err := s.store.SettleReceipt(context.WithoutCancel(ctx), conv, t.Seq, f); err != nil {
			s.log.WarnContext(ctx, "settle expired receipt", "conv", conv, "seq", t.Seq, "err", err)
			continue
		}
		ce.conv.Untrack(t.Seq)
	}
}

// writesGuarded reports whether beginWrite guards the writes to a
// conversation, a group or not: only a group's receipts expire, and only
// with a receipt TTL.
func (s *Service) writesGuarded(group bool) bool {
	return group && s.cfg.Receipts.TTL > 0
}

// beginWrite is called before a store write that may move the receipt
// counts of conv (a watermark, an ack, a member leaving), with the time
// the write is stamped with; the write calls end once the engine has it
// (or it failed). It makes "counts frozen as they stood at expiresAt"
// exact, whether or not the engine was loaded when the window closed:
//
//   - a receipt whose window closed by now is frozen first, from the
//     engine (loaded from the store if it was not), so no write stamped at
//     or after expiresAt reaches its counts, even right after a restart;
//   - while a write stamped before a receipt's expiresAt is in flight, that
//     receipt is not frozen (expireLocked), and a write stamped after it
//     waits here until it is: the late one's count is in, the early one's
//     is not.
//
// The wait is bounded by the store writes in flight. Only group
// conversations with a receipt TTL need any of this.
func (s *Service) beginWrite(ctx context.Context, conv store.ConvID, now int64) (end func()) {
	if !s.writesGuarded(conv.IsGroup()) {
		return func() {}
	}
	// Pinned until end: the entry holds the write in flight.
	ce := s.engines.pin(conv)
	ce.mu.Lock()
	defer ce.mu.Unlock()
	for {
		if err := s.loadLocked(ctx, conv, ce); err != nil {
			// The write goes on; the store it needs is likely failing too,
			// and the next use of the engine freezes from the store.
			s.log.WarnContext(ctx, "receipt engine: load before write", "conv", conv, "err", err)
			var once sync.Once
			return func() { once.Do(func() { s.engines.unpin(ce) }) }
		}
		s.expireLocked(ctx, conv, ce, now)
		if next := ce.conv.NextExpiry(); next == 0 || next > now {
			break
		}
		ce.waiting++
		ce.ended.Wait()
		ce.waiting--
	}
	ce.inflight = append(ce.inflight, now)
	var once sync.Once
	return func() {
		once.Do(func() {
			ce.mu.Lock()
			if i := slices.Index(ce.inflight, now); i >= 0 {
				ce.inflight = slices.Delete(ce.inflight, i, i+1)
			}
			ce.ended.Broadcast()
			ce.mu.Unlock()
			s.engines.unpin(ce)
		})
	}
}

// engineState converts a stored member for the engine.
func engineState(m store.Member) receipts.MemberState {
	st := receipts.MemberState{
		UserID: m.UserID, JoinSeq: m.JoinSeq, ReadSeq: m.ReadSeq, DeliveredSeq: m.DeliveredSeq,
		ReadAt: m.ReadAt, DeliveredAt: m.DeliveredAt, JoinedAt: m.JoinedAt,
	}
	for _, a := range m.Acks {
		st.Acks = append(st.Acks, receipts.Ack{Seq: a.Seq, At: a.At})
	}
	return st
}
