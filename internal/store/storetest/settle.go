package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/store"
)

// testSettleFirstWins: nodes whose engines close one receipt's window at
// once each settle it with the counts they froze; the first write wins
// and the others change nothing, so every node answers the same frozen
// counts from the store.
func testSettleFirstWins(t *testing.T, s store.Store) {
	settleRace(t, func(int) store.Store { return s })
}

// testSharedSettleFirstWins is testSettleFirstWins through two handles.
func testSharedSettleFirstWins(t *testing.T, a, b store.Store) {
	settleRace(t, func(w int) store.Store { return []store.Store{a, b}[w%2] })
}

// settleRace has writers settle one receipt concurrently, writer w through
// handle(w), each with counts of its own, and checks that exactly one
// writer's counts are stored, whichever handle reads them, and stay.
func settleRace(t *testing.T, handle func(w int) store.Store) {
	ctx := t.Context()
	s := handle(0)
	conv := mustCreateGroup(t, s, "g", "alice", "bob", "carol")
	m := msg(conv, "alice", "r", 10)
	m.Receipt, m.ReceiptAt = true, 10
	m = mustAppend(t, s, m)
	const writers = 8
	candidates := make([]*store.Frozen, writers)
	for w := range candidates {
		candidates[w] = &store.Frozen{Read: w, Unread: 2 - min(w, 2), Delivered: w + 1}
	}
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		st := handle(w)
		wg.Go(func() { errs[w] = st.SettleReceipt(ctx, conv, m.Seq, candidates[w]) })
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("SettleReceipt by writer %d: %v", w, err)
		}
	}
	var stored *store.Frozen
	for w := range 2 {
		got, err := handle(w).MessageAt(ctx, conv, m.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Settled || got.Frozen == nil {
			t.Fatalf("after the race, handle %d reads %+v; want settled and frozen", w, got)
		}
		if stored == nil {
			stored = got.Frozen
		} else if !cmp.Equal(got.Frozen, stored) {
			t.Fatalf("handles read different frozen counts: %+v and %+v", stored, got.Frozen)
		}
	}
	if !slices.ContainsFunc(candidates, func(f *store.Frozen) bool { return cmp.Equal(f, stored) }) {
		t.Fatalf("stored frozen counts %+v are no writer's", stored)
	}
	// A late writer, done or frozen, changes nothing.
	for _, f := range []*store.Frozen{nil, {Read: 99}} {
		if err := handle(1).SettleReceipt(ctx, conv, m.Seq, f); err != nil {
			t.Fatal(err)
		}
		got, err := handle(0).MessageAt(ctx, conv, m.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(got.Frozen, stored) {
			t.Fatalf("a late settle with %s changed the frozen counts to %+v, want %+v", fmtFrozen(f), got.Frozen, stored)
		}
	}
	if live, err := handle(1).LiveReceipts(ctx, conv); err != nil || len(live) != 0 {
		t.Fatalf("LiveReceipts after settling = %v, %v; want none", live, err)
	}
}

func fmtFrozen(f *store.Frozen) string {
	if f == nil {
		return "nil (done)"
	}
	return fmt.Sprintf("%+v", *f)
}
