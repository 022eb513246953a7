package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// IntGauge is a gauge of a whole number that many goroutines move at a
// high rate: the frames and bytes in the send queues change with every
// frame. prometheus.Gauge's Add loops over a compare-and-swap of a
// float's bits, which retries when two cores add at once; an IntGauge
// adds with one atomic instruction and converts at scrape time.
type IntGauge struct {
	prometheus.GaugeFunc
	v atomic.Int64
}

// NewIntGauge makes an IntGauge at zero.
func NewIntGauge(opts prometheus.GaugeOpts) *IntGauge {
	g := &IntGauge{}
	g.GaugeFunc = prometheus.NewGaugeFunc(opts, func() float64 { return float64(g.v.Load()) })
	return g
}

// Add moves the gauge by n (negative n lowers it).
func (g *IntGauge) Add(n int64) { g.v.Add(n) }
