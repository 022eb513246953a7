package storetest

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seen-im/seen/internal/store"
)

// The cases of store.Webhooks' timers and tracks, and of the webhook rows
// Append and DeleteGroup write.

func mustClaimTimers(t *testing.T, w store.Webhooks, now, lease int64, limit int) []store.Timer {
	t.Helper()
	ts, err := w.ClaimTimers(t.Context(), now, lease, limit)
	if err != nil {
		t.Fatalf("ClaimTimers(%d, %d, %d): %v", now, lease, limit, err)
	}
	return ts
}

// timerIDs names timers as "conv/seq/kind", in the order given.
func timerIDs(ts []store.Timer) []string {
	out := []string{}
	for _, x := range ts {
		out = append(out, fmt.Sprintf("%s/%d/%s", x.Conv, x.Seq, x.Kind))
	}
	return out
}

func wantTimers(t *testing.T, what string, ts []store.Timer, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if diff := cmp.Diff(want, timerIDs(ts)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

func mustListTracks(t *testing.T, w store.Webhooks, conv store.ConvID, seq uint64, limit int) []store.HookTrack {
	t.Helper()
	ts, err := w.ListTracks(t.Context(), conv, seq, limit)
	if err != nil {
		t.Fatalf("ListTracks(%s, %d, %d): %v", conv, seq, limit, err)
	}
	return ts
}

func mustGetTracks(t *testing.T, w store.Webhooks, conv store.ConvID, seqs ...uint64) []store.HookTrack {
	t.Helper()
	ts, err := w.GetTracks(t.Context(), conv, seqs)
	if err != nil {
		t.Fatalf("GetTracks(%s, %v): %v", conv, seqs, err)
	}
	return ts
}

// diffTracks compares tracks; nil and empty Fired are the same.
func diffTracks(want, got []store.HookTrack) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty())
}

func testTimers(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := hooksOf(t, s)
	mustCreateWebhook(t, w, "a")
	g, h := store.GroupConv("g"), store.GroupConv("h")
	ts := []store.Timer{
		{Conv: g, Seq: 1, Kind: store.TimerUnreadAfter, DueAt: 30},
		{Conv: g, Seq: 1, Kind: store.TimerExpired, DueAt: 10},
		{Conv: h, Seq: 7, Kind: store.TimerUnreadAfter, DueAt: 20},
		{Conv: g, Seq: 2, Kind: store.TimerExpired, DueAt: 900},
	}
	if err := w.AddTimers(ctx, ts); err != nil {
		t.Fatal(err)
	}
	// Added again with other due times: the stored ones are kept.
	again := []store.Timer{{Conv: g, Seq: 1, Kind: store.TimerUnreadAfter, DueAt: 1}, {Conv: h, Seq: 7, Kind: store.TimerUnreadAfter, DueAt: 2}}
	if err := w.AddTimers(ctx, again); err != nil {
		t.Fatal(err)
	}
	wantTimers(t, "ClaimTimers(now 9)", mustClaimTimers(t, w, 9, 100, 10))
	first := mustClaimTimers(t, w, 30, 100, 2)
	wantTimers(t, "ClaimTimers(now 30, limit 2): oldest first", first, "g/g/1/expired", "g/h/7/unread_after")
	if len(first) == 2 && (first[0].DueAt != 10 || first[0].LeaseUntil != 100) {
		t.Errorf("claimed timer %+v; want DueAt 10, LeaseUntil 100", first[0])
	}
	wantTimers(t, "ClaimTimers(now 30): leased skipped", mustClaimTimers(t, w, 30, 100, 10), "g/g/1/unread_after")
	wantTimers(t, "ClaimTimers(now 99)", mustClaimTimers(t, w, 99, 200, 10))
	wantTimers(t, "ClaimTimers(now 100): leases ran out", mustClaimTimers(t, w, 100, 200, 10),
		"g/g/1/expired", "g/h/7/unread_after", "g/g/1/unread_after")
	wantTimers(t, "ClaimTimers(limit 0)", mustClaimTimers(t, w, 1000, 2000, 0))

	// Firing deletes the timer and enqueues its deliveries, once.
	if err := w.FireTimer(ctx, first[0], []store.Delivery{delivery("a", "exp-g-1", 100)}); err != nil {
		t.Fatalf("FireTimer: %v", err)
	}
	if err := w.FireTimer(ctx, first[0], []store.Delivery{delivery("a", "exp-g-1-again", 100)}); err != nil {
		t.Fatalf("FireTimer again: %v", err)
	}
	wantEvents(t, "deliveries after firing twice", mustList(t, w, "a", "", "", 10), "a/exp-g-1")
	wantTimers(t, "ClaimTimers(now 1000) after firing", mustClaimTimers(t, w, 1000, 2000, 10),
		"g/h/7/unread_after", "g/g/1/unread_after", "g/g/2/expired")
	// A timer that was never there fires nothing.
	if err := w.FireTimer(ctx, store.Timer{Conv: g, Seq: 99, Kind: store.TimerExpired}, []store.Delivery{delivery("a", "never", 1)}); err != nil {
		t.Fatal(err)
	}
	wantEvents(t, "deliveries after firing an unknown timer", mustList(t, w, "a", "", "", 10), "a/exp-g-1")
}

// claimTimersConcurrently is claimConcurrently for timers.
func claimTimersConcurrently(t *testing.T, n int, handle func(g int) store.Webhooks) {
	t.Helper()
	claimRace(t, "timers", n, func(g int) ([]string, error) {
		got, err := handle(g).ClaimTimers(t.Context(), 1000, 1_000_000, 7)
		return timerIDs(got), err
	})
}

func testClaimTimersConcurrent(t *testing.T, s store.Store) {
	w := hooksOf(t, s)
	const n = 200
	var ts []store.Timer
	for i := range n {
		ts = append(ts, store.Timer{Conv: store.GroupConv(fmt.Sprintf("g%d", i%5)), Seq: uint64(i + 1), Kind: store.TimerExpired, DueAt: int64(i % 7)})
	}
	if err := w.AddTimers(t.Context(), ts); err != nil {
		t.Fatal(err)
	}
	claimTimersConcurrently(t, n, func(int) store.Webhooks { return w })
}

func testTracks(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := hooksOf(t, s)
	// Conversation ids whose order is the same byte-wise and in any
	// collation a backend may use.
	a, b, c := store.GroupConv("a"), store.GroupConv("b"), store.GroupConv("c")
	add := []store.HookTrack{
		{Conv: b, Seq: 2, MsgID: "b2"},
		{Conv: a, Seq: 10, MsgID: "a10", Reported: 3, ReportedAt: 50, Fired: []string{"first"}},
		{Conv: a, Seq: 9, MsgID: "a9"},
		{Conv: c, Seq: 1, MsgID: "c1"},
		{Conv: b, Seq: 1, MsgID: "b1"},
	}
	for _, x := range add {
		if err := w.AddTrack(ctx, x); err != nil {
			t.Fatalf("AddTrack(%s/%d): %v", x.Conv, x.Seq, err)
		}
	}
	// Started again: the stored one is kept.
	if err := w.AddTrack(ctx, store.HookTrack{Conv: a, Seq: 10, MsgID: "other", Reported: 99}); err != nil {
		t.Fatal(err)
	}
	all := []store.HookTrack{add[2], add[1], add[4], add[0], add[3]}
	if diff := diffTracks(all, mustListTracks(t, w, "", 0, 100)); diff != "" {
		t.Errorf("ListTracks: all in (Conv, Seq) order (-want +got):\n%s", diff)
	}
	if diff := diffTracks(all[:2], mustListTracks(t, w, "", 0, 2)); diff != "" {
		t.Errorf("ListTracks: first page (-want +got):\n%s", diff)
	}
	if diff := diffTracks(all[2:4], mustListTracks(t, w, a, 10, 2)); diff != "" {
		t.Errorf("ListTracks after a/10 (-want +got):\n%s", diff)
	}
	if diff := diffTracks(all[3:], mustListTracks(t, w, b, 1, 10)); diff != "" {
		t.Errorf("ListTracks after b/1 (-want +got):\n%s", diff)
	}
	if diff := diffTracks(all[1:], mustListTracks(t, w, a, 9, 10)); diff != "" {
		t.Errorf("ListTracks after a/9 (-want +got):\n%s", diff)
	}
	if got := mustListTracks(t, w, c, 1, 10); len(got) != 0 {
		t.Errorf("ListTracks after the last = %+v; want none", got)
	}
	if got := mustListTracks(t, w, "", 0, 0); len(got) != 0 {
		t.Errorf("ListTracks(limit 0) = %+v; want none", got)
	}
	if diff := diffTracks([]store.HookTrack{add[2], add[1]}, mustGetTracks(t, w, a, 10, 3, 9)); diff != "" {
		t.Errorf("GetTracks(a, 10, 3, 9): those that exist, in seq order (-want +got):\n%s", diff)
	}
	if got := mustGetTracks(t, w, store.GroupConv("zz"), 1, 2); len(got) != 0 {
		t.Errorf("GetTracks(unknown conv) = %+v; want none", got)
	}
}

func testCommitReport(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := hooksOf(t, s)
	mustCreateWebhook(t, w, "a")
	g := store.GroupConv("g")
	for _, x := range []store.HookTrack{
		{Conv: g, Seq: 1, MsgID: "m1", Reported: 5, ReportedAt: 100, Fired: []string{"first", "50"}},
		{Conv: g, Seq: 2, MsgID: "m2"},
		{Conv: g, Seq: 3, MsgID: "m3"},
	} {
		if err := w.AddTrack(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	update := []store.HookTrack{
		// Computed from an older state: lower counts, fewer thresholds.
		{Conv: g, Seq: 1, MsgID: "m1", Reported: 3, ReportedAt: 90, Fired: []string{"first", "90"}},
		{Conv: g, Seq: 2, MsgID: "m2", Reported: 4, ReportedAt: 120, Fired: []string{"first"}},
		// Gone: skipped, not created.
		{Conv: g, Seq: 7, MsgID: "m7", Reported: 1, ReportedAt: 120, Fired: []string{"first"}},
	}
	done := []store.MsgRef{{Conv: g, Seq: 3}, {Conv: g, Seq: 8}}
	ds := []store.Delivery{delivery("a", "r1", 120), delivery("a", "r2", 120)}
	if err := w.CommitReport(ctx, update, done, ds); err != nil {
		t.Fatalf("CommitReport: %v", err)
	}
	got := mustGetTracks(t, w, g, 1, 2, 3, 7)
	want := []store.HookTrack{
		{Conv: g, Seq: 1, MsgID: "m1", Reported: 5, ReportedAt: 100, Fired: []string{"first", "50", "90"}},
		{Conv: g, Seq: 2, MsgID: "m2", Reported: 4, ReportedAt: 120, Fired: []string{"first"}},
	}
	sortFired := cmpopts.SortSlices(func(x, y string) bool { return x < y })
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty(), sortFired); diff != "" {
		t.Errorf("tracks after CommitReport (-want +got):\n%s", diff)
	}
	wantEvents(t, "deliveries after CommitReport", mustList(t, w, "a", "", "", 10), "a/r1", "a/r2")
	// The same report again changes nothing and enqueues nothing new.
	if err := w.CommitReport(ctx, update, done, ds); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, mustGetTracks(t, w, g, 1, 2, 3, 7), cmpopts.EquateEmpty(), sortFired); diff != "" {
		t.Errorf("tracks after the same CommitReport again (-want +got):\n%s", diff)
	}
	wantEvents(t, "deliveries after the same CommitReport again", mustList(t, w, "a", "", "", 10), "a/r1", "a/r2")
}

// testAppendHooks appends a message with its webhook rows: once Append
// returns they are there, with the message's place; a retried Append of
// the same clientMsgId adds none, whatever Hooks it carries.
func testAppendHooks(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := hooksOf(t, s)
	mustCreateWebhook(t, w, "a")
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	mustAppend(t, s, msg(conv, "bob", "c0", 5))
	m := msg(conv, "alice", "c1", 10)
	m.Receipt = true
	m.Hooks = &store.HookOutbox{
		Deliveries: []store.Delivery{delivery("a", "sent-1", 10)},
		Timers:     []store.Timer{{Kind: store.TimerUnreadAfter, DueAt: 500}, {Kind: store.TimerExpired, DueAt: 900}},
		Track:      &store.HookTrack{},
	}
	got := mustAppend(t, s, m)
	if got.Hooks != nil {
		t.Errorf("Append returned Hooks %+v; want nil", got.Hooks)
	}
	if stored, err := s.GetMessage(ctx, got.ID); err != nil || stored.Hooks != nil {
		t.Errorf("GetMessage = %+v, %v; want no Hooks", stored, err)
	}
	retry := m
	retry.Hooks = &store.HookOutbox{
		Deliveries: []store.Delivery{delivery("a", "sent-2", 10)},
		Timers:     []store.Timer{{Kind: "other", DueAt: 1}},
		Track:      &store.HookTrack{Reported: 9},
	}
	if again, existed, err := s.Append(ctx, retry); err != nil || !existed || again.Seq != got.Seq {
		t.Fatalf("retried Append = seq %d, %v, %v; want seq %d existed", again.Seq, existed, err, got.Seq)
	}
	d := delivery("a", "sent-1", 10)
	d.LeaseUntil = 50
	if diff := cmp.Diff([]store.Delivery{d}, mustClaim(t, w, 20, 50, 10)); diff != "" {
		t.Errorf("ClaimDeliveries after Append: its delivery only (-want +got):\n%s", diff)
	}
	wantTimers(t, "ClaimTimers after Append: its timers, with its place", mustClaimTimers(t, w, 1000, 2000, 10),
		"g/g/2/unread_after", "g/g/2/expired")
	if diff := diffTracks([]store.HookTrack{{Conv: conv, Seq: 2, MsgID: got.ID}}, mustListTracks(t, w, "", 0, 10)); diff != "" {
		t.Errorf("tracks after Append: its own, with its place and id (-want +got):\n%s", diff)
	}
	// A message without Hooks writes no webhook row.
	mustAppend(t, s, msg(conv, "alice", "c2", 20))
	if got := mustListTracks(t, w, "", 0, 10); len(got) != 1 {
		t.Errorf("tracks after a plain Append = %+v; want one", got)
	}
}

// testDeleteGroupHooks deletes a group: the timers and tracks of its
// conversation go with it, other conversations' stay.
func testDeleteGroupHooks(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := hooksOf(t, s)
	mustCreateWebhook(t, w, "a")
	conv := mustCreateGroup(t, s, "g", "alice")
	other := store.GroupConv("h")
	m := msg(conv, "alice", "c1", 10)
	m.Receipt = true
	m.Hooks = &store.HookOutbox{Timers: []store.Timer{{Kind: store.TimerExpired, DueAt: 100}}, Track: &store.HookTrack{}}
	mustAppend(t, s, m)
	if err := w.AddTimers(ctx, []store.Timer{{Conv: conv, Seq: 5, Kind: store.TimerUnreadAfter, DueAt: 50}, {Conv: other, Seq: 1, Kind: store.TimerExpired, DueAt: 60}}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTrack(ctx, store.HookTrack{Conv: other, Seq: 1, MsgID: "h1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveMember(ctx, conv, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroup(ctx, "g"); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if diff := diffTracks([]store.HookTrack{{Conv: other, Seq: 1, MsgID: "h1"}}, mustListTracks(t, w, "", 0, 10)); diff != "" {
		t.Errorf("tracks after DeleteGroup(g) (-want +got):\n%s", diff)
	}
	wantTimers(t, "timers after DeleteGroup(g)", mustClaimTimers(t, w, 1000, 2000, 10), "g/h/1/expired")
}
