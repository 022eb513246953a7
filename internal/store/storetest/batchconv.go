package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/store"
)

// testGetMembers checks the batched member lookup against GetMember:
// entries aligned with the refs, records of several conversations (a
// group, a peer chat) in one call, a zero entry for a non-member, an
// unknown conversation or one that is not even valid, duplicates each
// answered with a record of their own, and watermarks and acks as the last
// write left them.
func testGetMembers(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := mustCreateGroup(t, s, "g", "alice", "bob")
	p := store.PeerConv("alice", "carol")
	mustAppend(t, s, msg(p, "alice", "p1", 1))
	for i := range 3 {
		mustAppend(t, s, msg(g, "alice", "g"+string(rune('1'+i)), int64(2+i)))
	}
	if _, _, err := s.AckOne(ctx, g, "bob", 3, 9); err != nil {
		t.Fatalf("AckOne: %v", err)
	}
	if _, _, err := s.AdvanceRead(ctx, p, "carol", 1, 10); err != nil {
		t.Fatalf("AdvanceRead: %v", err)
	}
	refs := []store.MemberRef{
		{Conv: g, UserID: "bob"}, {Conv: p, UserID: "carol"}, {Conv: g, UserID: "carol"},
		{Conv: store.GroupConv("none"), UserID: "alice"}, {Conv: "bad", UserID: "alice"},
		{Conv: p, UserID: "alice"}, {Conv: g, UserID: "bob"},
	}
	got, err := s.GetMembers(ctx, refs)
	if err != nil {
		t.Fatalf("GetMembers: %v", err)
	}
	if len(got) != len(refs) {
		t.Fatalf("GetMembers: %d entries for %d refs", len(got), len(refs))
	}
	for i, r := range refs {
		want, err := s.GetMember(ctx, r.Conv, r.UserID)
		if err != nil {
			want = store.Member{}
		}
		if diff := cmp.Diff(want, got[i]); diff != "" {
			t.Errorf("GetMembers entry %d (%s %s) (-GetMember +got):\n%s", i, r.Conv, r.UserID, diff)
		}
	}
	if len(got[0].Acks) != 1 || got[0].Acks[0].Seq != 3 {
		t.Errorf("bob's acks = %+v, want the ack of 3", got[0].Acks)
	} else if &got[0].Acks[0] == &got[6].Acks[0] {
		t.Errorf("GetMembers: duplicate refs share one Acks; a caller changing one changes the other")
	}
	if none, err := s.GetMembers(ctx, nil); err != nil || len(none) != 0 {
		t.Errorf("GetMembers(nil) = %v, %v; want nothing", none, err)
	}
}

// testMessagesAt checks the batched lookup by place against MessageAt:
// entries aligned with the refs, messages of several conversations in one
// call, a zero entry for a seq past the end, seq 0, an unknown or invalid
// conversation, and duplicates each answered.
func testMessagesAt(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := mustCreateGroup(t, s, "g", "alice", "bob")
	p := store.PeerConv("alice", "carol")
	m1 := mustAppend(t, s, msg(g, "alice", "m1", 1))
	m2 := mustAppend(t, s, msg(g, "bob", "m2", 2))
	q1 := mustAppend(t, s, msg(p, "carol", "q1", 3))
	refs := []store.MsgRef{
		{Conv: g, Seq: m2.Seq}, {Conv: p, Seq: q1.Seq}, {Conv: g, Seq: 99}, {Conv: g, Seq: 0},
		{Conv: store.GroupConv("none"), Seq: 1}, {Conv: "bad", Seq: 1}, {Conv: g, Seq: m1.Seq}, {Conv: g, Seq: m2.Seq},
	}
	got, err := s.MessagesAt(ctx, refs)
	if err != nil {
		t.Fatalf("MessagesAt: %v", err)
	}
	if len(got) != len(refs) {
		t.Fatalf("MessagesAt: %d entries for %d refs", len(got), len(refs))
	}
	for i, r := range refs {
		want, err := s.MessageAt(ctx, r.Conv, r.Seq)
		if err != nil {
			want = store.Message{}
		}
		if diff := cmp.Diff(want, got[i]); diff != "" {
			t.Errorf("MessagesAt entry %d (%s/%d) (-MessageAt +got):\n%s", i, r.Conv, r.Seq, diff)
		}
	}
	if got[0].ID != m2.ID || got[1].ID != q1.ID || got[6].ID != m1.ID || got[7].ID != m2.ID {
		t.Errorf("MessagesAt ids = %q %q %q %q, want %q %q %q %q", got[0].ID, got[1].ID, got[6].ID, got[7].ID, m2.ID, q1.ID, m1.ID, m2.ID)
	}
	if none, err := s.MessagesAt(ctx, nil); err != nil || len(none) != 0 {
		t.Errorf("MessagesAt(nil) = %v, %v; want nothing", none, err)
	}
}
