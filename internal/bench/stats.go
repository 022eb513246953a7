package bench

import (
	"math"
	"math/bits"
	"sync"
	"time"
)

// Histogram records durations in log-linear buckets, as HDR histograms
// do: values below 128 ns are exact, larger ones fall into one of 64
// buckets per power of two, so a percentile is off by at most 1/64 (1.6%)
// of its value. Count, min, max and sum are exact. It is safe for
// concurrent use; its size is fixed (about 30 KiB) whatever the number of
// values.
type Histogram struct {
	mu     sync.Mutex
	counts [histBuckets]uint64 // guarded by mu
	n      uint64              // guarded by mu
	sum    float64             // guarded by mu; nanoseconds
	min    uint64              // guarded by mu; valid when n > 0
	max    uint64              // guarded by mu
}

const (
	subBits     = 6 // 64 sub-buckets per power of two
	subCount    = 1 << subBits
	histBuckets = (64-subBits)*subCount + 2*subCount
)

// bucketOf returns the bucket index of v.
func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1 // keeps the top subBits+1 bits
	return shift*subCount + int(v>>uint(shift))
}

// bucketRange returns the lowest and highest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i)
	}
	shift := i/subCount - 1
	sub := uint64(i - shift*subCount)
	lo = sub << uint(shift)
	return lo, lo + (1 << uint(shift)) - 1
}

// Record adds one duration; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	i := bucketOf(v)
	h.mu.Lock()
	h.counts[i]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
	h.mu.Unlock()
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	o.mu.Lock()
	counts, n, sum, lo, hi := o.counts, o.n, o.sum, o.min, o.max
	o.mu.Unlock()
	if n == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, c := range counts {
		h.counts[i] += c
	}
	if h.n == 0 || lo < h.min {
		h.min = lo
	}
	if hi > h.max {
		h.max = hi
	}
	h.n += n
	h.sum += sum
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Quantile returns the value below which a fraction q (0..1) of the
// values fall: the smallest recorded bucket whose cumulative count reaches
// ceil(q*n), reported as the middle of the bucket and clamped to the exact
// min and max. It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.quantileLocked(q)
}

func (h *Histogram) quantileLocked(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q <= 0 {
		return time.Duration(h.min)
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			lo, hi := bucketRange(i)
			v := lo + (hi-lo)/2
			v = max(v, h.min)
			v = min(v, h.max)
			return time.Duration(v)
		}
	}
	return time.Duration(h.max)
}

// Summary is what a histogram reports.
type Summary struct {
	Count uint64
	Mean  time.Duration
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	Max   time.Duration
}

// Summary returns the count, mean, p50, p90, p99 and max.
func (h *Histogram) Summary() Summary {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Summary{Count: h.n}
	if h.n == 0 {
		return s
	}
	s.Mean = time.Duration(h.sum / float64(h.n))
	s.P50 = h.quantileLocked(0.50)
	s.P90 = h.quantileLocked(0.90)
	s.P99 = h.quantileLocked(0.99)
	s.Max = time.Duration(h.max)
	return s
}

// RateWindow finds the largest number of events that fall within any
// window of length w (half-open [t, t+w)) of the sorted times ts.
func RateWindow(ts []time.Time, w time.Duration) int {
	best, lo := 0, 0
	for hi := range ts {
		for ts[hi].Sub(ts[lo]) >= w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}
