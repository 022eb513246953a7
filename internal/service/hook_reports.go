package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/seen-im/seen/internal/receipts"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// Webhook reports of reads (receipt.read, receipt.threshold): see
// docs/receipts.md, "Webhooks". A message's HookTrack says what was
// reported last; a report turns the difference between the engine's
// counts and the track into deliveries and moves the track on, in one
// durable write (store.CommitReport). Event ids are made from what the
// event is about, so a report made twice (two nodes, a flush and the
// sweep) enqueues each event once.

// hookItem is one tracked message to report on.
type hookItem struct {
	track store.HookTrack
	msg   store.Message
	rec   protocol.Receipt
	// listed are the new readers the coalescer heard of since the last
	// flush; more: it heard of more than it kept. ask: the list may lack
	// some (the sweep has none; a window may have dropped some), so the
	// engine is asked for the readers since the last report.
	listed []string
	more   bool
	ask    bool
}

// hookRoute is what the endpoints want of one conversation's reads.
type hookRoute struct {
	eps        []store.Webhook
	groupType  string
	read       bool  // some endpoint wants receipt.read
	thresholds []int // the union of the percentages of those that want receipt.threshold
	threshold  bool  // some endpoint wants receipt.threshold
}

// hookRouteFor returns the route of conv's reads; ok is false when no
// endpoint wants them (webhooks off: no store call is made at all).
func (s *Service) hookRouteFor(ctx context.Context, conv store.ConvID) (hookRoute, bool, error) {
	eps, err := s.webhooks(ctx)
	if err != nil || len(eps) == 0 {
		return hookRoute{}, false, err
	}
	rt := hookRoute{eps: eps}
	if conv.IsGroup() && slices.ContainsFunc(eps, func(ep store.Webhook) bool { return len(ep.GroupTypes) > 0 }) {
		g, err := s.store.GetGroup(ctx, conv.GroupID())
		if err != nil {
			return hookRoute{}, false, fmt.Errorf("group type of %s: %w", conv, err)
		}
		rt.groupType = g.Type
	}
	read := hookEvent{typ: HookReceiptRead, conv: conv, groupType: rt.groupType}
	thr := hookEvent{typ: HookThreshold, conv: conv, groupType: rt.groupType, threshold: ThresholdFirst}
	for _, ep := range eps {
		rt.read = rt.read || read.wantedBy(ep)
		if thr.wantedBy(ep) {
			rt.threshold = true
			for _, p := range ep.Thresholds {
				if !slices.Contains(rt.thresholds, p) {
					rt.thresholds = append(rt.thresholds, p)
				}
			}
		}
	}
	slices.Sort(rt.thresholds)
	return rt, rt.read || rt.threshold, nil
}

// reportFlushed reports the messages of one coalescer flush that have
// tracks: one GetTracks for the lot, nothing at all when no endpoint wants
// read events. now was taken before the counts were.
func (s *Service) reportFlushed(ctx context.Context, conv store.ConvID, msgs []store.Message, rs []protocol.Receipt, changes map[uint64]*pendingChange, now int64) {
	rt, ok, err := s.hookRouteFor(ctx, conv)
	if err != nil {
		s.log.Warn("webhooks: route reads", "conv", conv, "err", err)
		return
	}
	if !ok {
		return
	}
	var seqs []uint64
	for _, m := range msgs {
		if m.Receipt {
			seqs = append(seqs, m.Seq)
		}
	}
	if len(seqs) == 0 {
		return
	}
	tracks, err := s.store.GetTracks(ctx, conv, seqs)
	if err != nil {
		// Not lost: the sweep compares the track with the counts later.
		s.log.Warn("webhooks: read tracks", "conv", conv, "err", err)
		return
	}
	byseq := make(map[uint64]store.HookTrack, len(tracks))
	for _, t := range tracks {
		byseq[t.Seq] = t
	}
	var items []hookItem
	for i, m := range msgs {
		t, ok := byseq[m.Seq]
		if !ok {
			continue
		}
		it := hookItem{track: t, msg: m, rec: rs[i]}
		if pc := changes[m.Seq]; pc != nil {
			it.listed = pc.newReaders
			it.more = len(pc.newReaders) > maxHookNewReader
			// Only then: a reader the engine counts but the window has
			// not listed yet (the engine hears of a read first) is the
			// next window's, and asking the engine would name it twice.
			it.ask = pc.dropped
		}
		// A receipt's last report (done, settled, expired) is followed by
		// no report that a count's rise starts: a reader it counts but
		// has not listed (its read reached this node's engine before its
		// name, sent after the read from another node, reached the
		// coalescer) is named by the engine now if it can, or by the
		// window that lists the name while the track lingers.
		it.ask = it.ask || final(it)
		items = append(items, it)
	}
	if err := s.report(ctx, conv, rt, items, now); err != nil {
		s.log.Warn("webhooks: report reads", "conv", conv, "err", err)
	}
}

// report enqueues what items' tracks have not reported yet and moves the
// tracks on, in one durable write; tracks of receipts that are done,
// settled or expired are deleted in it (their last report).
func (s *Service) report(ctx context.Context, conv store.ConvID, rt hookRoute, items []hookItem, now int64) error {
	if len(items) == 0 {
		return nil
	}
	readers, err := s.hookNewReaders(ctx, conv, rt, items)
	if err != nil {
		return err
	}
	var (
		update []store.HookTrack
		done   []store.MsgRef
		ds     []store.Delivery
	)
	for i, it := range items {
		t, evs := reportOf(it, rt, readers[i], now)
		for _, ev := range evs {
			d, err := hookDeliveries(rt.eps, ev, now)
			if err != nil {
				return err
			}
			ds = append(ds, d...)
		}
		switch {
		case final(it) && !lingers(it, evs, now):
			done = append(done, store.MsgRef{Conv: conv, Seq: it.msg.Seq})
		case len(evs) > 0 || t.Reported != it.track.Reported:
			update = append(update, t)
		}
	}
	if len(update) == 0 && len(done) == 0 && len(ds) == 0 {
		return nil
	}
	if err := s.store.CommitReport(context.WithoutCancel(ctx), update, done, ds); err != nil {
		return fmt.Errorf("commit webhook report of %s: %w", conv, err)
	}
	if len(ds) > 0 {
		s.hookNotify()
	}
	return nil
}

// hookFinalLinger is how long a receipt's track outlives its last report.
// That report may count a read whose reader's name reaches the coalescer
// only after it: on a cluster the name trails the read from the reader's
// node, on one node by the instant between the engine and the coalescer.
// When the reader's read time is before the previous report, the engine
// cannot name it either (Conv.ReadersSince), so a name that came after
// the track was deleted was lost: the 2-node end-to-end storm under load
// lost one. While the track lingers, the window that lists the name finds
// it and names the reader (a late receipt.read, reportOf); the sweep
// deletes the track once it has reported nothing for this long.
const hookFinalLinger = 5 * time.Second

// lingers reports whether a final item's track is kept: its report fired
// events now, or its last report is more recent than hookFinalLinger.
func lingers(it hookItem, evs []hookEvent, now int64) bool {
	return len(evs) > 0 || now-it.track.ReportedAt < hookFinalLinger.Milliseconds()
}

// final reports whether it's receipt has nothing more to report: done,
// settled or expired (counts frozen), or its message gone.
func final(it hookItem) bool {
	switch it.rec.Status {
	case protocol.StatusDone, protocol.StatusExpired:
		return true
	}
	return it.msg.Settled || !it.msg.Receipt
}

// newReaders are the new readers of one message for its receipt.read.
type newReaders struct {
	ids  []string // at most maxHookNewReader
	more bool     // there were more
}

// hookNewReaders returns the new readers of each item whose read count
// rose: the coalescer's list, deduplicated, and when that may lack some
// (hookItem.ask) and holds fewer than the rise, the engine's readers since
// the last report (receipts.Conv.ReadersSince) besides. One engine call
// for all.
func (s *Service) hookNewReaders(ctx context.Context, conv store.ConvID, rt hookRoute, items []hookItem) ([]newReaders, error) {
	out := make([]newReaders, len(items))
	if !rt.read {
		return out, nil
	}
	var ask []int
	for i, it := range items {
		rise := it.rec.ReadCount - it.track.Reported
		if rise <= 0 && len(it.listed) == 0 {
			continue
		}
		out[i].more = it.more
		seen := make(map[string]bool, len(it.listed))
		for _, id := range it.listed {
			if !seen[id] && id != it.msg.Sender {
				seen[id] = true
				out[i].ids = append(out[i].ids, id)
			}
		}
		if it.ask && len(out[i].ids) < rise && !it.more {
			ask = append(ask, i)
		}
	}
	if len(ask) > 0 {
		err := s.withEngine(ctx, conv, func(e *receipts.Conv) error {
			for _, i := range ask {
				it := items[i]
				ids, more := e.ReadersSince(it.msg.Seq, it.msg.Sender, it.track.ReportedAt, it.rec.ReadCount-it.track.Reported, maxHookNewReader+1)
				have := make(map[string]bool, len(out[i].ids))
				for _, id := range out[i].ids {
					have[id] = true
				}
				for _, id := range ids {
					if !have[id] {
						out[i].ids = append(out[i].ids, id)
					}
				}
				out[i].more = out[i].more || more
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("new readers of %s: %w", conv, err)
		}
	}
	for i := range out {
		if len(out[i].ids) > maxHookNewReader {
			out[i].ids, out[i].more = out[i].ids[:maxHookNewReader], true
		}
	}
	return out, nil
}

// reportOf is one message's report: its track as it stands after it, and
// the events it fires, in order of the counts (receipt.read, then the
// thresholds from the lowest). A read count that did not rise fires no
// receipt.read; thresholds fire once each (track.Fired), several in one
// report if the counts moved past several.
func reportOf(it hookItem, rt hookRoute, readers newReaders, now int64) (store.HookTrack, []hookEvent) {
	t := it.track
	t.Fired = slices.Clone(t.Fired)
	r := it.rec
	sender := it.msg.Sender
	data := func() hookData {
		rec := r
		return hookData{Conversation: wireConv(it.msg.Conv, sender), MsgID: it.msg.ID, Sender: sender, Receipt: &rec}
	}
	base := hookEvent{conv: it.msg.Conv, groupType: rt.groupType, receiptMsg: true, at: now}
	var evs []hookEvent
	// A reader the engine counted before the window listed it (the engine
	// hears of a read first) was in the count of an earlier report but
	// not in its names: it is named now, by a receipt.read whose count did
	// not rise. Its id then also carries the time: only this node's
	// coalescer lists it, so no other report makes the same event.
	late := r.ReadCount <= t.Reported && len(readers.ids) > 0
	if r.ReadCount > t.Reported || late {
		if rt.read {
			what := strconv.Itoa(r.ReadCount)
			if late {
				what += "." + strconv.FormatInt(now, 10)
			}
			ev := base
			ev.typ, ev.id = HookReceiptRead, hookEventID(HookReceiptRead, it.msg.ID, what)
			ev.data = data()
			ev.data.NewReaders, ev.data.NewReadersMore = readers.ids, readers.more
			if ev.data.NewReaders == nil {
				ev.data.NewReaders = []string{}
			}
			evs = append(evs, ev)
		}
		t.Reported, t.ReportedAt = max(t.Reported, r.ReadCount), now
	}
	if rt.threshold {
		for _, key := range crossed(r, rt.thresholds) {
			if slices.Contains(t.Fired, key) {
				continue
			}
			ev := base
			ev.typ, ev.threshold, ev.id = HookThreshold, key, hookEventID(HookThreshold, it.msg.ID, key)
			ev.data = data()
			ev.data.Threshold = thresholdValue(key)
			evs = append(evs, ev)
			t.Fired = append(t.Fired, key)
		}
	}
	return t, evs
}

// crossed lists the thresholds r's counts have reached, lowest first:
// "first" at one read, a percentage p once read*100 >= p*eligible, "all"
// once none is unread. A message nobody may read reaches none.
func crossed(r protocol.Receipt, percents []int) []string {
	eligible := r.ReadCount + r.UnreadCount
	if eligible == 0 || r.ReadCount == 0 {
		return nil
	}
	keys := []string{ThresholdFirst}
	for _, p := range percents {
		if r.ReadCount*100 >= p*eligible {
			keys = append(keys, strconv.Itoa(p))
		}
	}
	if r.UnreadCount == 0 {
		keys = append(keys, ThresholdAll)
	}
	return keys
}

// peerReadsForHooks hands reads of a peer's receipt messages (seqs, just
// read by reader) to the coalescer, to be reported over one window like a
// group's. The reader's node reports them: every read of a peer chat's
// message goes through the reader's node. Nothing is done when no
// endpoint wants them.
func (s *Service) peerReadsForHooks(ctx context.Context, ref convRef, reader string, seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	if _, ok, _ := s.hookRouteFor(ctx, ref.id); !ok {
		return
	}
	k := coalesceKey{conv: ref.id, sender: ref.peer, hookOnly: true}
	for _, seq := range seqs {
		s.changes.add(k, seq, reader)
	}
}

// wantsReads reports whether some endpoint of eps wants receipt.read.
func wantsReads(eps []store.Webhook) bool {
	return slices.ContainsFunc(eps, func(ep store.Webhook) bool { return slices.Contains(ep.Events, HookReceiptRead) })
}
