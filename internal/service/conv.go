package service

import (
	"context"
	"errors"

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
	if pe := c.Validate("conversation"); pe != nil {
		return convRef{}, pe
	}
	ref := convRef{wire: c}
	switch c.Type {
	case protocol.ConvPeer:
		if c.ID == caller {
			return convRef{}, protocol.BadParam("conversation.id", "a peer conversation needs another user")
		}
		if err := s.requireUser(ctx, "conversation.id", c.ID); err != nil {
			return convRef{}, err
		}
		ref.id = store.PeerConv(caller, c.ID)
		ref.peer = c.ID
		m, err := s.store.GetMember(ctx, ref.id, caller)
		switch {
		case errors.Is(err, store.ErrNotFound):
			m = store.Member{UserID: caller, Role: protocol.RoleMember, JoinSeq: 1}
		case err != nil:
			return convRef{}, s.internal(ctx, "get member", err)
		}
		ref.member = m
	default:
		g, err := s.store.GetGroup(ctx, c.ID)
		if errors.Is(err, store.ErrNotFound) {
			pe := protocol.Errorf(protocol.CodeNotFound, "no such group %q", c.ID)
			pe.Data = map[string]any{"field": "conversation.id"}
			return convRef{}, pe
		} else if err != nil {
			return convRef{}, s.internal(ctx, "get group", err)
		}
		ref.id = store.GroupConv(c.ID)
		ref.group = g
		m, err := s.store.GetMember(ctx, ref.id, caller)
		if errors.Is(err, store.ErrNotFound) {
			return convRef{}, protocol.Errorf(protocol.CodeForbidden, "not a member of group %q", c.ID)
		} else if err != nil {
			return convRef{}, s.internal(ctx, "get member", err)
		}
		ref.member = m
	}
	return ref, nil
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
