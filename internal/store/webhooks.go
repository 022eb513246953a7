package store

import (
	"context"
	"encoding/json"
)

// Webhook is an HTTP endpoint the app registered to hear of receipt events
// (docs/webhooks.md).
type Webhook struct {
	ID  string `json:"id"`
	URL string `json:"url"`
	// Secret is the Standard Webhooks signing secret, "whsec_" + base64.
	Secret string `json:"secret"`
	// Events are the event types the endpoint receives ("message.sent",
	// "receipt.read", "receipt.threshold", "receipt.unread_after",
	// "receipt.expired").
	Events []string `json:"events"`
	// Thresholds are the read percentages (1-100) that fire
	// receipt.threshold, besides "first" and "all".
	Thresholds []int `json:"thresholds,omitempty"`
	// GroupTypes limits group events to groups of these types; empty: all
	// conversations. Peer conversations pass only when it is empty.
	GroupTypes []string `json:"groupTypes,omitempty"`
	// AllMessages sends message.sent for every message, not only those
	// that ask for receipts.
	AllMessages bool  `json:"allMessages,omitempty"`
	CreatedAt   int64 `json:"createdAt"`
}

// Delivery states.
const (
	// DeliveryPending is due at NextAt: never tried, or tried and failed
	// with attempts left (LastError says why).
	DeliveryPending = "pending"
	// DeliveryDelivered was answered 2xx.
	DeliveryDelivered = "delivered"
	// DeliveryDead gave up: too many attempts or too old. Replay makes it
	// pending again.
	DeliveryDead = "dead"
)

// Delivery is one event for one endpoint: a row of the outbox. EventID is
// the same on every attempt (the webhook-id header), so receivers can
// deduplicate; (Endpoint, EventID) is unique.
type Delivery struct {
	Endpoint string `json:"endpoint"`
	EventID  string `json:"eventId"`
	Type     string `json:"type"`
	// Payload is the whole request body, signed as is:
	// {"type", "timestamp", "data"}.
	Payload json.RawMessage `json:"payload"`
	State   string          `json:"state"`
	// Attempts is how many calls were made.
	Attempts int `json:"attempts"`
	// NextAt is when a pending delivery is due (Unix ms).
	NextAt int64 `json:"nextAt"`
	// LeaseUntil is set while a node holds the delivery (Unix ms): no
	// other claim takes it before then, and a node that dies mid-call
	// leaves it to another once the lease runs out.
	LeaseUntil int64 `json:"leaseUntil,omitempty"`
	// LastError is why the last attempt failed ("" if none did).
	LastError string `json:"lastError,omitempty"`
	CreatedAt int64  `json:"createdAt"`
	UpdatedAt int64  `json:"updatedAt"`
}

// Timer kinds.
const (
	// TimerUnreadAfter fires receipt.unread_after (remindAfterMs).
	TimerUnreadAfter = "unread_after"
	// TimerExpired fires receipt.expired when a receipt's validity window
	// closes.
	TimerExpired = "expired"
)

// Timer is a durable due time for one message: it survives restarts and
// fires once. (Conv, Seq, Kind) is unique.
type Timer struct {
	Conv  ConvID `json:"conv"`
	Seq   uint64 `json:"seq"`
	Kind  string `json:"kind"`
	DueAt int64  `json:"dueAt"`
	// LeaseUntil: as Delivery.LeaseUntil.
	LeaseUntil int64 `json:"leaseUntil,omitempty"`
}

// HookTrack is the webhook progress of one receipt message that endpoints
// watch for receipt.read and receipt.threshold: what was reported last,
// and which thresholds fired. It lets a restarted node report what a
// crash kept from being reported, and fire each threshold exactly once.
// (Conv, Seq) is unique.
type HookTrack struct {
	Conv  ConvID `json:"conv"`
	Seq   uint64 `json:"seq"`
	MsgID string `json:"msgId"`
	// Reported is the read count of the last report, ReportedAt its time
	// (Unix ms; readers after it are new readers).
	Reported   int   `json:"reported"`
	ReportedAt int64 `json:"reportedAt"`
	// Fired are the thresholds fired: "first", "all", or a percentage in
	// decimal ("50").
	Fired []string `json:"fired,omitempty"`
}

// HookOutbox is what a message append or a receipt request writes for
// webhooks in the same durable write: the deliveries it causes, the timers
// it sets and the track it starts. Every part is optional.
type HookOutbox struct {
	Deliveries []Delivery
	// Timers are the message's timers: Append fills in their Conv and Seq
	// from the stored message (the caller cannot know the seq before).
	Timers []Timer
	// Track, if set, starts the message's HookTrack (its Conv, Seq and
	// MsgID are filled in by Append from the stored message).
	Track *HookTrack
}

// Empty reports whether o writes nothing.
func (o *HookOutbox) Empty() bool {
	return o == nil || (len(o.Deliveries) == 0 && len(o.Timers) == 0 && o.Track == nil)
}

// Webhooks keeps webhook endpoints, the outbox of deliveries, durable
// timers and receipt tracks. Every write is durable when it returns.
// Several nodes share one backend: a claim hands a row to one caller
// until its lease runs out. Groups.DeleteGroup also deletes the timers and
// tracks of the group's conversation (they name messages that are gone);
// deliveries stay, they belong to their endpoint.
type Webhooks interface {
	// CreateWebhook stores w; ErrExists if its ID is taken.
	CreateWebhook(ctx context.Context, w Webhook) error
	// ListWebhooks returns every endpoint, in ID order, secrets included.
	ListWebhooks(ctx context.Context) ([]Webhook, error)
	// DeleteWebhook deletes an endpoint and its deliveries; ErrNotFound if
	// there is none.
	DeleteWebhook(ctx context.Context, id string) error

	// Enqueue stores deliveries in one durable write. A delivery whose
	// (Endpoint, EventID) is stored already is skipped: an event is
	// enqueued at most once per endpoint, whoever enqueues it again. A
	// delivery whose endpoint does not exist (deleted while the event was
	// made) is skipped too, so no row outlives its endpoint; the same
	// holds wherever deliveries are enqueued (Append's Hooks, FireTimer,
	// CommitReport).
	Enqueue(ctx context.Context, ds []Delivery) error
	// ClaimDeliveries takes up to limit pending deliveries with NextAt <=
	// now whose lease is not held (LeaseUntil <= now), oldest NextAt first,
	// sets their LeaseUntil to leaseUntil and returns them. Two concurrent
	// claims never return the same delivery.
	ClaimDeliveries(ctx context.Context, now, leaseUntil int64, limit int) ([]Delivery, error)
	// FinishDelivery records an attempt's outcome: d's State, Attempts,
	// NextAt, LastError and UpdatedAt replace the stored ones and the lease
	// is released. ErrNotFound if the delivery is gone (endpoint deleted).
	FinishDelivery(ctx context.Context, d Delivery) error
	// ListDeliveries returns up to limit deliveries of an endpoint in the
	// given state ("" for any), with EventID > after, in EventID order.
	ListDeliveries(ctx context.Context, endpoint, state, after string, limit int) ([]Delivery, error)
	// ReplayDelivery makes a delivery pending again, due at now, with its
	// attempts reset to 0, and returns it; ErrNotFound if there is none.
	ReplayDelivery(ctx context.Context, endpoint, eventID string, now int64) (Delivery, error)

	// AddTimers stores timers in one durable write; a timer whose (Conv,
	// Seq, Kind) is stored already is kept as it is.
	AddTimers(ctx context.Context, ts []Timer) error
	// ClaimTimers is ClaimDeliveries for timers due at now.
	ClaimTimers(ctx context.Context, now, leaseUntil int64, limit int) ([]Timer, error)
	// FireTimer deletes a timer and enqueues ds (as Enqueue) in one
	// durable write: a timer fires once. Firing a timer that is gone
	// changes nothing and enqueues nothing.
	FireTimer(ctx context.Context, t Timer, ds []Delivery) error

	// AddTrack starts a HookTrack unless (Conv, Seq) has one already.
	AddTrack(ctx context.Context, t HookTrack) error
	// ListTracks returns up to limit tracks after (conv, seq) in (Conv,
	// Seq) order: what a starting node reports that a crash left.
	ListTracks(ctx context.Context, afterConv ConvID, afterSeq uint64, limit int) ([]HookTrack, error)
	// GetTracks returns the tracks of conv's messages at seqs that exist,
	// in seq order.
	GetTracks(ctx context.Context, conv ConvID, seqs []uint64) ([]HookTrack, error)
	// CommitReport records one report in one durable write: each track in
	// update replaces the stored one, but Fired only ever grows (the
	// union of the stored and the given) and Reported/ReportedAt only rise;
	// the tracks named in done are deleted (nothing left to report); ds
	// are enqueued as Enqueue does. Tracks that are gone are skipped.
	CommitReport(ctx context.Context, update []HookTrack, done []MsgRef, ds []Delivery) error
}
