package storetest

import (
	"errors"
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
	// Entry i answers key i, a zero entry for a key with no record.
	want := store.Found{
		Users:  eachOf(t, q.Users, func(id string) (store.User, error) { return s.GetUser(ctx, id) }),
		Groups: eachOf(t, q.Groups, func(id string) (store.Group, error) { return s.GetGroup(ctx, id) }),
		Members: eachOf(t, q.Members, func(r store.MemberRef) (store.Member, error) {
			return s.GetMember(ctx, r.Conv, r.UserID)
		}),
		Messages: eachOf(t, q.Messages, func(id string) (store.Message, error) { return s.GetMessage(ctx, id) }),
	}
	want.LastSeqs = []uint64{m2.Seq, m3.Seq, 0}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Find (-the calls it stands for +got):\n%s", diff)
	}
	if acks := got.Members[0].Acks; len(acks) != 1 {
		t.Fatalf("Find: bob's acks in g = %v, want one", acks)
	}
	if got.Users[1].ID != "" || got.Groups[1].ID != "" || got.Members[1].UserID != "" || got.Messages[1].ID != "" {
		t.Errorf("Find: keys with no record answered %+v", got)
	}
	if got.Messages[2].ID != m1.ID || got.Messages[4].ID != m1.ID {
		t.Errorf("Find: a duplicate id not answered at each place: %q, %q", got.Messages[2].ID, got.Messages[4].ID)
	}

	// What Find returned is the caller's (message bodies aside, which are
	// read-only): changing it changes nothing the store or a later call
	// holds.
	got.Members[0].Acks[0].Seq = 99
	again, err := s.Find(ctx, store.Lookup{Members: []store.MemberRef{{Conv: g, UserID: "bob"}}})
	if err != nil {
		t.Fatalf("Find again: %v", err)
	}
	if a := again.Members[0].Acks; len(a) != 1 || a[0].Seq != m2.Seq {
		t.Errorf("Find again: acks %v, want one at %d: the first caller's change reached the store", a, m2.Seq)
	}

	// Nothing asked, nothing found.
	if none, err := s.Find(ctx, store.Lookup{}); err != nil || len(none.Users)+len(none.Groups)+len(none.Members)+len(none.Messages)+len(none.LastSeqs) != 0 {
		t.Errorf("Find(nothing) = %+v, %v", none, err)
	}
}

// eachOf gets every key through get, the zero value for a key with no
// record: the calls Find stands for.
func eachOf[K, V any](t *testing.T, keys []K, get func(K) (V, error)) []V {
	t.Helper()
	out := make([]V, 0, len(keys))
	for _, k := range keys {
		v, err := get(k)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}
