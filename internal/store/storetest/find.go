package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seen-im/seen/internal/store"
)

// testFind checks Find against the calls it stands for: every kind of key
// at once, keys of several conversations, keys with no record left out, a
// conversation with no message reading as last seq 0, and results that
// are the caller's to change.
func testFind(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.PutUser(ctx, store.User{ID: "alice", Name: "Alice", CreatedAt: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutUser(ctx, store.User{ID: "bob", Name: "Bob", CreatedAt: 2}); err != nil {
		t.Fatal(err)
	}
	g := mustCreateGroup(t, s, "g", "alice", "bob")
	h := mustCreateGroup(t, s, "h", "bob")
	m1 := mustAppend(t, s, msg(g, "alice", "m1", 1))
	m2 := mustAppend(t, s, msg(g, "alice", "m2", 2))
	m3 := mustAppend(t, s, msg(h, "bob", "m3", 3))
	if _, _, err := s.AckOne(ctx, g, "bob", m2.Seq, 4); err != nil {
		t.Fatal(err)
	}
	peer := store.PeerConv("alice", "bob")

	q := store.Lookup{
		Users:    []string{"alice", "nobody", "bob"},
		Groups:   []string{"h", "no-group", "g"},
		Members:  []store.MemberRef{{Conv: g, UserID: "bob"}, {Conv: h, UserID: "alice"}, {Conv: h, UserID: "bob"}},
		Messages: []string{m3.ID, "no-such-id", m1.ID, m2.ID, m1.ID},
		LastSeqs: []store.ConvID{g, h, peer},
	}
	got, err := s.Find(ctx, q)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	want := store.Found{
		Users:    map[string]store.User{},
		Groups:   map[string]store.Group{},
		Members:  map[store.MemberRef]store.Member{},
		Messages: map[string]store.Message{},
	}
	for _, id := range []string{"alice", "bob"} {
		u, err := s.GetUser(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want.Users[id] = u
	}
	for _, id := range []string{"g", "h"} {
		gr, err := s.GetGroup(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want.Groups[id] = gr
	}
	for _, ref := range []store.MemberRef{{Conv: g, UserID: "bob"}, {Conv: h, UserID: "bob"}} {
		m, err := s.GetMember(ctx, ref.Conv, ref.UserID)
		if err != nil {
			t.Fatal(err)
		}
		want.Members[ref] = m
	}
	for _, m := range []store.Message{m1, m2, m3} {
		got, err := s.GetMessage(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		want.Messages[m.ID] = got
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(store.Found{}, "LastSeqs")); diff != "" {
		t.Errorf("Find (-the calls it stands for +got):\n%s", diff)
	}
	for conv, last := range map[store.ConvID]uint64{g: m2.Seq, h: m3.Seq, peer: 0} {
		if got.LastSeqs[conv] != last {
			t.Errorf("Find: last seq of %s = %d, want %d", conv, got.LastSeqs[conv], last)
		}
	}
	if acks := got.Members[store.MemberRef{Conv: g, UserID: "bob"}].Acks; len(acks) != 1 {
		t.Fatalf("Find: bob's acks in g = %v, want one", acks)
	}

	// What Find returned is the caller's (message bodies aside, which are
	// read-only): changing it changes nothing the store or a later call
	// holds.
	got.Members[store.MemberRef{Conv: g, UserID: "bob"}].Acks[0].Seq = 99
	again, err := s.Find(ctx, store.Lookup{Members: []store.MemberRef{{Conv: g, UserID: "bob"}}})
	if err != nil {
		t.Fatalf("Find again: %v", err)
	}
	if a := again.Members[store.MemberRef{Conv: g, UserID: "bob"}].Acks; len(a) != 1 || a[0].Seq != m2.Seq {
		t.Errorf("Find again: acks %v, want one at %d: the first caller's change reached the store", a, m2.Seq)
	}

	// Nothing asked, nothing found.
	if none, err := s.Find(ctx, store.Lookup{}); err != nil || len(none.Users)+len(none.Groups)+len(none.Members)+len(none.Messages)+len(none.LastSeqs) != 0 {
		t.Errorf("Find(nothing) = %+v, %v", none, err)
	}
}
