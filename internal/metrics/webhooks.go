package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Webhooks holds the webhook dispatcher's metrics (internal/webhook).
type Webhooks struct {
	// WebhookDeliveries counts finished attempts by outcome: "delivered"
	// (2xx), "retry" (failed, tried again later), "dead" (failed, given
	// up), "gone" (the endpoint was deleted meanwhile).
	WebhookDeliveries *prometheus.CounterVec
	// WebhookAttempts counts HTTP calls made, whatever came of them.
	WebhookAttempts prometheus.Counter
	// WebhookInflight is the number of calls in progress on this node.
	WebhookInflight prometheus.Gauge
	// WebhookDead counts deliveries that went to the dead letter.
	WebhookDead prometheus.Counter
	// WebhookLatency is one call's duration, by result ("ok", "error").
	WebhookLatency *prometheus.HistogramVec
	// WebhookDeferred counts claimed deliveries handed back unstarted
	// because their endpoint had its concurrency limit in flight.
	WebhookDeferred prometheus.Counter
}

func (w *Webhooks) init(r *prometheus.Registry) {
	*w = Webhooks{
		WebhookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seen_webhook_deliveries_total",
			Help: "Webhook attempts finished, by outcome: delivered, retry, dead, gone (endpoint deleted).",
		}, []string{"outcome"}),
		WebhookAttempts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seen_webhook_attempts_total", Help: "Webhook HTTP calls made.",
		}),
		WebhookInflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seen_webhook_inflight", Help: "Webhook HTTP calls in progress on this node.",
		}),
		WebhookDead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seen_webhook_dead_total", Help: "Webhook deliveries given up (dead letter): too many attempts or too old.",
		}),
		WebhookLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "seen_webhook_delivery_duration_seconds", Help: "Webhook HTTP call duration by result (ok: 2xx, error: anything else).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"result"}),
		WebhookDeferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seen_webhook_deferred_total", Help: "Claimed webhook deliveries handed back unstarted: their endpoint had its concurrency limit in flight.",
		}),
	}
	r.MustRegister(w.WebhookDeliveries, w.WebhookAttempts, w.WebhookInflight, w.WebhookDead, w.WebhookLatency, w.WebhookDeferred)
}
