package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// WebhookEvents are the event types an endpoint may ask for
// (docs/webhooks.md).
var WebhookEvents = []string{"message.sent", "receipt.read", "receipt.threshold", "receipt.unread_after", "receipt.expired"}

// StaticWebhookID is the ID of the endpoint the webhooks section names
// (URL set): the server creates it at start, and deletes and creates it
// again when its settings changed, which drops its undelivered deliveries.
const StaticWebhookID = "config"

// Webhooks is the delivery of webhook calls, and a static endpoint that
// needs no admin call.
//
// With the defaults a delivery that keeps failing is retried after about
// 5-10 s, 10-20 s, 20-40 s, ... (each ceiling double the last, the delay
// uniform between half the ceiling and the ceiling), 30-60 min from the
// 10th retry on, and is dead after 30 attempts (11-21 hours after the
// first) or once 24 hours old, whichever comes first.
type Webhooks struct {
	// RetryMin and RetryMax bound the delay before a retry.
	RetryMin time.Duration `koanf:"retry_min" help:"least delay before a webhook retry; the delay doubles (with jitter) up to retry_max"`
	RetryMax time.Duration `koanf:"retry_max" help:"most delay before a webhook retry"`
	// MaxAttempts: a delivery that failed this many calls is dead.
	MaxAttempts int `koanf:"max_attempts" help:"webhook calls after which a failing delivery is dead (replayable through the admin API)"`
	// MaxAge: a failing delivery older than this is dead; 0: no limit.
	MaxAge time.Duration `koanf:"max_age" help:"a failing webhook delivery older than this is dead whatever its attempts; 0: no age limit"`
	// Concurrency bounds the calls in flight to one endpoint, per node.
	Concurrency int `koanf:"concurrency" help:"webhook calls in flight to one endpoint, per node"`
	// Timeout bounds one call (connect, send, answer).
	Timeout time.Duration `koanf:"timeout" help:"bound on one webhook call, connect to answer"`
	// DenyPrivate refuses endpoints on loopback, private and link-local
	// addresses, checked on the address dialled (DNS rebinding cannot
	// get around it). Off by default: registering an endpoint needs the
	// admin key, and app servers often share the host.
	DenyPrivate bool `koanf:"deny_private" help:"refuse webhook calls to loopback, private and link-local addresses (checked when dialling)"`

	// URL, if set, is a static endpoint (ID "config"), kept in the store
	// as these settings say.
	URL string `koanf:"url" help:"a static webhook endpoint (id \"config\"), http(s); changing its settings drops its undelivered calls; empty: none"`
	// Secret is the static endpoint's signing secret, whsec_ + base64.
	Secret string `koanf:"secret" secret:"true" help:"the static endpoint's signing secret: whsec_ + base64 of 16 or more random bytes (whsec_$(openssl rand -base64 24)); needed with url"`
	// Events are the static endpoint's event types.
	Events []string `koanf:"events" help:"the static endpoint's event types, comma list"`
	// Thresholds are the static endpoint's read percentages for
	// receipt.threshold (besides first and all).
	Thresholds []int `koanf:"thresholds" help:"the static endpoint's read percentages (1-100) for receipt.threshold, comma list"`
}

func defaultWebhooks() Webhooks {
	return Webhooks{
		RetryMin:    5 * time.Second,
		RetryMax:    time.Hour,
		MaxAttempts: 30,
		MaxAge:      24 * time.Hour,
		Concurrency: 8,
		Timeout:     10 * time.Second,
		Events:      slices.Clone(WebhookEvents),
		Thresholds:  []int{50},
	}
}

// validate adds the webhooks section's problems through bad.
func (w Webhooks) validate(bad func(key, format string, args ...any), name func(string) string) {
	if w.RetryMin <= 0 {
		bad("webhooks.retry_min", "must be positive, got %v", w.RetryMin)
	}
	if w.RetryMax < w.RetryMin {
		bad("webhooks.retry_max", "must be at least %s (%v), got %v", name("webhooks.retry_min"), w.RetryMin, w.RetryMax)
	}
	if w.MaxAttempts < 1 {
		bad("webhooks.max_attempts", "must be at least 1, got %d", w.MaxAttempts)
	}
	if w.MaxAge < 0 {
		bad("webhooks.max_age", "must not be negative, got %v", w.MaxAge)
	}
	if w.Concurrency < 1 {
		bad("webhooks.concurrency", "must be at least 1, got %d", w.Concurrency)
	}
	if w.Timeout <= 0 {
		bad("webhooks.timeout", "must be positive, got %v", w.Timeout)
	}
	for _, e := range w.Events {
		if !slices.Contains(WebhookEvents, e) {
			bad("webhooks.events", "unknown event type %q (known: %s)", e, strings.Join(WebhookEvents, ", "))
		}
	}
	for _, p := range w.Thresholds {
		if p < 1 || p > 100 {
			bad("webhooks.thresholds", "%d is outside 1-100", p)
		}
	}
	if w.URL == "" {
		if w.Secret != "" {
			bad("webhooks.secret", "is set without %s", name("webhooks.url"))
		}
		return
	}
	if err := CheckWebhookURL(w.URL); err != nil {
		bad("webhooks.url", "%v", err)
	}
	if w.Secret == "" {
		bad("webhooks.secret", "must be set with %s: the receiver needs it to verify the calls", name("webhooks.url"))
	} else if key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(w.Secret, "whsec_")); err != nil || len(key) < 16 {
		bad("webhooks.secret", "must be whsec_ followed by base64 of at least 16 bytes")
	}
	if len(w.Events) == 0 {
		bad("webhooks.events", "is empty: the endpoint would hear nothing")
	}
}

// CheckWebhookURL reports whether u can be a webhook endpoint: an
// absolute http or https URL with a host.
func CheckWebhookURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", u, err)
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return fmt.Errorf("%q: the scheme must be http or https", u)
	}
	if p.Host == "" {
		return fmt.Errorf("%q has no host", u)
	}
	return nil
}
