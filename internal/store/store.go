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

	"github.com/seen-im/seen/internal/ackrule"
)

// Sentinel errors. Backends wrap them with %w; callers test with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	// ErrUnavailable means the backend cannot serve now (closed, down);
	// the caller may retry later.
	ErrUnavailable = errors.New("store: unavailable")
	// ErrTooManyAcks means a member holds MaxAcks single-message acks above
	// its read watermark already.
	ErrTooManyAcks = errors.New("store: too many out-of-order acks")
	// ErrNotEmpty means a group still has members, so it cannot be deleted.
	ErrNotEmpty = errors.New("store: group not empty")
)

// MaxAcks bounds a member's single-message acks above its read watermark.
const MaxAcks = ackrule.MaxAcks

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
	// Demo marks a user the browser demo's token endpoint created: the
	// demo mints tokens for such users only, never for the app's own.
	Demo bool `json:"demo,omitempty"`
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
	// Acks are single-message read acks above ReadSeq, sorted by Seq. When
	// the watermark reaches them they are folded in: ReadSeq never has an
	// acked ReadSeq+1.
	Acks []Ack `json:"acks,omitempty"`
	// Own is the member's own read state when it differs from the shared
	// one above (ReadSeq, ReadAt, Acks): private reads move only it. nil
	// means own state = shared state (see own.go).
	Own *OwnRead `json:"own,omitempty"`
}

// Ack is one single-message read ack.
type Ack = ackrule.Ack

// HasAck reports whether seq is among m's single-message acks.
func (m Member) HasAck(seq uint64) bool {
	w := m.watermarks()
	return w.HasAck(seq)
}

// Ack records a single-message read of seq at time at, then folds. It
// reports whether m changed (false if seq was read already), and
// ErrTooManyAcks, changing nothing, if m holds MaxAcks acks already and
// this one does not fold. The rule is ackrule's, which the receipt engine
// applies too; a caller can run it on a copy to know in advance what an
// ack will do.
func (m *Member) Ack(seq uint64, at int64) (bool, error) {
	w := m.watermarks()
	changed, err := w.ReadOne(seq, at)
	if err != nil {
		return false, ErrTooManyAcks // the rule's only error
	}
	m.setWatermarks(w)
	return changed, nil
}

// Fold moves the read watermark through acks it reaches (ReadSeq+1 acked)
// and drops acks at or below it, keeping DeliveredSeq >= ReadSeq
// (ackrule.State.Fold). Every backend applies it after changing ReadSeq
// or Acks, so all agree.
func (m *Member) Fold() {
	w := m.watermarks()
	w.Fold()
	m.setWatermarks(w)
}

// watermarks is m's state for ackrule; its Acks is m.Acks, which the rule
// never modifies in place.
func (m *Member) watermarks() ackrule.State {
	return ackrule.State{Read: m.ReadSeq, Delivered: m.DeliveredSeq, ReadAt: m.ReadAt, DeliveredAt: m.DeliveredAt, Acks: m.Acks}
}

// setWatermarks sets m's watermarks to w.
func (m *Member) setWatermarks(w ackrule.State) {
	m.ReadSeq, m.DeliveredSeq, m.ReadAt, m.DeliveredAt, m.Acks = w.Read, w.Delivered, w.ReadAt, w.DeliveredAt, w.Acks
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
	// ReceiptAt is when receipts were asked for: SentAt for a message sent
	// with receipts, the time of the first receipt.request otherwise. The
	// validity window runs from it.
	ReceiptAt int64 `json:"receiptAt,omitempty"`
	// Settled is set once the receipt needs no more watching: every
	// eligible member read it (done is for good: eligible members only
	// leave, readers never unread) or its validity window closed.
	Settled bool `json:"settled,omitempty"`
	// Frozen holds the counts at the close of the validity window if it
	// closed before the receipt was done; nil otherwise.
	Frozen *Frozen `json:"frozen,omitempty"`
	// Hooks, given to Append, is written in the same durable write as the
	// message (webhooks.go): the deliveries, timers and track the message
	// causes. Nothing is written for a message that existed already. It is
	// never stored with the message nor returned.
	Hooks *HookOutbox `json:"-"`
}

// Frozen are a receipt's counts when its validity window closed.
type Frozen struct {
	Read, Unread, Delivered int
}

// ConvActivity is one of a user's conversations with what a conversation
// list needs to order and summarise it.
type ConvActivity struct {
	Conv ConvID
	// Member is the user's own record in Conv.
	Member Member
	// LastSeq is Conv's last seq (0: no message yet) and LastAt the SentAt
	// of that message (0 if none). LastSeq is read no earlier than Member:
	// Member's watermarks are never ahead of it.
	LastSeq uint64
	LastAt  int64
}

// Users keeps the registered users.
type Users interface {
	// PutUser registers u; created is false (and nothing changes) if the
	// user already exists.
	PutUser(ctx context.Context, u User) (created bool, err error)
	// GetUser returns ErrNotFound for an unknown user.
	GetUser(ctx context.Context, id string) (User, error)
}

// Settings are a user's receipt sharing switches, applied by the server
// to every ack of the user whatever client sends it.
type Settings struct {
	// ShareReads false makes every read of the user private: it moves only
	// the user's own read state, never what senders see.
	ShareReads bool `json:"shareReads"`
	// ShareDelivery false keeps the user's delivery acks from senders.
	ShareDelivery bool `json:"shareDelivery"`
}

// DefaultSettings are the settings of a user who never changed them: both
// switches on.
func DefaultSettings() Settings { return Settings{ShareReads: true, ShareDelivery: true} }

// UserSettings keeps users' settings.
type UserSettings interface {
	// GetSettings returns userID's settings, DefaultSettings if never set;
	// ErrNotFound for an unknown user.
	GetSettings(ctx context.Context, userID string) (Settings, error)
	// UpdateSettings sets the switches given (nil leaves one as it is)
	// atomically and durably, and returns the settings as they now stand:
	// two updates of different switches at once both hold. ErrNotFound for
	// an unknown user.
	UpdateSettings(ctx context.Context, userID string, shareReads, shareDelivery *bool) (Settings, error)
}

// Groups keeps group records.
type Groups interface {
	// CreateGroup stores g and its initial members (JoinSeq 1) in one
	// durable write; ErrExists if the group exists.
	CreateGroup(ctx context.Context, g Group, members []Member) error
	// GetGroup returns ErrNotFound for an unknown group.
	GetGroup(ctx context.Context, id string) (Group, error)
	// DeleteGroup deletes a group that has no members left: its record and
	// everything of its conversation (messages and their ids, receipts,
	// clientMsgIds, webhook timers and tracks), in one durable write, so that CreateGroup can use the
	// id again and the new conversation starts at seq 1. ErrNotFound for an
	// unknown group; ErrNotEmpty, changing nothing, while it has members
	// (the check is atomic with AddMembers, so a member added concurrently
	// is never deleted with the group).
	DeleteGroup(ctx context.Context, id string) error
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
	// GetMembers looks up many member records, of any conversations, in
	// one call (one round trip for a networked backend). The result is
	// aligned with refs: entry i is the record of refs[i], or the zero
	// Member (UserID "") if there is none. Duplicates each get an entry.
	GetMembers(ctx context.Context, refs []MemberRef) ([]Member, error)
	// ConversationsActivity returns every conversation userID is a member
	// of, in id order, each with the user's member record and the
	// conversation's last seq and last message time: what ordering a
	// conversation list by activity needs, in one call rather than a few
	// per conversation. Nothing is kept per user to answer it (no index
	// written on every message). None for a user with no conversation.
	ConversationsActivity(ctx context.Context, userID string) ([]ConvActivity, error)
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
	// GetMessages looks up many ids in one call (one round trip for a
	// networked backend). The result is aligned with ids: entry i is the
	// message of ids[i], or the zero Message (ID "") if there is none, so
	// the caller can name the first missing id. Duplicate ids are allowed
	// and each gets its own entry.
	GetMessages(ctx context.Context, ids []string) ([]Message, error)
	// History returns up to limit messages of conv with minSeq <= seq <
	// beforeSeq, newest first. beforeSeq 0 means no upper bound.
	History(ctx context.Context, conv ConvID, beforeSeq, minSeq uint64, limit int) ([]Message, error)
	// LastSeq returns the last allocated seq of conv, 0 if it has none.
	LastSeq(ctx context.Context, conv ConvID) (uint64, error)
	// MessageAt returns the message of conv at seq; ErrNotFound if none.
	MessageAt(ctx context.Context, conv ConvID, seq uint64) (Message, error)
	// MessagesAt is MessageAt for many messages, of any conversations, in
	// one call (one round trip for a networked backend). The result is
	// aligned with refs: entry i is the message at refs[i], or the zero
	// Message (ID "") if there is none. Duplicates each get an entry.
	MessagesAt(ctx context.Context, refs []MsgRef) ([]Message, error)
}

// MemberRef names one member record: GetMembers.
type MemberRef struct {
	Conv   ConvID
	UserID string
}

// MsgRef names one message by its place: MessagesAt.
type MsgRef struct {
	Conv ConvID
	Seq  uint64
}

// Receipts keeps the receipt state of messages. A message with Receipt set
// and not Settled is live: LiveReceipts lists it until it is settled.
type Receipts interface {
	// RequestReceipt turns receipts on for an existing message, stamping
	// ReceiptAt with at; changed is false (and nothing is written) if they
	// were on already. ErrNotFound for an unknown message.
	RequestReceipt(ctx context.Context, conv ConvID, seq uint64, at int64) (m Message, changed bool, err error)
	// SettleReceipt marks a live receipt settled, storing frozen (nil for a
	// receipt that is done). Settling a settled receipt changes nothing:
	// the first writer wins, atomically, however many handles (nodes)
	// settle it at once, and every later reader sees the winner's counts.
	// A done receipt's settle (frozen nil) need not be durable when the
	// call returns, only visible: lost in a crash, the receipt is live
	// again, and its engine's counts, which say it is done, are what every
	// reader is told either way. Frozen counts are durable when the call
	// returns.
	SettleReceipt(ctx context.Context, conv ConvID, seq uint64, frozen *Frozen) error
	// SettleDone settles the receipts of conv at seqs, every one of them
	// done: SettleReceipt(ctx, conv, seq, nil) of each, in one write and
	// with the same rules, but for two. A read of many peer receipt
	// messages settles them all at once, not one write after another.
	// The write need be neither durable nor visible when the call
	// returns: a backend may queue it and return at once, and a write
	// that then fails is the backend's to log (a done receipt left live
	// is still done, as after a crash). A seq with no message is passed
	// over, as one without a receipt or settled already is.
	SettleDone(ctx context.Context, conv ConvID, seqs []uint64) error
	// LiveReceipts returns every live receipt message of conv, in seq order.
	LiveReceipts(ctx context.Context, conv ConvID) ([]Message, error)
}

// Watermarks moves members' read and delivered watermarks. Both only ever
// rise, and a read raises the delivered watermark too.
type Watermarks interface {
	// AdvanceRead raises userID's ReadSeq (and DeliveredSeq) in conv to at
	// least seq, stamping ReadAt with at, then folds (Member.Fold). It
	// returns the member afterwards and whether anything changed; a durable
	// write happens only on change.
	AdvanceRead(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error)
	// AdvanceDelivered raises userID's DeliveredSeq in conv to at least seq.
	AdvanceDelivered(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error)
	// AckOne records a single-message read of seq by userID (out of order
	// allowed), then folds (Member.Fold). changed is false if seq was read
	// already. ErrTooManyAcks if the member holds MaxAcks acks already and
	// this one does not fold.
	AckOne(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error)
	// AckMany records single-message reads of seqs by userID as AckOne
	// would one after another, in one durable write. It returns the member
	// afterwards and, per seq, whether it was newly recorded. On an error
	// (ErrTooManyAcks, ErrNotFound) the others may still have been
	// recorded, as changed says, and the member returned is as they left
	// it; repeating the call is safe.
	AckMany(ctx context.Context, conv ConvID, userID string, seqs []uint64, at int64) (Member, []bool, error)
	// AdvanceOwnRead is a private AdvanceRead: it raises only userID's own
	// read watermark (Member.ReadOwn); the shared state and DeliveredSeq
	// stay.
	AdvanceOwnRead(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error)
	// AckManyOwn is a private AckMany: the reads go to the own state only
	// (Member.AckOwn).
	AckManyOwn(ctx context.Context, conv ConvID, userID string, seqs []uint64, at int64) (Member, []bool, error)
}

// Store is everything a backend provides.
type Store interface {
	Users
	UserSettings
	Groups
	Members
	Messages
	Watermarks
	Receipts
	Webhooks
	Finder
	// Close flushes and releases the backend; later calls return
	// ErrUnavailable.
	Close() error
}
