package admin

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/seen-im/seen/protocol"
)

// CreateWebhook registers a webhook endpoint (POST /v1/admin/webhooks) and
// returns its id and signing secret. The secret is shown only here: keep
// it where the receiver can verify signatures with it. p.Thresholds nil
// takes the server's default ([50]); an empty, non-nil list fires only
// "first" and "all".
func (c *Client) CreateWebhook(ctx context.Context, p protocol.WebhookCreateParams) (protocol.WebhookCreateResult, error) {
	var res protocol.WebhookCreateResult
	_, err := c.do(ctx, http.MethodPost, "/v1/admin/webhooks", p, &res)
	return res, err
}

// Webhooks lists the registered endpoints, without their secrets
// (GET /v1/admin/webhooks).
func (c *Client) Webhooks(ctx context.Context) ([]protocol.Webhook, error) {
	var res protocol.WebhookListResult
	_, err := c.do(ctx, http.MethodGet, "/v1/admin/webhooks", nil, &res)
	return res.Webhooks, err
}

// DeleteWebhook removes an endpoint and its pending deliveries
// (DELETE /v1/admin/webhooks/{id}).
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, webhookPath(id), nil, nil)
	return err
}

// Deliveries lists a page of an endpoint's deliveries
// (GET /v1/admin/webhooks/{id}/deliveries). state is "" for all, or
// protocol.DeliveryPending, DeliveryFailed, DeliveryDead or
// DeliveryDelivered; cursor is "" for the first page, then the previous
// page's NextCursor; limit 0 takes the server's default.
func (c *Client) Deliveries(ctx context.Context, id, state, cursor string, limit int) (protocol.WebhookDeliveriesResult, error) {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := webhookPath(id) + "/deliveries"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var res protocol.WebhookDeliveriesResult
	_, err := c.do(ctx, http.MethodGet, path, nil, &res)
	return res, err
}

// ReplayDelivery queues a delivery again, due now with its attempts reset
// (POST /v1/admin/webhooks/{id}/deliveries/{eventId}/replay): how a dead
// one is sent once the receiver is fixed. It keeps its event id.
func (c *Client) ReplayDelivery(ctx context.Context, id, eventID string) (protocol.WebhookDelivery, error) {
	var res protocol.WebhookDelivery
	_, err := c.do(ctx, http.MethodPost, webhookPath(id)+"/deliveries/"+url.PathEscape(eventID)+"/replay", nil, &res)
	return res, err
}

func webhookPath(id string) string { return "/v1/admin/webhooks/" + url.PathEscape(id) }
