package pgstore

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/seen-im/seen/internal/store"
)

// TestCloseJoinsEverything checks that nothing the store started outlives
// Close: neither a combiner (whose last round, finding its queue empty,
// may run after the caller it served returned) nor the pool's goroutines.
func TestCloseJoinsEverything(t *testing.T) {
	u := freshSchema(t)
	// The schema's admin pool (freshSchema) runs until the test ends.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for round := range 5 {
		s, err := Open(context.Background(), u, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		gid := fmt.Sprint("g", round)
		conv := store.GroupConv(gid)
		members := make([]store.Member, 8)
		for i := range members {
			members[i] = store.Member{UserID: fmt.Sprint("u", i), Role: "member"}
		}
		if err := s.CreateGroup(ctx, store.Group{ID: gid, CreatedBy: "u0"}, members); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, m := range members {
			wg.Go(func() {
				if _, _, err := s.Append(ctx, store.Message{ID: gid + m.UserID, Conv: conv, Sender: m.UserID, SentAt: 1}); err != nil {
					t.Error(err)
				}
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
		if _, err := s.GetUser(ctx, "u0"); err == nil {
			t.Fatalf("round %d: GetUser after Close succeeded", round)
		}
	}
}
