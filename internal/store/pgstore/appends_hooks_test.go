package pgstore

import (
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/store"
)

// TestAppendWritesHooks: an Append writes its message's outbox in the
// same transaction, with the message's place set on its timers and
// track; a resend (clientMsgId stored already), in the same round or a
// later one, writes nothing.
func TestAppendWritesHooks(t *testing.T) {
	s := openAt(t, freshSchema(t))
	ctx := t.Context()
	mustCreateWebhook(t, s, "e")
	if _, err := s.PutUser(ctx, store.User{ID: "alice"}); err != nil {
		t.Fatal(err)
	}
	conv := store.GroupConv("g")
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "alice"}, []store.Member{{UserID: "alice", Role: "owner"}}); err != nil {
		t.Fatal(err)
	}
	outbox := func(ev string) *store.HookOutbox {
		return &store.HookOutbox{
			Deliveries: []store.Delivery{delivery("e", ev, 10)},
			Timers:     []store.Timer{{Kind: store.TimerUnreadAfter, DueAt: 500}},
			Track:      &store.HookTrack{},
		}
	}
	// A round of appends (concurrent: one combiner round, or a few): two
	// messages, and a resend of the first that may win the race.
	var wg sync.WaitGroup
	results := make([]store.Message, 3)
	for i, m := range []store.Message{
		{ID: "m1", Conv: conv, Sender: "alice", ClientMsgID: "c1", SentAt: 5, Receipt: true},
		{ID: "m2", Conv: conv, Sender: "alice", ClientMsgID: "c2", SentAt: 6, Receipt: true},
		{ID: "m1b", Conv: conv, Sender: "alice", ClientMsgID: "c1", SentAt: 7, Receipt: true},
	} {
		m.Hooks = outbox("ev-" + m.ID)
		wg.Go(func() {
			var err error
			if results[i], _, err = s.Append(ctx, m); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// A later resend.
	if _, ex, err := s.Append(ctx, store.Message{ID: "m1c", Conv: conv, Sender: "alice", ClientMsgID: "c1", SentAt: 8, Hooks: outbox("ev-m1c")}); err != nil || !ex {
		t.Fatalf("resend: existed %v, %v", ex, err)
	}
	for i, m := range results {
		if m.Hooks != nil {
			t.Errorf("Append %d returned its Hooks", i)
		}
	}
	// m1 is whichever of m1 and m1b was stored.
	m1, m2 := results[0], results[1]
	if m1.ID != results[2].ID || m1.Seq == 0 || m2.Seq == 0 {
		t.Fatalf("appended %+v", results)
	}

	ds, err := s.ListDeliveries(ctx, "e", "", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.EventID)
	}
	if diff := cmp.Diff([]string{"ev-" + m1.ID, "ev-m2"}, ids); diff != "" {
		t.Errorf("deliveries written (-want +got):\n%s", diff)
	}
	timers, err := s.ClaimTimers(ctx, 500, 600, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Timer{
		{Conv: conv, Seq: m1.Seq, Kind: store.TimerUnreadAfter, DueAt: 500, LeaseUntil: 600},
		{Conv: conv, Seq: m2.Seq, Kind: store.TimerUnreadAfter, DueAt: 500, LeaseUntil: 600},
	}
	if m2.Seq < m1.Seq {
		want[0], want[1] = want[1], want[0]
	}
	if diff := cmp.Diff(want, timers); diff != "" {
		t.Errorf("timers written (-want +got):\n%s", diff)
	}
	tracks, err := s.ListTracks(ctx, "", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantTracks := []store.HookTrack{{Conv: conv, Seq: m1.Seq, MsgID: m1.ID}, {Conv: conv, Seq: m2.Seq, MsgID: "m2"}}
	if m2.Seq < m1.Seq {
		wantTracks[0], wantTracks[1] = wantTracks[1], wantTracks[0]
	}
	if diff := cmp.Diff(wantTracks, tracks); diff != "" {
		t.Errorf("tracks written (-want +got):\n%s", diff)
	}

	// DeleteGroup takes the conversation's tracks and timers with it; the
	// deliveries (events that happened) stay.
	if err := s.RemoveMember(ctx, conv, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTimers(ctx, []store.Timer{{Conv: store.GroupConv("other"), Seq: 1, Kind: store.TimerExpired, DueAt: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if tracks, err := s.ListTracks(ctx, "", 0, 10); err != nil || len(tracks) != 0 {
		t.Errorf("tracks after DeleteGroup: %+v, %v", tracks, err)
	}
	left, err := s.ClaimTimers(ctx, 1<<40, 1<<41, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].Conv != store.GroupConv("other") {
		t.Errorf("timers after DeleteGroup: %+v, want only the other group's", left)
	}
	if ds, err := s.ListDeliveries(ctx, "e", "", "", 10); err != nil || len(ds) != 2 {
		t.Errorf("deliveries after DeleteGroup: %d, %v; want 2", len(ds), err)
	}
}

// TestAppendHooksFailRollsBack: the message and its outbox are one
// write. An outbox the database refuses (here a CHECK added for the
// test) fails the append, and the message is not stored either.
func TestAppendHooksFailRollsBack(t *testing.T) {
	u := freshSchema(t)
	s := openAt(t, u)
	ctx := t.Context()
	if _, err := s.PutUser(ctx, store.User{ID: "alice"}); err != nil {
		t.Fatal(err)
	}
	conv := store.GroupConv("g")
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "alice"}, []store.Member{{UserID: "alice", Role: "owner"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ALTER TABLE webhook_timers ADD CONSTRAINT no_due_zero CHECK (due_at <> 0)`); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Append(ctx, store.Message{ID: "m1", Conv: conv, Sender: "alice", SentAt: 5,
		Hooks: &store.HookOutbox{Timers: []store.Timer{{Kind: store.TimerExpired, DueAt: 0}}}})
	if err == nil {
		t.Fatal("Append with an outbox the database refuses succeeded")
	}
	if last, err := s.LastSeq(ctx, conv); err != nil || last != 0 {
		t.Errorf("last seq after the failed append = %d, %v; want 0 (nothing written)", last, err)
	}
	if _, err := s.GetMessage(ctx, "m1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("message of the failed append: %v, want ErrNotFound", err)
	}
}
