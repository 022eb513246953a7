package protocol

import "encoding/json"

// The webhook admin API (docs/webhooks.md): these types are the bodies of
// /v1/admin/webhooks, shared by the server and the Go admin SDK so the two
// cannot drift.

// Webhook delivery states, as GET .../deliveries?state= takes them.
// DeliveryFailed is a filter only: pending deliveries that failed at least
// once and wait for their next retry.
const (
	DeliveryPending   = "pending"
	DeliveryFailed    = "failed"
	DeliveryDead      = "dead"
	DeliveryDelivered = "delivered"
)

// Bounds of a webhook endpoint's registration.
const (
	MaxWebhookURLLen     = 2048
	MaxWebhookThresholds = 10
	MaxWebhookGroupTypes = 100
	// DefaultWebhookThreshold is the percentage that fires
	// receipt.threshold when thresholds are left out.
	DefaultWebhookThreshold = 50
)

// WebhookCreateParams is the body of POST /v1/admin/webhooks.
type WebhookCreateParams struct {
	// URL is an absolute http or https URL with a host, without userinfo
	// or fragment, at most 2048 bytes.
	URL string `json:"url"`
	// Events are the event types to receive, at least one, no repeats.
	Events []string `json:"events"`
	// Thresholds are read percentages (1-100, at most 10, no repeats) that
	// fire receipt.threshold besides "first" and "all". Left out: [50];
	// an empty list: "first" and "all" only. (No omitempty: a Go client
	// sends nil as null, the default, and an empty list as [].)
	Thresholds []int `json:"thresholds"`
	// GroupTypes, if set, limits the endpoint to groups of these types
	// (peer conversations are then left out).
	GroupTypes []string `json:"groupTypes,omitempty"`
	// AllMessages sends message.sent for every message, not only those
	// that ask for receipts.
	AllMessages bool `json:"allMessages,omitempty"`
}

// WebhookCreateResult is the answer to POST /v1/admin/webhooks. Secret is
// the signing secret ("whsec_" + base64): shown here only.
type WebhookCreateResult struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
}

// Webhook is a registered endpoint as GET /v1/admin/webhooks lists it:
// without its secret.
type Webhook struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Thresholds  []int    `json:"thresholds"`
	GroupTypes  []string `json:"groupTypes,omitempty"`
	AllMessages bool     `json:"allMessages"`
	CreatedAt   int64    `json:"createdAt"` // Unix ms
}

// WebhookListResult is the answer to GET /v1/admin/webhooks.
type WebhookListResult struct {
	Webhooks []Webhook `json:"webhooks"`
}

// WebhookDelivery is one event for one endpoint.
type WebhookDelivery struct {
	// EventID is the webhook-id header, the same on every attempt.
	EventID string `json:"eventId"`
	Type    string `json:"type"`
	// State is pending, delivered or dead.
	State    string `json:"state"`
	Attempts int    `json:"attempts"`
	// NextAt is when a pending delivery is due (Unix ms).
	NextAt    int64  `json:"nextAt"`
	LastError string `json:"lastError,omitempty"`
	CreatedAt int64  `json:"createdAt"`
	UpdatedAt int64  `json:"updatedAt"`
	// Payload is the request body, as signed: {"type", "timestamp", "data"}.
	Payload json.RawMessage `json:"payload"`
}

// WebhookDeliveriesResult is a page of
// GET /v1/admin/webhooks/{id}/deliveries; NextCursor is empty on the last.
type WebhookDeliveriesResult struct {
	Deliveries []WebhookDelivery `json:"deliveries"`
	NextCursor string            `json:"nextCursor,omitempty"`
}
