package service

import (
	"context"
	"errors"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// groupReceiptsAllowed applies the receipt policy to a group: its type must
// be enabled and its size within the limit (422 otherwise).
func (s *Service) groupReceiptsAllowed(ctx context.Context, ref convRef) error {
	if !s.cfg.Receipts.ReceiptsForType(ref.group.Type) {
		return protocol.Errorf(protocol.CodeUnprocessable, "receipts are off for groups of type %q", ref.group.Type)
	}
	n, err := s.store.CountMembers(ctx, ref.id)
	if err != nil {
		return s.internal(ctx, "count members", err)
	}
	if n > s.cfg.Receipts.MaxGroupSize {
		return protocol.Errorf(protocol.CodeUnprocessable, "receipts are off for groups over %d members", s.cfg.Receipts.MaxGroupSize)
	}
	return nil
}

// freshReceipt is the receipt of a message just sent to eligible members.
func (s *Service) freshReceipt(m store.Message, eligible int) *protocol.Receipt {
	r := &protocol.Receipt{MsgID: m.ID, Status: protocol.StatusPending, UnreadCount: eligible}
	if eligible == 0 {
		r.Status = protocol.StatusDone
	}
	if m.Conv.IsGroup() && s.cfg.Receipts.TTL > 0 {
		r.ExpiresAt = m.SentAt + s.cfg.Receipts.TTL.Milliseconds()
	}
	return r
}

// receiptField is the receipt field of a receipt message in viewer's
// history: the Receipt for the sender, the viewer's own ack state otherwise.
func (s *Service) receiptField(ctx context.Context, ref convRef, m store.Message, viewer string) (any, error) {
	if m.Sender != viewer {
		return &protocol.AckState{
			Read:      ref.member.ReadSeq >= m.Seq,
			Delivered: ref.member.DeliveredSeq >= m.Seq,
		}, nil
	}
	return s.receipt(ctx, m)
}

// receipt computes a message's receipt from the members' watermarks.
func (s *Service) receipt(ctx context.Context, m store.Message) (*protocol.Receipt, error) {
	var eligible, read, delivered int
	err := s.forEachMember(ctx, m.Conv, func(page []store.Member) error {
		for _, mem := range page {
			if mem.UserID == m.Sender || mem.JoinSeq > m.Seq {
				continue
			}
			eligible++
			if mem.ReadSeq >= m.Seq {
				read++
			}
			if mem.DeliveredSeq >= m.Seq {
				delivered++
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	r := s.freshReceipt(m, eligible)
	r.ReadCount, r.UnreadCount, r.DeliveredCount = read, eligible-read, delivered
	if read == eligible {
		r.Status = protocol.StatusDone
	}
	return r, nil
}
