package service

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// Webhook event types (docs/webhooks.md).
const (
	HookMessageSent  = "message.sent"
	HookReceiptRead  = "receipt.read"
	HookThreshold    = "receipt.threshold"
	HookUnreadAfter  = "receipt.unread_after"
	HookExpired      = "receipt.expired"
	ThresholdFirst   = "first"
	ThresholdAll     = "all"
	maxHookNewReader = 1000 // newReaders of one receipt.read; newReadersMore says there were more
)

// HookEventTypes are the event types an endpoint may ask for.
var HookEventTypes = []string{HookMessageSent, HookReceiptRead, HookThreshold, HookUnreadAfter, HookExpired}

// hookData is the data of every webhook event; each type fills its fields.
// Conversation is named as the sender sees it (a peer conversation by the
// recipient's id).
type hookData struct {
	Conversation protocol.Conversation `json:"conversation"`
	MsgID        string                `json:"msgId"`
	Sender       string                `json:"sender"`
	// Body and SentAt are the message's (message.sent). Its seq is not
	// there: the event is written in the same write as the message, before
	// the store has allocated the seq.
	Body   json.RawMessage `json:"body,omitempty"`
	SentAt int64           `json:"sentAt,omitempty"`
	// Receipt is the receipt as the sender sees it (every type but
	// message.sent of a message without receipts).
	Receipt *protocol.Receipt `json:"receipt,omitempty"`
	// NewReaders are the readers since the last receipt.read of this
	// message, at most maxHookNewReader; NewReadersMore is true if there
	// were more (page them with the admin members endpoint).
	NewReaders     []string `json:"newReaders,omitempty"`
	NewReadersMore bool     `json:"newReadersMore,omitempty"`
	// Threshold is "first", "all" or a percentage (receipt.threshold).
	Threshold any `json:"threshold,omitempty"`
	// RemindAfterMs and UnreadMembers (the admin API path that pages the
	// unread members) are set on receipt.unread_after.
	RemindAfterMs int64  `json:"remindAfterMs,omitempty"`
	UnreadMembers string `json:"unreadMembers,omitempty"`
}

// hookEnvelope is a request body: the Standard Webhooks envelope.
type hookEnvelope struct {
	Type      string   `json:"type"`
	Timestamp string   `json:"timestamp"`
	Data      hookData `json:"data"`
}

// hookEvent is one event before it is fanned out to the endpoints that
// want it.
type hookEvent struct {
	// id is the event id (the webhook-id header), derived from what the
	// event is about, so that two nodes or two attempts to enqueue one
	// event enqueue it once: see hookEventID.
	id  string
	typ string
	// conv and groupType route it (Webhook.GroupTypes); receiptMsg says
	// the message asks for receipts (message.sent filter).
	conv       store.ConvID
	groupType  string
	receiptMsg bool
	// threshold is the threshold's key for receipt.threshold: "first",
	// "all" or a percentage in decimal.
	threshold string
	at        int64 // Unix ms: the envelope's timestamp
	data      hookData
}

// hookEventID returns the id of an event about msgID: the type's prefix
// and what makes the event unique (a threshold, the read count reported,
// a due time).
func hookEventID(typ, msgID, what string) string {
	prefix := map[string]string{
		HookMessageSent: "sent", HookReceiptRead: "read", HookThreshold: "thr",
		HookUnreadAfter: "unread", HookExpired: "exp",
	}[typ]
	if what == "" {
		return prefix + "_" + msgID
	}
	return prefix + "_" + msgID + "_" + what
}

// thresholdValue is a threshold key as the event's data carries it: the
// strings "first" and "all", a percentage as a number.
func thresholdValue(key string) any {
	if n, err := strconv.Atoi(key); err == nil {
		return n
	}
	return key
}

// wants reports whether endpoint ep receives ev.
func (ev *hookEvent) wantedBy(ep store.Webhook) bool {
	if !slices.Contains(ep.Events, ev.typ) {
		return false
	}
	if len(ep.GroupTypes) > 0 && (!ev.conv.IsGroup() || !slices.Contains(ep.GroupTypes, ev.groupType)) {
		return false
	}
	switch ev.typ {
	case HookMessageSent:
		return ev.receiptMsg || ep.AllMessages
	case HookThreshold:
		if ev.threshold == ThresholdFirst || ev.threshold == ThresholdAll {
			return true
		}
		n, err := strconv.Atoi(ev.threshold)
		return err == nil && slices.Contains(ep.Thresholds, n)
	}
	return true
}

// anyWants reports whether some endpoint receives events of type typ
// about conv: what decides whether a send writes a track or a timer.
func anyWants(eps []store.Webhook, typ string, conv store.ConvID, groupType string) bool {
	ev := hookEvent{typ: typ, conv: conv, groupType: groupType, receiptMsg: true, threshold: ThresholdFirst}
	return slices.ContainsFunc(eps, ev.wantedBy)
}

// hookDeliveries encodes ev once and makes one pending delivery of it per
// endpoint that wants it, due at once.
func hookDeliveries(eps []store.Webhook, ev hookEvent, now int64) ([]store.Delivery, error) {
	var ds []store.Delivery
	var payload json.RawMessage
	for _, ep := range eps {
		if !ev.wantedBy(ep) {
			continue
		}
		if payload == nil {
			b, err := json.Marshal(hookEnvelope{
				Type:      ev.typ,
				Timestamp: time.UnixMilli(ev.at).UTC().Format(time.RFC3339Nano),
				Data:      ev.data,
			})
			if err != nil {
				return nil, fmt.Errorf("encode webhook event %s: %w", ev.id, err)
			}
			payload = b
		}
		ds = append(ds, store.Delivery{
			Endpoint: ep.ID, EventID: ev.id, Type: ev.typ, Payload: payload,
			State: store.DeliveryPending, NextAt: now, CreatedAt: now, UpdatedAt: now,
		})
	}
	return ds, nil
}
