package service

import (
	"context"
	"encoding/base64"
	"errors"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// Conversations lists the caller's conversations in a stable order (by
// conversation key), a page at a time. The cursor is opaque.
func (s *Service) Conversations(ctx context.Context, c Caller, p protocol.ConversationListParams) (protocol.ConversationListResult, error) {
	limit, pe := protocol.CheckLimit(p.Limit)
	if pe != nil {
		return protocol.ConversationListResult{}, pe
	}
	var after store.ConvID
	if p.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(p.Cursor)
		if err != nil || len(b) == 0 || len(b) > 200 {
			return protocol.ConversationListResult{}, protocol.BadParam("cursor", "bad cursor")
		}
		after = store.ConvID(b)
	}
	ids, err := s.store.ConversationsOf(ctx, c.UserID, after, limit+1)
	if err != nil {
		return protocol.ConversationListResult{}, s.internal(ctx, "conversations", err)
	}
	res := protocol.ConversationListResult{Conversations: make([]protocol.ConversationInfo, 0, len(ids))}
	if len(ids) > limit {
		ids = ids[:limit]
		res.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(ids[len(ids)-1]))
	}
	for _, id := range ids {
		info, err := s.conversationInfo(ctx, c.UserID, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // left between the listing and now
		} else if err != nil {
			return protocol.ConversationListResult{}, s.internal(ctx, "conversation info", err)
		}
		res.Conversations = append(res.Conversations, info)
	}
	return res, nil
}

// conversationInfo summarises one conversation for user.
func (s *Service) conversationInfo(ctx context.Context, user string, id store.ConvID) (protocol.ConversationInfo, error) {
	me, err := s.store.GetMember(ctx, id, user)
	if err != nil {
		return protocol.ConversationInfo{}, err
	}
	var peer store.Member
	if id.IsPeer() {
		if peer, err = s.store.GetMember(ctx, id, id.Other(user)); err != nil {
			return protocol.ConversationInfo{}, err
		}
	}
	// The last seq is read after the watermarks, so none of them can be
	// ahead of it in the answer.
	last, err := s.store.LastSeq(ctx, id)
	if err != nil {
		return protocol.ConversationInfo{}, err
	}
	info := protocol.ConversationInfo{
		Conversation: wireConv(id, user),
		LastSeq:      last,
		ReadSeq:      me.ReadSeq,
	}
	if last > me.ReadSeq {
		// Messages read one by one above the watermark are not unread.
		info.UnreadCount = last - me.ReadSeq - uint64(len(me.Acks))
	}
	ref := convRef{id: id, wire: info.Conversation, member: me}
	if id.IsPeer() {
		ref.peer = id.Other(user)
		info.PeerReadSeq, info.PeerDeliveredSeq = &peer.ReadSeq, &peer.DeliveredSeq
	}
	if last >= me.JoinSeq {
		msgs, err := s.store.History(ctx, id, 0, me.JoinSeq, 1)
		if err != nil {
			return protocol.ConversationInfo{}, err
		}
		if len(msgs) == 1 {
			w := wireMessage(msgs[0], user)
			if msgs[0].Receipt {
				if w.Receipt, err = s.receiptField(ctx, ref, msgs[0], user); err != nil {
					return protocol.ConversationInfo{}, err
				}
			}
			info.LastMessage = &w
		}
	}
	return info, nil
}
