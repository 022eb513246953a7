package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

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

// testSettleDone: one call settles every done receipt it names, leaves a
// settled one's frozen counts and a message without a receipt alone, and
// passes over a seq with no message. The write need not be visible when
// the call returns: the case waits for it, for up to settleDoneWait.
func testSettleDone(t *testing.T, s store.Store) {
	testSharedSettleDone(t, s, s)
}

// settleDoneWait bounds how long a SettleDone may take to become visible:
// a queued write goes with the backend's next round.
const settleDoneWait = 10 * time.Second

// testSharedSettleDone is testSettleDone settled through w and read
// through r.
func testSharedSettleDone(t *testing.T, w, r store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, w, "g", "alice", "bob")
	live := func(id string, at int64) store.Message {
		m := msg(conv, "alice", id, at)
		m.Receipt = true
		return mustAppend(t, w, m)
	}
	// waitLive waits until the live receipts are want.
	waitLive := func(want []uint64) {
		t.Helper()
		deadline := time.Now().Add(settleDoneWait)
		for got := liveSeqs(t, r, conv); !slices.Equal(got, want); got = liveSeqs(t, r, conv) {
			if time.Now().After(deadline) {
				t.Fatalf("live receipts %v after %v, want %v", got, settleDoneWait, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	r1, r2 := live("r1", 10), live("r2", 20)
	plain := mustAppend(t, w, msg(conv, "alice", "p3", 30))
	r4 := live("r4", 40)
	frozen := &store.Frozen{Read: 1, Unread: 1, Delivered: 2}
	if err := w.SettleReceipt(ctx, conv, r4.Seq, frozen); err != nil {
		t.Fatal(err)
	}
	if err := w.SettleDone(ctx, conv, []uint64{r1.Seq, r2.Seq, plain.Seq, r4.Seq, r1.Seq, 99}); err != nil {
		t.Fatalf("SettleDone: %v", err)
	}
	waitLive(nil)
	want := []struct {
		m       store.Message
		settled bool
		frozen  *store.Frozen
	}{{r1, true, nil}, {r2, true, nil}, {plain, false, nil}, {r4, true, frozen}}
	for _, c := range want {
		got, err := r.MessageAt(ctx, conv, c.m.Seq)
		if err != nil {
			t.Fatal(err)
		}
		if got.Settled != c.settled || !cmp.Equal(got.Frozen, c.frozen) || got.Receipt != c.m.Receipt {
			t.Errorf("message %d = settled %v, frozen %+v, receipt %v; want settled %v, frozen %+v, receipt %v",
				c.m.Seq, got.Settled, got.Frozen, got.Receipt, c.settled, c.frozen, c.m.Receipt)
		}
	}
	// One receipt of two: the other stays live.
	r5, r6 := live("r5", 50), live("r6", 60)
	if err := w.SettleDone(ctx, conv, []uint64{r6.Seq}); err != nil {
		t.Fatalf("SettleDone: %v", err)
	}
	waitLive([]uint64{r5.Seq})
	if err := w.SettleDone(ctx, conv, nil); err != nil {
		t.Errorf("SettleDone of nothing = %v", err)
	}
}

// liveSeqs returns the seqs of conv's live receipts, as s reads them.
func liveSeqs(t *testing.T, s store.Store, conv store.ConvID) []uint64 {
	t.Helper()
	live, err := s.LiveReceipts(t.Context(), conv)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, m := range live {
		seqs = append(seqs, m.Seq)
	}
	return seqs
}
