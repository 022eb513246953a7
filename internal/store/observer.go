package store

// Observer is told of a backend's internal work that the latency of its
// calls does not show: how much waits in its queues and how much one
// durable commit carries. The server's metrics implement it; a backend
// takes one in its options and calls it from any goroutine, so an
// implementation must be safe for concurrent use and cheap (it runs on
// the write path).
//
// A backend that has no such queue never calls the method for it.
type Observer interface {
	// WatermarkQueued is called with the change in the number of
	// watermark operations (reads, deliveries, acks) waiting for a
	// combiner: positive when callers queue them, negative when a
	// combiner takes them.
	WatermarkQueued(delta int)
	// WatermarkBatch is called once per combiner round with the number of
	// operations it applied under one commit and one sync.
	WatermarkBatch(ops int)
}

// NopObserver is an Observer that ignores everything; backends use it
// when none is given.
type NopObserver struct{}

var _ Observer = NopObserver{}

// WatermarkQueued implements Observer.
func (NopObserver) WatermarkQueued(int) {}

// WatermarkBatch implements Observer.
func (NopObserver) WatermarkBatch(int) {}
