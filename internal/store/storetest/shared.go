package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/store"
)

// RunShared runs the cases for a backend that several server nodes share:
// open returns two handles on one new, empty backend (two nodes), each
// released when t ends. Every write through one must be what the other
// reads next, and seqs, join positions and clientMsgIds must hold across
// them. A backend one process owns (pebblestore) cannot run it.
func RunShared(t *testing.T, open func(t *testing.T) (a, b store.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b store.Store)
	}{
		{"SeesOtherWrites", testSharedSees},
		{"ConcurrentSenders", testSharedConcurrentSenders},
		{"PeerFirstMessages", testSharedPeerFirst},
		{"ResendThroughOther", testSharedResend},
		{"ResendConcurrent", testSharedResendConcurrent},
		{"JoinWhileOtherAppends", testSharedJoin},
		{"ConcurrentWatermarks", testSharedWatermarks},
		{"SettleFirstWins", testSharedSettleFirstWins},
		{"SettleDone", testSharedSettleDone},
		{"ClaimsExclusive", testClaimsExclusive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open(t)
			tt.fn(t, a, b)
		})
	}
}

// testSharedSees writes through each handle and reads through the other,
// at once: nothing may be cached that the other's write makes stale.
func testSharedSees(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	if _, err := a.PutUser(ctx, store.User{ID: "alice", Name: "Alice", CreatedAt: 1}); err != nil {
		t.Fatal(err)
	}
	if u, err := b.GetUser(ctx, "alice"); err != nil || u.Name != "Alice" {
		t.Fatalf("b.GetUser(alice) = %+v, %v", u, err)
	}
	if created, err := b.PutUser(ctx, store.User{ID: "alice"}); err != nil || created {
		t.Errorf("b.PutUser(alice) = %v, %v; want false (a created her)", created, err)
	}
	conv := mustCreateGroup(t, a, "g", "alice", "bob")
	if _, err := b.GetGroup(ctx, "g"); err != nil {
		t.Fatalf("b.GetGroup: %v", err)
	}
	m1 := mustAppend(t, b, msg(conv, "alice", "c1", 10))
	if got, err := a.GetMessage(ctx, m1.ID); err != nil || !cmp.Equal(got, m1) {
		t.Errorf("a.GetMessage = %+v, %v; want %+v", got, err, m1)
	}
	m2 := mustAppend(t, a, msg(conv, "bob", "c2", 11))
	if m2.Seq != 2 {
		t.Errorf("a's append after b's: seq %d, want 2", m2.Seq)
	}
	if got := mustLastSeq(t, b, conv); got != 2 {
		t.Errorf("b.LastSeq = %d, want 2", got)
	}
	// Watermarks, acks and membership, each written on one side.
	if _, _, err := a.AdvanceDelivered(ctx, conv, "bob", 1, 20); err != nil {
		t.Fatal(err)
	}
	if m := mustMember(t, b, conv, "bob"); m.DeliveredSeq != 2 || m.ReadSeq != 2 {
		t.Errorf("b sees bob %+v; want read and delivered 2 (his own send)", m)
	}
	if _, _, err := b.AdvanceRead(ctx, conv, "alice", 2, 21); err != nil {
		t.Fatal(err)
	}
	if m := mustMember(t, a, conv, "alice"); m.ReadSeq != 2 || m.ReadAt != 21 {
		t.Errorf("a sees alice %+v; want read 2 at 21", m)
	}
	mustAppend(t, a, msg(conv, "alice", "c3", 12))
	mustAppend(t, a, msg(conv, "alice", "c4", 13))
	if _, _, err := b.AckOne(ctx, conv, "bob", 4, 30); err != nil {
		t.Fatal(err)
	}
	if m := mustMember(t, a, conv, "bob"); len(m.Acks) != 1 || m.Acks[0].Seq != 4 {
		t.Errorf("a sees bob's acks %v; want [4]", m.Acks)
	}
	if m, _, err := a.AckOne(ctx, conv, "bob", 3, 31); err != nil || m.ReadSeq != 4 || len(m.Acks) != 0 {
		t.Errorf("a.AckOne(3) folds b's ack 4: got %+v, %v", m, err)
	}
	if _, err := b.AddMembers(ctx, conv, []store.Member{{UserID: "carol", Role: "member"}}); err != nil {
		t.Fatal(err)
	}
	if got := mustCount(t, a, conv); got != 3 {
		t.Errorf("a.CountMembers = %d, want 3", got)
	}
	if err := a.SetRole(ctx, conv, "carol", "admin"); err != nil {
		t.Fatal(err)
	}
	if m := mustMember(t, b, conv, "carol"); m.Role != "admin" || m.JoinSeq != 5 {
		t.Errorf("b sees carol %+v; want admin joined at 5", m)
	}
	if err := b.RemoveMember(ctx, conv, "carol"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetMember(ctx, conv, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a.GetMember(removed carol) = %v, want ErrNotFound", err)
	}
	if _, _, err := a.Append(ctx, msg(conv, "carol", "x", 1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a.Append by carol removed through b = %v, want ErrNotFound", err)
	}
	// Receipts.
	if _, changed, err := a.RequestReceipt(ctx, conv, 1, 40); err != nil || !changed {
		t.Fatalf("a.RequestReceipt = %v, %v", changed, err)
	}
	if live, err := b.LiveReceipts(ctx, conv); err != nil || len(live) != 1 || live[0].Seq != 1 {
		t.Errorf("b.LiveReceipts = %v, %v; want seq 1", seqsOf(live), err)
	}
	frozen := &store.Frozen{Read: 1, Unread: 1, Delivered: 2}
	if err := b.SettleReceipt(ctx, conv, 1, frozen); err != nil {
		t.Fatal(err)
	}
	if got, err := a.MessageAt(ctx, conv, 1); err != nil || !got.Settled || !cmp.Equal(got.Frozen, frozen) {
		t.Errorf("a.MessageAt(1) = %+v, %v; want settled with %+v", got, err, frozen)
	}
	if acts, err := b.ConversationsActivity(ctx, "alice"); err != nil || len(acts) != 1 || acts[0].LastSeq != 4 || acts[0].LastAt != 13 {
		t.Errorf("b.ConversationsActivity(alice) = %+v, %v; want g at seq 4, 13", acts, err)
	}
	// Group deletion through one, re-creation through the other.
	for _, u := range []string{"alice", "bob"} {
		if err := a.RemoveMember(ctx, conv, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.DeleteGroup(ctx, "g"); err != nil {
		t.Fatalf("b.DeleteGroup after a removed everyone: %v", err)
	}
	if _, err := a.GetMessage(ctx, m1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a.GetMessage of the deleted group's message = %v, want ErrNotFound", err)
	}
	mustCreateGroup(t, a, "g", "dave")
	if got := mustAppend(t, b, msg(conv, "dave", "c1", 50)); got.Seq != 1 {
		t.Errorf("first append to the re-created group through b: seq %d, want 1", got.Seq)
	}
}

// testSharedConcurrentSenders sends into one group through both handles at
// once: the seqs are exactly 1..n, each once, and each sender's messages
// keep their order.
func testSharedConcurrentSenders(t *testing.T, a, b store.Store) {
	const writers, each = 8, 20
	users := make([]string, writers)
	for i := range users {
		users[i] = fmt.Sprintf("u%02d", i)
	}
	conv := mustCreateGroup(t, a, "busy", users...)
	appendConcurrently(t, func(w int) store.Store {
		if w%2 == 1 {
			return b
		}
		return a
	}, conv, users, each, "seqs from two handles")
	for _, s := range []store.Store{a, b} {
		if got := mustLastSeq(t, s, conv); got != writers*each {
			t.Errorf("LastSeq = %d, want %d", got, writers*each)
		}
	}
	hist, err := b.History(t.Context(), conv, 0, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]int{}
	for _, m := range slices.Backward(hist) {
		var i int
		fmt.Sscan(m.ClientMsgID, &i)
		if prev, ok := last[m.Sender]; ok && i <= prev {
			t.Errorf("sender %s: client id %d at seq %d after client id %d", m.Sender, i, m.Seq, prev)
		}
		last[m.Sender] = i
	}
}

// testSharedPeerFirst: a peer conversation's first messages, sent by both
// parties at once through both handles, create it once: gap-free seqs,
// both members, each message once.
func testSharedPeerFirst(t *testing.T, a, b store.Store) {
	for round := range 5 {
		x, y := fmt.Sprintf("x%d", round), fmt.Sprintf("y%d", round)
		conv := store.PeerConv(x, y)
		appendConcurrently(t, func(w int) store.Store {
			if w == 1 {
				return b
			}
			return a
		}, conv, []string{x, y}, 3, "first seqs of a new peer conversation")
		for _, s := range []store.Store{a, b} {
			if got := mustLastSeq(t, s, conv); got != 6 {
				t.Errorf("%s: LastSeq = %d, want 6", conv, got)
			}
			ms, err := s.ListMembers(t.Context(), conv, "", 10)
			if err != nil || len(ms) != 2 || ms[0].ReadSeq == 0 || ms[1].ReadSeq == 0 {
				t.Errorf("%s: members %+v, %v; want both, each having read what it sent", conv, ms, err)
			}
		}
	}
}

// testSharedResend sends through one handle and resends through the other.
func testSharedResend(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, a, "g", "alice", "bob")
	first := mustAppend(t, a, msg(conv, "alice", "c1", 1000))
	resend := msg(conv, "alice", "c1", 2000)
	resend.Body = json.RawMessage(`"different"`)
	got, existed, err := b.Append(ctx, resend)
	if err != nil || !existed {
		t.Fatalf("resend through b: existed %v, err %v; want true, nil", existed, err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("resend through b returned (-want original +got):\n%s", diff)
	}
	if got := mustLastSeq(t, a, conv); got != 1 {
		t.Errorf("LastSeq after the resend: %d, want 1", got)
	}
	// A peer conversation's first message, resent through the other.
	peer := store.PeerConv("alice", "zoe")
	p1 := mustAppend(t, b, msg(peer, "zoe", "hi", 5))
	if got, existed, err := a.Append(ctx, msg(peer, "zoe", "hi", 6)); err != nil || !existed || got.ID != p1.ID {
		t.Errorf("peer resend through a = %s existed %v, %v; want %s", got.ID, existed, err, p1.ID)
	}
}

// testSharedResendConcurrent races one client id through both handles.
func testSharedResendConcurrent(t *testing.T, a, b store.Store) {
	conv := mustCreateGroup(t, a, "g", "alice")
	const n = 16
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fresh int
		ids   = map[string]int{}
		seqs  = map[uint64]int{}
	)
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			got, existed, err := s.Append(t.Context(), msg(conv, "alice", "same", int64(i)))
			if err != nil {
				t.Errorf("Append: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if !existed {
				fresh++
			}
			ids[got.ID]++
			seqs[got.Seq]++
		})
	}
	wg.Wait()
	if fresh != 1 || len(ids) != 1 {
		t.Errorf("one client id through two handles: %d stored, %d distinct ids returned; want 1 and 1", fresh, len(ids))
	}
	if diff := cmp.Diff(map[uint64]int{1: n}, seqs); diff != "" {
		t.Errorf("seqs returned (-want +got):\n%s", diff)
	}
}

// testSharedJoin adds members through one handle while the other appends:
// each join position is one more than the messages stored before it.
func testSharedJoin(t *testing.T, a, b store.Store) {
	conv := mustCreateGroup(t, a, "g", "alice")
	const msgs, joiners = 40, 16
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range msgs {
			if _, _, err := b.Append(t.Context(), msg(conv, "alice", fmt.Sprint(i), int64(i))); err != nil {
				t.Errorf("Append: %v", err)
				return
			}
		}
	})
	for j := range joiners {
		wg.Go(func() {
			if _, err := a.AddMembers(t.Context(), conv, []store.Member{{UserID: fmt.Sprintf("j%02d", j)}}); err != nil {
				t.Errorf("AddMembers: %v", err)
			}
		})
	}
	wg.Wait()
	list, err := b.ListMembers(t.Context(), conv, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != joiners+1 {
		t.Fatalf("members: %d, want %d", len(list), joiners+1)
	}
	hist, err := a.History(t.Context(), conv, 0, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != msgs {
		t.Fatalf("history: %d messages, want %d", len(hist), msgs)
	}
	for _, m := range list {
		if m.UserID == "alice" {
			continue
		}
		if m.ReadSeq != m.JoinSeq-1 || m.JoinSeq < 1 || m.JoinSeq > msgs+1 {
			t.Errorf("%s: JoinSeq %d ReadSeq %d; want ReadSeq = JoinSeq-1 within 1..%d", m.UserID, m.JoinSeq, m.ReadSeq, msgs+1)
		}
	}
}

// testSharedWatermarks moves the same members' watermarks through both
// handles at once, with appends by the same members in between: each
// handle combines its own operations, so two combiners write the same
// members concurrently. Nothing may fail (a lock-order deadlock would) and
// every watermark ends at the highest value written through either.
func testSharedWatermarks(t *testing.T, a, b store.Store) {
	const readers, top = 6, 30
	users := []string{"w"}
	for i := range readers {
		users = append(users, fmt.Sprintf("r%d", i))
	}
	conv := mustCreateGroup(t, a, "g", users...)
	for i := range top {
		mustAppend(t, a, msg(conv, "w", fmt.Sprint(i), int64(i)))
	}
	var wg sync.WaitGroup
	for h, s := range []store.Store{a, b} {
		wg.Go(func() {
			for seq := uint64(1); seq <= top; seq++ {
				// Each round names every reader, in an order that differs
				// between the handles.
				for i := range readers {
					u := users[1+(i+h*3)%readers]
					var err error
					if seq%2 == uint64(h) {
						_, _, err = s.AdvanceRead(t.Context(), conv, u, seq, int64(seq))
					} else {
						_, _, err = s.AckOne(t.Context(), conv, u, seq, int64(seq))
					}
					if err != nil {
						t.Errorf("handle %d, %s at %d: %v", h, u, seq, err)
						return
					}
				}
				if seq%10 == 0 {
					if _, _, err := s.Append(t.Context(), msg(conv, users[1+h], fmt.Sprint("h", h, seq), int64(seq))); err != nil {
						t.Errorf("handle %d: Append: %v", h, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	last := mustLastSeq(t, b, conv)
	for i, u := range users[1:] {
		m := mustMember(t, a, conv, u)
		// r0 and r1 also sent (their handle's messages above top), which
		// raised their own watermarks; every other reader read exactly
		// through top, partly by acks that must all have folded.
		lo, hi := uint64(top), uint64(top)
		if i < 2 {
			hi = last
		}
		if m.ReadSeq < lo || m.ReadSeq > hi || m.DeliveredSeq != m.ReadSeq || len(m.Acks) != 0 {
			t.Errorf("%s: read %d delivered %d acks %v; want read in %d..%d, delivered = read, no acks", u, m.ReadSeq, m.DeliveredSeq, m.Acks, lo, hi)
		}
	}
}
