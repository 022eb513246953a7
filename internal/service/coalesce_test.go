package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type flushLog struct {
	mu      sync.Mutex
	flushes []map[uint64]*pendingChange
	done    chan struct{}
}

func (l *flushLog) flush(_ context.Context, _ coalesceKey, ch map[uint64]*pendingChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushes = append(l.flushes, ch)
	select {
	case l.done <- struct{}{}:
	default:
	}
}

// testGauge is a gauge on no registry, for a coalescer's pending count.
func testGauge() prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_pending"})
}

func TestCoalescerMergesAndCapsReaders(t *testing.T) {
	l := &flushLog{done: make(chan struct{}, 1)}
	pending := testGauge()
	c := newCoalescer(time.Hour, l.flush, pending) // never fires by itself here
	k := coalesceKey{conv: "g/g", sender: "s"}
	for i := range 50 {
		c.add(k, 7, fmt.Sprint("r", i))
	}
	c.add(k, 8, "")
	c.add(coalesceKey{conv: "g/h", sender: "s"}, 1, "x")
	if got := testutil.ToFloat64(pending); got != 2 {
		t.Errorf("pending senders = %v before the flush, want 2", got)
	}
	if err := c.Close(context.Background()); err != nil { // flushes what is pending at once
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(pending); got != 0 {
		t.Errorf("pending senders = %v after the flush, want 0", got)
	}
	if len(l.flushes) != 2 {
		t.Fatalf("%d flushes, want one per pair (2)", len(l.flushes))
	}
	var ch map[uint64]*pendingChange
	for _, f := range l.flushes {
		if len(f) == 2 {
			ch = f
		}
	}
	if ch == nil || len(ch[7].newReaders) != maxNewReaders || ch[7].newReaders[0] != "r0" || len(ch[8].newReaders) != 0 {
		t.Fatalf("flushed %+v, want seq 7 with the first %d readers and seq 8 with none", ch, maxNewReaders)
	}
	c.add(k, 9, "late")
	if len(l.flushes) != 2 {
		t.Fatalf("a change after Close was flushed")
	}
}

func TestCoalescerFlushesEventually(t *testing.T) {
	l := &flushLog{done: make(chan struct{}, 1)}
	c := newCoalescer(time.Millisecond, l.flush, testGauge())
	defer func() { _ = c.Close(context.Background()) }()
	k := coalesceKey{conv: "g/g", sender: "s"}
	c.add(k, 1, "a")
	<-l.done
	c.add(k, 1, "b")
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.flushes) != 2 || l.flushes[1][1].newReaders[0] != "b" {
		t.Fatalf("flushes = %+v, want a second flush carrying b", l.flushes)
	}
}

// TestCoalescerCloseKeepsItsDeadline checks that Close returns when its
// context ends even if a flush is stuck, and that the stuck flush's
// context is then cancelled so that it can end.
func TestCoalescerCloseKeepsItsDeadline(t *testing.T) {
	started, ended := make(chan struct{}), make(chan error, 1)
	c := newCoalescer(time.Hour, func(ctx context.Context, _ coalesceKey, _ map[uint64]*pendingChange) {
		close(started)
		<-ctx.Done() // a store call that waits for its context
		ended <- ctx.Err()
	}, testGauge())
	c.add(coalesceKey{conv: "g/g", sender: "s"}, 1, "r")
	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan error, 1)
	go func() { closed <- c.Close(ctx) }()
	<-started
	cancel()
	if err := <-closed; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), flushName) {
		t.Fatalf("Close = %v, want context.Canceled naming the %s", err, flushName)
	}
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("the stuck flush's context ended with %v, want context.Canceled", err)
	}
	if err := c.routines.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
