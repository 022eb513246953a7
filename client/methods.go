package client

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"

	"github.com/seen-im/seen/protocol"
)

// call is Call with a typed result.
func call[R any](ctx context.Context, c *Client, method string, params any) (R, error) {
	var res R
	if err := c.Call(ctx, method, params, &res); err != nil {
		var zero R
		return zero, err
	}
	return res, nil
}

// Send sends a message (message.send). An empty p.ClientMsgID is filled in
// with NewClientMsgID, as the TypeScript SDK does. To repeat a send that
// failed with ErrDisconnected without creating a second message, set it
// yourself and send again with the same id.
func (c *Client) Send(ctx context.Context, p protocol.SendParams) (protocol.SendResult, error) {
	if p.ClientMsgID == "" {
		p.ClientMsgID = NewClientMsgID()
	}
	return call[protocol.SendResult](ctx, c, protocol.MethodMessageSend, p)
}

// History returns a page of messages, newest first (message.history).
func (c *Client) History(ctx context.Context, p protocol.HistoryParams) (protocol.HistoryResult, error) {
	res, err := call[protocol.HistoryResult](ctx, c, protocol.MethodMessageHistory, p)
	if err != nil {
		return res, err
	}
	for i := range res.Messages {
		if err := normalizeReceipt(&res.Messages[i]); err != nil {
			return protocol.HistoryResult{}, err
		}
	}
	return res, nil
}

// Delivered acks that this device received everything up to p.Seq
// (message.delivered). With auto delivered acks on, the client does this by
// itself.
func (c *Client) Delivered(ctx context.Context, p protocol.DeliveredParams) error {
	return c.Call(ctx, protocol.MethodMessageDelivered, p, nil)
}

// Read marks single messages read (message.read). Unless
// WithReadBatching(false), concurrent calls for one conversation share
// requests, as MarkRead's do: see the package documentation, "Read acks".
//
// With p.Private the read is private whatever the user's shareReads: it
// clears this user's unread state on all its devices and tells no sender.
// A private read goes in a request of its own, never shared with others.
func (c *Client) Read(ctx context.Context, p protocol.ReadParams) (protocol.ReadResult, error) {
	if !c.cfg.readBatching || p.Private || len(p.MsgIDs) == 0 || len(p.MsgIDs) > protocol.MaxMsgIDs {
		// Nothing to share, a private read, or a request the server
		// refuses as a whole: it goes alone and gets the server's own
		// answer.
		return c.readNow(ctx, p)
	}
	n, err := c.queueRead(ctx, p.Conversation, p.MsgIDs)
	if err != nil {
		return protocol.ReadResult{}, err
	}
	return protocol.ReadResult{Read: n}, nil
}

// ReadAsync is Read without the wait: it sends or queues the read and
// returns at once, and done, if not nil, gets what Read would have
// returned. A read that shares requests (as Read's do, unless
// WithReadBatching(false)) is sent and answered as MarkReadAsync's are; a
// read that goes alone fails at once while the client reconnects, and
// fails when the connection drops before the answer. done runs on a
// goroutine of the client's (the one that reads the socket, for a read
// that went alone), or on that of a call that shared the request: it must
// not block.
func (c *Client) ReadAsync(p protocol.ReadParams, done func(protocol.ReadResult, error)) {
	if done == nil {
		done = func(protocol.ReadResult, error) {}
	}
	if c.cfg.readBatching && !p.Private && len(p.MsgIDs) > 0 && len(p.MsgIDs) <= protocol.MaxMsgIDs {
		c.queueReadAsync(p.Conversation, p.MsgIDs, func(n int, err error) {
			if err != nil {
				done(protocol.ReadResult{}, err)
				return
			}
			done(protocol.ReadResult{Read: n}, nil)
		})
		return
	}
	raw, err := marshalParams(p)
	if err != nil {
		done(protocol.ReadResult{}, fmt.Errorf("client: encode %s params: %w", protocol.MethodMessageRead, err))
		return
	}
	c.callAsync(protocol.MethodMessageRead, raw, func(res json.RawMessage, err error) {
		var r protocol.ReadResult
		if err == nil && len(res) > 0 {
			if derr := unmarshalResult(res, &r); derr != nil {
				err = fmt.Errorf("client: decode %s result: %w", protocol.MethodMessageRead, derr)
			}
		}
		done(r, err)
	})
}

// readNow sends one message.read.
func (c *Client) readNow(ctx context.Context, p protocol.ReadParams) (protocol.ReadResult, error) {
	return call[protocol.ReadResult](ctx, c, protocol.MethodMessageRead, p)
}

// ReadConversation marks a conversation read up to p.Seq, or to its latest
// message when p.Seq is 0 (conversation.read); p.Private makes it private,
// as for Read. The result is this user's own read watermark.
func (c *Client) ReadConversation(ctx context.Context, p protocol.ConversationReadParams) (protocol.ConversationReadResult, error) {
	return call[protocol.ConversationReadResult](ctx, c, protocol.MethodConversationRead, p)
}

// Conversations lists the caller's conversations (conversation.list).
func (c *Client) Conversations(ctx context.Context, p protocol.ConversationListParams) (protocol.ConversationListResult, error) {
	res, err := call[protocol.ConversationListResult](ctx, c, protocol.MethodConversationList, p)
	if err != nil {
		return res, err
	}
	for _, ci := range res.Conversations {
		if ci.LastMessage != nil {
			if err := normalizeReceipt(ci.LastMessage); err != nil {
				return protocol.ConversationListResult{}, err
			}
		}
	}
	return res, nil
}

// RequestReceipt asks the members of a group for read receipts of the
// caller's own message, or reminds those who have not read it
// (receipt.request).
func (c *Client) RequestReceipt(ctx context.Context, p protocol.ReceiptRequestParams) error {
	return c.Call(ctx, protocol.MethodReceiptRequest, p, nil)
}

// QueryReceipts returns one receipt per message id (receipt.query).
func (c *Client) QueryReceipts(ctx context.Context, p protocol.ReceiptQueryParams) (protocol.ReceiptQueryResult, error) {
	return call[protocol.ReceiptQueryResult](ctx, c, protocol.MethodReceiptQuery, p)
}

// ReceiptMembers lists who read, did not read, received or did not receive
// a message (receipt.members).
func (c *Client) ReceiptMembers(ctx context.Context, p protocol.ReceiptMembersParams) (protocol.ReceiptMembersResult, error) {
	return call[protocol.ReceiptMembersResult](ctx, c, protocol.MethodReceiptMembers, p)
}

// CreateGroup creates a group owned by the caller (group.create).
func (c *Client) CreateGroup(ctx context.Context, p protocol.GroupCreateParams) (protocol.GroupCreateResult, error) {
	return call[protocol.GroupCreateResult](ctx, c, protocol.MethodGroupCreate, p)
}

// AddMembers adds users to a group (group.add).
func (c *Client) AddMembers(ctx context.Context, p protocol.GroupMembersChangeParams) error {
	return c.Call(ctx, protocol.MethodGroupAdd, p, nil)
}

// RemoveMembers removes users from a group (group.remove).
func (c *Client) RemoveMembers(ctx context.Context, p protocol.GroupMembersChangeParams) error {
	return c.Call(ctx, protocol.MethodGroupRemove, p, nil)
}

// LeaveGroup leaves a group (group.leave).
func (c *Client) LeaveGroup(ctx context.Context, p protocol.GroupLeaveParams) error {
	return c.Call(ctx, protocol.MethodGroupLeave, p, nil)
}

// GroupMembers lists a group's members (group.members).
func (c *Client) GroupMembers(ctx context.Context, p protocol.GroupMembersParams) (protocol.GroupMembersResult, error) {
	return call[protocol.GroupMembersResult](ctx, c, protocol.MethodGroupMembers, p)
}

// NewClientMsgID returns a random clientMsgId: 26 characters of
// [A-Z2-7], 128 bits of randomness.
func NewClientMsgID() string { return rand.Text() }

// Settings returns the user's receipt sharing switches (settings.get).
func (c *Client) Settings(ctx context.Context) (protocol.Settings, error) {
	return call[protocol.Settings](ctx, c, protocol.MethodSettingsGet, protocol.Empty{})
}

// UpdateSettings changes either switch or both (settings.update) and
// returns the settings as they now stand; the user's other devices get
// settings.changed. The server applies them to every later ack of the
// user, whatever device sends it.
func (c *Client) UpdateSettings(ctx context.Context, p protocol.SettingsUpdateParams) (protocol.Settings, error) {
	return call[protocol.Settings](ctx, c, protocol.MethodSettingsUpdate, p)
}
