package ws

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seen-im/seen/internal/metrics"
)

// Looking a metric up by its labels hashes and checks them under the
// vector's lock: three lookups per request (duration, count by code) cost
// a read ack more instructions than its response's encoding. The
// instruments of a method's successful requests are looked up once and
// kept; the label set is bounded (methodLabel), and so is this cache.

// methodMetrics are one method label's instruments.
type methodMetrics struct {
	duration prometheus.Observer
	ok       prometheus.Counter // requests answered with a result (code "0")
}

// metricsCache maps a method label to its *methodMetrics.
type metricsCache struct {
	m metrics.LabelCache[*methodMetrics]
}

// metricsOf returns the instruments of label.
func (h *Handler) metricsOf(label string) *methodMetrics {
	return h.metrics.m.Get(label, func() *methodMetrics {
		return &methodMetrics{
			duration: h.o.Metrics.RequestDuration.WithLabelValues(label),
			ok:       h.o.Metrics.Requests.WithLabelValues(label, "0"),
		}
	})
}
