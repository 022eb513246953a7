package pebblestore

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/store"
)

// TestAppendHooksSurviveReopen appends a message with its webhook rows,
// reopens the directory and finds the rows with the message's place; a
// retry of the append (same clientMsgId) adds none.
func TestAppendHooksSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openTest(t, dir)
	if err := s.CreateWebhook(ctx, store.Webhook{ID: "wh1", URL: "http://127.0.0.1:1/", Events: []string{"message.sent"}, CreatedAt: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "alice", CreatedAt: 1}, []store.Member{{UserID: "alice"}, {UserID: "bob"}}); err != nil {
		t.Fatal(err)
	}
	conv := store.GroupConv("g")
	m := store.Message{ID: "m1", Conv: conv, Sender: "alice", ClientMsgID: "c1", SentAt: 10, Receipt: true,
		Hooks: &store.HookOutbox{
			Deliveries: []store.Delivery{{Endpoint: "wh1", EventID: "ev1", Type: "message.sent", Payload: json.RawMessage(`{"type": "message.sent"}`), State: store.DeliveryPending, NextAt: 10, CreatedAt: 10, UpdatedAt: 10}},
			Timers:     []store.Timer{{Kind: store.TimerUnreadAfter, DueAt: 500}},
			Track:      &store.HookTrack{},
		}}
	got, existed, err := s.Append(ctx, m)
	if err != nil || existed {
		t.Fatalf("Append = %v, %v", existed, err)
	}
	if got.Hooks != nil {
		t.Errorf("Append returned Hooks %+v, want nil", got.Hooks)
	}
	// A retry with other hooks: the message existed, so nothing is added.
	retry := m
	retry.Hooks = &store.HookOutbox{
		Deliveries: []store.Delivery{{Endpoint: "wh1", EventID: "ev2", Type: "message.sent", State: store.DeliveryPending, NextAt: 10}},
		Timers:     []store.Timer{{Kind: store.TimerExpired, DueAt: 600}},
	}
	if _, existed, err := s.Append(ctx, retry); err != nil || !existed {
		t.Fatalf("retried Append = %v, %v; want existed", existed, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir)
	ds, err := s.ClaimDeliveries(ctx, 100, 200, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Delivery{{Endpoint: "wh1", EventID: "ev1", Type: "message.sent", Payload: json.RawMessage(`{"type": "message.sent"}`), State: store.DeliveryPending, NextAt: 10, LeaseUntil: 200, CreatedAt: 10, UpdatedAt: 10}}
	if diff := cmp.Diff(want, ds); diff != "" {
		t.Errorf("ClaimDeliveries after reopen (-want +got):\n%s", diff)
	}
	ts, err := s.ClaimTimers(ctx, 1000, 2000, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.Timer{{Conv: conv, Seq: 1, Kind: store.TimerUnreadAfter, DueAt: 500, LeaseUntil: 2000}}, ts); diff != "" {
		t.Errorf("ClaimTimers after reopen (-want +got):\n%s", diff)
	}
	tracks, err := s.GetTracks(ctx, conv, []uint64{1})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.HookTrack{{Conv: conv, Seq: 1, MsgID: "m1"}}, tracks); diff != "" {
		t.Errorf("GetTracks after reopen (-want +got):\n%s", diff)
	}
}

// TestHookKeyOrder checks the encodings the claims and listings rely on:
// time keys sort numerically, negative times included, and track keys
// sort by conversation id as a string, then by seq.
func TestHookKeyOrder(t *testing.T) {
	times := []int64{-5, -1, 0, 1, 255, 256, 1 << 40}
	for i := 1; i < len(times); i++ {
		a, b := appendTime(nil, times[i-1]), appendTime(nil, times[i])
		if string(a) >= string(b) {
			t.Errorf("time key of %d >= that of %d", times[i-1], times[i])
		}
		if got := readTime(b); got != times[i] {
			t.Errorf("readTime(appendTime(%d)) = %d", times[i], got)
		}
	}
	type ref struct {
		conv store.ConvID
		seq  uint64
	}
	refs := []ref{{"g/a", 2}, {"g/a", 300}, {"g/a\x00", 1}, {"g/ab", 1}, {"g/b", 1}, {"p/a/b", 1}}
	for i := 1; i < len(refs); i++ {
		a, b := trackKey(refs[i-1].conv, refs[i-1].seq), trackKey(refs[i].conv, refs[i].seq)
		if string(a) >= string(b) {
			t.Errorf("track key of %q/%d >= that of %q/%d", refs[i-1].conv, refs[i-1].seq, refs[i].conv, refs[i].seq)
		}
		conv, seq, err := splitTrackKey(b)
		if err != nil || conv != refs[i].conv || seq != refs[i].seq {
			t.Errorf("splitTrackKey(trackKey(%q, %d)) = %q, %d, %v", refs[i].conv, refs[i].seq, conv, seq, err)
		}
	}
}
