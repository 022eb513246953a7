package bench

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// Every context get hands out ends between timeout and timeout+renew
// after the call, and the calls within a renewal share one.
func TestSharedDeadlineBoundsEachCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout, renew = 30 * time.Second, time.Second
		d := newSharedDeadline(timeout, renew)
		first := d.get(time.Now())
		made := map[context.Context]bool{}
		for step := range 25 { // one call every renew/4, over 6 renewals
			now := time.Now()
			ctx := d.get(now)
			made[ctx] = true
			dl, ok := ctx.Deadline()
			if !ok || dl.Before(now.Add(timeout)) || dl.After(now.Add(timeout+renew)) {
				t.Fatalf("step %d: deadline %v, want within [%v, %v]", step, dl, now.Add(timeout), now.Add(timeout+renew))
			}
			if ctx.Err() != nil {
				t.Fatalf("step %d: handed out a context that ended: %v", step, ctx.Err())
			}
			time.Sleep(renew / 4)
		}
		if len(made) != 7 {
			t.Fatalf("%d contexts made for calls over 6 s, want 7 (one per renewal)", len(made))
		}
		// The first context ends when its deadline passes, never cancelled.
		time.Sleep(timeout + renew)
		if first.Err() == nil {
			t.Fatal("the first context did not end after timeout+renew")
		}
	})
}
