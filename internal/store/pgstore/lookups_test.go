package pgstore

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/store"
)

// gateRounds wraps the lookup rounds: every round is counted, and
// the first one waits on before (ahead of its query) and on after (once its
// query has answered), each signalled by closing the channel; reached is
// closed once the first round has its rows.
type gateRounds struct {
	rounds        atomic.Int64
	before, after chan struct{}
	reached       chan struct{}
	reachedOnce   sync.Once
}

func gate(s *Store) *gateRounds {
	g := &gateRounds{before: make(chan struct{}), after: make(chan struct{}), reached: make(chan struct{})}
	f := s.look
	round := f.round
	f.round = func(ctx context.Context, k keys) (rows, error) {
		first := g.rounds.Add(1) == 1
		if first {
			<-g.before
		}
		rows, err := round(ctx, k)
		if first {
			g.reachedOnce.Do(func() { close(g.reached) })
			<-g.after
		}
		return rows, err
	}
	return g
}

// queued reports how many calls wait in f's queue for the next round.
func queued(f *finder) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue)
}

// groupWithMessage makes group g of a and b, and a's message m1 in it.
func groupWithMessage(t *testing.T, s *Store) store.ConvID {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "a"},
		[]store.Member{{UserID: "a", Role: "member"}, {UserID: "b", Role: "member"}}); err != nil {
		t.Fatal(err)
	}
	conv := store.GroupConv("g")
	if _, _, err := s.Append(ctx, store.Message{ID: "m1", Conv: conv, Sender: "a", SentAt: 1}); err != nil {
		t.Fatal(err)
	}
	return conv
}

// waitFor polls cond until it holds or the test has waited too long.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLookupsCombineQueuedCalls: while one member lookup is in flight, the
// calls made meanwhile queue and are answered together by one more
// statement, each with its own row.
func TestLookupsCombineQueuedCalls(t *testing.T) {
	s := openAt(t, freshSchema(t))
	ctx := context.Background()
	const n = 50
	var members []store.Member
	for i := range n {
		members = append(members, store.Member{UserID: "u" + strconv.Itoa(i), Role: "member"})
	}
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "u0"}, members); err != nil {
		t.Fatal(err)
	}
	conv := store.GroupConv("g")
	g := gate(s)
	close(g.after)

	first := make(chan error, 1)
	go func() {
		_, err := s.GetMember(ctx, conv, "u0")
		first <- err
	}()
	waitFor(t, "the first round to start", func() bool { return g.rounds.Load() == 1 })
	type answer struct {
		m   store.Member
		err error
	}
	answers := make([]chan answer, n)
	for i := range n {
		answers[i] = make(chan answer, 1)
		go func() {
			m, err := s.GetMember(ctx, conv, "u"+strconv.Itoa(i))
			answers[i] <- answer{m, err}
		}()
	}
	waitFor(t, "the calls to queue", func() bool { return queued(s.look) == n })
	close(g.before)
	if err := <-first; err != nil {
		t.Fatalf("first GetMember: %v", err)
	}
	for i := range n {
		a := <-answers[i]
		if a.err != nil || a.m.UserID != "u"+strconv.Itoa(i) {
			t.Fatalf("GetMember u%d = %q, %v", i, a.m.UserID, a.err)
		}
	}
	if _, err := s.GetMember(ctx, conv, "nobody"); err == nil {
		t.Fatal("GetMember of a non-member: no error")
	}
	// The first round, one for the 50 queued calls, one for "nobody".
	if got := g.rounds.Load(); got != 3 {
		t.Fatalf("%d statements for %d calls, want 3", got, n+2)
	}
}

// TestLookupSeesWriteCommittedBeforeTheCall: a call made while a round is
// in flight, whose rows were read before a write committed, is not
// answered from that round: it sees the write, as a query of its own would.
func TestLookupSeesWriteCommittedBeforeTheCall(t *testing.T) {
	s := openAt(t, freshSchema(t))
	ctx := context.Background()
	conv := groupWithMessage(t, s)
	g := gate(s)
	close(g.before)

	early := make(chan store.Member, 1)
	go func() {
		m, err := s.GetMember(ctx, conv, "b")
		if err != nil {
			t.Errorf("early GetMember: %v", err)
		}
		early <- m
	}()
	<-g.reached // the first round has read b's row: read_seq 0
	if _, changed, err := s.AdvanceRead(ctx, conv, "b", 1, 2); err != nil || !changed {
		t.Fatalf("AdvanceRead = %v, %v", changed, err)
	}
	late := make(chan store.Member, 1)
	go func() {
		m, err := s.GetMember(ctx, conv, "b")
		if err != nil {
			t.Errorf("late GetMember: %v", err)
		}
		late <- m
	}()
	waitFor(t, "the late call to queue", func() bool { return queued(s.look) == 1 })
	close(g.after)
	if m := <-early; m.ReadSeq != 0 {
		t.Fatalf("the early call, made before the write, read read_seq %d", m.ReadSeq)
	}
	if m := <-late; m.ReadSeq != 1 {
		t.Fatalf("the call made after the write committed read read_seq %d, want 1", m.ReadSeq)
	}
}

// TestLookupRowsAreTheCallers: calls answered by one round get rows of
// their own: one caller changing its member's acks or its message's frozen
// counts changes nobody else's.
func TestLookupRowsAreTheCallers(t *testing.T) {
	s := openAt(t, freshSchema(t))
	ctx := context.Background()
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "a"},
		[]store.Member{{UserID: "a", Role: "member"}, {UserID: "b", Role: "member"}}); err != nil {
		t.Fatal(err)
	}
	conv := store.GroupConv("g")
	for i := 1; i <= 3; i++ {
		if _, _, err := s.Append(ctx, store.Message{ID: "m" + strconv.Itoa(i), Conv: conv, Sender: "a", SentAt: 1, Body: []byte(`"x"`), Receipt: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.AckOne(ctx, conv, "b", 3, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.SettleReceipt(ctx, conv, 1, &store.Frozen{Read: 1}); err != nil {
		t.Fatal(err)
	}
	g := gate(s)
	var wg sync.WaitGroup
	wg.Go(func() {
		if _, err := s.GetMember(ctx, conv, "a"); err != nil {
			t.Errorf("GetMember: %v", err)
		}
	})
	waitFor(t, "the first round to start", func() bool { return g.rounds.Load() == 1 })
	members := make([]store.Member, 2)
	for i := range members {
		wg.Go(func() {
			m, err := s.GetMember(ctx, conv, "b")
			if err != nil {
				t.Errorf("GetMember: %v", err)
			}
			members[i] = m
		})
	}
	waitFor(t, "both calls to queue behind the first", func() bool { return queued(s.look) == 2 })
	close(g.before)
	close(g.after)
	wg.Wait()
	if len(members[0].Acks) != 1 || len(members[1].Acks) != 1 {
		t.Fatalf("acks %v and %v, want one each", members[0].Acks, members[1].Acks)
	}
	members[0].Acks[0].Seq = 99
	if members[1].Acks[0].Seq == 99 {
		t.Fatal("two callers share one acks slice")
	}
	ms, err := s.GetMessages(ctx, []string{"m1", "m1"})
	if err != nil || ms[0].Frozen == nil || ms[1].Frozen == nil {
		t.Fatalf("GetMessages = %+v, %v", ms, err)
	}
	ms[0].Frozen.Read, ms[0].Body[0] = 42, 'y'
	if ms[1].Frozen.Read == 42 || ms[1].Body[0] == 'y' {
		t.Fatal("two results share frozen counts or a body")
	}
}

// TestLookupsOfEveryKindShareARound: lookups of different kinds queued
// while a round is in flight are answered together by one more round
// (one batch: one round trip), each with its own rows.
func TestLookupsOfEveryKindShareARound(t *testing.T) {
	s := openAt(t, freshSchema(t))
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if _, err := s.PutUser(ctx, store.User{ID: id, Name: id, CreatedAt: 1}); err != nil {
			t.Fatal(err)
		}
	}
	conv := groupWithMessage(t, s)
	g := gate(s)
	close(g.after)
	first := make(chan error, 1)
	go func() {
		_, err := s.GetUser(ctx, "a")
		first <- err
	}()
	waitFor(t, "the first round to start", func() bool { return g.rounds.Load() == 1 })

	var wg sync.WaitGroup
	check := func(what string, err error, ok bool) {
		if err != nil || !ok {
			t.Errorf("%s: ok %v, err %v", what, ok, err)
		}
	}
	wg.Go(func() { grp, err := s.GetGroup(ctx, "g"); check("GetGroup", err, grp.ID == "g") })
	wg.Go(func() { m, err := s.GetMember(ctx, conv, "b"); check("GetMember", err, m.UserID == "b") })
	wg.Go(func() {
		ms, err := s.GetMessages(ctx, []string{"m1"})
		check("GetMessages", err, len(ms) == 1 && ms[0].Seq == 1)
	})
	wg.Go(func() { n, err := s.LastSeq(ctx, conv); check("LastSeq", err, n == 1) })
	wg.Go(func() { st, err := s.GetSettings(ctx, "b"); check("GetSettings", err, st == store.DefaultSettings()) })
	wg.Go(func() {
		f, err := s.Find(ctx, store.Lookup{Users: []string{"b"}, Groups: []string{"g"}, Members: []store.MemberRef{{Conv: conv, UserID: "a"}},
			Messages: []string{"m1"}, LastSeqs: []store.ConvID{conv}})
		check("Find", err, len(f.Users) == 1 && len(f.Groups) == 1 && len(f.Members) == 1 && len(f.Messages) == 1 && f.LastSeqs[0] == 1)
	})
	waitFor(t, "the calls to queue", func() bool { return queued(s.look) == 6 })
	close(g.before)
	if err := <-first; err != nil {
		t.Fatalf("first GetUser: %v", err)
	}
	wg.Wait()
	if got := g.rounds.Load(); got != 2 {
		t.Fatalf("%d rounds, want 2: the first and one for every kind queued behind it", got)
	}
}

// TestLookupRoundEndsAtItsCallersDeadline: a round the database does not
// answer ends at the latest deadline of its callers, and each caller gets
// the deadline's error then, a caller without a deadline in the same round
// too; a round of callers without one runs until the store closes.
func TestLookupRoundEndsAtItsCallersDeadline(t *testing.T) {
	s := openAt(t, freshSchema(t))
	type seen struct {
		deadline time.Time
		has      bool
	}
	rounds := make(chan seen, 4)
	// A database that never answers: the round waits for its context.
	s.look.round = func(ctx context.Context, k keys) (rows, error) {
		d, ok := ctx.Deadline()
		rounds <- seen{d, ok}
		<-ctx.Done()
		return rows{}, ctx.Err()
	}
	base := time.Now()
	// The first call's round takes it alone; the others wait in the queue
	// for the next, the last of them without a deadline.
	deadlines := []time.Time{base.Add(time.Second), base.Add(1100 * time.Millisecond), {}}
	errs := make([]error, len(deadlines))
	var wg sync.WaitGroup
	for i, d := range deadlines {
		wg.Go(func() {
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if !d.IsZero() {
				ctx, cancel = context.WithDeadline(ctx, d)
			}
			defer cancel()
			_, errs[i] = s.Find(ctx, store.Lookup{Users: []string{"u" + string(rune('0'+i))}})
		})
		if i == 0 {
			if r := <-rounds; !r.has || !r.deadline.Equal(d) {
				t.Fatalf("first round's deadline %v (%v), want its caller's %v", r.deadline, r.has, d)
			}
		}
	}
	waitFor(t, "the other callers to queue for the second round", func() bool { return queued(s.look) == 2 })
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("caller %d: %v, want the deadline's error", i, err)
		}
	}
	if r := <-rounds; !r.has || !r.deadline.Equal(deadlines[1]) {
		t.Fatalf("second round's deadline %v (%v), want %v", r.deadline, r.has, deadlines[1])
	}

	// A caller without a deadline: the round has none, and runs until the
	// store closes.
	done := make(chan error, 1)
	go func() {
		_, err := s.Find(context.Background(), store.Lookup{Users: []string{"x"}})
		done <- err
	}()
	if r := <-rounds; r.has {
		t.Fatalf("round of a caller without a deadline ends at %v", r.deadline)
	}
	_ = s.Close()
	if err := <-done; err == nil {
		t.Fatal("a lookup whose round the store's close ended succeeded")
	}
}
