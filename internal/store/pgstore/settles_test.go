package pgstore

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// TestSettlesGoWithTheRounds: settles made while a watermark round is in
// flight wait for the next round, which writes them with another
// conversation's watermark in one transaction; each gets the answer it
// would have got alone: settled with its frozen counts, a message settled
// twice keeps the first's, a message without a receipt is left as it is,
// and an unknown message is not found.
func TestSettlesGoWithTheRounds(t *testing.T) {
	u := freshSchema(t)
	s := openAt(t, u)
	ctx := context.Background()
	var convs [2]store.ConvID
	for i, id := range []string{"blocked", "free"} {
		convs[i] = groupOfWR(t, s, id)
	}
	blocked, free := convs[0], convs[1]
	for i := range 4 {
		// Seqs 1-3 ask for receipts, 4 does not.
		m := store.Message{ID: "m" + string(rune('1'+i)), Conv: free, Sender: "w", SentAt: 1, Receipt: i < 3}
		if _, _, err := s.Append(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Append(ctx, store.Message{ID: "b1", Conv: blocked, Sender: "w", SentAt: 1}); err != nil {
		t.Fatal(err)
	}

	// Hold r's row of the blocked conversation, and start a round that
	// waits for it.
	tx := holdRows(t, u, `SELECT 1 FROM members WHERE conv = $1 AND user_id = 'r' FOR UPDATE`, string(blocked))
	var wg sync.WaitGroup
	read := func(conv store.ConvID) {
		wg.Go(func() {
			if _, changed, err := s.AdvanceRead(ctx, conv, "r", 1, 2); err != nil || !changed {
				t.Errorf("AdvanceRead in %s = %v, %v", conv, changed, err)
			}
		})
	}
	read(blocked)
	waitFor(t, "the round to take the blocked conversation", func() bool {
		s.wmMu.Lock()
		defer s.wmMu.Unlock()
		return s.wmRounds == 1 && len(s.wmReady) == 0
	})

	frozen := func(n int) *store.Frozen { return &store.Frozen{Read: n, Unread: 10 - n, Delivered: n + 1} }
	settles := []struct {
		seq      uint64
		frozen   *store.Frozen
		notKnown bool
	}{
		{seq: 1, frozen: frozen(3)},
		{seq: 1, frozen: frozen(5)}, // finds it settled
		{seq: 2},
		{seq: 3, frozen: frozen(7)},
		{seq: 4, frozen: frozen(1)}, // no receipt: left as it is
		{seq: 99, notKnown: true},
	}
	errs := make([]error, len(settles))
	for i, st := range settles {
		wg.Go(func() { errs[i] = s.SettleReceipt(ctx, free, st.seq, st.frozen) })
		// In order, so the first settle of seq 1 is the first queued.
		waitFor(t, "the settle to queue", func() bool {
			s.wmMu.Lock()
			defer s.wmMu.Unlock()
			return len(s.settles) == i+1
		})
	}
	read(free)
	waitFor(t, "the free conversation to wait for the round", func() bool {
		s.wmMu.Lock()
		defer s.wmMu.Unlock()
		return len(s.wmReady) == 1 && len(s.settles) == len(settles)
	})
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	for i, st := range settles {
		switch {
		case st.notKnown && !errors.Is(errs[i], store.ErrNotFound):
			t.Errorf("settle of unknown seq %d: %v, want not found", st.seq, errs[i])
		case !st.notKnown && errs[i] != nil:
			t.Errorf("settle %d (seq %d): %v", i, st.seq, errs[i])
		}
	}
	want := map[uint64]struct {
		settled bool
		frozen  *store.Frozen
	}{1: {true, frozen(3)}, 2: {true, nil}, 3: {true, frozen(7)}, 4: {false, nil}}
	for seq, w := range want {
		m, err := s.MessageAt(ctx, free, seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Settled != w.settled || (m.Frozen == nil) != (w.frozen == nil) || (m.Frozen != nil && *m.Frozen != *w.frozen) {
			t.Errorf("seq %d: settled %v frozen %+v, want %v %+v", seq, m.Settled, m.Frozen, w.settled, w.frozen)
		}
	}
	ms, err := s.GetMembers(ctx, []store.MemberRef{{Conv: blocked, UserID: "r"}, {Conv: free, UserID: "r"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.ReadSeq != 1 {
			t.Errorf("%s: read_seq %d, want 1", m.UserID, m.ReadSeq)
		}
	}
}

// TestSettleDoneQueuesOneRound: SettleDone queues all its settles at once,
// for one round, and returns without waiting for it: a read that makes
// many peer receipts done waits neither for a round per receipt nor for
// a round more than its own watermark's.
func TestSettleDoneQueuesOneRound(t *testing.T) {
	u := freshSchema(t)
	s := openAt(t, u)
	ctx := context.Background()
	conv := groupOfWR(t, s, "g")
	for i := range 3 {
		m := store.Message{ID: "m" + string(rune('1'+i)), Conv: conv, Sender: "w", SentAt: 1, Receipt: true}
		if _, _, err := s.Append(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// A round in flight, held on r's row: the settles queue behind it.
	tx := holdRows(t, u, `SELECT 1 FROM members WHERE conv = $1 AND user_id = 'r' FOR UPDATE`, string(conv))
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, _, err := s.AdvanceRead(ctx, conv, "r", 1, 2); err != nil {
			t.Errorf("AdvanceRead: %v", err)
		}
	})
	waitFor(t, "the round to take the conversation", func() bool {
		s.wmMu.Lock()
		defer s.wmMu.Unlock()
		return s.wmRounds == 1 && len(s.wmReady) == 0
	})
	returned := make(chan error, 1)
	go func() { returned <- s.SettleDone(ctx, conv, []uint64{1, 2, 3}) }()
	var err error
	waitFor(t, "SettleDone to return while the round is held", func() bool {
		select {
		case err = <-returned:
			return true
		default:
			return false
		}
	})
	if err != nil {
		t.Fatalf("SettleDone: %v", err)
	}
	s.wmMu.Lock()
	queued := len(s.settles)
	s.wmMu.Unlock()
	if queued != 3 {
		t.Fatalf("%d settles queued, want the three together", queued)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	waitFor(t, "the settles to be written", func() bool {
		live, err := s.LiveReceipts(ctx, conv)
		return err == nil && len(live) == 0
	})
}
