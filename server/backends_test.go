package server

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPingCache: within its period a check answers the last ping's result
// without pinging; after it, it pings again; the log hook hears only of
// changes between failing and answering.
func TestPingCache(t *testing.T) {
	var pings int
	var fail error
	var changes []error
	p := newPingCache(func(context.Context) error { pings++; return fail }, time.Hour, func(err error) { changes = append(changes, err) })
	ctx := context.Background()
	for range 3 {
		if err := p.check(ctx); err != nil {
			t.Fatalf("check = %v, want nil", err)
		}
	}
	if pings != 1 {
		t.Fatalf("pings = %d after three checks within the period, want 1", pings)
	}
	fail = errors.New("down")
	p.at = time.Now().Add(-2 * time.Hour) // the period is over
	if err := p.check(ctx); !errors.Is(err, fail) {
		t.Fatalf("check after the period = %v, want %v", err, fail)
	}
	if err := p.check(ctx); !errors.Is(err, fail) || pings != 2 {
		t.Fatalf("check within the period = %v after %d pings, want the cached failure after 2", err, pings)
	}
	fail = nil
	p.at = time.Time{}.Add(time.Nanosecond)
	if err := p.check(ctx); err != nil {
		t.Fatalf("check once answering again = %v", err)
	}
	if len(changes) != 2 || changes[0] == nil || changes[1] != nil {
		t.Errorf("changes told = %v, want [down <nil>]", changes)
	}
}
