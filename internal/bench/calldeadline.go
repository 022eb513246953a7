package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// A context.WithTimeout per ack, a runtime timer set and stopped each
// time, was 4 % of a group member's CPU in `seen bench group`. Acks take a
// shared context instead: one made every renew, ending timeout+renew
// after it was made, so an ack that takes it is bounded by between
// timeout and timeout+renew, as it was by timeout.
type sharedDeadline struct {
	timeout, renew time.Duration

	cur atomic.Pointer[deadlineCtx]
	mu  sync.Mutex // serialises renewals
}

// deadlineCtx is a context handed out until until.
type deadlineCtx struct {
	ctx    context.Context
	cancel context.CancelFunc // never called early: acks still hold ctx; its timer releases it
	until  time.Time
}

func newSharedDeadline(timeout, renew time.Duration) *sharedDeadline {
	return &sharedDeadline{timeout: timeout, renew: renew}
}

// get returns a context that ends at least timeout after now.
func (d *sharedDeadline) get(now time.Time) context.Context {
	if c := d.cur.Load(); c != nil && now.Before(c.until) {
		return c.ctx
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if c := d.cur.Load(); c != nil && now.Before(c.until) {
		return c.ctx
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout+d.renew)
	d.cur.Store(&deadlineCtx{ctx: ctx, cancel: cancel, until: now.Add(d.renew)})
	return ctx
}
