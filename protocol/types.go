package protocol

import (
	"encoding/json"
	"fmt"
)

// Method names, client -> server.
const (
	MethodConnect          = "connect"
	MethodConnectRefresh   = "connect.refresh"
	MethodMessageSend      = "message.send"
	MethodMessageHistory   = "message.history"
	MethodMessageDelivered = "message.delivered"
	MethodMessageRead      = "message.read"
	MethodConversationRead = "conversation.read"
	MethodConversationList = "conversation.list"
	MethodReceiptRequest   = "receipt.request"
	MethodReceiptQuery     = "receipt.query"
	MethodReceiptMembers   = "receipt.members"
	MethodGroupCreate      = "group.create"
	MethodGroupAdd         = "group.add"
	MethodGroupRemove      = "group.remove"
	MethodGroupLeave       = "group.leave"
	MethodGroupMembers     = "group.members"
	MethodSettingsGet      = "settings.get"
	MethodSettingsUpdate   = "settings.update"
)

// AckMethods are the methods that acknowledge messages, most of what a
// client sends, in the order of AckIndex.
var AckMethods = [...]string{MethodMessageRead, MethodMessageDelivered, MethodConversationRead}

// AckIndex is method's place in AckMethods, -1 for any other: three
// comparisons with constants, where a map lookup per request showed in
// the read ack's instruction count.
func AckIndex(method string) int {
	switch method {
	case MethodMessageRead:
		return 0
	case MethodMessageDelivered:
		return 1
	case MethodConversationRead:
		return 2
	}
	return -1
}

// Event names, server -> client.
const (
	EventMessageNew       = "message.new"
	EventReceiptDelivered = "receipt.delivered"
	EventReceiptRead      = "receipt.read"
	EventConversationRead = "conversation.read"
	EventReceiptChanged   = "receipt.changed"
	EventReceiptRequested = "receipt.requested"
	EventGroupMember      = "group.member"
	EventSettingsChanged  = "settings.changed"
)

// Conversation types.
const (
	ConvPeer  = "peer"
	ConvGroup = "group"
)

// Group roles.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Receipt statuses.
const (
	StatusNone    = "none"
	StatusPending = "pending"
	StatusDone    = "done"
	StatusExpired = "expired"
)

// Member list filters of receipt.members.
const (
	FilterRead        = "read"
	FilterUnread      = "unread"
	FilterDelivered   = "delivered"
	FilterUndelivered = "undelivered"
)

// Group member actions of the group.member event.
const (
	ActionJoined  = "joined"
	ActionLeft    = "left"
	ActionRemoved = "removed"
)

// MaxIDLen is the longest userId or groupId.
const MaxIDLen = 64

// ValidID reports whether s is a valid userId or groupId:
// 1-64 characters of [A-Za-z0-9_.@-].
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '.', c == '@', c == '-':
		default:
			return false
		}
	}
	return true
}

// Conversation names a conversation from the caller's side: a peer
// conversation's id is the other user's id.
type Conversation struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Validate checks the type and the id, naming field in the error.
func (c Conversation) Validate(field string) *Error {
	if c.Type != ConvPeer && c.Type != ConvGroup {
		return BadParam(field+".type", "conversation type must be %q or %q", ConvPeer, ConvGroup)
	}
	if !ValidID(c.ID) {
		return BadParam(field+".id", "conversation id must be 1-64 characters of [A-Za-z0-9_.@-]")
	}
	return nil
}

func (c Conversation) String() string { return c.Type + ":" + c.ID }

// Message is one message as a client sees it.
type Message struct {
	MsgID        string          `json:"msgId"`
	Seq          uint64          `json:"seq"`
	Conversation Conversation    `json:"conversation"`
	Sender       string          `json:"sender"`
	Body         json.RawMessage `json:"body"`
	SentAt       int64           `json:"sentAt"`
	// Receipt is present when the message asks for receipts: a *Receipt for
	// the caller's own messages, an *AckState for other people's.
	Receipt any `json:"receipt,omitempty"`
}

// Receipt is the receipt state of one message, as its sender sees it.
type Receipt struct {
	MsgID          string `json:"msgId"`
	Status         string `json:"status"`
	ReadCount      int    `json:"readCount"`
	UnreadCount    int    `json:"unreadCount"`
	DeliveredCount int    `json:"deliveredCount"`
	ExpiresAt      int64  `json:"expiresAt"` // 0: never expires
}

// AckState is what a receiver sees on someone else's receipt message:
// whether the caller has acked it.
type AckState struct {
	Read      bool `json:"read"`
	Delivered bool `json:"delivered"`
}

// ConversationInfo is one entry of conversation.list.
type ConversationInfo struct {
	Conversation     Conversation `json:"conversation"`
	LastSeq          uint64       `json:"lastSeq"`
	LastMessage      *Message     `json:"lastMessage,omitempty"`
	UnreadCount      uint64       `json:"unreadCount"`
	ReadSeq          uint64       `json:"readSeq"`
	PeerReadSeq      *uint64      `json:"peerReadSeq,omitempty"`
	PeerDeliveredSeq *uint64      `json:"peerDeliveredSeq,omitempty"`
}

// GroupMember is one entry of group.members.
type GroupMember struct {
	UserID  string `json:"userId"`
	Role    string `json:"role"`
	JoinSeq uint64 `json:"joinSeq"`
}

// ReceiptMember is one entry of receipt.members.
type ReceiptMember struct {
	UserID string `json:"userId"`
	At     int64  `json:"at,omitempty"`
}

// Params and results of every method.

type ConnectParams struct {
	Token  string `json:"token"`
	Device string `json:"device,omitempty"`
}

type ConnectResult struct {
	UserID     string `json:"userId"`
	Device     string `json:"device"`
	ServerTime int64  `json:"serverTime"`
	// ExpiresAt is the token's exp (ms): the server closes the socket with
	// CloseTokenExpired once it passes, unless connect.refresh moved it.
	ExpiresAt int64 `json:"expiresAt"`
}

// RefreshParams are connect.refresh's: a new token for the same user.
type RefreshParams struct {
	Token string `json:"token"`
}

// RefreshResult answers connect.refresh: the connection now lives until
// ExpiresAt (ms), the new token's exp.
type RefreshResult struct {
	UserID    string `json:"userId"`
	ExpiresAt int64  `json:"expiresAt"`
}

type SendParams struct {
	Conversation Conversation    `json:"conversation"`
	ClientMsgID  string          `json:"clientMsgId"`
	Body         json.RawMessage `json:"body"`
	Receipt      bool            `json:"receipt,omitempty"`
	// RemindAfterMs (1 ms to 30 days; needs receipt) fires the
	// receipt.unread_after webhook that long after the send if some member
	// has not read the message by then. Absent: no reminder (0 is refused).
	RemindAfterMs *int64 `json:"remindAfterMs,omitempty"`
}

type SendResult struct {
	MsgID  string `json:"msgId"`
	Seq    uint64 `json:"seq"`
	SentAt int64  `json:"sentAt"`
}

type HistoryParams struct {
	Conversation Conversation `json:"conversation"`
	BeforeSeq    uint64       `json:"beforeSeq,omitempty"`
	Limit        int          `json:"limit,omitempty"` // 1-100; 0 leaves it out (default 20)
}

type HistoryResult struct {
	Messages []Message `json:"messages"`
	HasMore  bool      `json:"hasMore"`
}

type DeliveredParams struct {
	Conversation Conversation `json:"conversation"`
	Seq          uint64       `json:"seq"`
}

type ReadParams struct {
	Conversation Conversation `json:"conversation"`
	MsgIDs       []string     `json:"msgIds"`
	// Private makes this read private whatever the reader's shareReads:
	// it clears the reader's own unread state and tells no sender.
	Private bool `json:"private,omitempty"`
}

type ReadResult struct {
	Read int `json:"read"`
}

type ConversationReadParams struct {
	Conversation Conversation `json:"conversation"`
	Seq          uint64       `json:"seq,omitempty"`
	// Private: as ReadParams.Private.
	Private bool `json:"private,omitempty"`
}

// Settings are a user's receipt sharing switches: the result of
// settings.get and settings.update, the params of settings.changed, and
// the body of the admin settings endpoints.
type Settings struct {
	// ShareReads false makes every read of the user private.
	ShareReads bool `json:"shareReads"`
	// ShareDelivery false keeps the user's delivery acks from senders.
	ShareDelivery bool `json:"shareDelivery"`
}

// SettingsUpdateParams change either switch or both; a field left out
// stays as it is.
type SettingsUpdateParams struct {
	ShareReads    *bool `json:"shareReads,omitempty"`
	ShareDelivery *bool `json:"shareDelivery,omitempty"`
}

type ConversationReadResult struct {
	ReadSeq uint64 `json:"readSeq"`
}

type ConversationListParams struct {
	Limit  int    `json:"limit,omitempty"` // 1-100; 0 leaves it out (default 20)
	Cursor string `json:"cursor,omitempty"`
}

type ConversationListResult struct {
	Conversations []ConversationInfo `json:"conversations"`
	NextCursor    string             `json:"nextCursor,omitempty"`
}

type ReceiptRequestParams struct {
	Conversation Conversation `json:"conversation"`
	MsgID        string       `json:"msgId"`
	// RemindAfterMs is message.send's, counted from this request.
	RemindAfterMs *int64 `json:"remindAfterMs,omitempty"`
}

type ReceiptQueryParams struct {
	Conversation Conversation `json:"conversation"`
	MsgIDs       []string     `json:"msgIds"`
}

type ReceiptQueryResult struct {
	Receipts []Receipt `json:"receipts"`
}

type ReceiptMembersParams struct {
	Conversation Conversation `json:"conversation"`
	MsgID        string       `json:"msgId"`
	Filter       string       `json:"filter"`
	Cursor       string       `json:"cursor,omitempty"`
	Limit        int          `json:"limit,omitempty"` // 1-100; 0 leaves it out (default 20)
}

type ReceiptMembersResult struct {
	Members    []ReceiptMember `json:"members"`
	NextCursor string          `json:"nextCursor,omitempty"`
	Done       bool            `json:"done"`
}

type GroupCreateParams struct {
	GroupID string   `json:"groupId"`
	Type    string   `json:"type,omitempty"`
	Members []string `json:"members,omitempty"`
}

type GroupCreateResult struct {
	GroupID string `json:"groupId"`
}

type GroupMembersChangeParams struct {
	GroupID string   `json:"groupId"`
	UserIDs []string `json:"userIds"`
}

type GroupLeaveParams struct {
	GroupID string `json:"groupId"`
}

type GroupMembersParams struct {
	GroupID string `json:"groupId"`
	Cursor  string `json:"cursor,omitempty"`
	Limit   int    `json:"limit,omitempty"` // 1-100; 0 leaves it out (default 20)
}

type GroupMembersResult struct {
	Members    []GroupMember `json:"members"`
	NextCursor string        `json:"nextCursor,omitempty"`
}

// Empty is the result of methods that answer {}.
type Empty struct{}

// Event params.

type MessageNewEvent struct {
	Message Message `json:"message"`
}

type ReceiptDeliveredEvent struct {
	Conversation Conversation `json:"conversation"`
	UserID       string       `json:"userId"`
	Seq          uint64       `json:"seq"`
}

type ReceiptReadEvent struct {
	Conversation Conversation `json:"conversation"`
	UserID       string       `json:"userId"`
	MsgIDs       []string     `json:"msgIds"`
}

type ConversationReadEvent struct {
	Conversation Conversation `json:"conversation"`
	UserID       string       `json:"userId"`
	Seq          uint64       `json:"seq"`
}

// ChangedReceipt is a Receipt with the members who read it since the last event.
type ChangedReceipt struct {
	Receipt
	NewReaders []string `json:"newReaders"`
}

type ReceiptChangedEvent struct {
	Conversation Conversation     `json:"conversation"`
	Receipts     []ChangedReceipt `json:"receipts"`
}

type ReceiptRequestedEvent struct {
	Conversation Conversation `json:"conversation"`
	MsgID        string       `json:"msgId"`
	Sender       string       `json:"sender"`
}

type GroupMemberEvent struct {
	Conversation Conversation `json:"conversation"`
	UserID       string       `json:"userId"`
	Action       string       `json:"action"`
	By           string       `json:"by"`
}

// Limits of the contract.
const (
	MaxPageLimit     = 100
	DefaultPageLimit = 20
	MaxMsgIDs        = 100
)

// CheckLimit applies the default to a page limit of 0 and the 1-100 range
// to any other. On the wire only an absent limit takes the default: the
// server refuses an explicit one out of range (CheckExplicitLimit) before
// a method sees it, so 0 here means "not given" (a Go client leaves the
// field 0 to leave it out).
func CheckLimit(limit int) (int, *Error) {
	if limit == 0 {
		return DefaultPageLimit, nil
	}
	if pe := CheckExplicitLimit(limit); pe != nil {
		return 0, pe
	}
	return limit, nil
}

// CheckExplicitLimit checks a page limit the caller gave: 1-100, else
// -32602 with data.field "limit". 0 is out of range like any other.
func CheckExplicitLimit(limit int) *Error {
	if limit < 1 || limit > MaxPageLimit {
		return BadParam("limit", "limit must be between 1 and %d", MaxPageLimit)
	}
	return nil
}

// CheckMsgIDs checks a list of 1-100 message ids.
func CheckMsgIDs(ids []string) *Error {
	if len(ids) < 1 || len(ids) > MaxMsgIDs {
		return BadParam("msgIds", "msgIds must hold 1 to %d ids", MaxMsgIDs)
	}
	for i, id := range ids {
		if id == "" || len(id) > 128 {
			return BadParam(fmt.Sprintf("msgIds[%d]", i), "bad message id")
		}
	}
	return nil
}

// MaxRemindAfterMs bounds remindAfterMs: 30 days.
const MaxRemindAfterMs = 30 * 24 * 60 * 60 * 1000

// CheckRemindAfter checks a remindAfterMs the caller gave (nil: none):
// 1 ms to 30 days, else -32602 with data.field "remindAfterMs".
func CheckRemindAfter(ms *int64) *Error {
	if ms != nil && (*ms < 1 || *ms > MaxRemindAfterMs) {
		return BadParam("remindAfterMs", "remindAfterMs must be between 1 and %d (30 days)", MaxRemindAfterMs)
	}
	return nil
}
