package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/webhook"
)

// webhookSettings maps the configuration onto the dispatcher's settings.
func webhookSettings(w config.Webhooks) webhook.Settings {
	return webhook.Settings{
		RetryMin: w.RetryMin, RetryMax: w.RetryMax,
		MaxAttempts: w.MaxAttempts, MaxAge: w.MaxAge,
		Concurrency: w.Concurrency, Timeout: w.Timeout,
		DenyPrivate: w.DenyPrivate,
	}
}

// Webhooks returns the webhook dispatcher. Its Notify wakes it after an
// enqueue.
func (s *Server) Webhooks() *webhook.Dispatcher { return s.hooks }

// syncStaticWebhook makes the store's endpoint "config" what the
// webhooks section says: created when url is set, deleted when it is
// not, and deleted and created again when its settings changed (which
// drops its undelivered deliveries: they were meant for the endpoint as
// it was). Nodes starting together with one configuration converge: a
// create that finds the endpoint made meanwhile checks it again.
func syncStaticWebhook(ctx context.Context, hooks store.Webhooks, w config.Webhooks, now time.Time) error {
	want := store.Webhook{
		ID: config.StaticWebhookID, URL: w.URL, Secret: w.Secret,
		Events: slices.Clone(w.Events), Thresholds: slices.Clone(w.Thresholds),
		CreatedAt: now.UnixMilli(),
	}
	for try := 0; ; try++ {
		cur, found, err := findWebhook(ctx, hooks, config.StaticWebhookID)
		if err != nil {
			return err
		}
		if found && w.URL != "" && sameWebhook(cur, want) {
			return nil
		}
		if found {
			if err := hooks.DeleteWebhook(ctx, cur.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("server: static webhook: delete the old one: %w", err)
			}
		}
		if w.URL == "" {
			return nil
		}
		err = hooks.CreateWebhook(ctx, want)
		if errors.Is(err, store.ErrExists) && try < 3 {
			continue // another node made it meanwhile: look again
		}
		if err != nil {
			return fmt.Errorf("server: static webhook: %w", err)
		}
		return nil
	}
}

func findWebhook(ctx context.Context, hooks store.Webhooks, id string) (store.Webhook, bool, error) {
	list, err := hooks.ListWebhooks(ctx)
	if err != nil {
		return store.Webhook{}, false, fmt.Errorf("server: static webhook: %w", err)
	}
	for _, w := range list {
		if w.ID == id {
			return w, true, nil
		}
	}
	return store.Webhook{}, false, nil
}

// sameWebhook compares what the configuration sets.
func sameWebhook(a, b store.Webhook) bool {
	return a.URL == b.URL && a.Secret == b.Secret && slices.Equal(a.Events, b.Events) &&
		slices.Equal(a.Thresholds, b.Thresholds) && len(a.GroupTypes) == 0 && !a.AllMessages
}
