package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/protocol"
)

// Names of the latency series every scenario may fill.
const (
	LatSendToNew  = "send -> message.new"
	LatReadToRcpt = "read -> receipt event at sender"
	LatRPC        = "request -> response (all)"
)

// Recorder collects what one run measures. Every method is safe for
// concurrent use.
type Recorder struct {
	Sends     atomic.Int64 // message.send answered without error
	Delivered atomic.Int64 // message.delivered answered without error
	Reads     atomic.Int64 // message.read answered without error

	// The lookups of a histogram on every ack go through byName and rpc,
	// which take no lock: tens of thousands of goroutines ack at once, and
	// a lock they share cost the generator a tenth of its CPU.
	byName sync.Map // name -> *Histogram, every entry of hists
	rpc    sync.Map // method -> *Histogram, hists[rpcName(method)]

	// The measured window, in nanoseconds since base (monotonic);
	// first > last while nothing was marked.
	base        time.Time
	first, last atomic.Int64

	mu     sync.Mutex
	hists  map[string]*Histogram // guarded by mu; created on first use
	errs   map[string]int64      // guarded by mu; by code
	events map[string]int64      // guarded by mu; events received by senders, by method
	// changedAt holds receipt.changed arrival times at the sender, by
	// conversation; guarded by mu.
	changedAt map[string][]time.Time
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	r := &Recorder{
		base:      time.Now(),
		hists:     make(map[string]*Histogram),
		errs:      make(map[string]int64),
		events:    make(map[string]int64),
		changedAt: make(map[string][]time.Time),
	}
	r.first.Store(math.MaxInt64)
	r.last.Store(math.MinInt64)
	return r
}

// Hist returns the histogram called name, creating it.
func (r *Recorder) Hist(name string) *Histogram {
	if h, ok := r.byName.Load(name); ok {
		return h.(*Histogram)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hists[name]
	if h == nil {
		h = new(Histogram)
		r.hists[name] = h
		r.byName.Store(name, h)
	}
	return h
}

// rpcHist returns method's request -> response histogram.
func (r *Recorder) rpcHist(method string) *Histogram {
	if h, ok := r.rpc.Load(method); ok {
		return h.(*Histogram)
	}
	h := r.Hist(rpcName(method))
	r.rpc.Store(method, h)
	return h
}

// Mark widens the measured window to include t.
func (r *Recorder) Mark(t time.Time) {
	ns := int64(t.Sub(r.base))
	for {
		v := r.first.Load()
		if ns >= v || r.first.CompareAndSwap(v, ns) {
			break
		}
	}
	for {
		v := r.last.Load()
		if ns <= v || r.last.CompareAndSwap(v, ns) {
			break
		}
	}
}

// Window returns the measured window: from the first operation to the
// last.
func (r *Recorder) Window() time.Duration {
	first, last := r.first.Load(), r.last.Load()
	if last < first {
		return 0
	}
	return time.Duration(last - first)
}

// Error counts one failed operation under the code of err.
func (r *Recorder) Error(err error) {
	r.ErrorCode(ErrorCode(err))
}

// ErrorCode counts one failure under code.
func (r *Recorder) ErrorCode(code string) {
	r.mu.Lock()
	r.errs[code]++
	r.mu.Unlock()
}

// Errors returns a copy of the error counts.
func (r *Recorder) Errors() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.errs))
	for k, v := range r.errs {
		out[k] = v
	}
	return out
}

// SenderEvent counts one event received by a sender.
func (r *Recorder) SenderEvent(method string) {
	r.mu.Lock()
	r.events[method]++
	r.mu.Unlock()
}

// ReceiptChanged notes a receipt.changed event at a sender in conv.
func (r *Recorder) ReceiptChanged(conv string, at time.Time) {
	r.mu.Lock()
	r.changedAt[conv] = append(r.changedAt[conv], at)
	r.mu.Unlock()
}

// MaxChangedPerSecond returns the largest number of receipt.changed
// events one sender got in one conversation within any one second.
func (r *Recorder) MaxChangedPerSecond() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	best := 0
	for _, ts := range r.changedAt {
		s := append([]time.Time(nil), ts...)
		sort.Slice(s, func(i, j int) bool { return s[i].Before(s[j]) })
		best = max(best, RateWindow(s, time.Second))
	}
	return best
}

// Events returns a copy of the sender event counts.
func (r *Recorder) Events() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.events))
	for k, v := range r.events {
		out[k] = v
	}
	return out
}

// histNames returns the histogram names in report order: the three
// fixed series first, then per-method ones sorted.
func (r *Recorder) histNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range []string{LatSendToNew, LatReadToRcpt, LatRPC} {
		if _, ok := r.hists[n]; ok {
			out = append(out, n)
		}
	}
	var rest []string
	for n := range r.hists {
		if n != LatSendToNew && n != LatReadToRcpt && n != LatRPC {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// ErrorCode names the kind of err: the protocol code of a server error,
// else "disconnected", "timeout", "closed" or "other".
func ErrorCode(err error) string {
	var pe *protocol.Error
	switch {
	case errors.As(err, &pe):
		return strconv.Itoa(pe.Code)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, client.ErrDisconnected):
		return "disconnected"
	case errors.Is(err, client.ErrClosed):
		return "closed"
	default:
		return "other"
	}
}

// rpcName is the histogram of one method's request -> response times.
func rpcName(method string) string { return fmt.Sprintf("rpc %s", method) }

// Timed runs one request, records its latency under the method and "all",
// and counts its error.
func (r *Recorder) Timed(method string, f func() error) error {
	start := time.Now()
	err := f()
	r.Observe(method, start, time.Now(), err)
	return err
}

// Observe records one request of method that ran from start to end, as
// Timed does: its latency under the method and "all", or its error.
func (r *Recorder) Observe(method string, start, end time.Time, err error) {
	if err != nil {
		r.Error(err)
		return
	}
	if method == protocol.MethodMessageSend || method == protocol.MethodMessageDelivered ||
		method == protocol.MethodMessageRead || method == protocol.MethodConversationRead {
		r.Mark(start)
		r.Mark(end)
	}
	d := end.Sub(start)
	r.Hist(LatRPC).Record(d)
	r.rpcHist(method).Record(d)
	switch method {
	case protocol.MethodMessageSend:
		r.Sends.Add(1)
	case protocol.MethodMessageDelivered:
		r.Delivered.Add(1)
	case protocol.MethodMessageRead:
		r.Reads.Add(1)
	}
}
