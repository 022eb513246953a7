// Package store defines Seen's storage contract: small interfaces split by
// responsibility, the records they keep, and the sentinel errors every
// backend returns. The embedded backend lives in store/pebblestore; the
// conformance suite every backend must pass lives in store/storetest.
//
// Nothing here assumes that one process owns all state: a backend allocates
// per-conversation seqs and join positions atomically itself, so several
// server nodes can share one backend.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
)

// Sentinel errors. Backends wrap them with %w; callers test with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	// ErrUnavailable means the backend cannot serve now (closed, down);
	// the caller may retry later.
	ErrUnavailable = errors.New("store: unavailable")
)

// ConvID is the storage key of a conversation, the same from both sides:
// "g/<groupId>" for a group, "p/<a>/<b>" with a < b for a peer conversation.
// '/' cannot occur in a user or group id.
type ConvID string

// GroupConv returns the ConvID of a group.
func GroupConv(groupID string) ConvID { return ConvID("g/" + groupID) }

// PeerConv returns the ConvID of the peer conversation between a and b.
func PeerConv(a, b string) ConvID {
	if b < a {
		a, b = b, a
	}
	return ConvID("p/" + a + "/" + b)
}

// IsGroup reports whether c names a group conversation.
func (c ConvID) IsGroup() bool { return strings.HasPrefix(string(c), "g/") }

// IsPeer reports whether c names a peer conversation.
func (c ConvID) IsPeer() bool { return strings.HasPrefix(string(c), "p/") }

// GroupID returns the group id of a group conversation.
func (c ConvID) GroupID() string { return strings.TrimPrefix(string(c), "g/") }

// Peers returns the two users of a peer conversation, in order.
func (c ConvID) Peers() (a, b string) {
	a, b, _ = strings.Cut(strings.TrimPrefix(string(c), "p/"), "/")
	return a, b
}

// Other returns the party of a peer conversation that is not user.
func (c ConvID) Other(user string) string {
	a, b := c.Peers()
	if a == user {
		return b
	}
	return a
}

// User is a registered user.
type User struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	CreatedAt int64  `json:"createdAt"`
}

// Group is a group's own record; its members are Member records of its
// conversation.
type Group struct {
	ID        string `json:"id"`
	Type      string `json:"type,omitempty"`
	CreatedBy string `json:"createdBy"`
	CreatedAt int64  `json:"createdAt"`
}

// Member is one user's state in one conversation. Peer conversations have
// two members, both with JoinSeq 1 and role "member".
type Member struct {
	UserID string `json:"userId"`
	Role   string `json:"role,omitempty"`
	// JoinSeq is the first seq the member can see.
	JoinSeq uint64 `json:"joinSeq"`
	// ReadSeq is the read watermark: every message up to it is read.
	// It starts at JoinSeq-1.
	ReadSeq uint64 `json:"readSeq"`
	// DeliveredSeq is the delivery watermark; a read raises it too.
	DeliveredSeq uint64 `json:"deliveredSeq"`
	// ReadAt and DeliveredAt are when the watermarks last moved.
	ReadAt      int64 `json:"readAt,omitempty"`
	DeliveredAt int64 `json:"deliveredAt,omitempty"`
	JoinedAt    int64 `json:"joinedAt"`
}

// Message is one stored message.
type Message struct {
	ID          string          `json:"id"`
	Conv        ConvID          `json:"conv"`
	Seq         uint64          `json:"seq"`
	Sender      string          `json:"sender"`
	ClientMsgID string          `json:"clientMsgId"`
	Body        json.RawMessage `json:"body"`
	SentAt      int64           `json:"sentAt"`
	Receipt     bool            `json:"receipt,omitempty"`
}

// Users keeps the registered users.
type Users interface {
	// PutUser registers u; created is false (and nothing changes) if the
	// user already exists.
	PutUser(ctx context.Context, u User) (created bool, err error)
	// GetUser returns ErrNotFound for an unknown user.
	GetUser(ctx context.Context, id string) (User, error)
}

// Groups keeps group records.
type Groups interface {
	// CreateGroup stores g and its initial members (JoinSeq 1) in one
	// durable write; ErrExists if the group exists.
	CreateGroup(ctx context.Context, g Group, members []Member) error
	// GetGroup returns ErrNotFound for an unknown group.
	GetGroup(ctx context.Context, id string) (Group, error)
}

// Members keeps the members of conversations and each user's list of
// conversations.
type Members interface {
	// AddMembers adds the given users to conv. Each new member's JoinSeq is
	// the conversation's last seq plus one, taken atomically with message
	// appends, and its watermarks start at JoinSeq-1 (the caller's values
	// for JoinSeq and the watermarks are ignored). Users who are already
	// members are left as they are. It returns the members it added.
	AddMembers(ctx context.Context, conv ConvID, members []Member) ([]Member, error)
	// RemoveMember deletes a member; ErrNotFound if userID is not one.
	RemoveMember(ctx context.Context, conv ConvID, userID string) error
	// SetRole changes a member's role; ErrNotFound if userID is not one.
	SetRole(ctx context.Context, conv ConvID, userID, role string) error
	// GetMember returns ErrNotFound if userID is not a member of conv.
	GetMember(ctx context.Context, conv ConvID, userID string) (Member, error)
	// ListMembers returns up to limit members with user ids greater than
	// after, in user id order.
	ListMembers(ctx context.Context, conv ConvID, after string, limit int) ([]Member, error)
	// CountMembers returns the number of members of conv.
	CountMembers(ctx context.Context, conv ConvID) (int, error)
	// ConversationsOf returns up to limit conversations that userID is a
	// member of, with ids greater than after, in id order.
	ConversationsOf(ctx context.Context, userID string, after ConvID, limit int) ([]ConvID, error)
}

// Messages keeps messages and allocates their seqs.
type Messages interface {
	// Append stores m as the next message of m.Conv: it allocates m.Seq
	// atomically, raises the sender's read and delivered watermarks to it,
	// and returns once the write is durable. If m.Sender already sent
	// m.ClientMsgID in m.Conv, nothing is written and the stored message is
	// returned with existed = true. For a peer conversation the first
	// append creates the conversation and both members (JoinSeq 1).
	Append(ctx context.Context, m Message) (stored Message, existed bool, err error)
	// GetMessage returns ErrNotFound for an unknown msgID.
	GetMessage(ctx context.Context, msgID string) (Message, error)
	// History returns up to limit messages of conv with minSeq <= seq <
	// beforeSeq, newest first. beforeSeq 0 means no upper bound.
	History(ctx context.Context, conv ConvID, beforeSeq, minSeq uint64, limit int) ([]Message, error)
	// LastSeq returns the last allocated seq of conv, 0 if it has none.
	LastSeq(ctx context.Context, conv ConvID) (uint64, error)
}

// Watermarks moves members' read and delivered watermarks. Both only ever
// rise, and a read raises the delivered watermark too.
type Watermarks interface {
	// AdvanceRead raises userID's ReadSeq (and DeliveredSeq) in conv to at
	// least seq, stamping ReadAt with at. It returns the member afterwards
	// and whether anything changed; a durable write happens only on change.
	AdvanceRead(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error)
	// AdvanceDelivered raises userID's DeliveredSeq in conv to at least seq.
	AdvanceDelivered(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error)
}

// Store is everything a backend provides.
type Store interface {
	Users
	Groups
	Members
	Messages
	Watermarks
	// Close flushes and releases the backend; later calls return
	// ErrUnavailable.
	Close() error
}
