package pebblestore

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/store"
)

// TestMemberFormatBeforePrivateReading decodes a member value as stores
// wrote it before private reading (bytes written out by hand, not by
// today's encoder): its own read state is its shared one.
func TestMemberFormatBeforePrivateReading(t *testing.T) {
	old := []byte{
		valueV1,
		1,         // join seq
		3,         // read seq
		4,         // delivered seq
		60, 80, 2, // read at 30, delivered at 40, joined at 1 (zigzag varints)
		6, 'm', 'e', 'm', 'b', 'e', 'r', // role
		2, 2, 100, 2, 0x8c, 0x01, // acks: 5 at 50, 7 at 70 (delta seqs, zigzag times)
	}
	got, err := decodeMember("bob", old)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Member{UserID: "bob", Role: "member", JoinSeq: 1, ReadSeq: 3, DeliveredSeq: 4, ReadAt: 30, DeliveredAt: 40, JoinedAt: 1,
		Acks: []store.Ack{{Seq: 5, At: 50}, {Seq: 7, At: 70}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("decoded (-want +got):\n%s", diff)
	}
	if got.OwnReadSeq() != 3 || !cmp.Equal(got.OwnAcks(), want.Acks) || !got.OwnHasRead(7) || got.OwnHasRead(6) {
		t.Errorf("own state of an old record: read %d acks %v", got.OwnReadSeq(), got.OwnAcks())
	}
	// Today's encoder writes a member without private reads the old way,
	// byte for byte: nothing grows for members who never read privately.
	if enc := encodeMember(got); string(enc) != string(old) {
		t.Errorf("encodeMember = %v, want the old bytes %v", enc, old)
	}
}

// TestMemberOwnStateRoundTrip: a member whose own state differs, with and
// without shared acks, decodes as it was encoded.
func TestMemberOwnStateRoundTrip(t *testing.T) {
	for _, m := range []store.Member{
		{UserID: "bob", JoinSeq: 1, ReadSeq: 3, DeliveredSeq: 3, Own: &store.OwnRead{ReadSeq: 9, ReadAt: 5}},
		{UserID: "bob", JoinSeq: 1, ReadSeq: 3, DeliveredSeq: 3, Acks: []store.Ack{{Seq: 6, At: 1}},
			Own: &store.OwnRead{ReadSeq: 4, ReadAt: 5, Acks: []store.Ack{{Seq: 6, At: 1}, {Seq: 8, At: 2}}}},
	} {
		got, err := decodeMember("bob", encodeMember(m))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
}

// TestOpenUpgradesSchema1: a store written by a version 1 binary (before
// private reading) opens, is marked version 2, and its members read with
// own state = shared state and take private reads.
func TestOpenUpgradesSchema1(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s, err := Open(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	conv := store.GroupConv("g")
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "alice"}, []store.Member{{UserID: "alice"}, {UserID: "bob"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := s.Append(ctx, store.Message{ID: fmt.Sprint("m", i), Conv: conv, Sender: "alice", Body: []byte(`{}`), SentAt: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.AckOne(ctx, conv, "bob", 2, 5); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	setVersion := func(v uint64) {
		db, err := pebble.Open(dir, &pebble.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Set(schemaKey, binary.AppendUvarint(nil, v), pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	setVersion(1) // nothing in it uses version 2's additions: a version 1 store

	s, err = Open(dir, testOptions)
	if err != nil {
		t.Fatalf("Open of a version 1 store: %v", err)
	}
	bob, err := s.GetMember(ctx, conv, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if bob.Own != nil || bob.OwnReadSeq() != 0 || !bob.OwnHasRead(2) || bob.OwnHasRead(1) {
		t.Fatalf("bob after the upgrade: %+v", bob)
	}
	if m, _, err := s.AdvanceOwnRead(ctx, conv, "bob", 3, 9); err != nil || m.OwnReadSeq() != 3 || m.ReadSeq != 0 {
		t.Fatalf("private read after the upgrade: %+v, %v", m, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, closer, err := db.Get(schemaKey)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := binary.Uvarint(v); got != schemaVersion {
		t.Errorf("schema version after the upgrade = %d, want %d", got, schemaVersion)
	}
	closer.Close()
	db.Close()
}
