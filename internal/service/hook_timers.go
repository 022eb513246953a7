package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/seen-im/seen/internal/receipts"
	"github.com/seen-im/seen/internal/routines"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

const (
	// hookTimerPoll is how often the timer loop asks the store for due
	// timers: the lateness of a reminder is at most about this.
	hookTimerPoll = 250 * time.Millisecond
	// hookTimerLease is how long a claimed timer is this node's: a node
	// that dies holding it leaves it to the others after this, and a timer
	// that cannot fire yet (its receipt not frozen yet, the store failing)
	// is tried again after it.
	hookTimerLease = 10 * time.Second
	// hookTimerBatch is how many timers one claim takes.
	hookTimerBatch = 100
)

// hookTimers runs the webhook timer loop.
//
// # Concurrency
//
// One goroutine, started by StartTimers and joined by Close; cancel ends
// it. Several nodes run one each against one store: a claim hands each
// timer to one of them.
type hookTimers struct {
	routines routines.Group
	cancel   context.CancelFunc // nil until started
}

// StartTimers starts the loop that fires the durable webhook timers
// (receipt.unread_after, receipt.expired) as they fall due, those that fell
// due while no server ran included. It does nothing if the store keeps no
// webhooks. Call it once; Close stops it.
func (s *Service) StartTimers() {
	if s.timers.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.timers.cancel = cancel
	s.timers.routines.Go("webhook timers", func() { s.runTimers(ctx) })
}

// stopTimers ends the timer loop and joins it until ctx ends.
func (s *Service) stopTimers(ctx context.Context) error {
	s.timers.routines.Stop()
	if s.timers.cancel != nil {
		s.timers.cancel()
	}
	return s.timers.routines.Wait(ctx)
}

// runTimers fires due timers every hookTimerPoll until ctx ends.
func (s *Service) runTimers(ctx context.Context) {
	tick := time.NewTicker(hookTimerPoll)
	defer tick.Stop()
	for {
		if _, err := s.fireDueTimers(ctx); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "webhook timers", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// fireDueTimers claims the timers due by now and fires each, batch after
// batch while full batches come back. It returns how many it fired; a
// timer that cannot fire yet stays claimed until its lease runs out.
func (s *Service) fireDueTimers(ctx context.Context) (int, error) {
	fired := 0
	for {
		now := s.nowMs()
		ts, err := s.store.ClaimTimers(ctx, now, now+hookTimerLease.Milliseconds(), hookTimerBatch)
		if err != nil {
			return fired, fmt.Errorf("claim webhook timers: %w", err)
		}
		notify := false
		for _, t := range ts {
			ds, err := s.fireTimer(ctx, t)
			if err != nil {
				if ctx.Err() != nil {
					return fired, ctx.Err()
				}
				level := slog.LevelWarn
				if errors.Is(err, errNotYet) {
					level = slog.LevelDebug // expected now and then; tried again after the lease
				}
				s.log.Log(ctx, level, "webhook timer", "conv", t.Conv, "seq", t.Seq, "kind", t.Kind, "err", err)
				continue
			}
			fired++
			notify = notify || ds > 0
		}
		if notify {
			s.hookNotify()
		}
		if len(ts) < hookTimerBatch {
			return fired, nil
		}
	}
}

// errNotYet says a timer cannot fire yet: it is left for its lease to run
// out and tried again then.
var errNotYet = errors.New("not ready to fire")

// fireTimer fires one claimed timer: it enqueues its event for the
// endpoints that want it, or nothing when there is nothing to tell, and
// deletes it, in one durable write. It returns how many deliveries it
// enqueued.
func (s *Service) fireTimer(ctx context.Context, t store.Timer) (int, error) {
	m, err := s.store.MessageAt(ctx, t.Conv, t.Seq)
	if errors.Is(err, store.ErrNotFound) {
		return 0, s.fire(ctx, t, nil) // the conversation is gone
	} else if err != nil {
		return 0, fmt.Errorf("read message: %w", err)
	}
	var ev *hookEvent
	if m.Receipt {
		switch t.Kind {
		case store.TimerUnreadAfter:
			ev, err = s.unreadAfterEvent(ctx, m, t)
		case store.TimerExpired:
			ev, err = s.expiredEvent(ctx, m)
		}
		if err != nil {
			return 0, err
		}
	}
	if ev == nil {
		return 0, s.fire(ctx, t, nil)
	}
	eps, err := s.webhooks(ctx)
	if err != nil {
		return 0, err
	}
	if ev.conv.IsGroup() {
		g, err := s.store.GetGroup(ctx, ev.conv.GroupID())
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("get group: %w", err)
		}
		ev.groupType = g.Type
	}
	ds, err := hookDeliveries(eps, *ev, ev.at)
	if err != nil {
		return 0, err
	}
	return len(ds), s.fire(ctx, t, ds)
}

// fire deletes t and enqueues ds in one durable write.
func (s *Service) fire(ctx context.Context, t store.Timer, ds []store.Delivery) error {
	if err := s.store.FireTimer(ctx, t, ds); err != nil {
		return fmt.Errorf("fire: %w", err)
	}
	return nil
}

// receiptEvent is an event about receipt message m with its common data.
func (s *Service) receiptEvent(typ, what string, m store.Message, r protocol.Receipt) *hookEvent {
	return &hookEvent{
		id:         hookEventID(typ, m.ID, what),
		typ:        typ,
		conv:       m.Conv,
		receiptMsg: true,
		at:         s.nowMs(),
		data: hookData{
			Conversation: wireConv(m.Conv, m.Sender),
			MsgID:        m.ID,
			Sender:       m.Sender,
			Receipt:      &r,
		},
	}
}

// unreadAfterEvent is receipt.unread_after for m, nil if every eligible
// member has read it: the receipt as receipt.query answers its sender, so
// the counts are exact as of now.
func (s *Service) unreadAfterEvent(ctx context.Context, m store.Message, t store.Timer) (*hookEvent, error) {
	rs, err := s.receiptsOf(ctx, m.Conv, []store.Message{m})
	if err != nil {
		return nil, fmt.Errorf("receipt: %w", err)
	}
	if rs[0].UnreadCount == 0 {
		return nil, nil
	}
	ev := s.receiptEvent(HookUnreadAfter, strconv.FormatInt(t.DueAt, 10), m, rs[0])
	ev.data.RemindAfterMs = t.DueAt - m.ReceiptAt
	ev.data.UnreadMembers = "/v1/admin/messages/" + url.PathEscape(m.ID) + "/members?filter=unread"
	return ev, nil
}

// expiredEvent is receipt.expired for m with the counts frozen at the close
// of its window, nil if it was done before (or never expires, the TTL
// having been turned off since). The engine freezes the receipt on its
// expiry path, as any use of it does once the window has closed; the
// frozen counts are then read from the store. errNotYet if it is not
// frozen yet (a write stamped before the close still on its way, or the
// window moved later by a new TTL).
func (s *Service) expiredEvent(ctx context.Context, m store.Message) (*hookEvent, error) {
	exp := s.expiresAt(m)
	if exp == 0 {
		return nil, nil
	}
	if m.Frozen == nil && !m.Settled {
		if err := s.withEngine(ctx, m.Conv, func(*receipts.Conv) error { return nil }); err != nil {
			return nil, fmt.Errorf("receipt engine: %w", err)
		}
		again, err := s.store.MessageAt(ctx, m.Conv, m.Seq)
		if err != nil {
			return nil, fmt.Errorf("read settled message: %w", err)
		}
		m = again
	}
	switch {
	case m.Frozen != nil:
	case m.Settled:
		return nil, nil // done before its window closed
	default:
		return nil, errNotYet
	}
	r := protocol.Receipt{
		MsgID: m.ID, Status: protocol.StatusExpired, ExpiresAt: exp,
		ReadCount: m.Frozen.Read, UnreadCount: m.Frozen.Unread, DeliveredCount: m.Frozen.Delivered,
	}
	return s.receiptEvent(HookExpired, "", m, r), nil
}
