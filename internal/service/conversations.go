package service

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// Conversations lists the caller's conversations by most recent activity,
// newest first, a page at a time. A conversation's activity is the time of
// its last message, or when the caller joined it if that is later (no
// message yet, or none since the caller joined); ties go by conversation
// key. The cursor is opaque: it holds the (activity, key) of the last item
// of a page, and the next page continues strictly after it in that order.
//
// The store answers with every conversation of the caller at once, and the
// order is computed here: nothing is kept per user and updated on every
// message (a message to a group of 100,000 would cost 100,000 writes).
func (s *Service) Conversations(ctx context.Context, c Caller, p protocol.ConversationListParams) (protocol.ConversationListResult, error) {
	limit, pe := protocol.CheckLimit(p.Limit)
	if pe != nil {
		return protocol.ConversationListResult{}, pe
	}
	var (
		after    listPos
		hasAfter bool
	)
	if p.Cursor != "" {
		var ok bool
		if after, ok = decodeListCursor(p.Cursor); !ok {
			return protocol.ConversationListResult{}, protocol.BadParam("cursor", "bad cursor")
		}
		hasAfter = true
	}
	acts, err := s.store.ConversationsActivity(ctx, c.UserID)
	if err != nil {
		return protocol.ConversationListResult{}, s.internal(ctx, "conversations", err)
	}
	// Sort small (position, index) pairs, not the records.
	order := make([]listEntry, len(acts))
	for i, a := range acts {
		order[i] = listEntry{posOf(a), i}
	}
	slices.SortFunc(order, func(a, b listEntry) int { return a.pos.compare(b.pos) })
	start := 0
	if hasAfter {
		// The first item strictly after the cursor; the cursor's own item
		// may have moved or gone since.
		start, _ = slices.BinarySearchFunc(order, after, func(e listEntry, p listPos) int {
			if e.pos.compare(p) <= 0 {
				return -1
			}
			return 1
		})
	}
	page := order[start:]
	res := protocol.ConversationListResult{}
	if len(page) > limit {
		page = page[:limit]
		res.NextCursor = page[len(page)-1].pos.encode()
	}
	res.Conversations = make([]protocol.ConversationInfo, 0, len(page))
	for _, e := range page {
		info, err := s.conversationInfo(ctx, c.UserID, acts[e.i])
		if errors.Is(err, store.ErrNotFound) {
			continue // gone between the listing and now
		} else if err != nil {
			return protocol.ConversationListResult{}, s.internal(ctx, "conversation info", err)
		}
		res.Conversations = append(res.Conversations, info)
	}
	return res, nil
}

// listPos is a conversation's place in conversation.list: by activity,
// newest first, then by key.
type listPos struct {
	at   int64
	conv store.ConvID
}

type listEntry struct {
	pos listPos
	i   int // index in the store's answer
}

func posOf(a store.ConvActivity) listPos {
	return listPos{at: max(a.LastAt, a.Member.JoinedAt), conv: a.Conv}
}

func (p listPos) compare(q listPos) int {
	if c := cmp.Compare(q.at, p.at); c != 0 {
		return c
	}
	return cmp.Compare(p.conv, q.conv)
}

// encode is the cursor of a page ending at p: its activity, then its key.
func (p listPos) encode() string {
	b := binary.AppendVarint(nil, p.at)
	return base64.RawURLEncoding.EncodeToString(append(b, p.conv...))
}

func decodeListCursor(s string) (listPos, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 256 {
		return listPos{}, false
	}
	at, n := binary.Varint(b)
	if n <= 0 {
		return listPos{}, false
	}
	conv := store.ConvID(b[n:])
	if !conv.IsGroup() && !conv.IsPeer() {
		return listPos{}, false
	}
	return listPos{at: at, conv: conv}, true
}

// conversationInfo summarises one conversation for user, from its entry in
// the store's activity answer: the caller's record and the last seq are
// of one moment, and everything read after is held to that last seq.
func (s *Service) conversationInfo(ctx context.Context, user string, a store.ConvActivity) (protocol.ConversationInfo, error) {
	id, me, last := a.Conv, a.Member, a.LastSeq
	info := protocol.ConversationInfo{
		Conversation: wireConv(id, user),
		LastSeq:      last,
		// The caller's own read state: private reads clear its unread
		// count as shared ones do.
		ReadSeq: me.OwnReadSeq(),
	}
	if own := me.OwnReadSeq(); last > own {
		// Messages read one by one above the watermark are not unread.
		info.UnreadCount = last - own - uint64(len(me.OwnAcks()))
	}
	ref := convRef{id: id, wire: info.Conversation, member: me}
	if id.IsPeer() {
		ref.peer = id.Other(user)
		peer, err := s.store.GetMember(ctx, id, ref.peer)
		if err != nil {
			return protocol.ConversationInfo{}, err
		}
		// Read after the last seq: a message since may have moved the
		// peer's watermarks past it.
		pr, pd := min(peer.ReadSeq, last), min(peer.DeliveredSeq, last)
		info.PeerReadSeq, info.PeerDeliveredSeq = &pr, &pd
	}
	if last >= me.JoinSeq && last > 0 {
		m, err := s.store.MessageAt(ctx, id, last)
		if err != nil {
			return protocol.ConversationInfo{}, err
		}
		w := wireMessage(m, user)
		if m.Receipt {
			if w.Receipt, err = s.receiptField(ctx, ref, m, user); err != nil {
				return protocol.ConversationInfo{}, err
			}
		}
		info.LastMessage = &w
	}
	return info, nil
}
