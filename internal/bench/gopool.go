package bench

import (
	"sync"
	"sync/atomic"
)

// A goPool runs each function it is given at once on a goroutine of its
// own, as `go f()` would, so the acks a reader has in flight overlap as an
// app's do. Its goroutines outlive their functions and wait for the next:
// a goroutine per ack cost the load generator its creation and a stack
// grown by copying as the call went down through the SDK and the WebSocket
// library, about a tenth of its CPU, taken from the server it measures on a
// small machine. A goroutine is added only when none waits, so there are
// as many as acks were ever in flight at once, until Close.
type goPool struct {
	jobs chan func() // unbuffered: a send succeeds only to a waiting goroutine
	stop chan struct{}
	wg   sync.WaitGroup
	made atomic.Int64 // goroutines started
}

func newGoPool() *goPool {
	return &goPool{jobs: make(chan func()), stop: make(chan struct{})}
}

// Go runs f on a waiting goroutine, or on a new one if none waits.
func (p *goPool) Go(f func()) {
	select {
	case p.jobs <- f:
	default:
		p.made.Add(1)
		p.wg.Add(1)
		go p.work(f)
	}
}

func (p *goPool) work(f func()) {
	defer p.wg.Done()
	for {
		f()
		select {
		case f = <-p.jobs:
		case <-p.stop:
			return
		}
	}
}

// Close waits for the functions running to return and ends the pool's
// goroutines. Go must not be called after it.
func (p *goPool) Close() {
	close(p.stop)
	p.wg.Wait()
}
