package ws

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seen-im/seen/internal/metrics"
	"github.com/seen-im/seen/protocol"
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

// metricsCache maps a method label to its *methodMetrics. The acks'
// methods, most requests, are kept apart, found by comparing the method
// with three constants: a request looked its method up four times in maps
// (methodLabel and the cache, for its duration and again for its count).
type metricsCache struct {
	m    metrics.LabelCache[*methodMetrics]
	acks [len(protocol.AckMethods)]atomic.Pointer[methodMetrics] // by protocol.AckIndex
}

// requestMetrics returns the instruments of a request of method: those of
// its label (methodLabel).
func (c *conn) requestMetrics(method string) *methodMetrics {
	i := protocol.AckIndex(method)
	if i < 0 {
		return c.h.metricsOf(c.methodLabel(method))
	}
	slot := &c.h.metrics.acks[i]
	if m := slot.Load(); m != nil {
		return m
	}
	// Two connections may both look it up: the cache gives both the same.
	m := c.h.metricsOf(c.methodLabel(method))
	slot.Store(m)
	return m
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
