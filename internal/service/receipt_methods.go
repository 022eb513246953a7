package service

import (
	"context"
	"errors"

	"github.com/seen-im/seen/internal/receipts"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// mayView applies the visibility policy: a message's receipt is visible to
// its sender and, under "members" visibility, to every member.
func (s *Service) mayView(m store.Message, caller string) error {
	if m.Sender == caller || s.cfg.Receipts.Visibility == "members" {
		return nil
	}
	return protocol.Errorf(protocol.CodeForbidden, "the receipt of message %q is visible to its sender only", m.ID)
}

// QueryReceipts answers receipt.query.
func (s *Service) QueryReceipts(ctx context.Context, c Caller, p protocol.ReceiptQueryParams) (protocol.ReceiptQueryResult, error) {
	if pe := protocol.CheckMsgIDs(p.MsgIDs); pe != nil {
		return protocol.ReceiptQueryResult{}, pe
	}
	ref, f, err := s.resolveWith(ctx, c.UserID, p.Conversation, p.MsgIDs, false)
	if err != nil {
		return protocol.ReceiptQueryResult{}, err
	}
	if err := s.mayQueryReceipts(ctx, c.UserID); err != nil {
		return protocol.ReceiptQueryResult{}, err
	}
	msgs := f.Messages
	for i, id := range p.MsgIDs {
		if !isInConv(ref, msgs[i]) {
			return protocol.ReceiptQueryResult{}, notInConv(id, msgIDsField(i))
		}
		if err := s.mayView(msgs[i], c.UserID); err != nil {
			return protocol.ReceiptQueryResult{}, err
		}
	}
	rs, err := s.receiptsOf(ctx, ref.id, msgs)
	if err != nil {
		return protocol.ReceiptQueryResult{}, s.internal(ctx, "receipt engine", err)
	}
	return protocol.ReceiptQueryResult{Receipts: rs}, nil
}

// ReceiptMembers answers receipt.members.
func (s *Service) ReceiptMembers(ctx context.Context, c Caller, p protocol.ReceiptMembersParams) (protocol.ReceiptMembersResult, error) {
	filter, limit, pe := checkMembersParams(p.Filter, p.Limit)
	if pe != nil {
		return protocol.ReceiptMembersResult{}, pe
	}
	ref, err := s.resolve(ctx, c.UserID, p.Conversation)
	if err != nil {
		return protocol.ReceiptMembersResult{}, err
	}
	if err := s.mayQueryReceipts(ctx, c.UserID); err != nil {
		return protocol.ReceiptMembersResult{}, err
	}
	m, err := s.message(ctx, ref, p.MsgID, "msgId")
	if err != nil {
		return protocol.ReceiptMembersResult{}, err
	}
	if err := s.mayView(m, c.UserID); err != nil {
		return protocol.ReceiptMembersResult{}, err
	}
	return s.receiptMembers(ctx, m, filter, p.Cursor, limit)
}

func checkMembersParams(f string, limit int) (receipts.Filter, int, *protocol.Error) {
	filter, ok := receipts.ParseFilter(f)
	if !ok {
		return 0, 0, protocol.BadParam("filter", "filter must be read, unread, delivered or undelivered")
	}
	limit, pe := protocol.CheckLimit(limit)
	return filter, limit, pe
}

// receiptMembers lists a page of message m's members by filter. The lists
// show the members' current state, also once the counts are frozen.
func (s *Service) receiptMembers(ctx context.Context, m store.Message, filter receipts.Filter, cursor string, limit int) (protocol.ReceiptMembersResult, error) {
	if !m.Receipt {
		return protocol.ReceiptMembersResult{}, protocol.Errorf(protocol.CodeUnprocessable,
			"message %q does not ask for receipts (send with receipt: true, or call receipt.request)", m.ID)
	}
	var res protocol.ReceiptMembersResult
	if err := s.syncBarrier(ctx); err != nil {
		return res, s.internal(ctx, "receipt members", err)
	}
	err := s.withEngine(ctx, m.Conv, func(e *receipts.Conv) error {
		entries, next, done, err := e.Members(m.Seq, m.Sender, filter, cursor, limit)
		if err != nil {
			return err
		}
		res.Members = make([]protocol.ReceiptMember, len(entries))
		for i, en := range entries {
			res.Members[i] = protocol.ReceiptMember{UserID: en.UserID, At: en.At}
		}
		res.NextCursor, res.Done = next, done
		return nil
	})
	if errors.Is(err, receipts.ErrBadCursor) {
		return protocol.ReceiptMembersResult{}, protocol.BadParam("cursor", "bad cursor")
	} else if err != nil {
		return protocol.ReceiptMembersResult{}, s.internal(ctx, "receipt members", err)
	}
	return res, nil
}

// mayAskReceipts applies WhoMayRequest to the caller of a group: with
// "admins", only the owner and admins may ask for receipts, whether at
// send time (receipt: true) or later (receipt.request).
func (s *Service) mayAskReceipts(ref convRef) error {
	if s.cfg.Receipts.WhoMayRequest == "admins" && !isManager(ref.member.Role) {
		return protocol.Errorf(protocol.CodeForbidden, "only the owner and admins may ask for read receipts")
	}
	return nil
}

// RequestReceipt answers receipt.request: it turns receipts on for one of
// the caller's group messages and asks the members for them; on a message
// that asks already, it reminds those who have not read it.
func (s *Service) RequestReceipt(ctx context.Context, c Caller, p protocol.ReceiptRequestParams) (protocol.Empty, error) {
	if p.Conversation.Type != protocol.ConvGroup {
		return protocol.Empty{}, protocol.BadParam("conversation.type", "receipt requests are for group messages")
	}
	if pe := protocol.CheckRemindAfter(p.RemindAfterMs); pe != nil {
		return protocol.Empty{}, pe
	}
	ref, err := s.resolve(ctx, c.UserID, p.Conversation)
	if err != nil {
		return protocol.Empty{}, err
	}
	m, err := s.message(ctx, ref, p.MsgID, "msgId")
	if err != nil {
		return protocol.Empty{}, err
	}
	if m.Sender != c.UserID {
		return protocol.Empty{}, protocol.Errorf(protocol.CodeForbidden, "you may request receipts for your own messages only")
	}
	if err := s.mayAskReceipts(ref); err != nil {
		return protocol.Empty{}, err
	}
	if err := s.groupReceiptsAllowed(ctx, ref); err != nil {
		return protocol.Empty{}, err
	}
	if m.Receipt && s.expired(m, s.nowMs()) {
		return protocol.Empty{}, protocol.Errorf(protocol.CodeGone, "the receipt window of message %q has closed", m.ID)
	}
	now := s.nowMs()
	m, first, err := s.store.RequestReceipt(ctx, ref.id, m.Seq, now)
	if err != nil {
		return protocol.Empty{}, s.internal(ctx, "request receipt", err)
	}
	// Durable before the answer: a client that got {} has its reminder.
	if err := s.requestHooks(ctx, ref, m, first, p.RemindAfterMs, now); err != nil {
		return protocol.Empty{}, s.internal(ctx, "request receipt", err)
	}
	var ask []string
	if first {
		t := s.tracked(m)
		s.applyOp(ctx, syncOp{Kind: opTrack, Conv: ref.id, T: &t})
		err = s.forEachMember(ctx, ref.id, func(page []store.Member) error {
			for _, mem := range page {
				if mem.UserID != m.Sender && mem.JoinSeq <= m.Seq {
					ask = append(ask, mem.UserID)
				}
			}
			return nil
		})
	} else {
		// A reminder goes to those who have not read the message by their
		// own state: a private reader who read it is not asked again
		// (the sender still counts it unread).
		err = s.forEachMember(ctx, ref.id, func(page []store.Member) error {
			for _, mem := range page {
				if mem.UserID != m.Sender && mem.JoinSeq <= m.Seq && !mem.OwnHasRead(m.Seq) {
					ask = append(ask, mem.UserID)
				}
			}
			return nil
		})
	}
	if err != nil {
		return protocol.Empty{}, s.internal(ctx, "receipt request members", err)
	}
	s.publish(ctx, ask, "", protocol.EventReceiptRequested, protocol.ReceiptRequestedEvent{
		Conversation: ref.wire, MsgID: m.ID, Sender: m.Sender,
	})
	return protocol.Empty{}, nil
}

// AdminReceipt returns any message's receipt (admin API).
func (s *Service) AdminReceipt(ctx context.Context, msgID string) (protocol.Receipt, error) {
	m, err := s.adminMessage(ctx, msgID)
	if err != nil {
		return protocol.Receipt{}, err
	}
	rs, err := s.receiptsOf(ctx, m.Conv, []store.Message{m})
	if err != nil {
		return protocol.Receipt{}, s.internal(ctx, "receipt engine", err)
	}
	return rs[0], nil
}

// AdminReceiptMembers lists any message's members by filter (admin API).
func (s *Service) AdminReceiptMembers(ctx context.Context, msgID, filter, cursor string, limit int) (protocol.ReceiptMembersResult, error) {
	f, limit, pe := checkMembersParams(filter, limit)
	if pe != nil {
		return protocol.ReceiptMembersResult{}, pe
	}
	m, err := s.adminMessage(ctx, msgID)
	if err != nil {
		return protocol.ReceiptMembersResult{}, err
	}
	return s.receiptMembers(ctx, m, f, cursor, limit)
}

func (s *Service) adminMessage(ctx context.Context, msgID string) (store.Message, error) {
	m, err := s.store.GetMessage(ctx, msgID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Message{}, protocol.Errorf(protocol.CodeNotFound, "no message %q", msgID)
	} else if err != nil {
		return store.Message{}, s.internal(ctx, "get message", err)
	}
	return m, nil
}
