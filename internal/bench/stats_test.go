package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/protocol"
)

func TestBucketRangeHoldsValue(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, math.MaxUint64}
	for range 10000 {
		vals = append(vals, rng.Uint64()>>rng.IntN(64))
	}
	for _, v := range vals {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of [0,%d)", v, i, histBuckets)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Errorf("bucketOf(%d) = %d with range [%d,%d], which does not hold it", v, i, lo, hi)
		}
		if v >= 128 && float64(hi-lo)/float64(lo) > 1.0/64 {
			t.Errorf("bucket of %d is [%d,%d], wider than 1/64 of its value", v, lo, hi)
		}
	}
}

// exactQuantile is the sorted-sample definition the histogram
// approximates: the ceil(q*n)-th smallest value.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

func TestHistogramQuantilesMatchSortedSamples(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		name string
		gen  func() time.Duration
	}{
		{"uniform 0-10ms", func() time.Duration { return time.Duration(rng.Int64N(int64(10 * time.Millisecond))) }},
		{"lognormal", func() time.Duration { return time.Duration(math.Exp(rng.NormFloat64()*1.5+13)) + 1 }},
		{"bimodal", func() time.Duration {
			if rng.IntN(100) < 95 {
				return time.Millisecond + time.Duration(rng.IntN(1000))*time.Microsecond
			}
			return 200*time.Millisecond + time.Duration(rng.IntN(50))*time.Millisecond
		}},
		{"tiny exact", func() time.Duration { return time.Duration(rng.IntN(128)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			vals := make([]time.Duration, 20000)
			for i := range vals {
				vals[i] = tc.gen()
				h.Record(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
				got, want := h.Quantile(q), exactQuantile(vals, q)
				if q == 0 {
					want = vals[0]
				}
				tol := float64(want)/64 + 1
				if math.Abs(float64(got-want)) > tol {
					t.Errorf("Quantile(%v) = %v, want %v ± %.0fns", q, got, want, tol)
				}
			}
			if s := h.Summary(); s.Count != uint64(len(vals)) || s.Max != vals[len(vals)-1] {
				t.Errorf("Summary count %d max %v, want %d and %v", s.Count, s.Max, len(vals), vals[len(vals)-1])
			}
		})
	}
}

func TestHistogramEmptyAndNegative(t *testing.T) {
	var h Histogram
	if got := h.Summary(); got != (Summary{}) {
		t.Errorf("empty Summary = %+v, want zero", got)
	}
	h.Record(-time.Second)
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("a negative duration recorded as %v, want 0", got)
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all Histogram
	for i := range 1000 {
		d := time.Duration(i) * time.Microsecond
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	a.Merge(new(Histogram)) // merging an empty one changes nothing
	if got, want := a.Summary(), all.Summary(); got != want {
		t.Errorf("merged %+v, want %+v", got, want)
	}
}

func TestRateWindow(t *testing.T) {
	base := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		out := make([]time.Time, len(ms))
		for i, m := range ms {
			out[i] = base.Add(time.Duration(m) * time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		ts   []time.Time
		want int
	}{
		{"none", nil, 0},
		{"one", at(0), 1},
		{"every 200ms: five per second", at(0, 200, 400, 600, 800, 1000, 1200), 5},
		{"burst", at(0, 1, 2, 3, 2000), 4},
		{"edge is excluded", at(0, 1000), 1},
		{"just inside", at(0, 999), 2},
	} {
		if got := RateWindow(tc.ts, time.Second); got != tc.want {
			t.Errorf("%s: RateWindow = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestShardRangeCoversAll(t *testing.T) {
	for _, n := range []int{0, 1, 7, 10000} {
		for _, k := range []int{1, 2, 3, 5} {
			next := 0
			for s := range k {
				lo, hi := shardRange(n, s, k)
				if lo != next || hi < lo || hi-lo > n/k+1 {
					t.Fatalf("shardRange(%d, %d, %d) = [%d,%d), want a range from %d of about %d", n, s, k, lo, hi, next, n/k)
				}
				next = hi
			}
			if next != n {
				t.Errorf("shards of %d over %d end at %d", n, k, next)
			}
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	got, err := parseVmRSS(strings.NewReader("Name:\tseen\nVmPeak:\t  100 kB\nVmRSS:\t   23456 kB\nThreads: 9\n"))
	if err != nil || got != 23456 {
		t.Errorf("parseVmRSS = %d, %v; want 23456", got, err)
	}
	if _, err := parseVmRSS(strings.NewReader("Name: x\n")); err == nil {
		t.Error("parseVmRSS without a VmRSS line: no error")
	}
}

func TestErrorCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&protocol.Error{Code: 422, Message: "too many acks"}, "422"},
		{fmt.Errorf("wrapped: %w", &protocol.Error{Code: -32602}), "-32602"},
		{context.DeadlineExceeded, "timeout"},
		{fmt.Errorf("%w: eof", client.ErrDisconnected), "disconnected"},
		{client.ErrClosed, "closed"},
		{errors.New("boom"), "other"},
	} {
		if got := ErrorCode(tc.err); got != tc.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestRecorderTimed(t *testing.T) {
	r := NewRecorder()
	_ = r.Timed(protocol.MethodMessageSend, func() error { return nil })
	_ = r.Timed(protocol.MethodMessageRead, func() error { return nil })
	_ = r.Timed(protocol.MethodMessageRead, func() error { return &protocol.Error{Code: 429} })
	if got := r.Sends.Load(); got != 1 {
		t.Errorf("sends = %d, want 1", got)
	}
	if got := r.Reads.Load(); got != 1 {
		t.Errorf("reads = %d, want 1 (the failed one does not count)", got)
	}
	if got := r.Errors(); got["429"] != 1 || len(got) != 1 {
		t.Errorf("errors = %v, want map[429:1]", got)
	}
	if got := r.Hist(LatRPC).Count(); got != 2 {
		t.Errorf("rpc latencies = %d, want 2", got)
	}
}

func TestReadTrackerAttributes(t *testing.T) {
	tr := newReadTracker()
	var h Histogram
	a := tr.issue("m1", "a")
	tr.issue("m1", "b") // not answered yet
	tr.issue("m1", "c") // not answered, but named by the event
	a.answered()
	time.Sleep(time.Millisecond)
	tr.reported("m1", []string{"c"}, time.Now(), &h)
	if got := h.Count(); got != 2 {
		t.Fatalf("after the event, %d reads recorded, want 2 (a answered before it, c named)", got)
	}
	tr.reported("m1", []string{"b"}, time.Now(), &h)
	tr.reported("m1", []string{"b"}, time.Now(), &h) // recorded once only
	if got := h.Count(); got != 3 {
		t.Errorf("after naming b twice, %d reads recorded, want 3", got)
	}
	if len(tr.pending) != 0 {
		t.Errorf("pending = %v, want empty", tr.pending)
	}
}

func TestStampedBody(t *testing.T) {
	now := time.Now()
	if got := sentAt(stampedBody(now)); !got.Equal(time.Unix(0, now.UnixNano())) {
		t.Errorf("sentAt(stampedBody(%v)) = %v", now, got)
	}
	if got := sentAt([]byte(`{"text":"x"}`)); !got.IsZero() {
		t.Errorf("sentAt of an unstamped body = %v, want zero", got)
	}
	// Read in place or by encoding/json, the same time.
	for _, b := range []string{`{"t":-5,"text":"x"}`, `{"t":5}`, `{"t":5.0,"text":"x"}`, `{"text":"x","t":5}`, `{"t": 5,"text":"x"}`} {
		var want struct {
			T int64 `json:"t"`
		}
		_ = json.Unmarshal([]byte(b), &want)
		if got := sentAt([]byte(b)); got.UnixNano() != want.T && !(got.IsZero() && want.T == 0) {
			t.Errorf("sentAt(%s) = %v, want %d ns", b, got, want.T)
		}
	}
}
