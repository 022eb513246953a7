// Package faultstore injects storage faults for tests: a storewrap hook
// that fails or stalls chosen store operations on command, as a disk that
// fills, a database that goes away or a lock that is held too long would.
package faultstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/storewrap"
)

// ErrInjected is the error injected by FailWrites and FailAll: the store
// is unavailable, as a real backend reports an outage.
var ErrInjected = fmt.Errorf("faultstore: injected fault: %w", store.ErrUnavailable)

// writes are the operations that change state.
var writes = map[string]bool{
	"put_user": true, "create_group": true, "delete_group": true, "add_members": true, "remove_member": true, "set_role": true,
	"append": true, "advance_read": true, "advance_delivered": true, "ack_one": true, "ack_many": true,
	"request_receipt": true, "settle_receipt": true, "settle_done": true, "advance_own_read": true, "ack_many_own": true, "update_settings": true,
	// The webhook side (storewrap's webhooks.go); a claim writes its lease.
	"create_webhook": true, "delete_webhook": true, "enqueue": true, "claim_deliveries": true, "finish_delivery": true,
	"replay_delivery": true, "add_timers": true, "claim_timers": true, "fire_timer": true, "add_track": true, "commit_report": true,
	"prune_deliveries": true,
}

// Faults decides, per operation, whether a store call fails, stalls or runs.
// It is safe for concurrent use.
type Faults struct {
	mu      sync.Mutex
	fail    func(op string) error // guarded by mu; nil: nothing fails
	stall   func(op string) bool  // guarded by mu; nil: nothing stalls
	release chan struct{}         // guarded by mu; closed to let stalled calls go
}

// New returns Faults that inject nothing yet.
func New() *Faults { return &Faults{release: make(chan struct{})} }

// Before implements storewrap.Hook: the fault, or the stall, ahead of
// the call.
func (f *Faults) Before(ctx context.Context, op string) (storewrap.Call, error) {
	c := storewrap.Call{Op: op}
	f.mu.Lock()
	fail, stall, release := f.fail, f.stall, f.release
	f.mu.Unlock()
	if fail != nil {
		if err := fail(op); err != nil {
			return c, err
		}
	}
	if stall != nil && stall(op) {
		select {
		case <-release:
		case <-ctx.Done():
			return c, fmt.Errorf("faultstore: %s stalled: %w", op, ctx.Err())
		}
	}
	return c, nil
}

// After implements storewrap.Hook: the call's own result.
func (f *Faults) After(_ storewrap.Call, err error) error { return err }

// FailWrites makes every write fail with ErrInjected; reads still work.
func (f *Faults) FailWrites() {
	f.set(func(op string) error {
		if writes[op] {
			return ErrInjected
		}
		return nil
	}, nil)
}

// FailAll makes every call fail with ErrInjected.
func (f *Faults) FailAll() { f.set(func(string) error { return ErrInjected }, nil) }

// StallWrites makes every write wait until Heal (or its context ends).
func (f *Faults) StallWrites() { f.set(nil, func(op string) bool { return writes[op] }) }

// FailOps makes the named operations (storewrap's names: "live_receipts",
// say) fail with ErrInjected; others run.
func (f *Faults) FailOps(ops ...string) {
	fail := make(map[string]bool, len(ops))
	for _, op := range ops {
		fail[op] = true
	}
	f.set(func(op string) error {
		if fail[op] {
			return ErrInjected
		}
		return nil
	}, nil)
}

// Heal stops injecting faults and lets stalled calls go on.
func (f *Faults) Heal() { f.set(nil, nil) }

func (f *Faults) set(fail func(string) error, stall func(string) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.stall = fail, stall
	if stall == nil {
		close(f.release)
		f.release = make(chan struct{})
	}
}
