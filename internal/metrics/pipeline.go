package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seen-im/seen/internal/store"
)

// Pipeline holds the metrics of the receipt pipeline: the receipt engines,
// the coalescer of receipt.changed events, and the store's watermark
// combiner (through store.Observer, which Pipeline implements).
type Pipeline struct {
	// EnginesLoaded is the number of conversations whose receipt engine
	// is in memory; it moves on load and unload.
	EnginesLoaded prometheus.Gauge
	// EngineReloads counts loaded engines thrown away to be rebuilt from
	// the store on next use, by reason: "out_of_step" (the engine could
	// not apply a change the store had made) or "dropped" (the group was
	// deleted or created again).
	EngineReloads *prometheus.CounterVec
	// EngineEvictions counts loaded engines unloaded to keep the engines
	// within their memory budget (engine_memory); each is rebuilt from
	// the store on next use.
	EngineEvictions prometheus.Counter
	// CoalescerPending is the number of (conversation, sender) pairs with
	// receipt changes waiting for their window to close.
	CoalescerPending prometheus.Gauge
	// ReceiptChangedSent counts receipt.changed events published.
	ReceiptChangedSent prometheus.Counter
	// WatermarkQueueOps and WatermarkBatchOps are fed by the store,
	// through WatermarkQueued and WatermarkBatch.
	WatermarkQueueOps *IntGauge
	WatermarkBatchOps prometheus.Histogram
	// StoreConvs and StoreConvBytes are the embedded store's conversation
	// table: conversations held and their estimated bytes with their
	// member memos; fed through ConvTable.
	StoreConvs     prometheus.Gauge
	StoreConvBytes prometheus.Gauge

	// engineMemory computes the engines' memory at scrape time; set by
	// the service (SetEngineMemory).
	engineMemory atomic.Pointer[func() float64]
}

var _ store.Observer = (*Pipeline)(nil)

// Reasons of EngineReloads.
const (
	ReloadOutOfStep = "out_of_step"
	ReloadDropped   = "dropped"
	// ReloadResync: the node's bus reconnected, and events from other
	// nodes may have been lost meanwhile.
	ReloadResync = "resync"
	// ReloadLost: another node's engine changes may have been lost (a
	// node gone silent or restarted, messages dropped on this node).
	ReloadLost = "lost"
	// ReloadRemote: another node changed the conversation's membership.
	ReloadRemote = "remote"
)

// init creates the pipeline's collectors and registers them on r.
func (p *Pipeline) init(r *prometheus.Registry) {
	*p = Pipeline{
		EnginesLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seen_receipt_engines_loaded", Help: "Conversations whose receipt engine is in memory.",
		}),
		EngineReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seen_receipt_engine_reloads_total",
			Help: "Loaded receipt engines discarded to be rebuilt from the store, by reason (out_of_step, dropped, resync).",
		}, []string{"reason"}),
		EngineEvictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seen_receipt_engine_evictions_total",
			Help: "Loaded receipt engines unloaded, least recently used first, to stay within engine_memory.",
		}),
		CoalescerPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seen_receipt_changed_pending",
			Help: "(conversation, sender) pairs with receipt changes waiting for their coalescing window.",
		}),
		ReceiptChangedSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "seen_receipt_changed_sent_total", Help: "receipt.changed events published to senders.",
		}),
		WatermarkQueueOps: NewIntGauge(prometheus.GaugeOpts{
			Name: "seen_store_watermark_queue",
			Help: "Watermark operations (reads, deliveries, acks) waiting for the store's combiner.",
		}),
		WatermarkBatchOps: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "seen_store_watermark_batch_ops",
			Help:    "Watermark operations applied per combiner round, each round one commit and one fsync.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		StoreConvs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seen_store_conv_table_convs",
			Help: "Conversations whose state the embedded store holds in memory.",
		}),
		StoreConvBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "seen_store_conv_table_bytes",
			Help: "Estimated bytes of the embedded store's in-memory conversation table and member memos.",
		}),
	}
	// Both reasons are exported from the start, so rate() sees a zero
	// rather than no series.
	for _, reason := range []string{ReloadOutOfStep, ReloadDropped, ReloadResync, ReloadLost, ReloadRemote} {
		p.EngineReloads.WithLabelValues(reason)
	}
	// The engines' memory is computed from the function given to
	// SetEngineMemory.
	engineMemory := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "seen_receipt_engine_memory_bytes",
		Help: "Estimated bytes held by the loaded receipt engines, computed at scrape time.",
	}, func() float64 {
		if fn := p.engineMemory.Load(); fn != nil {
			return (*fn)()
		}
		return 0
	})
	r.MustRegister(p.EnginesLoaded, p.EngineReloads, p.EngineEvictions, p.CoalescerPending, p.ReceiptChangedSent,
		p.WatermarkQueueOps, p.WatermarkBatchOps, p.StoreConvs, p.StoreConvBytes, engineMemory)
}

// SetEngineMemory sets the function that computes the engines' memory when
// /metrics is scraped: computed then rather than kept current on every
// ack. The last one set wins, so one set of metrics serves one service.
func (p *Pipeline) SetEngineMemory(fn func() float64) { p.engineMemory.Store(&fn) }

// WatermarkQueued implements store.Observer.
func (p *Pipeline) WatermarkQueued(delta int) { p.WatermarkQueueOps.Add(int64(delta)) }

// WatermarkBatch implements store.Observer.
func (p *Pipeline) WatermarkBatch(ops int) { p.WatermarkBatchOps.Observe(float64(ops)) }

// ConvTable implements pebblestore.ConvTableObserver.
func (p *Pipeline) ConvTable(deltaConvs int, deltaBytes int64) {
	if deltaConvs != 0 {
		p.StoreConvs.Add(float64(deltaConvs))
	}
	p.StoreConvBytes.Add(float64(deltaBytes))
}
