package service

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/webhook"
	"github.com/seen-im/seen/protocol"
)

// deliveryScanBatch is how many deliveries one store read takes while a
// "failed" page is filtered out of the pending ones, and deliveryScanMax
// how many one request reads at most: behind a backlog of deliveries never
// tried, a page of failed ones stops short, with a cursor to go on, rather
// than read the whole outbox in one call.
const (
	deliveryScanBatch = 100
	deliveryScanMax   = 1000
)

// CreateWebhook registers an endpoint (POST /v1/admin/webhooks) and
// returns its id and signing secret, which is shown only here. Every
// check runs before the write: bad input stores nothing.
func (s *Service) CreateWebhook(ctx context.Context, p protocol.WebhookCreateParams) (protocol.WebhookCreateResult, error) {
	if pe := checkWebhookParams(&p); pe != nil {
		return protocol.WebhookCreateResult{}, pe
	}
	secret, err := webhook.NewSecret()
	if err != nil {
		return protocol.WebhookCreateResult{}, s.internal(ctx, "create webhook", err)
	}
	w := store.Webhook{
		// A ULID, like message ids: unique across nodes without a
		// round trip, and ListWebhooks' ID order is creation order.
		ID:  "wh_" + s.newMsgID(),
		URL: p.URL, Secret: secret, Events: p.Events, Thresholds: p.Thresholds,
		GroupTypes: p.GroupTypes, AllMessages: p.AllMessages, CreatedAt: s.nowMs(),
	}
	if err := s.store.CreateWebhook(ctx, w); err != nil {
		return protocol.WebhookCreateResult{}, s.internal(ctx, "create webhook", err)
	}
	s.webhooksChanged(ctx)
	return protocol.WebhookCreateResult{ID: w.ID, Secret: secret}, nil
}

// checkWebhookParams refuses what the endpoint could never be called
// with, naming the field, and fills in the default thresholds.
func checkWebhookParams(p *protocol.WebhookCreateParams) *protocol.Error {
	if pe := checkWebhookURL(p.URL); pe != nil {
		return pe
	}
	if len(p.Events) == 0 {
		return protocol.BadParam("events", "events must list at least one of %s", strings.Join(HookEventTypes, ", "))
	}
	for i, e := range p.Events {
		if !slices.Contains(HookEventTypes, e) {
			return protocol.BadParam("events", "unknown event type %q: events are %s", e, strings.Join(HookEventTypes, ", "))
		}
		if slices.Contains(p.Events[:i], e) {
			return protocol.BadParam("events", "event type %q is listed twice", e)
		}
	}
	if p.Thresholds == nil {
		p.Thresholds = []int{protocol.DefaultWebhookThreshold}
	}
	if len(p.Thresholds) > protocol.MaxWebhookThresholds {
		return protocol.BadParam("thresholds", "at most %d thresholds", protocol.MaxWebhookThresholds)
	}
	for i, t := range p.Thresholds {
		if t < 1 || t > 100 {
			return protocol.BadParam("thresholds", "threshold %d is not a percentage between 1 and 100", t)
		}
		if slices.Contains(p.Thresholds[:i], t) {
			return protocol.BadParam("thresholds", "threshold %d is listed twice", t)
		}
	}
	if len(p.GroupTypes) > protocol.MaxWebhookGroupTypes {
		return protocol.BadParam("groupTypes", "at most %d group types", protocol.MaxWebhookGroupTypes)
	}
	for i, g := range p.GroupTypes {
		if !protocol.ValidID(g) {
			return protocol.BadParam("groupTypes", "group type %q must be 1-64 characters of [A-Za-z0-9_.@-]", g)
		}
		if slices.Contains(p.GroupTypes[:i], g) {
			return protocol.BadParam("groupTypes", "group type %q is listed twice", g)
		}
	}
	return nil
}

// checkWebhookURL accepts an absolute http(s) URL with a host. Userinfo
// is refused because the URL is listed to every admin caller and in logs,
// where credentials must not sit; a fragment is never sent to a server,
// so one is a mistake.
func checkWebhookURL(raw string) *protocol.Error {
	if raw == "" {
		return protocol.BadParam("url", "url is required")
	}
	if len(raw) > protocol.MaxWebhookURLLen {
		return protocol.BadParam("url", "url is longer than %d bytes", protocol.MaxWebhookURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return protocol.BadParam("url", "url does not parse: %v", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return protocol.BadParam("url", "url must be http or https, not %q", u.Scheme)
	case u.Opaque != "" || u.Hostname() == "":
		return protocol.BadParam("url", "url must be absolute, with a host")
	case u.User != nil:
		return protocol.BadParam("url", "url must not carry a user or password")
	case strings.Contains(raw, "#"):
		return protocol.BadParam("url", "url must not have a fragment")
	}
	return nil
}

// Webhooks lists the registered endpoints without their secrets
// (GET /v1/admin/webhooks), read from the store rather than the cache: an
// admin who just created one on another node must see it.
func (s *Service) Webhooks(ctx context.Context) (protocol.WebhookListResult, error) {
	list, err := s.store.ListWebhooks(ctx)
	if err != nil {
		return protocol.WebhookListResult{}, s.internal(ctx, "list webhooks", err)
	}
	res := protocol.WebhookListResult{Webhooks: make([]protocol.Webhook, len(list))}
	for i, w := range list {
		res.Webhooks[i] = protocol.Webhook{
			ID: w.ID, URL: w.URL, Events: w.Events, Thresholds: w.Thresholds,
			GroupTypes: w.GroupTypes, AllMessages: w.AllMessages, CreatedAt: w.CreatedAt,
		}
		if res.Webhooks[i].Thresholds == nil {
			res.Webhooks[i].Thresholds = []int{}
		}
	}
	return res, nil
}

// DeleteWebhook removes an endpoint and its deliveries
// (DELETE /v1/admin/webhooks/{id}); not the static one of the settings.
func (s *Service) DeleteWebhook(ctx context.Context, id string) error {
	if id == config.StaticWebhookID {
		// Every node would create it again at its next start: deleting it
		// here would only stop it for a while, by surprise.
		return protocol.Errorf(protocol.CodeUnprocessable,
			"webhook %q comes from the server's settings (webhooks.url): unset them to remove it", id)
	}
	err := s.store.DeleteWebhook(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return noWebhook(id)
	} else if err != nil {
		return s.internal(ctx, "delete webhook", err)
	}
	s.webhooksChanged(ctx)
	return nil
}

// WebhookDeliveries lists a page of an endpoint's deliveries in event id
// order (GET /v1/admin/webhooks/{id}/deliveries). state is "" (all),
// pending, failed (pending after at least one failed attempt), dead or
// delivered; cursor is "" or the previous page's NextCursor; limit 0 takes
// the default page size. A "failed" page may hold fewer than limit (even
// none) and still have a NextCursor: see deliveryScanMax.
func (s *Service) WebhookDeliveries(ctx context.Context, id, state, cursor string, limit int) (protocol.WebhookDeliveriesResult, error) {
	var res protocol.WebhookDeliveriesResult
	storeState := state
	switch state {
	case "", protocol.DeliveryPending, protocol.DeliveryDead, protocol.DeliveryDelivered:
	case protocol.DeliveryFailed:
		storeState = store.DeliveryPending
	default:
		return res, protocol.BadParam("state", "state must be pending, failed, dead or delivered")
	}
	limit, pe := protocol.CheckLimit(limit)
	if pe != nil {
		return res, pe
	}
	if err := s.requireWebhook(ctx, id); err != nil {
		return res, err
	}
	// One more than the page is read, so a page that ends the list says
	// so (no cursor) instead of leading to an empty one.
	var page []store.Delivery
	after, scanned := cursor, 0
	for {
		batch := limit + 1
		if state == protocol.DeliveryFailed {
			batch = deliveryScanBatch
		}
		ds, err := s.store.ListDeliveries(ctx, id, storeState, after, batch)
		if err != nil {
			return res, s.internal(ctx, "list deliveries", err)
		}
		for _, d := range ds {
			if state != protocol.DeliveryFailed || d.Attempts > 0 {
				page = append(page, d)
			}
			if len(page) > limit {
				break
			}
			after = d.EventID
		}
		scanned += len(ds)
		if len(page) > limit {
			page = page[:limit]
			res.NextCursor = page[limit-1].EventID
			break
		}
		if len(ds) < batch {
			break // the end of the list
		}
		if scanned >= deliveryScanMax {
			res.NextCursor = after // a short page: go on from here
			break
		}
	}
	res.Deliveries = make([]protocol.WebhookDelivery, len(page))
	for i, d := range page {
		res.Deliveries[i] = deliveryOf(d)
	}
	return res, nil
}

// ReplayWebhookDelivery makes a delivery pending again, due now, with its
// attempts reset (POST /v1/admin/webhooks/{id}/deliveries/{eventId}/replay):
// how a dead one is delivered once its receiver is fixed. It keeps its
// event id, so a receiver that saw it deduplicates it.
func (s *Service) ReplayWebhookDelivery(ctx context.Context, id, eventID string) (protocol.WebhookDelivery, error) {
	d, err := s.store.ReplayDelivery(ctx, id, eventID, s.nowMs())
	if errors.Is(err, store.ErrNotFound) {
		return protocol.WebhookDelivery{}, protocol.Errorf(protocol.CodeNotFound, "no delivery %q of webhook %q", eventID, id)
	} else if err != nil {
		return protocol.WebhookDelivery{}, s.internal(ctx, "replay delivery", err)
	}
	s.hookNotify()
	return deliveryOf(d), nil
}

// requireWebhook answers 404 for an endpoint that is not registered, so
// an unknown id is told apart from one without deliveries.
func (s *Service) requireWebhook(ctx context.Context, id string) error {
	list, err := s.store.ListWebhooks(ctx)
	if err != nil {
		return s.internal(ctx, "list webhooks", err)
	}
	if !slices.ContainsFunc(list, func(w store.Webhook) bool { return w.ID == id }) {
		return noWebhook(id)
	}
	return nil
}

func noWebhook(id string) *protocol.Error {
	return protocol.Errorf(protocol.CodeNotFound, "no webhook %q", id)
}

func deliveryOf(d store.Delivery) protocol.WebhookDelivery {
	return protocol.WebhookDelivery{
		EventID: d.EventID, Type: d.Type, State: d.State, Attempts: d.Attempts, NextAt: d.NextAt,
		LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Payload: d.Payload,
	}
}
