package client

import (
	"testing"
	"time"
)

func TestBackoffSteps(t *testing.T) {
	b := newBackoff(100*time.Millisecond, time.Second)
	b.rand = func() float64 { return 0 }
	want := []time.Duration{50, 100, 200, 400, 500, 500, 500} // ms: half of 100, 200, 400, 800, 1000, ...
	for i, w := range want {
		if got := b.next(); got != w*time.Millisecond {
			t.Errorf("attempt %d: got %v, want %v", i, got, w*time.Millisecond)
		}
	}
	b.reset()
	if got := b.next(); got != 50*time.Millisecond {
		t.Errorf("after reset: got %v, want 50ms", got)
	}
}

func TestBackoffBounds(t *testing.T) {
	tests := []struct {
		name     string
		min, max time.Duration
	}{
		{"default", DefaultBackoffMin, DefaultBackoffMax},
		{"equal", time.Second, time.Second},
		{"tiny min huge max", 1, 1 << 62},
		{"max duration", time.Millisecond, time.Duration(1<<63 - 1)},
	}
	for _, tt := range tests {
		for _, r := range []float64{0, 0.5, 0.999999999} {
			b := newBackoff(tt.min, tt.max)
			b.rand = func() float64 { return r }
			prev := time.Duration(0)
			for i := range 200 {
				d := b.next()
				if d < tt.min/2 || d > tt.max {
					t.Fatalf("%s rand %v attempt %d: got %v, want within [%v, %v]", tt.name, r, i, d, tt.min/2, tt.max)
				}
				if d < prev {
					t.Fatalf("%s rand %v attempt %d: got %v after %v, want no decrease", tt.name, r, i, d, prev)
				}
				prev = d
			}
		}
	}
}

func TestBackoffJitterSpreads(t *testing.T) {
	b := newBackoff(time.Second, time.Second)
	seen := map[time.Duration]bool{}
	for range 100 {
		seen[b.next()] = true
	}
	if len(seen) < 10 {
		t.Errorf("got %d distinct delays out of 100, want jitter", len(seen))
	}
}
