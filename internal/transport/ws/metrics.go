package ws

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
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
	m sync.Map
}

// metricsOf returns the instruments of label.
func (h *Handler) metricsOf(label string) *methodMetrics {
	if mm, ok := h.metrics.m.Load(label); ok {
		return mm.(*methodMetrics)
	}
	mm := &methodMetrics{
		duration: h.o.Metrics.RequestDuration.WithLabelValues(label),
		ok:       h.o.Metrics.Requests.WithLabelValues(label, "0"),
	}
	got, _ := h.metrics.m.LoadOrStore(label, mm)
	return got.(*methodMetrics)
}
