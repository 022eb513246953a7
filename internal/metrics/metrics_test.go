package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/storewrap"
)

// TestStoreHookLabelsEachCallByOpAndResult holds the cached series to what
// a label lookup per call gave: each call counted under its operation and
// outcome, nothing left in flight, and no series for outcomes that did not
// happen.
func TestStoreHookLabelsEachCallByOpAndResult(t *testing.T) {
	m := New()
	ctx := context.Background()
	calls := []struct {
		op  string
		err error
	}{
		{"GetMember", nil},
		{"GetMember", nil},
		{"GetMember", fmt.Errorf("wrapped: %w", store.ErrNotFound)},
		{"PutUser", store.ErrExists},
		{"PutUser", errors.New("disk on fire")},
		{"Watermarks", store.ErrUnavailable},
	}
	for _, c := range calls {
		if got := runHook(m, ctx, c.op, func() error { return c.err }); got != c.err {
			t.Fatalf("StoreHook(%s) returned %v, want the call's %v", c.op, got, c.err)
		}
	}
	want := map[[2]string]uint64{
		{"GetMember", "ok"}:           2,
		{"GetMember", "not_found"}:    1,
		{"PutUser", "exists"}:         1,
		{"PutUser", "error"}:          1,
		{"Watermarks", "unavailable"}: 1,
	}
	if got := testutil.CollectAndCount(m.StoreDuration); got != len(want) {
		t.Errorf("got %d duration series, want %d", got, len(want))
	}
	for k, n := range want {
		if got := histogramCount(t, m, k[0], k[1]); got != n {
			t.Errorf("%s/%s: got %d observations, want %d", k[0], k[1], got, n)
		}
	}
	for _, op := range []string{"GetMember", "PutUser", "Watermarks"} {
		if got := testutil.ToFloat64(m.StoreInflight.WithLabelValues(op)); got != 0 {
			t.Errorf("%s in flight after the calls returned: got %v, want 0", op, got)
		}
	}
}

// TestStoreHookInflightDuringCall checks the gauge counts a call while it
// runs.
func TestStoreHookInflightDuringCall(t *testing.T) {
	m := New()
	var during float64
	_ = runHook(m, context.Background(), "GetMember", func() error {
		during = testutil.ToFloat64(m.StoreInflight.WithLabelValues("GetMember"))
		return nil
	})
	if during != 1 {
		t.Errorf("in flight during the call: got %v, want 1", during)
	}
}

// histogramCount is the number of observations in StoreDuration{op,result}.
func histogramCount(t *testing.T, m *Metrics, op, result string) uint64 {
	t.Helper()
	obs, err := m.StoreDuration.GetMetricWithLabelValues(op, result)
	if err != nil {
		t.Fatal(err)
	}
	var d dto.Metric
	if err := obs.(prometheus.Metric).Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetHistogram().GetSampleCount()
}

// runHook runs call through m's store hook, as storewrap does.
func runHook(m *Metrics, ctx context.Context, op string, call func() error) error {
	h := m.StoreHook()
	c, err := h.Before(ctx, op)
	if err == nil {
		err = call()
	}
	return h.After(c, err)
}

// BenchmarkStoreHook is the metrics' cost on every store call.
func BenchmarkStoreHook(b *testing.B) {
	m := New()
	ctx := context.Background()
	call := func() error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		_ = runHook(m, ctx, "Watermarks", call)
	}
}

// A LabelCache keeps the first value made for a label and hands it to
// every caller, concurrent first callers included; other labels are kept
// apart; a lookup of a kept label allocates nothing.
func TestLabelCache(t *testing.T) {
	var c LabelCache[*int]
	var made atomic.Int32
	mk := func() *int { made.Add(1); return new(int) }
	var wg sync.WaitGroup
	got := make([]*int, 8)
	for i := range got {
		wg.Go(func() { got[i] = c.Get("a", mk) })
	}
	wg.Wait()
	for i, p := range got {
		if p != got[0] {
			t.Fatalf("caller %d got another value for the same label", i)
		}
	}
	if b := c.Get("b", mk); b == got[0] {
		t.Error("label b got label a's value")
	}
	if c.Get("a", mk) != got[0] {
		t.Error("label a's value changed once b was added")
	}
	n := made.Load()
	if allocs := testing.AllocsPerRun(100, func() { c.Get("a", mk) }); allocs != 0 {
		t.Errorf("a lookup of a kept label: %v allocations, want none", allocs)
	}
	if made.Load() != n {
		t.Error("a kept label's value made again")
	}
}

// TestStoreHookAfterWithoutRef: After uses the instruments Before found
// (Call.Ref); a Call made elsewhere, without them, is counted under its Op
// all the same.
func TestStoreHookAfterWithoutRef(t *testing.T) {
	m := New()
	h := m.StoreHook()
	c, err := h.Before(context.Background(), "ack_many")
	if err != nil {
		t.Fatal(err)
	}
	if c.Ref == nil {
		t.Error("Before left Call.Ref empty: After looks the op up again")
	}
	_ = h.After(c, nil)
	_ = h.After(storewrap.Call{Op: "ack_many"}, nil) // no Ref; the gauge goes below 0, as any unmatched After
	if n := histogramCount(t, m, "ack_many", "ok"); n != 2 {
		t.Errorf("ack_many ok observations: %d, want 2", n)
	}
}

// An IntGauge's adds, from many goroutines at once, are what the registry
// exposes.
func TestIntGaugeExposesItsSum(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				m.SendQueue.Add(3)
				m.SendQueue.Add(-2)
			}
		})
	}
	wg.Wait()
	if got := testutil.ToFloat64(m.SendQueue); got != 8000 {
		t.Fatalf("seen_send_queue_frames = %v, want 8000", got)
	}
	if got, err := testutil.GatherAndCount(m.Registry, "seen_send_queue_frames"); err != nil || got != 1 {
		t.Fatalf("registry holds %d seen_send_queue_frames series (%v), want 1", got, err)
	}
}
