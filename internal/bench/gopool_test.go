package bench

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// TestGoPool: a function never waits behind another (the pool does not
// queue), a goroutine whose function returned runs the next one, and
// Close joins them all.
func TestGoPool(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newGoPool()
		const n = 8
		release := make(chan struct{})
		var ran atomic.Int64
		for range n {
			p.Go(func() {
				<-release
				ran.Add(1)
			})
		}
		synctest.Wait() // all n blocked in their functions at once
		if got := p.made.Load(); got != n {
			t.Fatalf("%d goroutines for %d overlapping functions, want %d", got, n, n)
		}
		close(release)
		synctest.Wait() // all n back waiting for work
		for range 3 * n {
			p.Go(func() { ran.Add(1) })
			synctest.Wait()
		}
		if got := p.made.Load(); got != n {
			t.Fatalf("%d goroutines after reuse, want still %d", got, n)
		}
		p.Close()
		if got := ran.Load(); got != 4*n {
			t.Fatalf("ran %d functions, want %d", got, 4*n)
		}
	})
}
