package ws

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitDone waits for ctx to end, failing after a bound far past any
// deadline the tests set.
func waitDone(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("context not ended")
	}
}

type ctxKey struct{}

// A request's context behaves as context.WithTimeout's under every way it
// can end: its deadline (asked for Done or not), the connection's end,
// the request's answer; contexts derived from it end with it; values are
// the connection's.
func TestRequestCtxEndsAsWithTimeout(t *testing.T) {
	parent := context.WithValue(context.Background(), ctxKey{}, "v")
	t.Run("live", func(t *testing.T) {
		r := newRequestCtx(parent, time.Hour)
		defer r.cancel()
		if err := r.Err(); err != nil {
			t.Errorf("Err %v, want nil", err)
		}
		if d, ok := r.Deadline(); !ok || time.Until(d) < 59*time.Minute {
			t.Errorf("Deadline %v, %v: want about an hour from now", d, ok)
		}
		select {
		case <-r.Done():
			t.Error("Done closed on a live context")
		default:
		}
		if v := r.Value(ctxKey{}); v != "v" {
			t.Errorf("Value %v, want the parent's", v)
		}
	})
	t.Run("deadline, Err asked", func(t *testing.T) {
		r := newRequestCtx(parent, time.Nanosecond)
		for r.Err() == nil {
			time.Sleep(time.Millisecond) // the nanosecond to pass
		}
		if err := r.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err %v, want deadline exceeded", err)
		}
		waitDone(t, r) // made closed
		r.cancel()
		if err := r.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("after cancel: Err %v, want deadline exceeded still", err)
		}
	})
	t.Run("deadline, Done waited", func(t *testing.T) {
		r := newRequestCtx(parent, 20*time.Millisecond)
		defer r.cancel()
		child, cancelChild := context.WithCancel(r)
		defer cancelChild()
		waitDone(t, r)
		if err := r.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Err %v, want deadline exceeded", err)
		}
		waitDone(t, child)
		if err := child.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("derived context: Err %v, want deadline exceeded", err)
		}
	})
	t.Run("connection ends", func(t *testing.T) {
		for _, armed := range []bool{false, true} {
			conn, end := context.WithCancel(parent)
			r := newRequestCtx(conn, time.Hour)
			if armed {
				_ = r.Done()
			}
			end()
			waitDone(t, r)
			if err := r.Err(); !errors.Is(err, context.Canceled) {
				t.Errorf("Done asked first %v: Err %v, want canceled", armed, err)
			}
			r.cancel()
		}
	})
	t.Run("answered", func(t *testing.T) {
		r := newRequestCtx(parent, time.Hour)
		_ = r.Done()
		r.cancel()
		waitDone(t, r)
		if err := r.Err(); !errors.Is(err, context.Canceled) {
			t.Errorf("Err %v, want canceled", err)
		}
		late := newRequestCtx(parent, time.Hour)
		late.cancel()
		waitDone(t, late) // Done asked only after the end: made closed
	})
}

// A request whose context nobody waits on costs one allocation, not
// context.WithTimeout's four and a timer.
func TestRequestCtxUnwatchedAllocatesOnce(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	parent, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := testing.AllocsPerRun(100, func() {
		r := newRequestCtx(parent, time.Minute)
		_ = r.Err()
		r.cancel()
	})
	if got > 1 {
		t.Errorf("%v allocations, want 1", got)
	}
}
