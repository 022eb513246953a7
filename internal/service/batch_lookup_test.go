package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/internal/store/storewrap"
	"github.com/seen-im/seen/protocol"
)

// message.read and receipt.query look their ids up in one store call
// (one round trip on a networked store), not one per id, the one that
// resolves the conversation too (store.Finder), and still name the first
// unknown or foreign id in data.field.
func TestReadAndQueryLookUpIDsInOneStoreCall(t *testing.T) {
	ctx := context.Background()
	base, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		ops = map[string]int{}
	)
	st := storewrap.Wrap(base, storewrap.BeforeFunc(func(ctx context.Context, op string) error {
		mu.Lock()
		ops[op]++
		mu.Unlock()
		return nil
	}))
	lookups := func() (one, many, find int) {
		mu.Lock()
		defer mu.Unlock()
		one, many, find = ops["get_message"], ops["get_messages"], ops["find"]
		ops["get_message"], ops["get_messages"], ops["find"] = 0, 0, 0
		return one, many, find
	}
	b := local.New()
	svc := New(Options{Store: st, Bus: b, Config: config.Default()})
	t.Cleanup(func() { _ = svc.Close(context.Background()); _ = b.Close(); _ = base.Close() })
	for _, u := range []string{"s", "r"} {
		if err := svc.EnsureUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	as := func(u string) Caller { return Caller{UserID: u, ConnID: u + "-conn"} }
	for _, id := range []string{"g", "h"} {
		if _, err := svc.CreateGroup(ctx, "s", protocol.GroupCreateParams{GroupID: id, Members: []string{"r"}}); err != nil {
			t.Fatal(err)
		}
	}
	g := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	h := protocol.Conversation{Type: protocol.ConvGroup, ID: "h"}
	send := func(conv protocol.Conversation, n int) string {
		t.Helper()
		m, err := svc.Send(ctx, as("s"), protocol.SendParams{Conversation: conv, ClientMsgID: fmt.Sprint(conv.ID, n), Body: json.RawMessage(`"hi"`), Receipt: true})
		if err != nil {
			t.Fatal(err)
		}
		return m.MsgID
	}
	var ids []string
	for i := range 5 {
		ids = append(ids, send(g, i))
	}
	foreign := send(h, 0)
	lookups()

	wantField := func(what string, err error, field string) {
		t.Helper()
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeNotFound || pe.Data["field"] != field {
			t.Errorf("%s: got %v, want 404 with field %s", what, err, field)
		}
	}
	q, err := svc.QueryReceipts(ctx, as("s"), protocol.ReceiptQueryParams{Conversation: g, MsgIDs: append(ids, ids[0])})
	if err != nil || len(q.Receipts) != 6 || q.Receipts[5].MsgID != ids[0] {
		t.Fatalf("receipt.query with a duplicate = %+v, %v; want 6 receipts, the last of %s", q, err, ids[0])
	}
	if one, many, find := lookups(); one != 0 || many != 0 || find != 1 {
		t.Errorf("receipt.query of 6 ids: %d get_message, %d get_messages and %d find calls, want 0, 0 and 1", one, many, find)
	}
	_, err = svc.QueryReceipts(ctx, as("s"), protocol.ReceiptQueryParams{Conversation: g, MsgIDs: []string{ids[0], foreign, "nope"}})
	wantField("receipt.query with a foreign id", err, "msgIds[1]")
	lookups()

	r, err := svc.Read(ctx, as("r"), protocol.ReadParams{Conversation: g, MsgIDs: []string{ids[3], ids[1], ids[3]}})
	if err != nil || r.Read != 2 {
		t.Fatalf("message.read with a duplicate = %+v, %v; want 2 read", r, err)
	}
	if one, many, find := lookups(); one != 0 || many != 0 || find != 1 {
		t.Errorf("message.read of 3 ids: %d get_message, %d get_messages and %d find calls, want 0, 0 and 1", one, many, find)
	}
	_, err = svc.Read(ctx, as("r"), protocol.ReadParams{Conversation: g, MsgIDs: []string{ids[4], "nope", foreign}})
	wantField("message.read with an unknown id", err, "msgIds[1]")
}
