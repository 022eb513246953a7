package storetest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/store"
)

// testGetMessages checks the batched lookup against GetMessage: entries
// aligned with the ids, a zero entry for an unknown id, duplicates each
// answered, messages of several conversations in one call, and messages
// that a store may hold in a cache (recent, small) beside ones it must
// read (large, or changed since they were appended).
func testGetMessages(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := mustCreateGroup(t, s, "g", "alice", "bob")
	h := mustCreateGroup(t, s, "h", "bob")
	small := mustAppend(t, s, msg(g, "alice", "small", 1))
	big := msg(g, "alice", "big", 2)
	big.Body = json.RawMessage(`{"text":"` + strings.Repeat("x", 4096) + `"}`)
	big = mustAppend(t, s, big)
	settled := msg(g, "alice", "settled", 3)
	settled.Receipt, settled.ReceiptAt = true, 3
	settled = mustAppend(t, s, settled)
	if err := s.SettleReceipt(ctx, g, settled.Seq, &store.Frozen{Read: 1, Unread: 0, Delivered: 1}); err != nil {
		t.Fatalf("SettleReceipt: %v", err)
	}
	other := mustAppend(t, s, msg(h, "bob", "other", 4))

	ids := []string{settled.ID, "no-such-id", small.ID, other.ID, big.ID, small.ID, settled.ID}
	got, err := s.GetMessages(ctx, ids)
	if err != nil {
		t.Fatalf("GetMessages: %v", err)
	}
	if len(got) != len(ids) {
		t.Fatalf("GetMessages: %d entries for %d ids", len(got), len(ids))
	}
	for i, id := range ids {
		want, err := s.GetMessage(ctx, id)
		if id == "no-such-id" {
			wantErrIs(t, "GetMessage(unknown)", err, store.ErrNotFound)
			want = store.Message{}
		} else if err != nil {
			t.Fatalf("GetMessage(%s): %v", id, err)
		}
		if diff := cmp.Diff(want, got[i]); diff != "" {
			t.Errorf("GetMessages entry %d (%s) (-GetMessage +got):\n%s", i, id, diff)
		}
	}
	if f := got[0].Frozen; f == nil || *f != (store.Frozen{Read: 1, Delivered: 1}) {
		t.Errorf("GetMessages: settled message frozen = %+v, want read 1 delivered 1", f)
	} else if got[0].Frozen == got[6].Frozen {
		t.Errorf("GetMessages: duplicate ids share one Frozen; a caller changing one changes the other")
	}

	for _, ids := range [][]string{nil, {}, {"none", "either"}} {
		got, err := s.GetMessages(ctx, ids)
		if err != nil || len(got) != len(ids) {
			t.Errorf("GetMessages(%q) = %d entries, %v; want %d, nil", ids, len(got), err, len(ids))
		}
		for i, m := range got {
			if m.ID != "" {
				t.Errorf("GetMessages(%q)[%d] = %+v, want the zero Message", ids, i, m)
			}
		}
	}
}
