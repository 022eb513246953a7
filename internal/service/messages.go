package service

import (
	"bytes"
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// maxClientMsgID bounds clientMsgId.
const maxClientMsgID = 128

// Send stores a message and tells every member's devices but the sending one.
func (s *Service) Send(ctx context.Context, c Caller, p protocol.SendParams) (protocol.SendResult, error) {
	if p.ClientMsgID == "" || len(p.ClientMsgID) > maxClientMsgID {
		return protocol.SendResult{}, protocol.BadParam("clientMsgId", "clientMsgId must be 1-%d bytes", maxClientMsgID)
	}
	body, pe := s.checkBody(p.Body)
	if pe != nil {
		return protocol.SendResult{}, pe
	}
	if pe := checkRemindAfter(p); pe != nil {
		return protocol.SendResult{}, pe
	}
	ref, err := s.resolve(ctx, c.UserID, p.Conversation)
	if err != nil {
		return protocol.SendResult{}, err
	}
	if p.Receipt && ref.id.IsGroup() {
		if err := s.mayAskReceipts(ref); err != nil {
			return protocol.SendResult{}, err
		}
		if err := s.groupReceiptsAllowed(ctx, ref); err != nil {
			return protocol.SendResult{}, err
		}
	}
	m := store.Message{
		ID:          s.newMsgID(),
		Conv:        ref.id,
		Sender:      c.UserID,
		ClientMsgID: p.ClientMsgID,
		Body:        body,
		SentAt:      s.nowMs(),
		Receipt:     p.Receipt,
	}
	if m.Hooks, err = s.sendHooks(ctx, ref, m, p.RemindAfterMs); err != nil {
		return protocol.SendResult{}, s.internal(ctx, "webhook events", err)
	}
	// Sending reads the messages of others up to it: a receipt whose
	// window closed by now is frozen before that.
	end := s.beginWrite(ctx, ref.id, m.SentAt)
	defer end()
	stored, existed, err := s.store.Append(ctx, m)
	if err != nil {
		return protocol.SendResult{}, s.internal(ctx, "append", err)
	}
	res := protocol.SendResult{MsgID: stored.ID, Seq: stored.Seq, SentAt: stored.SentAt}
	if existed {
		if !bytes.Equal(stored.Body, body) || stored.Receipt != p.Receipt {
			pe := protocol.Errorf(protocol.CodeConflict, "clientMsgId %q was already used with another message", p.ClientMsgID)
			pe.Data = map[string]any{"field": "clientMsgId", "msgId": stored.ID}
			return protocol.SendResult{}, pe
		}
		return res, nil
	}
	if m.Hooks != nil && len(m.Hooks.Deliveries) > 0 {
		s.hookNotify()
	}
	s.recordSent(ctx, stored)
	s.announce(ctx, ref, stored, c.ConnID)
	if ref.member.ReadSeq+1 < stored.Seq {
		// Sending marks read: the sender has now read the messages of
		// others between its old watermark and its own message.
		s.watermarkMoved(ctx, ref, c, ref.member.ReadSeq, stored.Seq, true)
	}
	if ref.member.OwnReadSeq()+1 < stored.Seq {
		s.ownReadMoved(ctx, &ref, c, store.Member{UserID: c.UserID, ReadSeq: stored.Seq})
	}
	return res, nil
}

// checkBody requires a JSON value within the size limit and compacts it, so
// a resend compares equal whatever its whitespace.
func (s *Service) checkBody(raw json.RawMessage) (json.RawMessage, *protocol.Error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, protocol.BadParam("body", "body is required")
	}
	if len(raw) > s.cfg.MaxBodyBytes {
		pe := protocol.Errorf(protocol.CodeTooLarge, "body is larger than %d bytes", s.cfg.MaxBodyBytes)
		pe.Data = map[string]any{"field": "body", "limit": s.cfg.MaxBodyBytes}
		return nil, pe
	}
	// The client transport refuses such frames whole; this also covers
	// the admin API and any other caller. Stored, invalid bytes would
	// reach every member's socket (and a browser drops the socket).
	if !utf8.Valid(raw) {
		return nil, protocol.BadParam("body", "body must be valid UTF-8")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, protocol.BadParam("body", "body is not valid JSON")
	}
	return buf.Bytes(), nil
}

// announce sends message.new to every device of every member but exceptConn.
// The sender's devices see their own receipt; the others see their ack state.
func (s *Service) announce(ctx context.Context, ref convRef, m store.Message, exceptConn string) {
	members := []string{m.Sender, ref.peer}
	if ref.id.IsGroup() {
		var err error
		members, err = s.currentMemberIDs(ctx, ref.id)
		if err != nil {
			s.log.WarnContext(ctx, "announce: list members", "conv", ref.id, "err", err)
			return
		}
	}
	if ref.id.IsPeer() {
		// Both sides name a peer conversation differently, so each side
		// gets its own encoding; a group's is the same for all.
		own := wireMessage(m, m.Sender)
		if m.Receipt {
			own.Receipt = s.freshReceipt(m, 1)
		}
		s.publish(ctx, []string{m.Sender}, exceptConn, protocol.EventMessageNew, protocol.MessageNewEvent{Message: own})
		theirs := wireMessage(m, ref.peer)
		if m.Receipt {
			theirs.Receipt = &protocol.AckState{}
		}
		if ref.peer != m.Sender {
			s.publish(ctx, []string{ref.peer}, exceptConn, protocol.EventMessageNew, protocol.MessageNewEvent{Message: theirs})
		}
		return
	}
	others := 0
	for _, u := range members {
		if u != m.Sender {
			others++
		}
	}
	own := wireMessage(m, m.Sender)
	theirs := own
	if m.Receipt {
		own.Receipt = s.freshReceipt(m, others)
		theirs.Receipt = &protocol.AckState{}
	}
	s.publish(ctx, []string{m.Sender}, exceptConn, protocol.EventMessageNew, protocol.MessageNewEvent{Message: own})
	// The members but the sender, named by conversation: one bus message
	// however large the group.
	s.publishConv(ctx, bus.Audience{Conv: string(ref.id), Members: members, Except: []string{m.Sender}},
		exceptConn, protocol.EventMessageNew, protocol.MessageNewEvent{Message: theirs})
}

// History returns a page of the caller's visible messages, newest first.
func (s *Service) History(ctx context.Context, c Caller, p protocol.HistoryParams) (protocol.HistoryResult, error) {
	limit, pe := protocol.CheckLimit(p.Limit)
	if pe != nil {
		return protocol.HistoryResult{}, pe
	}
	ref, err := s.resolve(ctx, c.UserID, p.Conversation)
	if err != nil {
		return protocol.HistoryResult{}, err
	}
	minSeq := ref.member.JoinSeq
	if minSeq == 0 {
		minSeq = 1
	}
	msgs, err := s.store.History(ctx, ref.id, p.BeforeSeq, minSeq, limit+1)
	if err != nil {
		return protocol.HistoryResult{}, s.internal(ctx, "history", err)
	}
	res := protocol.HistoryResult{Messages: make([]protocol.Message, 0, min(len(msgs), limit))}
	if len(msgs) > limit {
		res.HasMore = true
		msgs = msgs[:limit]
	}
	for _, m := range msgs {
		w := wireMessage(m, c.UserID)
		if m.Receipt {
			w.Receipt, err = s.receiptField(ctx, ref, m, c.UserID)
			if err != nil {
				return protocol.HistoryResult{}, s.internal(ctx, "receipt", err)
			}
		}
		res.Messages = append(res.Messages, w)
	}
	return res, nil
}

// clampSeq caps an ack's seq (0: the latest) at the conversation's last
// seq, as read with the conversation (resolveWith): a client cannot ack
// what does not exist yet.
func clampSeq(f store.Found, seq uint64) uint64 {
	last := f.LastSeqs[0]
	if seq == 0 {
		return last
	}
	return min(seq, last)
}

// Delivered records that the caller's device has everything up to seq.
func (s *Service) Delivered(ctx context.Context, c Caller, p protocol.DeliveredParams) (protocol.Empty, error) {
	if p.Seq == 0 {
		return protocol.Empty{}, protocol.BadParam("seq", "seq must be at least 1")
	}
	ref, f, err := s.resolveWith(ctx, c.UserID, p.Conversation, nil, true)
	if err != nil {
		return protocol.Empty{}, err
	}
	seq := clampSeq(f, p.Seq)
	if seq <= ref.member.DeliveredSeq {
		return protocol.Empty{}, nil
	}
	// With shareDelivery off a delivery ack is accepted and changes
	// nothing: the delivery watermark is what senders see, and nothing
	// else uses it.
	if st, err := s.settingsOf(ctx, c.UserID); err != nil || !st.ShareDelivery {
		return protocol.Empty{}, err
	}
	now := s.nowMs()
	end := s.beginWrite(ctx, ref.id, now)
	defer end()
	m, changed, err := s.store.AdvanceDelivered(ctx, ref.id, c.UserID, seq, now)
	if err != nil {
		return protocol.Empty{}, s.internal(ctx, "advance delivered", err)
	}
	if changed {
		s.applyOp(ctx, syncOp{Kind: opDeliver, Conv: ref.id, User: c.UserID, Seq: m.DeliveredSeq, At: now})
		s.watermarkMoved(ctx, ref, c, ref.member.DeliveredSeq, m.DeliveredSeq, false)
	}
	return protocol.Empty{}, nil
}

// ReadConversation marks everything up to seq (default: the latest) read.
func (s *Service) ReadConversation(ctx context.Context, c Caller, p protocol.ConversationReadParams) (protocol.ConversationReadResult, error) {
	ref, f, err := s.resolveWith(ctx, c.UserID, p.Conversation, nil, true)
	if err != nil {
		return protocol.ConversationReadResult{}, err
	}
	private, err := s.readPrivately(ctx, ref, c.UserID, p.Private)
	if err != nil {
		return protocol.ConversationReadResult{}, err
	}
	seq := clampSeq(f, p.Seq)
	// The result is the reader's own watermark: what its unread count
	// follows, whether this read was shared or not.
	if private {
		if seq <= ref.member.OwnReadSeq() {
			return protocol.ConversationReadResult{ReadSeq: ref.member.OwnReadSeq()}, nil
		}
		m, changed, err := s.store.AdvanceOwnRead(ctx, ref.id, c.UserID, seq, s.nowMs())
		if err != nil {
			return protocol.ConversationReadResult{}, s.internal(ctx, "advance own read", err)
		}
		if changed {
			s.ownReadMoved(ctx, &ref, c, m)
		}
		return protocol.ConversationReadResult{ReadSeq: m.OwnReadSeq()}, nil
	}
	if seq <= ref.member.ReadSeq {
		return protocol.ConversationReadResult{ReadSeq: ref.member.OwnReadSeq()}, nil
	}
	now := s.nowMs()
	end := s.beginWrite(ctx, ref.id, now)
	defer end()
	m, changed, err := s.store.AdvanceRead(ctx, ref.id, c.UserID, seq, now)
	if err != nil {
		return protocol.ConversationReadResult{}, s.internal(ctx, "advance read", err)
	}
	if changed {
		s.applyOp(ctx, syncOp{Kind: opRead, Conv: ref.id, User: c.UserID, Seq: m.ReadSeq, At: now})
		s.watermarkMoved(ctx, ref, c, ref.member.ReadSeq, m.ReadSeq, true)
		s.ownReadMoved(ctx, &ref, c, m)
	}
	return protocol.ConversationReadResult{ReadSeq: m.OwnReadSeq()}, nil
}
