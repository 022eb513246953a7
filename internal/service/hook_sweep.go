package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/seen-im/seen/internal/routines"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

const (
	// hookSweepEvery is how often the sweep compares the tracks of the
	// conversations this node reports with their counts.
	hookSweepEvery = 10 * time.Second
	// hookSweepPage is how many tracks one ListTracks call returns.
	hookSweepPage = 500
	// hookSweepAll: every this many passes, a pass looks at every track,
	// not only those of engines loaded here, so that the conversations of
	// a node that died are reported by the one that now coalesces them
	// even if nothing is read there (a read would report them at once).
	hookSweepAll  = 30
	hookSweepName = "webhook sweep"
)

// hookSweep reports what the coalescer's flushes did not: reads committed
// before a crash and not yet reported, reads whose notice to this node was
// lost (NATS), receipts settled or expired with nothing read since. The
// reads' durable state and the durable tracks are the outbox: comparing
// them finds everything owed.
//
// # Concurrency
//
// One goroutine, counted in routines, started by startHookSweep and
// joined by stop.
type hookSweep struct {
	routines routines.Group
	cancel   context.CancelFunc // nil until started
	// every is the interval between passes after the first.
	every time.Duration
}

// startHookSweep starts the sweep if the store keeps webhooks: a first
// pass over every track at once (what a crash left), then a pass every
// hookSweepEvery over the conversations whose engines are loaded here
// (those whose reads go through this node), and every hookSweepAll
// passes over every track again.
func (s *Service) startHookSweep() {
	ctx, cancel := context.WithCancel(context.Background())
	s.sweep.cancel = cancel
	if s.sweep.every == 0 {
		s.sweep.every = hookSweepEvery
	}
	s.sweep.routines.Go(hookSweepName, func() {
		t := time.NewTimer(0)
		defer t.Stop()
		for pass := 0; ; pass++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := s.sweepOnce(ctx, pass%hookSweepAll == 0); err != nil && ctx.Err() == nil {
				s.log.Warn("webhooks: sweep", "err", err)
				pass = -1 // the next pass looks at everything again
			}
			t.Reset(s.sweep.every)
		}
	})
}

// stopHookSweep ends the sweep and joins it until ctx ends.
func (s *Service) stopHookSweep(ctx context.Context) error {
	if s.sweep.cancel == nil {
		return nil
	}
	s.sweep.cancel()
	s.sweep.routines.Stop()
	if err := s.sweep.routines.Wait(ctx); err != nil {
		return fmt.Errorf("service: webhook sweep still running: %w", err)
	}
	return nil
}

// sweepOnce makes one pass over the tracks, in pages, reporting those of
// each conversation this node coalesces and no flush is about to report;
// with all false, only conversations whose engine is loaded here.
func (s *Service) sweepOnce(ctx context.Context, all bool) error {
	eps, err := s.webhooks(ctx)
	if err != nil {
		return err
	}
	if !anyReadEvents(eps) {
		return nil
	}
	var (
		afterConv store.ConvID
		afterSeq  uint64
		errs      []error
	)
	for {
		page, err := s.store.ListTracks(ctx, afterConv, afterSeq, hookSweepPage)
		if err != nil {
			return fmt.Errorf("list webhook tracks: %w", err)
		}
		full := len(page) == hookSweepPage
		for len(page) > 0 && ctx.Err() == nil {
			conv := page[0].Conv
			n := 1
			for n < len(page) && page[n].Conv == conv {
				n++
			}
			if err := s.sweepConv(ctx, conv, page[:n], all); err != nil {
				errs = append(errs, err)
			}
			afterConv, afterSeq = conv, page[n-1].Seq
			page = page[n:]
		}
		if !full || ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// anyReadEvents reports whether some endpoint wants read events of any
// conversation.
func anyReadEvents(eps []store.Webhook) bool {
	for _, ep := range eps {
		for _, typ := range ep.Events {
			if typ == HookReceiptRead || typ == HookThreshold {
				return true
			}
		}
	}
	return false
}

// sweepConv reports conv's tracks if this node reports conv and nothing
// is pending for it in the coalescer (its flush reports, knowing the new
// readers).
func (s *Service) sweepConv(ctx context.Context, conv store.ConvID, tracks []store.HookTrack, all bool) error {
	if !s.coalesces(conv) || s.changes.busy(conv) || (!all && !s.engineLoaded(conv)) {
		return nil
	}
	rt, ok, err := s.hookRouteFor(ctx, conv)
	if err != nil || !ok {
		return err
	}
	// Taken before the counts: readers after it are the next report's.
	now := s.nowMs()
	ids := make([]string, len(tracks))
	for i, t := range tracks {
		ids[i] = t.MsgID
	}
	found, err := s.store.GetMessages(ctx, ids)
	if err != nil {
		return fmt.Errorf("sweep %s: read messages: %w", conv, err)
	}
	var (
		msgs  []store.Message
		at    []int // items[at[j]] is msgs[j]
		items []hookItem
	)
	for i, t := range tracks {
		m := found[i]
		if m.ID == "" || m.Conv != conv || m.Seq != t.Seq {
			// The message is gone (its group deleted): nothing more to
			// report, and no engine to ask. final() sees a message
			// without a receipt.
			m = store.Message{Conv: conv, Seq: t.Seq, ID: t.MsgID}
			items = append(items, hookItem{track: t, msg: m, rec: protocol.Receipt{MsgID: m.ID, Status: protocol.StatusNone}})
			continue
		}
		at = append(at, len(items))
		msgs = append(msgs, m)
		items = append(items, hookItem{track: t, msg: m, ask: true})
	}
	if len(msgs) > 0 {
		rs, err := s.receiptsOf(ctx, conv, msgs)
		if err != nil {
			return fmt.Errorf("sweep %s: %w", conv, err)
		}
		for j, r := range rs {
			items[at[j]].rec = r
		}
	}
	// Skip what is reported already: most tracks, most of the time.
	keep := items[:0]
	for _, it := range items {
		if it.rec.ReadCount > it.track.Reported || final(it) || owesThreshold(it, rt) {
			keep = append(keep, it)
		}
	}
	return s.report(ctx, conv, rt, keep, now)
}

// owesThreshold reports whether a threshold it's counts reached has not
// fired (an endpoint added later, or a report cut short).
func owesThreshold(it hookItem, rt hookRoute) bool {
	if !rt.threshold {
		return false
	}
	for _, key := range crossed(it.rec, rt.thresholds) {
		if !slices.Contains(it.track.Fired, key) {
			return true
		}
	}
	return false
}

// engineLoaded reports whether conv's engine is loaded on this node.
func (s *Service) engineLoaded(conv store.ConvID) bool {
	ce := s.engines.pinLoaded(conv)
	if ce == nil {
		return false
	}
	defer s.engines.unpin(ce)
	ce.mu.Lock()
	defer ce.mu.Unlock()
	return ce.conv != nil
}
