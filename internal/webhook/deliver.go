package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/seen-im/seen/internal/store"
)

// deliver makes one attempt of r to ep and records its outcome. It
// returns how long the call took; 0 if Close cancelled it.
func (d *Dispatcher) deliver(ep store.Webhook, r store.Delivery) time.Duration {
	start := d.now()
	d.met.WebhookInflight.Inc()
	err := d.call(ep, r, start)
	d.met.WebhookInflight.Dec()
	done := d.now()
	took := max(done.Sub(start), time.Nanosecond)
	if err != nil && d.ctx.Err() != nil {
		// Cancelled by Close: not the endpoint's failure. Hand it back
		// as it was, due as it was.
		d.putBack(r, time.UnixMilli(r.NextAt))
		return 0
	}
	d.met.WebhookAttempts.Inc()
	result := "ok"
	if err != nil {
		result = "error"
	}
	d.met.WebhookLatency.WithLabelValues(result).Observe(done.Sub(start).Seconds())

	r.Attempts++
	r.UpdatedAt = done.UnixMilli()
	outcome := "delivered"
	switch {
	case err == nil:
		r.State, r.LastError = store.DeliveryDelivered, ""
	case r.Attempts >= d.set.MaxAttempts ||
		d.set.MaxAge > 0 && done.Sub(time.UnixMilli(r.CreatedAt)) >= d.set.MaxAge:
		r.State, r.LastError = store.DeliveryDead, clip(err.Error())
		outcome = "dead"
	default:
		r.State, r.LastError = store.DeliveryPending, clip(err.Error())
		r.NextAt = done.Add(backoff(d.set.RetryMin, d.set.RetryMax, r.Attempts)).UnixMilli()
		outcome = "retry"
	}
	if ferr := d.finish(r); ferr != nil {
		if errors.Is(ferr, store.ErrNotFound) {
			// The endpoint was deleted during the call.
			d.met.WebhookDeliveries.WithLabelValues("gone").Inc()
			return took
		}
		// The lease runs out and the delivery is tried again: a
		// duplicate, with the same webhook-id, at worst.
		d.log.Warn("webhook: record attempt", "endpoint", ep.ID, "event", r.EventID, "err", ferr)
		return took
	}
	d.met.WebhookDeliveries.WithLabelValues(outcome).Inc()
	if outcome == "dead" {
		d.met.WebhookDead.Inc()
		d.log.Warn("webhook: delivery dead", "endpoint", ep.ID, "event", r.EventID, "attempts", r.Attempts, "err", r.LastError)
	}
	return took
}

// call POSTs r's payload to ep, signed for this attempt's time; nil means
// a 2xx answer.
func (d *Dispatcher) call(ep store.Webhook, r store.Delivery, at time.Time) error {
	h, err := Headers(ep.Secret, r.EventID, at, r.Payload)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.set.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(r.Payload))
	if err != nil {
		return fmt.Errorf("webhook: request: %w", err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Seen-Webhooks/1")
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: post: %w", err)
	}
	// At most 64 KiB is read: enough for an error message, and a huge
	// or endless body must not hold the call or the memory.
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fmt.Errorf("webhook: status %d: redirect to %q not followed (register the final URL)", resp.StatusCode, resp.Header.Get("Location"))
	}
	if rerr != nil {
		return fmt.Errorf("webhook: status %d (body: %w)", resp.StatusCode, rerr)
	}
	return fmt.Errorf("webhook: status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
}

// backoff is the delay after the n-th failed attempt: exponential, with
// "equal jitter" — a ceiling c = min(max, min·2ⁿ), the delay uniform in
// [c/2, c], and never below min. Equal rather than full jitter: full
// jitter ([0, c]) can retry a failing endpoint almost at once, which
// makes RetryMin meaningless as a floor; half the ceiling fixed keeps
// every delay within [RetryMin, RetryMax] while still spreading the
// retries of many deliveries that failed together (an endpoint's outage)
// over a window as wide as the delay itself.
func backoff(lo, hi time.Duration, n int) time.Duration {
	c := lo
	for i := 0; i < n && c < hi; i++ {
		c *= 2
	}
	c = min(c, hi)
	half := c / 2
	delay := half + rand.N(c-half+1)
	return max(delay, lo)
}

// clip bounds an error text for LastError, on a rune boundary.
func clip(s string) string {
	if len(s) <= maxLastError {
		return s
	}
	s = s[:maxLastError]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
