package pebblestore

import (
	"fmt"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// TestCloseJoinsCombiners checks that Close after a storm of concurrent
// watermark operations succeeds, round after round: the rounds run on
// their callers, which have all returned by then.
func TestCloseJoinsCombiners(t *testing.T) {
	for range 20 {
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
	}
}
