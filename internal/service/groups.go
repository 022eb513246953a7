package service

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/receipts"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// maxGroupTypeLen bounds a group's type name.
const maxGroupTypeLen = 64

// checkUserIDs validates a list of user ids (1-max, each valid, each known)
// and removes duplicates.
func (s *Service) checkUserIDs(ctx context.Context, field string, ids []string, allowEmpty bool) ([]string, error) {
	if len(ids) == 0 && !allowEmpty {
		return nil, protocol.BadParam(field, "%s must name at least one user", field)
	}
	if len(ids) > s.cfg.MaxGroupMembers {
		return nil, s.tooManyMembers()
	}
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for i, id := range ids {
		if !protocol.ValidID(id) {
			return nil, protocol.BadParam(fmt.Sprintf("%s[%d]", field, i), "user id must be 1-64 characters of [A-Za-z0-9_.@-]")
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	for i, id := range out {
		if err := s.requireUser(ctx, fmt.Sprintf("%s[%d]", field, i), id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// tooManyMembers is the error for a group that would outgrow the limit.
func (s *Service) tooManyMembers() *protocol.Error {
	pe := protocol.Errorf(protocol.CodeForbidden, "a group may have at most %d members", s.cfg.MaxGroupMembers)
	pe.Data = map[string]any{"limit": s.cfg.MaxGroupMembers}
	return pe
}

// CreateGroup creates a group owned by owner with the given members.
func (s *Service) CreateGroup(ctx context.Context, owner string, p protocol.GroupCreateParams) (protocol.GroupCreateResult, error) {
	if !protocol.ValidID(p.GroupID) {
		return protocol.GroupCreateResult{}, protocol.BadParam("groupId", "groupId must be 1-64 characters of [A-Za-z0-9_.@-]")
	}
	if len(p.Type) > maxGroupTypeLen {
		return protocol.GroupCreateResult{}, protocol.BadParam("type", "type is longer than %d bytes", maxGroupTypeLen)
	}
	if err := s.requireUser(ctx, "owner", owner); err != nil {
		return protocol.GroupCreateResult{}, err
	}
	ids, err := s.checkUserIDs(ctx, "members", p.Members, true)
	if err != nil {
		return protocol.GroupCreateResult{}, err
	}
	now := s.nowMs()
	members := []store.Member{{UserID: owner, Role: protocol.RoleOwner, JoinSeq: 1, JoinedAt: now}}
	for _, id := range ids {
		if id != owner {
			members = append(members, store.Member{UserID: id, Role: protocol.RoleMember, JoinSeq: 1, JoinedAt: now})
		}
	}
	if len(members) > s.cfg.MaxGroupMembers {
		return protocol.GroupCreateResult{}, s.tooManyMembers()
	}
	g := store.Group{ID: p.GroupID, Type: p.Type, CreatedBy: owner, CreatedAt: now}
	if err := s.store.CreateGroup(ctx, g, members); err != nil {
		if errors.Is(err, store.ErrExists) {
			pe := protocol.Errorf(protocol.CodeConflict, "group %q exists", p.GroupID)
			pe.Data = map[string]any{"field": "groupId"}
			return protocol.GroupCreateResult{}, pe
		}
		return protocol.GroupCreateResult{}, s.internal(ctx, "create group", err)
	}
	// The id may be that of a deleted group: nothing cached of it may
	// outlive it.
	s.dropEngine(store.GroupConv(p.GroupID))
	// Each member learns that it is in a new group; telling every member
	// about every other would cost members² events.
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: p.GroupID}
	for _, m := range members {
		s.publish(ctx, []string{m.UserID}, "", protocol.EventGroupMember, protocol.GroupMemberEvent{
			Conversation: conv, UserID: m.UserID, Action: protocol.ActionJoined, By: owner,
		})
	}
	return protocol.GroupCreateResult{GroupID: p.GroupID}, nil
}

// group resolves a group by id for caller; the caller must be a member
// unless admin is set (the admin API acts for the app).
func (s *Service) group(ctx context.Context, caller string, groupID string, admin bool) (convRef, error) {
	if !protocol.ValidID(groupID) {
		return convRef{}, protocol.BadParam("groupId", "groupId must be 1-64 characters of [A-Za-z0-9_.@-]")
	}
	if !admin {
		ref, err := s.resolve(ctx, caller, protocol.Conversation{Type: protocol.ConvGroup, ID: groupID})
		if pe, ok := err.(*protocol.Error); ok && pe.Data["field"] == "conversation.id" {
			pe.Data["field"] = "groupId"
		}
		return ref, err
	}
	g, err := s.store.GetGroup(ctx, groupID)
	if errors.Is(err, store.ErrNotFound) {
		return convRef{}, protocol.Errorf(protocol.CodeNotFound, "no such group %q", groupID)
	} else if err != nil {
		return convRef{}, s.internal(ctx, "get group", err)
	}
	return convRef{id: store.GroupConv(groupID), wire: protocol.Conversation{Type: protocol.ConvGroup, ID: groupID}, group: g}, nil
}

func isManager(role string) bool { return role == protocol.RoleOwner || role == protocol.RoleAdmin }

// AddMembers adds users to a group: owners and admins only, unless admin.
func (s *Service) AddMembers(ctx context.Context, c Caller, groupID string, userIDs []string, role string, admin bool) error {
	ref, err := s.group(ctx, c.UserID, groupID, admin)
	if err != nil {
		return err
	}
	if !admin && !isManager(ref.member.Role) {
		return protocol.Errorf(protocol.CodeForbidden, "only the owner and admins may add members")
	}
	if role == "" {
		role = protocol.RoleMember
	}
	if role != protocol.RoleMember && role != protocol.RoleAdmin {
		return protocol.BadParam("role", "role must be member or admin")
	}
	ids, err := s.checkUserIDs(ctx, "userIds", userIDs, false)
	if err != nil {
		return err
	}
	n, err := s.store.CountMembers(ctx, ref.id)
	if err != nil {
		return s.internal(ctx, "count members", err)
	}
	if n+len(ids) > s.cfg.MaxGroupMembers {
		// Counting those already members too: a cheap, safe bound.
		return s.tooManyMembers()
	}
	now := s.nowMs()
	add := make([]store.Member, len(ids))
	for i, id := range ids {
		add[i] = store.Member{UserID: id, Role: role, JoinedAt: now}
	}
	added, err := s.store.AddMembers(ctx, ref.id, add)
	if err != nil {
		return s.internal(ctx, "add members", err)
	}
	if len(added) == 0 {
		return nil
	}
	s.applyEngine(ctx, ref.id, func(e *receipts.Conv) error {
		for _, m := range added {
			e.Restore(engineState(m))
		}
		return nil
	})
	s.membershipChanged(ref.id)
	all, err := s.currentMemberIDs(ctx, ref.id)
	if err != nil {
		return s.internal(ctx, "list members", err)
	}
	by := c.UserID
	for _, m := range added {
		s.publishConv(ctx, bus.Audience{Conv: string(ref.id), Members: all}, "", protocol.EventGroupMember, protocol.GroupMemberEvent{
			Conversation: ref.wire, UserID: m.UserID, Action: protocol.ActionJoined, By: by,
		})
	}
	return nil
}

// RemoveMembers removes users from a group. The owner may remove anyone
// but itself; an admin may remove plain members; nobody removes the owner
// (403 for the whole call, nothing removed).
func (s *Service) RemoveMembers(ctx context.Context, c Caller, groupID string, userIDs []string, admin bool) error {
	ref, err := s.group(ctx, c.UserID, groupID, admin)
	if err != nil {
		return err
	}
	if !admin && !isManager(ref.member.Role) {
		return protocol.Errorf(protocol.CodeForbidden, "only the owner and admins may remove members")
	}
	if len(userIDs) == 0 || len(userIDs) > protocol.MaxPageLimit {
		return protocol.BadParam("userIds", "userIds must name 1 to %d users", protocol.MaxPageLimit)
	}
	targets := make([]store.Member, 0, len(userIDs))
	for i, id := range userIDs {
		field := fmt.Sprintf("userIds[%d]", i)
		if !protocol.ValidID(id) {
			return protocol.BadParam(field, "user id must be 1-64 characters of [A-Za-z0-9_.@-]")
		}
		m, err := s.store.GetMember(ctx, ref.id, id)
		if errors.Is(err, store.ErrNotFound) {
			pe := protocol.Errorf(protocol.CodeNotFound, "%q is not a member", id)
			pe.Data = map[string]any{"field": field}
			return pe
		} else if err != nil {
			return s.internal(ctx, "get member", err)
		}
		if m.Role == protocol.RoleOwner {
			// Nobody, the admin API included, removes the owner: the group
			// would be left with nobody to manage it.
			return ownerFixed(id)
		}
		if !admin && ref.member.Role == protocol.RoleAdmin && m.Role != protocol.RoleMember {
			return protocol.Errorf(protocol.CodeForbidden, "you may not remove %q", id)
		}
		targets = append(targets, m)
	}
	notify, err := s.currentMemberIDs(ctx, ref.id)
	if err != nil {
		return s.internal(ctx, "list members", err)
	}
	// Every target hears of every removal, as the other members do, though
	// another node's member list may no longer hold it.
	removed := make([]string, len(targets))
	for i, m := range targets {
		removed[i] = m.UserID
	}
	for _, m := range targets {
		if err := s.removeMember(ctx, ref.id, m.UserID); err != nil {
			return err
		}
		s.publishConv(ctx, bus.Audience{Conv: string(ref.id), Members: notify, Also: removed}, "", protocol.EventGroupMember, protocol.GroupMemberEvent{
			Conversation: ref.wire, UserID: m.UserID, Action: protocol.ActionRemoved, By: c.UserID,
		})
	}
	return nil
}

// removeMember deletes a member from the store, then from the engine: the
// member drops out of every count. Receipts whose window closed are frozen
// first (beginWrite), so their counts keep the member.
func (s *Service) removeMember(ctx context.Context, conv store.ConvID, userID string) error {
	end := s.beginWrite(ctx, conv, s.nowMs())
	defer end()
	if err := s.store.RemoveMember(ctx, conv, userID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return s.internal(ctx, "remove member", err)
	}
	s.applyEngine(ctx, conv, func(e *receipts.Conv) error {
		e.Leave(userID)
		return nil
	})
	s.membershipChanged(conv)
	return nil
}

// ownerFixed is the error for removing or demoting a group's owner.
func ownerFixed(userID string) *protocol.Error {
	return protocol.Errorf(protocol.CodeForbidden, "%q is the group's owner: an owner cannot be removed or demoted; transfer ownership first", userID)
}

// Leave takes the caller out of a group. An owner leaving hands ownership
// on first (see handOn), so the group always has someone to manage it;
// the last member leaving deletes the group, so its id is free again.
func (s *Service) Leave(ctx context.Context, c Caller, groupID string) error {
	ref, err := s.group(ctx, c.UserID, groupID, false)
	if err != nil {
		return err
	}
	notify, err := s.currentMemberIDs(ctx, ref.id)
	if err != nil {
		return s.internal(ctx, "list members", err)
	}
	if ref.member.Role == protocol.RoleOwner {
		// Promote before leaving: a failure between the two writes leaves
		// two owners, never none. handOn reads the members from the store
		// (not the cached ids), so a member added a moment ago counts.
		if err := s.handOn(ctx, ref.id, c.UserID); err != nil {
			return err
		}
	}
	if err := s.removeMember(ctx, ref.id, c.UserID); err != nil {
		return err
	}
	// The leaver hears of it too, though another node's member list may no
	// longer hold it.
	s.publishConv(ctx, bus.Audience{Conv: string(ref.id), Members: notify, Also: []string{c.UserID}}, "", protocol.EventGroupMember, protocol.GroupMemberEvent{
		Conversation: ref.wire, UserID: c.UserID, Action: protocol.ActionLeft, By: c.UserID,
	})
	// The store's count, not the cached ids: whether the group is empty
	// now is what decides.
	if n, err := s.store.CountMembers(ctx, ref.id); err != nil {
		s.log.WarnContext(ctx, "leave: count members", "conv", ref.id, "err", err)
	} else if n == 0 {
		s.deleteEmpty(ctx, ref.id)
	}
	return nil
}

// deleteEmpty deletes a group its last member has left. The store refuses
// if a member was added meanwhile; that member then becomes the owner, so
// the group is never left without one.
func (s *Service) deleteEmpty(ctx context.Context, conv store.ConvID) {
	err := s.store.DeleteGroup(ctx, conv.GroupID())
	switch {
	case err == nil:
		s.dropEngine(conv)
	case errors.Is(err, store.ErrNotEmpty):
		if err := s.handOn(ctx, conv, ""); err != nil {
			s.log.WarnContext(ctx, "leave: hand on ownership of a group joined meanwhile", "conv", conv, "err", err)
		}
	case !errors.Is(err, store.ErrNotFound):
		// The member is gone already, so the leave stands; the group stays
		// behind, empty, with its id taken. Worth an operator's look.
		s.log.ErrorContext(ctx, "leave: delete empty group", "conv", conv, "err", err)
	}
}

// handOn makes the first member of conv other than leaving, in
// successorBefore's order, the owner. It does nothing if another member is
// owner already (a raced transfer can leave two) or if nobody else is left.
func (s *Service) handOn(ctx context.Context, conv store.ConvID, leaving string) error {
	var next *store.Member
	err := s.forEachMember(ctx, conv, func(page []store.Member) error {
		for i := range page {
			m := page[i]
			if m.UserID == leaving {
				continue
			}
			if m.Role == protocol.RoleOwner {
				next = &m
				return errOwnerFound
			}
			if next == nil || successorBefore(m, *next) {
				next = &m
			}
		}
		return nil
	})
	if errors.Is(err, errOwnerFound) || (err == nil && next == nil) {
		return nil
	}
	if err != nil {
		return s.internal(ctx, "list members", err)
	}
	if err := s.store.SetRole(ctx, conv, next.UserID, protocol.RoleOwner); err != nil && !errors.Is(err, store.ErrNotFound) {
		return s.internal(ctx, "hand on ownership", err)
	}
	return nil
}

// errOwnerFound stops handOn's scan at a member who is owner already.
var errOwnerFound = errors.New("service: group has another owner")

// successorBefore orders the candidates for a leaving owner's place: the
// admins before plain members, then the oldest member first (lowest
// joinSeq, then earliest joinedAt), then by user id, so every node picks
// the same one.
func successorBefore(a, b store.Member) bool {
	if aa, ba := a.Role == protocol.RoleAdmin, b.Role == protocol.RoleAdmin; aa != ba {
		return aa
	}
	if a.JoinSeq != b.JoinSeq {
		return a.JoinSeq < b.JoinSeq
	}
	if a.JoinedAt != b.JoinedAt {
		return a.JoinedAt < b.JoinedAt
	}
	return a.UserID < b.UserID
}

// SetRole changes a member's role (admin API). Making someone owner is the
// ownership transfer: the previous owner becomes an admin. The owner
// cannot be given another role directly (403): a group is never without
// an owner.
//
// The store changes one member at a time, so the transfer is two writes:
// the new owner is promoted first, then the old one demoted. A failure
// between them (or two transfers racing) leaves two owners, never none;
// a later transfer or the owner leaving settles it.
func (s *Service) SetRole(ctx context.Context, groupID, userID, role string) error {
	ref, err := s.group(ctx, "", groupID, true)
	if err != nil {
		return err
	}
	if !slices.Contains([]string{protocol.RoleOwner, protocol.RoleAdmin, protocol.RoleMember}, role) {
		return protocol.BadParam("role", "role must be owner, admin or member")
	}
	m, err := s.store.GetMember(ctx, ref.id, userID)
	if errors.Is(err, store.ErrNotFound) {
		return protocol.Errorf(protocol.CodeNotFound, "%q is not a member of %q", userID, groupID)
	} else if err != nil {
		return s.internal(ctx, "get member", err)
	}
	if m.Role == protocol.RoleOwner && role != protocol.RoleOwner {
		return ownerFixed(userID)
	}
	if err := s.store.SetRole(ctx, ref.id, userID, role); err != nil {
		return s.internal(ctx, "set role", err)
	}
	if role != protocol.RoleOwner {
		return nil
	}
	err = s.forEachMember(ctx, ref.id, func(page []store.Member) error {
		for _, m := range page {
			if m.Role == protocol.RoleOwner && m.UserID != userID {
				if err := s.store.SetRole(ctx, ref.id, m.UserID, protocol.RoleAdmin); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return s.internal(ctx, "demote the previous owner", err)
	}
	return nil
}

// GroupMembers lists a group's members in user id order.
func (s *Service) GroupMembers(ctx context.Context, c Caller, p protocol.GroupMembersParams) (protocol.GroupMembersResult, error) {
	limit, pe := protocol.CheckLimit(p.Limit)
	if pe != nil {
		return protocol.GroupMembersResult{}, pe
	}
	if p.Cursor != "" && !protocol.ValidID(p.Cursor) {
		return protocol.GroupMembersResult{}, protocol.BadParam("cursor", "bad cursor")
	}
	ref, err := s.group(ctx, c.UserID, p.GroupID, false)
	if err != nil {
		return protocol.GroupMembersResult{}, err
	}
	page, err := s.store.ListMembers(ctx, ref.id, p.Cursor, limit+1)
	if err != nil {
		return protocol.GroupMembersResult{}, s.internal(ctx, "list members", err)
	}
	res := protocol.GroupMembersResult{Members: make([]protocol.GroupMember, 0, len(page))}
	if len(page) > limit {
		page = page[:limit]
		res.NextCursor = page[len(page)-1].UserID
	}
	for _, m := range page {
		res.Members = append(res.Members, protocol.GroupMember{UserID: m.UserID, Role: m.Role, JoinSeq: m.JoinSeq})
	}
	return res, nil
}
