package service

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/seen-im/seen/internal/receipts"
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
	items := make([]store.ConvActivity, len(page))
	for j, e := range page {
		items[j] = acts[e.i]
	}
	infos, err := s.conversationInfos(ctx, c.UserID, items)
	if err != nil {
		return protocol.ConversationListResult{}, s.internal(ctx, "conversation info", err)
	}
	for _, info := range infos {
		if info != nil { // nil: gone between the listing and now
			res.Conversations = append(res.Conversations, *info)
		}
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

// conversationInfos summarises a page of conversations for user, from
// their entries in the store's activity answer: the caller's record and
// the last seq are of one moment, and everything read after is held to
// that last seq. The page costs two store calls whatever its length (the
// peers' records, the last messages), plus, for a group whose last
// message is the caller's own with a receipt, that group's receipt engine
// (a store read only if it is not in memory). An entry is nil for a
// conversation gone since the listing.
func (s *Service) conversationInfos(ctx context.Context, user string, acts []store.ConvActivity) ([]*protocol.ConversationInfo, error) {
	var (
		peerRefs []store.MemberRef
		msgRefs  []store.MsgRef
	)
	for _, a := range acts {
		if a.Conv.IsPeer() {
			peerRefs = append(peerRefs, store.MemberRef{Conv: a.Conv, UserID: a.Conv.Other(user)})
		}
		if hasLast(a) {
			msgRefs = append(msgRefs, store.MsgRef{Conv: a.Conv, Seq: a.LastSeq})
		}
	}
	var (
		peers []store.Member
		lasts []store.Message
		err   error
	)
	if len(peerRefs) > 0 {
		if peers, err = s.store.GetMembers(ctx, peerRefs); err != nil {
			return nil, fmt.Errorf("peers of %d conversations: %w", len(peerRefs), err)
		}
	}
	if len(msgRefs) > 0 {
		if lasts, err = s.store.MessagesAt(ctx, msgRefs); err != nil {
			return nil, fmt.Errorf("last messages of %d conversations: %w", len(msgRefs), err)
		}
	}
	out := make([]*protocol.ConversationInfo, len(acts))
	for i, a := range acts {
		var peer *store.Member
		if a.Conv.IsPeer() {
			peer, peers = &peers[0], peers[1:]
			if peer.UserID == "" {
				continue // gone
			}
		}
		var last *store.Message
		if hasLast(a) {
			last, lasts = &lasts[0], lasts[1:]
			if last.ID == "" {
				continue // gone
			}
		}
		info, err := s.conversationInfo(ctx, user, a, peer, last)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		out[i] = &info
	}
	return out, nil
}

// hasLast reports whether a's summary shows a last message: one the
// caller can see.
func hasLast(a store.ConvActivity) bool {
	return a.LastSeq >= a.Member.JoinSeq && a.LastSeq > 0
}

// conversationInfo summarises one conversation for user from its activity
// entry, with the peer's record (peer conversations) and the last message
// (if hasLast) as conversationInfos read them.
func (s *Service) conversationInfo(ctx context.Context, user string, a store.ConvActivity, peer *store.Member, last *store.Message) (protocol.ConversationInfo, error) {
	id, me, lastSeq := a.Conv, a.Member, a.LastSeq
	info := protocol.ConversationInfo{
		Conversation: wireConv(id, user),
		LastSeq:      lastSeq,
		// The caller's own read state: private reads clear its unread
		// count as shared ones do.
		ReadSeq: me.OwnReadSeq(),
	}
	if own := me.OwnReadSeq(); lastSeq > own {
		// Messages read one by one above the watermark are not unread.
		info.UnreadCount = lastSeq - own - uint64(len(me.OwnAcks()))
	}
	ref := convRef{id: id, wire: info.Conversation, member: me}
	if peer != nil {
		ref.peer = peer.UserID
		// Read after the last seq: a message since may have moved the
		// peer's watermarks past it.
		pr, pd := min(peer.ReadSeq, lastSeq), min(peer.DeliveredSeq, lastSeq)
		info.PeerReadSeq, info.PeerDeliveredSeq = &pr, &pd
	}
	if last == nil {
		return info, nil
	}
	m := *last
	w := wireMessage(m, user)
	if m.Receipt {
		var err error
		if m.Sender == user && peer != nil {
			// A peer chat's receipt is a function of its two members'
			// records, both in hand: no engine to load for it.
			r := s.peerReceipt(me, *peer, m)
			w.Receipt = &r
		} else if w.Receipt, err = s.receiptField(ctx, ref, m, user); err != nil {
			return protocol.ConversationInfo{}, err
		}
	}
	info.LastMessage = &w
	return info, nil
}

// peerReceipt is the receipt of m, the caller's message in a peer chat,
// computed as its engine would (receiptLocked) from an engine of the two
// members' records.
func (s *Service) peerReceipt(me, peer store.Member, m store.Message) protocol.Receipt {
	c := receipts.NewConv()
	c.Restore(engineState(me))
	c.Restore(engineState(peer))
	if !m.Settled && m.Frozen == nil {
		c.Track(s.tracked(m))
	}
	r, _ := s.receiptLocked(c, m, s.nowMs(), true)
	return r
}
