package ws

import (
	"context"
	"sync"
	"time"
)

// requestCtx is the context a request runs under: the connection's, with
// a deadline RequestTimeout after the request began, ended when the
// request is answered. context.WithTimeout cost every request a timer
// armed and stopped, a child registered with the connection's context and
// removed, and four allocations; yet on the paths of the acks with the
// embedded store nothing waits on the context, it is only asked for its
// error. So the timer and the registration are made only when something
// asks for Done (a database driver that watches the context does), and
// Err checks the clock and the connection otherwise.
//
// It keeps context.Context's contract: once Err reports an error, Done
// is closed (or is made closed) and Err keeps reporting the same one.
// One difference: context.Cause, which looks for the standard cancelable
// context it derives from, reports the connection's cause, nil while it
// lives, for a request past its deadline; nothing Seen runs asks it.
type requestCtx struct {
	parent   context.Context // the connection's: its values, and its end
	deadline time.Time

	mu    sync.Mutex
	err   error         // guarded by mu: set once, when the context ends
	done  chan struct{} // guarded by mu: made by the first Done; closed when err is set
	timer *time.Timer   // guarded by mu: ends the context at the deadline, once Done was asked
	stop  func() bool   // guarded by mu: undoes the watch of parent, once Done was asked

	// resp is room for the request's response frame (runJob): an ack's
	// fits, and takes no allocation of its own. The frame keeps this
	// context's memory alive until it is written; nothing else uses it.
	resp [respRoom]byte
}

// respRoom is the room for a response in a requestCtx: an ack's answer
// with an id of up to about 40 bytes.
const respRoom = 96

// newRequestCtx starts a request's context with timeout from now.
func newRequestCtx(parent context.Context, timeout time.Duration) *requestCtx {
	return newRequestCtxAt(parent, time.Now(), timeout)
}

// newRequestCtxAt starts a request's context with timeout from start, the
// time the caller read for the request's duration: a second clock read
// would differ from it by the nanoseconds between the two.
func newRequestCtxAt(parent context.Context, start time.Time, timeout time.Duration) *requestCtx {
	return &requestCtx{parent: parent, deadline: start.Add(timeout)}
}

// Deadline implements context.Context: the request's, or the parent's if
// it comes first.
func (r *requestCtx) Deadline() (time.Time, bool) {
	if d, ok := r.parent.Deadline(); ok && d.Before(r.deadline) {
		return d, true
	}
	return r.deadline, true
}

// Value implements context.Context.
func (r *requestCtx) Value(key any) any { return r.parent.Value(key) }

// Done implements context.Context. The first call arms the deadline's
// timer and the watch of the parent.
func (r *requestCtx) Done() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil {
		return r.done
	}
	r.done = make(chan struct{})
	if r.err != nil {
		close(r.done)
		return r.done
	}
	if err := r.parent.Err(); err != nil {
		r.endLocked(err)
		return r.done
	}
	left := time.Until(r.deadline)
	if left <= 0 {
		r.endLocked(context.DeadlineExceeded)
		return r.done
	}
	r.timer = time.AfterFunc(left, func() { r.end(context.DeadlineExceeded) })
	r.stop = context.AfterFunc(r.parent, func() { r.end(r.parent.Err()) })
	return r.done
}

// Err implements context.Context.
func (r *requestCtx) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	if err := r.parent.Err(); err != nil {
		r.endLocked(err)
	} else if time.Until(r.deadline) <= 0 {
		// Until reads the monotonic clock alone (the deadline has its
		// reading); time.Now would read the wall clock too.
		r.endLocked(context.DeadlineExceeded)
	}
	return r.err
}

// end ends the context with err unless it has ended already.
func (r *requestCtx) end(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endLocked(err)
}

// endLocked sets err, closes done if made and undoes the timer and the
// watch, unless the context has ended already. r.mu is held.
func (r *requestCtx) endLocked(err error) {
	if r.err != nil {
		return
	}
	r.err = err
	if r.done != nil {
		close(r.done)
	}
	if r.timer != nil {
		r.timer.Stop()
	}
	if r.stop != nil {
		r.stop()
	}
}

// cancel ends the request's context, as a context.WithTimeout's cancel
// does: called once the request is answered.
func (r *requestCtx) cancel() { r.end(context.Canceled) }
