package webhook

import (
	"time"

	"github.com/seen-im/seen/internal/store"
)

// maxDefer bounds how far a row is put back for want of room.
const maxDefer = 5 * time.Minute

// lane holds one endpoint's claimed deliveries on this node: workers
// calls in flight, each worker taking the queue's next row when its call
// ends, so the endpoint never has more than Concurrency calls in flight
// from this node, and a slow endpoint ties up its own lane only.
// Dispatcher.mu guards every field.
type lane struct {
	workers int       // worker goroutines, each with at most one call in flight
	queue   []heldRow // waiting, oldest first; at most laneQueue
	// hungry: rows were put back for want of room; the claim loop is
	// woken once the queue has room again.
	hungry bool
	// avg is a moving average of the endpoint's call duration: how long
	// a row put back should stay away.
	avg time.Duration
}

// heldRow is a claimed delivery and the endpoint as it was when claimed.
type heldRow struct {
	ep store.Webhook
	r  store.Delivery
}

// offer hands r to its endpoint's lane: to a new worker if fewer than
// Concurrency run, else to the queue. When neither has room it returns
// false and how long r should be put back for: about the time the queue
// takes to drain, so a slow endpoint's backlog is not claimed over and
// over meanwhile.
func (d *Dispatcher) offer(ep store.Webhook, r store.Delivery) (wait time.Duration, ok bool) {
	d.mu.Lock()
	if d.closing {
		d.mu.Unlock()
		return 0, false
	}
	l := d.lanes[ep.ID]
	if l == nil {
		l = &lane{}
		d.lanes[ep.ID] = l
	}
	h := heldRow{ep: ep, r: r}
	if l.workers < d.set.Concurrency {
		l.workers++
		d.held++
		d.mu.Unlock()
		if d.routines.Go("webhook worker", func() { d.work(ep.ID, h) }) {
			return 0, true
		}
		// Closing: nothing more starts.
		d.mu.Lock()
		d.held--
		d.leaveLocked(ep.ID, l)
		d.mu.Unlock()
		return 0, false
	}
	if len(l.queue) < laneQueue {
		l.queue = append(l.queue, h)
		d.held++
		d.mu.Unlock()
		return 0, true
	}
	l.hungry = true
	wait = time.Duration(len(l.queue)/d.set.Concurrency) * l.avg
	d.mu.Unlock()
	return min(max(wait, minDefer), maxDefer), false
}

// leaveLocked ends one worker of lane l, dropping the lane when it was
// the last. d.mu is held.
func (d *Dispatcher) leaveLocked(id string, l *lane) {
	if l.workers--; l.workers == 0 && len(l.queue) == 0 {
		delete(d.lanes, id)
	}
}

// work delivers h, then the lane's queued rows, until the queue is empty
// or the dispatcher closes; what is still queued then is put back.
func (d *Dispatcher) work(id string, h heldRow) {
	for {
		var took time.Duration
		// A row that waited so long in the queue that its lease may run
		// out during the call is put back, not called: another claim
		// (maybe this node's) takes it with a fresh lease.
		if time.UnixMilli(h.r.LeaseUntil).Sub(d.now()) < d.set.Timeout+leaseMargin/2 {
			d.putBack(h.r, time.UnixMilli(h.r.NextAt))
		} else {
			took = d.deliver(h.ep, h.r)
		}

		d.mu.Lock()
		d.held--
		l := d.lanes[id]
		if took > 0 {
			if l.avg == 0 {
				l.avg = took
			} else {
				l.avg += (took - l.avg) / 8
			}
		}
		wake := false
		if d.starved {
			// The claim loop stopped at MaxHeld: there is room now.
			d.starved, wake = false, true
		}
		if d.closing || len(l.queue) == 0 {
			rest := l.queue
			l.queue = nil
			d.held -= len(rest)
			if l.hungry {
				l.hungry, wake = false, true
			}
			d.leaveLocked(id, l)
			d.mu.Unlock()
			for _, q := range rest {
				d.putBack(q.r, time.UnixMilli(q.r.NextAt))
			}
			if wake && !d.isClosing() {
				d.Notify()
			}
			return
		}
		h = l.queue[0]
		l.queue[0] = heldRow{} // let the payload go
		l.queue = l.queue[1:]
		if l.hungry && len(l.queue) <= laneQueue/2 {
			l.hungry, wake = false, true
		}
		d.mu.Unlock()
		if wake {
			d.Notify()
		}
	}
}

func (d *Dispatcher) isClosing() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closing
}
