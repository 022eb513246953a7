package pebblestore

import (
	"fmt"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// TestCloseJoinsCombiners checks that no watermark combiner outlives
// Close: a combiner's last round, finding its queue empty, may run after
// the caller it served has returned.
func TestCloseJoinsCombiners(t *testing.T) {
	for round := range 20 {
		s, err := Open(t.TempDir(), testOptions)
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		conv := store.GroupConv("g")
		members := make([]store.Member, 8)
		for i := range members {
			members[i] = store.Member{UserID: fmt.Sprint("u", i), Role: "member"}
		}
		if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "u0"}, members); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, m := range members {
			wg.Go(func() {
				if _, _, err := s.AdvanceDelivered(ctx, conv, m.UserID, 1, 1); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if n := s.routines.Running(); n != 0 {
			t.Fatalf("round %d: %d combiner goroutines still run after Close", round, n)
		}
	}
}
