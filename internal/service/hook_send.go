package service

import (
	"context"
	"fmt"
	"slices"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// checkRemindAfter checks message.send's remindAfterMs: in range, and only
// on a message that asks for receipts (a reminder about unread members
// means nothing without them).
func checkRemindAfter(p protocol.SendParams) *protocol.Error {
	if pe := protocol.CheckRemindAfter(p.RemindAfterMs); pe != nil {
		return pe
	}
	if p.RemindAfterMs != nil && !p.Receipt {
		return protocol.BadParam("remindAfterMs", "remindAfterMs needs receipt: true")
	}
	return nil
}

// sendHooks returns what message m, about to be appended, writes for
// webhooks in the same durable write as itself: its message.sent
// deliveries, the track that receipt.read and receipt.threshold follow,
// and its unread_after and expired timers. nil when no endpoint is
// registered: a send then costs nothing more. m has no seq yet; Append
// fills in the track's and the timers' place.
func (s *Service) sendHooks(ctx context.Context, ref convRef, m store.Message, remindAfterMs *int64) (*store.HookOutbox, error) {
	eps, err := s.webhooks(ctx)
	if err != nil || len(eps) == 0 {
		return nil, err
	}
	// The store sets ReceiptAt to SentAt on append; the window runs from it.
	if m.Receipt {
		m.ReceiptAt = m.SentAt
	}
	out := &store.HookOutbox{}
	ev := hookEvent{
		id:         hookEventID(HookMessageSent, m.ID, ""),
		typ:        HookMessageSent,
		conv:       m.Conv,
		groupType:  ref.group.Type,
		receiptMsg: m.Receipt,
		at:         m.SentAt,
		data: hookData{
			Conversation: ref.wire,
			MsgID:        m.ID,
			Sender:       m.Sender,
			Body:         m.Body,
			SentAt:       m.SentAt,
		},
	}
	if slices.ContainsFunc(eps, ev.wantedBy) {
		if m.Receipt {
			eligible := 1
			if m.Conv.IsGroup() {
				n, err := s.store.CountMembers(ctx, m.Conv)
				if err != nil {
					return nil, fmt.Errorf("count members: %w", err)
				}
				eligible = max(n-1, 0) // all but the sender
			}
			ev.data.Receipt = s.freshReceipt(m, eligible)
		}
		if out.Deliveries, err = hookDeliveries(eps, ev, m.SentAt); err != nil {
			return nil, err
		}
	}
	if !m.Receipt {
		return emptyToNil(out), nil
	}
	out.Timers = s.receiptTimers(eps, m, ref.group.Type, remindAfterMs, m.SentAt)
	if wantsTrack(eps, m.Conv, ref.group.Type) {
		out.Track = &store.HookTrack{}
	}
	return emptyToNil(out), nil
}

// receiptTimers are the timers of receipt message m: unread_after at
// from+remindAfterMs if one is asked for, and expired at the close of its
// validity window if it closes and some endpoint wants to hear of it. Conv
// and Seq are m's (zero before Append, which fills them in).
func (s *Service) receiptTimers(eps []store.Webhook, m store.Message, groupType string, remindAfterMs *int64, from int64) []store.Timer {
	var ts []store.Timer
	if remindAfterMs != nil {
		ts = append(ts, store.Timer{Conv: m.Conv, Seq: m.Seq, Kind: store.TimerUnreadAfter, DueAt: from + *remindAfterMs})
	}
	if exp := s.expiresAt(m); exp > 0 && anyWants(eps, HookExpired, m.Conv, groupType) {
		ts = append(ts, store.Timer{Conv: m.Conv, Seq: m.Seq, Kind: store.TimerExpired, DueAt: exp})
	}
	return ts
}

// wantsTrack reports whether some endpoint follows the reads of conv's
// receipt messages (receipt.read or receipt.threshold).
func wantsTrack(eps []store.Webhook, conv store.ConvID, groupType string) bool {
	return anyWants(eps, HookReceiptRead, conv, groupType) || anyWants(eps, HookThreshold, conv, groupType)
}

func emptyToNil(o *store.HookOutbox) *store.HookOutbox {
	if o.Empty() {
		return nil
	}
	return o
}

// requestHooks writes, durably, what a receipt.request of message m
// (receipts on now) sets for webhooks: the unread_after timer at
// now+remindAfterMs, also when receipts were on already (a retried request
// must still set it; the store keeps one per message); if this request
// turned receipts on (first), the expired timer a message sent with
// receipts gets; and the track, also on a later request while the receipt
// is live, so that a request whose answer was an error (the track not
// written) is made whole by its retry (AddTrack keeps a track that
// exists). Nothing when no endpoint is registered.
func (s *Service) requestHooks(ctx context.Context, ref convRef, m store.Message, first bool, remindAfterMs *int64, now int64) error {
	if remindAfterMs == nil && !first && m.Settled {
		return nil
	}
	eps, err := s.webhooks(ctx)
	if err != nil || len(eps) == 0 {
		return err
	}
	var ts []store.Timer
	if first {
		ts = s.receiptTimers(eps, m, ref.group.Type, remindAfterMs, now)
	} else if remindAfterMs != nil {
		ts = []store.Timer{{Conv: m.Conv, Seq: m.Seq, Kind: store.TimerUnreadAfter, DueAt: now + *remindAfterMs}}
	}
	if len(ts) > 0 {
		if err := s.store.AddTimers(ctx, ts); err != nil {
			return fmt.Errorf("add webhook timers: %w", err)
		}
	}
	if (first || !m.Settled) && wantsTrack(eps, m.Conv, ref.group.Type) {
		if err := s.store.AddTrack(ctx, store.HookTrack{Conv: m.Conv, Seq: m.Seq, MsgID: m.ID}); err != nil {
			return fmt.Errorf("add webhook track: %w", err)
		}
	}
	return nil
}
