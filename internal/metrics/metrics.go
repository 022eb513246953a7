// Package metrics defines Seen's Prometheus metrics. They are registered
// on a registry the server owns, never on the global one.
package metrics

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/storewrap"
)

// Metrics holds every collector the server updates.
type Metrics struct {
	Registry *prometheus.Registry

	Connections     prometheus.Gauge
	ConnectsTotal   *prometheus.CounterVec // result: ok, unauthorized
	Requests        *prometheus.CounterVec // method, code
	RequestDuration *prometheus.HistogramVec
	SendQueue       *IntGauge // frames queued across all connections
	SendQueueBytes  *IntGauge // bytes queued, not yet written, across all connections
	SlowDrops       prometheus.Counter
	Unauthenticated prometheus.Gauge         // sockets open that have not connected
	UnauthRefused   prometheus.Counter       // upgrades refused by MaxUnauthenticated
	StoreDuration   *prometheus.HistogramVec // op, result
	StoreInflight   *prometheus.GaugeVec     // op: calls started and not returned
	// EngineLoadErrors counts receipt engines that could not be loaded
	// from the store; the request or event that needed one went without.
	EngineLoadErrors prometheus.Counter

	// Pipeline: the receipt pipeline's metrics (pipeline.go).
	Pipeline
	// Webhooks: the webhook dispatcher's metrics (webhooks.go).
	Webhooks

	// storeOps caches StoreHook's series per operation.
	storeOps LabelCache[*storeOpInstruments]
}

// New creates the collectors and registers them, with the Go and process
// collectors, on a fresh registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seen_connections", Help: "Open WebSocket connections that completed connect.",
		}),
		ConnectsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seen_connects_total", Help: "connect attempts by result.",
		}, []string{"result"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seen_requests_total", Help: "Client requests by method and response code (0 = success).",
		}, []string{"method", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "seen_request_duration_seconds", Help: "Client request handling time by method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"method"}),
		SendQueue: NewIntGauge(prometheus.GaugeOpts{
			Name: "seen_send_queue_frames", Help: "Frames waiting in connection send queues.",
		}),
		SendQueueBytes: NewIntGauge(prometheus.GaugeOpts{
			Name: "seen_send_queue_bytes", Help: "Bytes of frames queued and not yet written, across all connections.",
		}),
		SlowDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seen_slow_client_drops_total", Help: "Connections dropped because their send queue filled or stayed over its byte budget.",
		}),
		Unauthenticated: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seen_unauthenticated_sockets", Help: "Open WebSocket connections that have not completed connect.",
		}),
		UnauthRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seen_unauthenticated_refused_total", Help: "WebSocket upgrades refused with 503 because max_unauthenticated sockets were open.",
		}),
		StoreDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "seen_store_duration_seconds", Help: "Store call latency by operation and result.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 18),
		}, []string{"op", "result"}),
		StoreInflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "seen_store_inflight", Help: "Store calls in progress by operation; a stuck store shows here first.",
		}, []string{"op"}),
		EngineLoadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seen_receipt_engine_load_errors_total", Help: "Receipt engines that could not be loaded from the store.",
		}),
	}
	r.MustRegister(m.Connections, m.ConnectsTotal, m.Requests, m.RequestDuration,
		m.SendQueue, m.SendQueueBytes, m.SlowDrops, m.Unauthenticated, m.UnauthRefused, m.StoreDuration, m.StoreInflight,
		m.EngineLoadErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.Pipeline.init(r)
	m.Webhooks.init(r)
	return m
}

// StoreHook times every store call into StoreDuration, labelled by
// operation and outcome, and counts those in flight.
func (m *Metrics) StoreHook() storewrap.Hook { return storeHook{m} }

// storeHook is Metrics' storewrap.Hook.
type storeHook struct{ m *Metrics }

// Before implements storewrap.Hook.
func (h storeHook) Before(_ context.Context, op string) (storewrap.Call, error) {
	o := h.m.storeOp(op)
	o.inflight.Inc()
	return storewrap.Call{Op: op, Start: time.Now(), Ref: o}, nil
}

// After implements storewrap.Hook.
func (h storeHook) After(c storewrap.Call, err error) error {
	o, ok := c.Ref.(*storeOpInstruments) // Before's, looked up once
	if !ok {
		o = h.m.storeOp(c.Op)
	}
	o.inflight.Dec()
	r := resultOK
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		r = resultNotFound
	case errors.Is(err, store.ErrExists):
		r = resultExists
	case errors.Is(err, store.ErrUnavailable):
		r = resultUnavailable
	default:
		r = resultError
	}
	o.observer(h.m, c.Op, r).Observe(time.Since(c.Start).Seconds())
	return err
}

// A store call's outcome, the result label of StoreDuration.
type storeResult int

const (
	resultOK storeResult = iota
	resultNotFound
	resultExists
	resultUnavailable
	resultError
	numResults
)

var resultNames = [numResults]string{"ok", "not_found", "exists", "unavailable", "error"}

// storeOpInstruments are one store operation's series, looked up once: a
// label lookup (WithLabelValues) hashes the labels and takes the vector's
// lock, and every ack makes several store calls.
type storeOpInstruments struct {
	inflight prometheus.Gauge
	// dur holds the duration series per result, each created on first
	// use so that /metrics shows only outcomes that happened.
	dur [numResults]atomic.Pointer[prometheus.Observer]
}

// storeOp returns op's instruments, creating them on first use.
func (m *Metrics) storeOp(op string) *storeOpInstruments {
	return m.storeOps.Get(op, func() *storeOpInstruments {
		return &storeOpInstruments{inflight: m.StoreInflight.WithLabelValues(op)}
	})
}

// observer returns the duration series of op with result r. Two callers
// may both create it; the vector hands both the same series.
func (o *storeOpInstruments) observer(m *Metrics, op string, r storeResult) prometheus.Observer {
	if p := o.dur[r].Load(); p != nil {
		return *p
	}
	obs := m.StoreDuration.WithLabelValues(op, resultNames[r])
	o.dur[r].Store(&obs)
	return obs
}
