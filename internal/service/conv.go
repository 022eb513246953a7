package service

import (
	"context"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// convRef is a conversation resolved for one caller.
type convRef struct {
	id    store.ConvID
	wire  protocol.Conversation // as the caller names it
	group store.Group           // group conversations only
	peer  string                // peer conversations only: the other user
	// member is the caller's record. For a peer conversation with no
	// message yet it is the state the first message will create.
	member store.Member
}

// resolve checks a conversation named by caller: the peer must exist (404),
// the group must exist (404) and the caller must be a member (403).
func (s *Service) resolve(ctx context.Context, caller string, c protocol.Conversation) (convRef, error) {
	ref, _, err := s.resolveWith(ctx, caller, c, nil, false)
	return ref, err
}

// resolveWith is resolve reading, in the same store call, the messages
// named by msgIDs and, if lastSeq, the conversation's last seq: what an
// ack checks next. A networked store answers the call in one round trip
// (store.Finder); asked apart, the group, the member, the messages and
// the last seq cost one each, and were most of what an ack cost
// PostgreSQL. The checks answer as resolve's do, in the same order.
func (s *Service) resolveWith(ctx context.Context, caller string, c protocol.Conversation, msgIDs []string, lastSeq bool) (convRef, store.Found, error) {
	if pe := c.Validate("conversation"); pe != nil {
		return convRef{}, store.Found{}, pe
	}
	ref := convRef{wire: c}
	q := store.Lookup{Messages: msgIDs}
	switch c.Type {
	case protocol.ConvPeer:
		if c.ID == caller {
			return convRef{}, store.Found{}, protocol.BadParam("conversation.id", "a peer conversation needs another user")
		}
		ref.id, ref.peer = store.PeerConv(caller, c.ID), c.ID
		q.Users = []string{c.ID}
	default:
		ref.id = store.GroupConv(c.ID)
		q.Groups = []string{c.ID}
	}
	mref := store.MemberRef{Conv: ref.id, UserID: caller}
	q.Members = []store.MemberRef{mref}
	if lastSeq {
		q.LastSeqs = []store.ConvID{ref.id}
	}
	f, err := s.store.Find(ctx, q)
	if err != nil {
		return convRef{}, store.Found{}, s.internal(ctx, "find", err)
	}
	m := f.Members[0]
	isMember := m.UserID != ""
	switch c.Type {
	case protocol.ConvPeer:
		if f.Users[0].ID == "" {
			return convRef{}, store.Found{}, noSuchUser("conversation.id", c.ID)
		}
		if !isMember {
			m = store.Member{UserID: caller, Role: protocol.RoleMember, JoinSeq: 1}
		}
	default:
		g := f.Groups[0]
		if g.ID == "" {
			pe := protocol.Errorf(protocol.CodeNotFound, "no such group %q", c.ID)
			pe.Data = map[string]any{"field": "conversation.id"}
			return convRef{}, store.Found{}, pe
		}
		if !isMember {
			return convRef{}, store.Found{}, protocol.Errorf(protocol.CodeForbidden, "not a member of group %q", c.ID)
		}
		ref.group = g
	}
	ref.member = m
	return ref, f, nil
}

// wireConv names conv as viewer sees it.
func wireConv(conv store.ConvID, viewer string) protocol.Conversation {
	if conv.IsGroup() {
		return protocol.Conversation{Type: protocol.ConvGroup, ID: conv.GroupID()}
	}
	return protocol.Conversation{Type: protocol.ConvPeer, ID: conv.Other(viewer)}
}

// wireMessage renders m for viewer, without its receipt field.
func wireMessage(m store.Message, viewer string) protocol.Message {
	return protocol.Message{
		MsgID:        m.ID,
		Seq:          m.Seq,
		Conversation: wireConv(m.Conv, viewer),
		Sender:       m.Sender,
		Body:         m.Body,
		SentAt:       m.SentAt,
	}
}
