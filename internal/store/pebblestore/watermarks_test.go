package pebblestore

import (
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// stackObserver records, for each combiner round, whether it ran on the
// goroutine of the caller that queued the round's operations (its stack
// goes through Store.watermarks) or on a combiner goroutine of its own.
type stackObserver struct {
	mu        sync.Mutex
	onCaller  int
	elsewhere int
}

func (o *stackObserver) WatermarkQueued(int) {}

func (o *stackObserver) WatermarkBatch(int) {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	caller := false
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, "pebblestore.(*Store).watermarks") {
			caller = true
		}
		if !more {
			break
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if caller {
		o.onCaller++
	} else {
		o.elsewhere++
	}
}

// TestSequentialAcksCombineOnTheCallersGoroutine: acks that come one at a
// time (the usual case: one reader, one request) are applied by their
// caller, so none costs a goroutine start and a hand-off to it; each is
// still its own durable round.
func TestSequentialAcksCombineOnTheCallersGoroutine(t *testing.T) {
	obs := &stackObserver{}
	opts := testOptions
	opts.Observer = obs
	s, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	conv := store.GroupConv("g")
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "u0"},
		[]store.Member{{UserID: "u0", Role: "owner"}, {UserID: "u1", Role: "member"}}); err != nil {
		t.Fatal(err)
	}
	const acks = 20
	for seq := uint64(1); seq <= acks; seq++ {
		got, _, err := s.AdvanceDelivered(ctx, conv, "u1", seq, int64(seq))
		if err != nil {
			t.Fatal(err)
		}
		if got.DeliveredSeq != seq {
			t.Fatalf("ack %d: delivered watermark %d, want %d", seq, got.DeliveredSeq, seq)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.onCaller != acks || obs.elsewhere != 0 {
		t.Errorf("got %d rounds on the caller's goroutine and %d on a combiner goroutine, want %d and 0",
			obs.onCaller, obs.elsewhere, acks)
	}
	if n := s.routines.Running(); n != 0 {
		t.Errorf("%d combiner goroutines running after the acks returned, want 0", n)
	}
}
