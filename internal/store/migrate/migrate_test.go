package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/migrate"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/internal/store/pgstore"
)

// world is what buildWorld wrote: the ids every read below is asked about.
type world struct {
	users  []string
	groups []string
	convs  []store.ConvID
	msgIDs []string
}

// must(f())(t) is f's value, failing t on f's error.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// must3 is must for calls that return two values and an error.
func must3[T, U any](v T, _ U, err error) func(*testing.T) T { return must(v, err) }

// buildWorld writes, through the store interface, one of everything the
// copy must keep: a group with a member of each role and a late joiner,
// peer chats, messages with and without receipts, reads, delivered acks,
// sparse out-of-order acks, a requested receipt, a receipt settled with
// frozen counts and one settled done, a demo user, a deleted group, a group
// with no member left, and bodies whose bytes JSON would normalise.
func buildWorld(t *testing.T, st store.Store) world {
	t.Helper()
	ctx := context.Background()
	w := world{users: []string{"alice", "bob", "carol", "dave", "erin", "demo-1", "nobody-unknown"}}
	for i, id := range w.users[:6] {
		must(st.PutUser(ctx, store.User{ID: id, Name: "N " + id, CreatedAt: int64(1000 + i), Demo: id == "demo-1"}))(t)
	}
	g := store.GroupConv("team")
	if err := st.CreateGroup(ctx, store.Group{ID: "team", Type: "chat", CreatedBy: "alice", CreatedAt: 2000}, []store.Member{
		{UserID: "alice", Role: "owner", JoinedAt: 2000},
		{UserID: "bob", Role: "admin", JoinedAt: 2000},
		{UserID: "carol", Role: "member", JoinedAt: 2000},
		{UserID: "erin", Role: "member", JoinedAt: 2001},
	}); err != nil {
		t.Fatal(err)
	}
	send := func(conv store.ConvID, sender, cmid, body string, receipt bool, at int64) store.Message {
		m := store.Message{Conv: conv, Sender: sender, ClientMsgID: cmid, Body: []byte(body), SentAt: at, Receipt: receipt}
		if receipt {
			m.ReceiptAt = at
		}
		m.ID = fmt.Sprintf("m-%s-%d", sender, at)
		got := must3(st.Append(ctx, m))(t)
		w.msgIDs = append(w.msgIDs, got.ID)
		return got
	}
	for i := range 8 {
		send(g, []string{"alice", "bob", "carol"}[i%3], fmt.Sprintf("c%d", i), fmt.Sprintf(`{ "text" :  "hi %d" , "x":1.0e0 }`, i), i%2 == 0, int64(3000+i))
	}
	send(g, "alice", "", "", false, 3100) // empty body, no clientMsgId
	must(st.AddMembers(ctx, g, []store.Member{{UserID: "dave", Role: "member", JoinedAt: 3200}}))(t)
	send(g, "dave", "d1", `"just a string"`, true, 3300)
	if err := st.SetRole(ctx, g, "carol", "admin"); err != nil {
		t.Fatal(err)
	}
	must3(st.AdvanceRead(ctx, g, "bob", 4, 4000))(t)
	must3(st.AdvanceDelivered(ctx, g, "carol", 9, 4001))(t)
	must3(st.AckOne(ctx, g, "carol", 7, 4002))(t)
	must3(st.AckOne(ctx, g, "carol", 3, 4003))(t)
	must3(st.AckMany(ctx, g, "dave", []uint64{10}, 4004))(t)
	// erin never sends: her acks stay sparse above her watermark.
	must3(st.AckOne(ctx, g, "erin", 8, 4005))(t)
	must3(st.AckMany(ctx, g, "erin", []uint64{5, 2}, 4006))(t)
	must3(st.RequestReceipt(ctx, g, 2, 4100))(t) // asked for later
	if err := st.SettleReceipt(ctx, g, 1, &store.Frozen{Read: 1, Unread: 2, Delivered: 2}); err != nil {
		t.Fatal(err) // expired with frozen counts
	}
	if err := st.SettleReceipt(ctx, g, 3, nil); err != nil {
		t.Fatal(err) // done
	}

	ab := store.PeerConv("alice", "bob")
	for i := range 5 {
		send(ab, "alice", fmt.Sprintf("p%d", i), fmt.Sprintf(`{"n":%d}`, i), i == 4, int64(5000+i))
	}
	must3(st.AdvanceRead(ctx, ab, "bob", 1, 5100))(t)
	must3(st.AckOne(ctx, ab, "bob", 5, 5101))(t)
	must3(st.AckOne(ctx, ab, "bob", 3, 5102))(t)
	if m := must(st.GetMember(ctx, ab, "bob"))(t); len(m.Acks) != 2 {
		t.Fatalf("bob's acks %+v: the world must hold sparse acks", m.Acks)
	}
	// Private reads: carol reads team privately past her shared state,
	// bob the peer chat; their own read states must travel.
	must3(st.AdvanceOwnRead(ctx, g, "carol", 9, 4200))(t)
	must3(st.AckManyOwn(ctx, g, "carol", []uint64{11}, 4201))(t)
	must3(st.AckManyOwn(ctx, ab, "bob", []uint64{2}, 5103))(t)
	if m := must(st.GetMember(ctx, g, "carol"))(t); m.Own == nil {
		t.Fatalf("carol %+v: the world must hold a private read state", m)
	}
	// Settings: bob hides his reads, erin both switches.
	no := false
	must(st.UpdateSettings(ctx, "bob", &no, nil))(t)
	must(st.UpdateSettings(ctx, "erin", &no, &no))(t)
	cd := store.PeerConv("dave", "carol")
	send(cd, "dave", "x", `{"hello":"\u00e9"}`, false, 6000)

	// A deleted group leaves nothing behind; its id is asked about below.
	old := store.GroupConv("old")
	if err := st.CreateGroup(ctx, store.Group{ID: "old", CreatedBy: "bob", CreatedAt: 7000}, []store.Member{{UserID: "bob", Role: "owner"}}); err != nil {
		t.Fatal(err)
	}
	send(old, "bob", "o1", `{}`, true, 7001)
	if err := st.RemoveMember(ctx, old, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteGroup(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	// A group whose members all left, with its history.
	empty := store.GroupConv("empty")
	if err := st.CreateGroup(ctx, store.Group{ID: "empty", CreatedBy: "carol", CreatedAt: 8000}, []store.Member{{UserID: "carol", Role: "owner"}}); err != nil {
		t.Fatal(err)
	}
	send(empty, "carol", "e1", `{"bye":true}`, true, 8001)
	if err := st.RemoveMember(ctx, empty, "carol"); err != nil {
		t.Fatal(err)
	}
	w.groups = []string{"team", "old", "empty", "never"}
	w.convs = []store.ConvID{g, ab, cd, old, empty, store.GroupConv("never"), store.PeerConv("alice", "carol")}
	w.msgIDs = append(w.msgIDs, "m-unknown")
	return w
}

// same fails unless a and b give the same answer (result and error kind)
// to one read.
func same[T any](t *testing.T, what string, read func(store.Store) (T, error), a, b store.Store) {
	t.Helper()
	va, ea := read(a)
	vb, eb := read(b)
	if errors.Is(ea, store.ErrNotFound) != errors.Is(eb, store.ErrNotFound) || (ea == nil) != (eb == nil) {
		t.Errorf("%s: embedded error %v, PostgreSQL error %v", what, ea, eb)
		return
	}
	if ea == nil && !reflect.DeepEqual(va, vb) && !bothEmpty(va, vb) {
		t.Errorf("%s differs:\nembedded   %+v\nPostgreSQL %+v", what, va, vb)
	}
}

// bothEmpty reports whether a and b are slices of length 0: a nil and an
// empty page are the same answer.
func bothEmpty(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.Kind() == reflect.Slice && vb.Kind() == reflect.Slice && va.Len() == 0 && vb.Len() == 0
}

// compare asks both stores every read the server makes and wants the same
// answers.
func compare(t *testing.T, w world, a, b store.Store) {
	t.Helper()
	ctx := context.Background()
	for _, u := range w.users {
		same(t, "GetUser "+u, func(s store.Store) (store.User, error) { return s.GetUser(ctx, u) }, a, b)
		same(t, "GetSettings "+u, func(s store.Store) (store.Settings, error) { return s.GetSettings(ctx, u) }, a, b)
		same(t, "ConversationsActivity "+u, func(s store.Store) ([]store.ConvActivity, error) { return s.ConversationsActivity(ctx, u) }, a, b)
	}
	for _, g := range w.groups {
		same(t, "GetGroup "+g, func(s store.Store) (store.Group, error) { return s.GetGroup(ctx, g) }, a, b)
	}
	for _, c := range w.convs {
		same(t, "ListMembers "+string(c), func(s store.Store) ([]store.Member, error) { return s.ListMembers(ctx, c, "", 100) }, a, b)
		same(t, "ListMembers after bob "+string(c), func(s store.Store) ([]store.Member, error) { return s.ListMembers(ctx, c, "bob", 2) }, a, b)
		same(t, "CountMembers "+string(c), func(s store.Store) (int, error) { return s.CountMembers(ctx, c) }, a, b)
		for _, u := range w.users {
			same(t, "GetMember "+string(c)+" "+u, func(s store.Store) (store.Member, error) { return s.GetMember(ctx, c, u) }, a, b)
		}
		same(t, "History "+string(c), func(s store.Store) ([]store.Message, error) { return s.History(ctx, c, 0, 0, 100) }, a, b)
		same(t, "History page "+string(c), func(s store.Store) ([]store.Message, error) { return s.History(ctx, c, 6, 2, 3) }, a, b)
		same(t, "LastSeq "+string(c), func(s store.Store) (uint64, error) { return s.LastSeq(ctx, c) }, a, b)
		same(t, "LiveReceipts "+string(c), func(s store.Store) ([]store.Message, error) { return s.LiveReceipts(ctx, c) }, a, b)
		for seq := range uint64(12) {
			same(t, fmt.Sprintf("MessageAt %s %d", c, seq), func(s store.Store) (store.Message, error) { return s.MessageAt(ctx, c, seq) }, a, b)
		}
	}
	for _, id := range w.msgIDs {
		same(t, "GetMessage "+id, func(s store.Store) (store.Message, error) { return s.GetMessage(ctx, id) }, a, b)
	}
}

func TestMigrateCopiesEverythingAndRefusesTwice(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := must(pebblestore.Open(dir, pebblestore.Options{}))(t)
	w := buildWorld(t, src)
	// Migrate reads a directory the server has closed, as in operation.
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	src = must(pebblestore.Open(dir, pebblestore.Options{}))(t)
	t.Cleanup(func() { _ = src.Close() })
	url := seentest.PostgresDB(t)
	dst := must(pgstore.Open(ctx, url, pgstore.Options{}))(t)
	t.Cleanup(func() { _ = dst.Close() })

	sum, err := migrate.Run(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	want := pgstore.Counts{Users: 6, Settings: 2, Groups: 2, Conversations: 4, Members: 9, Messages: 17}
	if sum.Copied != want {
		t.Errorf("copied %+v, want %+v", sum.Copied, want)
	}
	if sum.Checksums != 4 {
		t.Errorf("%d checksums matched, want 4", sum.Checksums)
	}
	compare(t, w, src, dst)

	// A second migrate into the same database refuses and writes nothing.
	if _, err := migrate.Run(ctx, src, dst); !errors.Is(err, pgstore.ErrNotEmptyDatabase) {
		t.Fatalf("second migrate: %v, want ErrNotEmptyDatabase", err)
	}
	if got := must(dst.Counts(ctx))(t); got != want {
		t.Errorf("after the refused migrate the database holds %+v, want %+v", got, want)
	}
}

// A database that holds even one user is refused: nothing is merged.
func TestMigrateRefusesADatabaseWithAUser(t *testing.T) {
	ctx := context.Background()
	src := must(pebblestore.Open(t.TempDir(), pebblestore.Options{}))(t)
	t.Cleanup(func() { _ = src.Close() })
	must(src.PutUser(ctx, store.User{ID: "alice"}))(t)
	dst := must(pgstore.Open(ctx, seentest.PostgresDB(t), pgstore.Options{}))(t)
	t.Cleanup(func() { _ = dst.Close() })
	must(dst.PutUser(ctx, store.User{ID: "zed"}))(t)
	if _, err := migrate.Run(ctx, src, dst); !errors.Is(err, pgstore.ErrNotEmptyDatabase) {
		t.Fatalf("migrate: %v, want ErrNotEmptyDatabase", err)
	}
	if _, err := dst.GetUser(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("alice was written into a database that held data: %v", err)
	}
}

// The checksum sees a difference in any field: it is what Verify relies on.
func TestChecksumSeesAChangedWatermark(t *testing.T) {
	ctx := context.Background()
	st := must(pebblestore.Open(t.TempDir(), pebblestore.Options{}))(t)
	t.Cleanup(func() { _ = st.Close() })
	ab := store.PeerConv("a", "b")
	must3(st.Append(ctx, store.Message{ID: "m1", Conv: ab, Sender: "a", Body: []byte(`{}`), SentAt: 1}))(t)
	before := must(migrate.Checksum(ctx, st, ab))(t)
	must3(st.AdvanceDelivered(ctx, ab, "b", 1, 2))(t)
	if after := must(migrate.Checksum(ctx, st, ab))(t); after == before {
		t.Error("checksum unchanged after b's delivered watermark moved")
	}
	must3(st.Append(ctx, store.Message{ID: "m2", Conv: ab, Sender: "a", Body: []byte(`{}`), SentAt: 3}))(t)
	before = must(migrate.Checksum(ctx, st, ab))(t)
	must3(st.AdvanceOwnRead(ctx, ab, "b", 2, 4))(t)
	if after := must(migrate.Checksum(ctx, st, ab))(t); after == before {
		t.Error("checksum unchanged after b's own read state moved")
	}
}
