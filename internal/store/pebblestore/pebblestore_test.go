package pebblestore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/storetest"
)

// testOptions keeps test stores small.
var testOptions = Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20}

func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, testOptions)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() }) // the suite may have closed it
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t, t.TempDir()) })
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s := openTest(t, dir)

	if _, err := s.PutUser(ctx, store.User{ID: "alice", Name: "Alice", CreatedAt: 1}); err != nil {
		t.Fatal(err)
	}
	group := store.Group{ID: "g", CreatedBy: "alice", CreatedAt: 2}
	if err := s.CreateGroup(ctx, group, []store.Member{{UserID: "alice", Role: "owner"}, {UserID: "bob"}}); err != nil {
		t.Fatal(err)
	}
	gconv := store.GroupConv("g")
	pconv := store.PeerConv("alice", "carol")
	var sent []store.Message
	for i, c := range []store.ConvID{gconv, gconv, pconv, gconv} {
		m := store.Message{ID: "m" + string(rune('0'+i)), Conv: c, Sender: "alice", ClientMsgID: "c" + string(rune('0'+i)),
			Body: json.RawMessage(`{"i":1}`), SentAt: int64(10 + i)}
		got, _, err := s.Append(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, got)
	}
	if _, err := s.AddMembers(ctx, gconv, []store.Member{{UserID: "dave", Role: "member", JoinedAt: 20}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AdvanceRead(ctx, gconv, "bob", 2, 30); err != nil {
		t.Fatal(err)
	}
	wantMembers, err := s.ListMembers(ctx, gconv, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openTest(t, dir)
	if u, err := s.GetUser(ctx, "alice"); err != nil || u.Name != "Alice" {
		t.Errorf("GetUser after reopen = %+v, %v; want Alice", u, err)
	}
	if g, err := s.GetGroup(ctx, "g"); err != nil || g != group {
		t.Errorf("GetGroup after reopen = %+v, %v; want %+v", g, err, group)
	}
	for _, m := range sent {
		got, err := s.GetMessage(ctx, m.ID)
		if err != nil {
			t.Fatalf("GetMessage(%s) after reopen: %v", m.ID, err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("GetMessage(%s) after reopen (-want +got):\n%s", m.ID, diff)
		}
	}
	gotMembers, err := s.ListMembers(ctx, gconv, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantMembers, gotMembers); diff != "" {
		t.Errorf("members after reopen (-want +got):\n%s", diff)
	}
	if n, err := s.CountMembers(ctx, gconv); err != nil || n != 3 {
		t.Errorf("CountMembers after reopen = %d, %v; want 3", n, err)
	}
	if bob, err := s.GetMember(ctx, gconv, "bob"); err != nil || bob.ReadSeq != 2 || bob.ReadAt != 30 {
		t.Errorf("bob after reopen = %+v, %v; want ReadSeq 2 at 30", bob, err)
	}
	if acts, err := s.ConversationsActivity(ctx, "carol"); err != nil || len(acts) != 1 || acts[0].Conv != pconv {
		t.Errorf("ConversationsActivity(carol) after reopen = %v, %v; want [%s]", acts, err, pconv)
	}

	tests := []struct {
		conv store.ConvID
		want uint64
	}{{gconv, 3}, {pconv, 1}}
	for _, tt := range tests {
		if got, err := s.LastSeq(ctx, tt.conv); err != nil || got != tt.want {
			t.Errorf("LastSeq(%s) after reopen = %d, %v; want %d", tt.conv, got, err, tt.want)
		}
		// Idempotency survives the reopen...
		resend := store.Message{ID: "again", Conv: tt.conv, Sender: "alice", ClientMsgID: sent[0].ClientMsgID, SentAt: 99}
		if tt.conv == pconv {
			resend.ClientMsgID = sent[2].ClientMsgID
		}
		got, existed, err := s.Append(ctx, resend)
		if err != nil || !existed || got.Seq == 0 || got.ID == "again" {
			t.Errorf("resend to %s after reopen = %+v, existed %v, %v; want the original", tt.conv, got, existed, err)
		}
		// ...and the next seq follows on.
		next, _, err := s.Append(ctx, store.Message{ID: "next" + string(tt.conv), Conv: tt.conv, Sender: "alice", ClientMsgID: "new", SentAt: 100})
		if err != nil || next.Seq != tt.want+1 {
			t.Errorf("append to %s after reopen: got seq %d, %v; want %d", tt.conv, next.Seq, err, tt.want+1)
		}
	}
	// dave joined after seq 3, so his join position is still 4.
	if dave, err := s.GetMember(ctx, gconv, "dave"); err != nil || dave.JoinSeq != 4 {
		t.Errorf("dave after reopen = %+v, %v; want JoinSeq 4", dave, err)
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir)
	s2, err := Open(dir, testOptions)
	if err == nil {
		s2.Close()
		t.Fatal("second Open of an open directory succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open: got error %q, want one saying the directory is in use", err)
	}
	// A relative spelling of the same directory is refused too.
	s3, err := Open(dir+"/.", testOptions)
	if err == nil {
		s3.Close()
		t.Fatal("Open of the same directory by another path succeeded, want an error")
	}
}

func TestOpenAfterClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("second Close: got %v, want ErrUnavailable", err)
	}
	openTest(t, dir) // the lock was released
}

func TestSchemaVersion(t *testing.T) {
	tests := []struct {
		name  string
		setup func(db *pebble.DB) error
	}{
		{"unknown version", func(db *pebble.DB) error {
			return db.Set(schemaKey, binary.AppendUvarint(nil, schemaVersion+1), pebble.Sync)
		}},
		{"data without version", func(db *pebble.DB) error {
			return db.Set([]byte("someone else's key"), []byte("x"), pebble.Sync)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			db, err := pebble.Open(dir, &pebble.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.setup(db); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir, testOptions)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want a schema error")
			}
			if !strings.Contains(err.Error(), "schema") {
				t.Errorf("Open: got error %q, want a schema error", err)
			}
			// The refused open released the directory.
			db, err = pebble.Open(dir, &pebble.Options{})
			if err != nil {
				t.Fatalf("reopen after refused Open: %v", err)
			}
			db.Close()
		})
	}
}

func TestKeyOrder(t *testing.T) {
	// Seqs sort numerically, and one conversation's keys never interleave
	// with another's whose id extends it.
	conv := store.GroupConv("a")
	if string(messageKey(conv, 255)) >= string(messageKey(conv, 256)) {
		t.Error("message keys do not sort by seq")
	}
	longer := store.GroupConv("a\x00")
	p := messagePrefix(conv)
	if k := string(messageKey(longer, 1)); k >= string(p) && k < string(prefixEnd(p)) {
		t.Error("a longer conversation id falls inside another's message range")
	}
	for _, m := range []store.Member{
		{UserID: "u", Role: "admin", JoinSeq: 3, ReadSeq: 1 << 40, DeliveredSeq: 7, ReadAt: -5, DeliveredAt: 9, JoinedAt: 11},
		{UserID: "u", JoinSeq: 1, ReadSeq: 4, Acks: []store.Ack{{Seq: 6, At: 1}, {Seq: 9, At: -2}, {Seq: 1 << 41, At: 3}}},
	} {
		got, err := decodeMember("u", encodeMember(m))
		if err != nil || !cmp.Equal(got, m) {
			t.Errorf("member round trip = %+v, %v; want %+v", got, err, m)
		}
	}
	msg := store.Message{Conv: conv, Seq: 3, ID: "id", Sender: "s", ClientMsgID: "c", SentAt: 5, Body: []byte(`{}`),
		Receipt: true, ReceiptAt: 7, Settled: true, Frozen: &store.Frozen{Read: 1, Unread: 2, Delivered: 3}}
	if got, err := decodeMessage(conv, 3, encodeMessage(msg)); err != nil || !cmp.Equal(got, msg) {
		t.Errorf("message round trip = %+v, %v; want %+v", got, err, msg)
	}
}

// openWithGroup opens a store holding group g of owner a and member b.
func openWithGroup(t *testing.T) (*Store, store.ConvID) {
	t.Helper()
	s := openTest(t, t.TempDir())
	members := []store.Member{{UserID: "a", Role: "owner"}, {UserID: "b", Role: "member"}}
	if err := s.CreateGroup(t.Context(), store.Group{ID: "g", CreatedBy: "a"}, members); err != nil {
		t.Fatal(err)
	}
	return s, store.GroupConv("g")
}

// TestMemberMemoFollowsEveryWrite: the member cache must equal what is on
// disk after every kind of write. ListMembers reads pebble itself, so it is
// the oracle for GetMember after each step.
func TestMemberMemoFollowsEveryWrite(t *testing.T) {
	s, conv := openWithGroup(t)
	ctx := t.Context()
	check := func(step string) {
		t.Helper()
		disk, err := s.ListMembers(ctx, conv, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		onDisk := map[string]store.Member{}
		for _, m := range disk {
			onDisk[m.UserID] = m
		}
		for _, u := range []string{"a", "b", "c"} {
			got, err := s.GetMember(ctx, conv, u)
			want, ok := onDisk[u]
			switch {
			case !ok && !errors.Is(err, store.ErrNotFound):
				t.Fatalf("%s: GetMember(%s) = %+v, %v; want ErrNotFound", step, u, got, err)
			case ok && (err != nil || !cmp.Equal(got, want, cmpopts.EquateEmpty())):
				t.Fatalf("%s: GetMember(%s) = %+v, %v; on disk %+v", step, u, got, err, want)
			}
		}
	}
	check("created")
	for i := range 3 {
		if _, _, err := s.Append(ctx, store.Message{ID: fmt.Sprint("m", i), Conv: conv, Sender: "a", ClientMsgID: fmt.Sprint("c", i), Body: []byte(`1`), SentAt: 1}); err != nil {
			t.Fatal(err)
		}
	}
	check("appended")
	steps := []struct {
		name string
		do   func() error
	}{
		{"ack one", func() error { _, _, err := s.AckOne(ctx, conv, "b", 2, 5); return err }},
		{"ack many", func() error { _, _, err := s.AckMany(ctx, conv, "b", []uint64{3, 1}, 6); return err }},
		{"delivered", func() error { _, _, err := s.AdvanceDelivered(ctx, conv, "a", 9, 7); return err }},
		{"set role", func() error { return s.SetRole(ctx, conv, "b", "admin") }},
		{"add c", func() error {
			_, err := s.AddMembers(ctx, conv, []store.Member{{UserID: "c", Role: "member"}})
			return err
		}},
		{"read by c", func() error { _, _, err := s.AdvanceRead(ctx, conv, "c", 3, 8); return err }},
		{"remove b", func() error { return s.RemoveMember(ctx, conv, "b") }},
		{"add b again", func() error {
			_, err := s.AddMembers(ctx, conv, []store.Member{{UserID: "b", Role: "member"}})
			return err
		}},
		{"send by b", func() error {
			_, _, err := s.Append(ctx, store.Message{ID: "mb", Conv: conv, Sender: "b", ClientMsgID: "cb", Body: []byte(`1`), SentAt: 9})
			return err
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		check(st.name)
	}
}

// TestMessageMemoFollowsEveryWrite: GetMessage, which may answer from the
// memo, must equal pebble's own copy (read through History) after an
// append, a receipt request and a settle.
func TestMessageMemoFollowsEveryWrite(t *testing.T) {
	s, conv := openWithGroup(t)
	ctx := t.Context()
	check := func(step string) {
		t.Helper()
		disk, err := s.History(ctx, conv, 0, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range disk {
			got, err := s.GetMessage(ctx, want.ID)
			if err != nil || !cmp.Equal(got, want, cmpopts.EquateEmpty()) {
				t.Fatalf("%s: GetMessage(%s) = %+v, %v; on disk %+v", step, want.ID, got, err, want)
			}
		}
	}
	for i := range 3 {
		if _, _, err := s.Append(ctx, store.Message{ID: fmt.Sprint("m", i), Conv: conv, Sender: "a", ClientMsgID: fmt.Sprint("c", i), Body: []byte(`{"n":1}`), SentAt: 1, Receipt: i == 0}); err != nil {
			t.Fatal(err)
		}
	}
	check("appended")
	if _, _, err := s.RequestReceipt(ctx, conv, 2, 50); err != nil {
		t.Fatal(err)
	}
	check("receipt requested")
	if err := s.SettleReceipt(ctx, conv, 1, &store.Frozen{Read: 1}); err != nil {
		t.Fatal(err)
	}
	check("settled")
	if err := s.SettleReceipt(ctx, conv, 2, nil); err != nil {
		t.Fatal(err)
	}
	check("settled done")
}
