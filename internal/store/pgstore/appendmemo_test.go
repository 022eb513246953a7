package pgstore

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/store"
)

// TestAppendMemo: a node's appends are written from its memo once it has
// written the rows itself, and whatever another node (a second handle on
// the database) or a watermark round changed makes the memo's round fail
// and fall back to the locking one: seqs stay gap-free, a removed sender
// is refused, a resend answers the original, watermarks are kept.
func TestAppendMemo(t *testing.T) {
	a, b, g := twoNodes(t)
	ctx := context.Background()
	n := 0
	send := func(s *Store, sender, clientID string) (store.Message, bool, error) {
		t.Helper()
		n++
		return s.Append(ctx, store.Message{ID: "m" + strconv.Itoa(n), Conv: g, Sender: sender, ClientMsgID: clientID,
			Body: []byte(`{}`), SentAt: int64(1000 + n), Receipt: true})
	}
	var seq uint64 // the conversation's last seq
	next := func(s *Store, sender string) store.Message {
		t.Helper()
		seq++
		m, existed, err := send(s, sender, "")
		if err != nil || existed || m.Seq != seq {
			t.Fatalf("append by %s = seq %d, existed %v, %v; want seq %d", sender, m.Seq, existed, err, seq)
		}
		return m
	}
	counts := func(writes, stale int64) {
		t.Helper()
		if w, st := a.memoStats.appends.Load(), a.memoStats.appendsStale.Load(); w != writes || st != stale {
			t.Fatalf("node a: %d rounds from its memo, %d found it stale; want %d, %d", w, st, writes, stale)
		}
	}
	// skipped sends the appends that go the locking way after a failure.
	skipped := func(sender string) {
		t.Helper()
		w, st := a.memoStats.appends.Load(), a.memoStats.appendsStale.Load()
		for range minSkip {
			next(a, sender)
		}
		counts(w, st)
	}

	next(a, "alice") // the locking round: the memo had nothing
	counts(0, 0)
	next(a, "alice") // from the memo
	counts(1, 0)

	// Another node's append moves last_seq: the memo's round fails, the
	// locking one takes the next seq, and the next few skip the memo.
	next(b, "alice")
	next(a, "alice")
	counts(1, 1)
	skipped("alice")
	next(a, "alice")
	counts(2, 1)

	// Another node changes alice's row (her role): a's memo holds the
	// version before, so its round falls back to the locking one, which
	// writes from the row as it now is.
	if err := b.SetRole(ctx, g, "alice", "admin"); err != nil {
		t.Fatal(err)
	}
	next(a, "alice")
	counts(2, 2)
	if m, err := b.GetMember(ctx, g, "alice"); err != nil || m.Role != "admin" || m.ReadSeq != seq {
		t.Fatalf("alice after another node's role change and a send = %+v, %v", m, err)
	}
	skipped("alice")

	// This node's watermark rounds keep the memo: bob's read through a
	// does not send his next append to the locking round.
	next(a, "bob") // bob's row was not kept yet
	counts(2, 2)
	if _, _, err := a.AckOne(ctx, g, "bob", seq, 99); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.AdvanceDelivered(ctx, g, "bob", seq, 100); err != nil {
		t.Fatal(err)
	}
	next(a, "bob")
	counts(3, 2)
	m, err := b.GetMember(ctx, g, "bob")
	if err != nil || m.ReadSeq != seq || m.DeliveredSeq != seq || len(m.Acks) != 0 {
		t.Fatalf("bob after a send from the memo = %+v, %v; want read and delivered %d", m, err, seq)
	}

	// A resend of a client id: the memo's round finds it stored and
	// falls back, and the original is answered.
	orig, _, err := send(a, "bob", "c1")
	if seq++; err != nil || orig.Seq != seq {
		t.Fatalf("append c1 = %+v, %v", orig, err)
	}
	counts(4, 2)
	again, existed, err := send(a, "bob", "c1")
	if err != nil || !existed || again.ID != orig.ID || again.Seq != seq {
		t.Fatalf("resend of c1 = %+v, existed %v, %v; want the original", again, existed, err)
	}
	counts(4, 3)
	skipped("bob") // and the resend wrote nothing: no gap

	// Another node removes alice: a's memo still holds her row, and her
	// append must be refused, writing nothing.
	next(a, "alice") // from the memo: her row is kept
	counts(5, 3)
	if err := b.RemoveMember(ctx, g, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := send(a, "alice", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("append by a removed member = %v, want ErrNotFound", err)
	}
	counts(5, 4)
	next(b, "bob")
}

// TestAppendMemoRoundOfSeveral: a round of several messages from the memo
// takes the statement that inserts them as arrays (a round of one, the
// usual, inserts it as values), and its client-id check holds there too.
func TestAppendMemoRoundOfSeveral(t *testing.T) {
	a, b, g := twoNodes(t)
	ctx := context.Background()
	for i := 1; i <= 2; i++ { // the locking round, then one from the memo
		if _, _, err := a.Append(ctx, store.Message{ID: "m" + strconv.Itoa(i), Conv: g, Sender: "alice", Body: []byte(`{}`), SentAt: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.memoStats.appends.Load(); n != 1 {
		t.Fatalf("rounds from the memo = %d, want 1", n)
	}
	round := func(ids ...string) []*appendOp {
		ops := make([]*appendOp, len(ids))
		for i, id := range ids {
			ops[i] = &appendOp{m: store.Message{ID: id, Conv: g, Sender: "alice", ClientMsgID: "c-" + id,
				Body: []byte(`{"n":"` + id + `"}`), SentAt: int64(10 + i), Receipt: i == 1}}
		}
		return ops
	}
	ops := round("m3", "m4", "m5")
	done, member, err := a.appendFromMemo(ctx, g, ops)
	if err != nil || !done || member == nil || member.ReadSeq != 5 {
		t.Fatalf("a round of three from the memo = %v, %+v, %v; want written, alice read to 5", done, member, err)
	}
	for i, op := range ops {
		got, err := b.MessageAt(ctx, g, uint64(3+i))
		if err != nil || got.ID != op.m.ID || got.ClientMsgID != op.m.ClientMsgID || string(got.Body) != string(op.m.Body) ||
			got.Receipt != op.m.Receipt || op.stored.Seq != uint64(3+i) {
			t.Fatalf("message %d as stored = %+v, %v; the op's %+v", 3+i, got, err, op.stored)
		}
	}
	// A round that resends a stored client id writes nothing: the
	// locking round answers it.
	ops = round("m6", "m4")
	if done, _, err := a.appendFromMemo(ctx, g, ops); err != nil || done {
		t.Fatalf("a round resending a client id = %v, %v; want not written", done, err)
	}
	if last, err := b.LastSeq(ctx, g); err != nil || last != 5 {
		t.Fatalf("last seq after the refused round = %d, %v; want 5", last, err)
	}
}

// twoNodes opens two stores on one fresh database, standing for two nodes,
// with group g of alice (owner) and bob.
func twoNodes(t *testing.T) (a, b *Store, g store.ConvID) {
	t.Helper()
	testURL(t)
	u := freshSchema(t)
	a, b = openAt(t, u), openAt(t, u)
	if err := a.CreateGroup(context.Background(), store.Group{ID: "g", CreatedBy: "alice"},
		[]store.Member{{UserID: "alice", Role: "owner"}, {UserID: "bob", Role: "member"}}); err != nil {
		t.Fatal(err)
	}
	return a, b, store.GroupConv("g")
}

// TestAppendMemoAgesOut: a member row kept longer than memoMaxAge is not
// written from (its xmin could have wrapped), and the memo is bounded.
func TestAppendMemoAgesOut(t *testing.T) {
	mm := newAppendMemo()
	now := time.Unix(1000, 0)
	mm.now = func() time.Time { return now }
	g := store.GroupConv("g")
	mm.appended(g, 3, []store.Member{{UserID: "u", ReadSeq: 3, Acks: []store.Ack{{Seq: 5}}}}, 42)
	last, r, ok := mm.sender(g, "u")
	if !ok || last != 3 || r.xmin != 42 || r.m.ReadSeq != 3 {
		t.Fatalf("sender = %d, %+v, %v", last, r, ok)
	}
	r.m.Acks[0].Seq = 6 // a copy: the memo's row stays as written
	if _, r, _ := mm.sender(g, "u"); r.m.Acks[0].Seq != 5 {
		t.Fatalf("the kept row was changed through a copy: %+v", r.m)
	}
	now = now.Add(memoMaxAge + time.Second)
	if _, _, ok := mm.sender(g, "u"); ok {
		t.Fatal("a row older than memoMaxAge was served")
	}
	mm.watermarked(store.GroupConv("other"), store.Member{UserID: "u"}, 1)
	if _, ok := mm.convs[store.GroupConv("other")]; ok {
		t.Fatal("a watermark round added a conversation no append wrote")
	}
	for i := range maxMemoMembers + 10 {
		mm.appended(store.GroupConv("c"+strconv.Itoa(i)), 1, []store.Member{{UserID: "u"}}, 1)
	}
	if mm.rows > maxMemoMembers || len(mm.convs) > maxMemoMembers {
		t.Fatalf("memo holds %d rows in %d conversations, bound %d", mm.rows, len(mm.convs), maxMemoMembers)
	}
}

// TestWatermarksFromMemo: a watermark round whose members this node wrote
// last is written from the memo; a row another node changed since makes
// it fall back to the locking round, whether the round would change the
// row (no watermark written back down) or not (the result is the row as
// stored, not as kept).
func TestWatermarksFromMemo(t *testing.T) {
	a, b, g := twoNodes(t)
	ctx := context.Background()
	for i := 1; i <= 6; i++ {
		if _, _, err := a.Append(ctx, store.Message{ID: "m" + strconv.Itoa(i), Conv: g, Sender: "alice", Body: []byte(`{}`), SentAt: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	counts := func(rounds, stale int64) {
		t.Helper()
		if r, st := a.memoStats.rounds.Load(), a.memoStats.roundsStale.Load(); r != rounds || st != stale {
			t.Fatalf("node a: %d watermark rounds from its memo, %d found it stale; want %d, %d", r, st, rounds, stale)
		}
	}
	// bob's row is not kept until a's round writes it.
	if _, _, err := a.AdvanceDelivered(ctx, g, "bob", 1, 10); err != nil {
		t.Fatal(err)
	}
	counts(0, 0)
	if _, changed, err := a.AdvanceRead(ctx, g, "bob", 1, 11); err != nil || !changed {
		t.Fatalf("AdvanceRead bob 1 = %v, %v", changed, err)
	}
	counts(1, 0)
	if m, err := b.GetMember(ctx, g, "bob"); err != nil || m.ReadSeq != 1 || m.ReadAt != 11 {
		t.Fatalf("bob as stored after a round from the memo = %+v, %v", m, err)
	}

	// Another node raises bob's read watermark: a's round, from a memo
	// that says 1, must not write it back down.
	if _, _, err := b.AdvanceRead(ctx, g, "bob", 3, 12); err != nil {
		t.Fatal(err)
	}
	m, changed, err := a.AdvanceDelivered(ctx, g, "bob", 2, 13)
	if err != nil || changed || m.ReadSeq != 3 || m.DeliveredSeq != 3 {
		t.Fatalf("AdvanceDelivered bob 2 after another node's read = %+v, changed %v, %v; want read 3, unchanged", m, changed, err)
	}
	counts(1, 1)

	// Kept again by a's next write; then another node acks a message
	// above bob's watermark. A round that changes nothing per the memo
	// must still answer the row as stored.
	if _, _, err := a.AdvanceRead(ctx, g, "bob", 4, 14); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.AckOne(ctx, g, "bob", 6, 15); err != nil {
		t.Fatal(err)
	}
	m, changed, err = a.AdvanceDelivered(ctx, g, "bob", 4, 16)
	if err != nil || changed || !m.HasAck(6) || m.DeliveredSeq != 4 {
		t.Fatalf("AdvanceDelivered bob 4 after another node's ack = %+v, changed %v, %v; want the ack of 6", m, changed, err)
	}
	counts(1, 2)
}

// TestAppendMemoBackoff: after a failed round from the memo a
// conversation's appends skip it, for twice as many after each failure in
// a row, up to maxSkip, and from minSkip again once a round held.
func TestAppendMemoBackoff(t *testing.T) {
	mm := newAppendMemo()
	g := store.GroupConv("g")
	skips := func() int {
		t.Helper()
		n := 0
		for {
			if _, _, ok := mm.sender(g, "u"); ok {
				return n
			}
			n++
			if n > maxSkip+1 {
				t.Fatal("the memo is never tried again")
			}
			if mm.convs[g].skip == 0 && mm.convs[g].lastSeq < 0 {
				// The locking round that the skipped append ran.
				mm.appended(g, 1, []store.Member{{UserID: "u"}}, 1)
			}
		}
	}
	mm.appended(g, 1, []store.Member{{UserID: "u"}}, 1)
	want := []int{minSkip, 2 * minSkip, 4 * minSkip, maxSkip, maxSkip}
	for i, w := range want {
		mm.appendFailed(g, "u")
		if got := skips(); got != w {
			t.Fatalf("failure %d in a row: %d appends skipped the memo, want %d", i+1, got, w)
		}
	}
	mm.appendHeld(g)
	mm.appendFailed(g, "u")
	if got := skips(); got != minSkip {
		t.Fatalf("after a round that held: %d skipped, want %d", got, minSkip)
	}
}
