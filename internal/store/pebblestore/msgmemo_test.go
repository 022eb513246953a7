package pebblestore

import (
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// TestMessageBySeqFromTheMemo: a message looked up by its place (a
// coalescing window's flush, a receipt settled) is answered from the memo
// without a pebble read, and a receipt requested or settled leaves the new
// version there, not the old one: the same as what was written, which a
// reopened store reads from disk.
func TestMessageBySeqFromTheMemo(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	conv := store.GroupConv("g")
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "a"},
		[]store.Member{{UserID: "a", Role: "owner"}, {UserID: "b", Role: "member"}}); err != nil {
		t.Fatal(err)
	}
	m, _, err := s.Append(ctx, store.Message{ID: "m1", Conv: conv, Sender: "a", ClientMsgID: "c1", Body: []byte(`"hi"`), SentAt: 5})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.msgs.getSeq(conv, m.Seq); !ok || got.ID != "m1" {
		t.Fatalf("memo by seq after Append: %+v, %v; want m1", got, ok)
	}
	if _, ok := s.msgs.getSeq(conv, m.Seq+1); ok {
		t.Fatal("memo by seq answers a seq never appended")
	}
	if _, ok := s.msgs.getSeq(store.GroupConv("h"), m.Seq); ok {
		t.Fatal("memo by seq answers another conversation's seq")
	}
	if _, changed, err := s.RequestReceipt(ctx, conv, m.Seq, 7); err != nil || !changed {
		t.Fatalf("RequestReceipt: %v, %v", changed, err)
	}
	if err := s.SettleReceipt(ctx, conv, m.Seq, &store.Frozen{Read: 1, Unread: 2}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got store.Message) {
		t.Helper()
		if got.ID != "m1" || !got.Receipt || got.ReceiptAt != 7 || !got.Settled || got.Frozen == nil || *got.Frozen != (store.Frozen{Read: 1, Unread: 2}) {
			t.Fatalf("%s: %+v (frozen %v), want m1 with its receipt requested at 7 and settled, frozen 1/2", what, got, got.Frozen)
		}
	}
	got, ok := s.msgs.getSeq(conv, m.Seq)
	if !ok {
		t.Fatal("memo by seq lost the message its receipt's writes changed")
	}
	check("memo after the settle", got)
	got.Frozen.Read = 99 // a copy: the memo's own is untouched
	got, err = s.MessageAt(ctx, conv, m.Seq)
	if err != nil {
		t.Fatal(err)
	}
	check("MessageAt", got)
	if byID, err := s.GetMessage(ctx, "m1"); err != nil {
		t.Fatal(err)
	} else {
		check("GetMessage", byID)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, testOptions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, ok := s.msgs.getSeq(conv, m.Seq); ok {
		t.Fatal("a reopened store's memo is not empty")
	}
	got, err = s.MessageAt(ctx, conv, m.Seq)
	if err != nil {
		t.Fatal(err)
	}
	check("MessageAt from disk", got)
}
