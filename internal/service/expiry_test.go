package service

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/internal/store/storewrap"
	"github.com/seen-im/seen/protocol"
)

// An ack accepted before expiresAt whose write is still in flight when the
// window closes must be in the frozen counts: nothing may freeze the
// receipt without it, a status read meanwhile already says expired, and a
// read stamped after the close waits for the freeze and is not in them.
func TestAckInFlightAtExpiryIsInFrozenCounts(t *testing.T) {
	ctx := context.Background()
	base, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var hold atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	st := storewrap.Wrap(base, storewrap.BeforeFunc(func(ctx context.Context, op string) error {
		if op == "ack_many" && hold.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return nil
	}))
	var now atomic.Int64
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	now.Store(t0)
	cfg := config.Default()
	cfg.Receipts.TTL = time.Second
	b := local.New()
	svc := New(Options{Store: st, Bus: b, Config: cfg, Now: func() time.Time { return time.UnixMilli(now.Load()) }})
	t.Cleanup(func() { _ = svc.Close(context.Background()); _ = b.Close(); _ = base.Close() })

	for _, u := range []string{"s", "r1", "r2"} {
		if err := svc.EnsureUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.CreateGroup(ctx, "s", protocol.GroupCreateParams{GroupID: "g", Members: []string{"r1", "r2"}}); err != nil {
		t.Fatal(err)
	}
	g := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	as := func(u string) Caller { return Caller{UserID: u, ConnID: u + "-conn"} }
	m, err := svc.Send(ctx, as("s"), protocol.SendParams{Conversation: g, ClientMsgID: "c1", Body: json.RawMessage(`"hi"`), Receipt: true})
	if err != nil {
		t.Fatal(err)
	}
	query := func() protocol.Receipt {
		t.Helper()
		res, err := svc.QueryReceipts(ctx, as("s"), protocol.ReceiptQueryParams{Conversation: g, MsgIDs: []string{m.MsgID}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Receipts[0]
	}

	// r1 reads 1 ms before the window closes; its write stalls.
	now.Store(t0 + 999)
	hold.Store(true)
	readDone := make(chan error, 1)
	go func() {
		_, err := svc.Read(ctx, as("r1"), protocol.ReadParams{Conversation: g, MsgIDs: []string{m.MsgID}})
		readDone <- err
	}()
	<-entered
	now.Store(t0 + 5000)
	if r := query(); r.Status != protocol.StatusExpired {
		t.Errorf("while the early ack is in flight: %+v, want expired", r)
	}
	// r2 reads the whole conversation after the close: it must wait for
	// the freeze, which waits for r1's ack.
	lateDone := make(chan error, 1)
	go func() {
		_, err := svc.ReadConversation(ctx, as("r2"), protocol.ConversationReadParams{Conversation: g})
		lateDone <- err
	}()
	ce := svc.engines.pin(store.GroupConv("g"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		ce.mu.Lock()
		waiting := ce.waiting
		ce.mu.Unlock()
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the late conversation read did not wait for the freeze")
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-readDone; err != nil {
		t.Fatalf("read before expiry: %v", err)
	}
	if err := <-lateDone; err != nil {
		t.Fatalf("conversation read after expiry: %v", err)
	}
	// After the window an ack is refused.
	if _, err := svc.Read(ctx, as("r2"), protocol.ReadParams{Conversation: g, MsgIDs: []string{m.MsgID}}); err == nil {
		t.Error("read after expiry accepted")
	}
	want := protocol.Receipt{MsgID: m.MsgID, Status: protocol.StatusExpired, ReadCount: 1, UnreadCount: 1, DeliveredCount: 1, ExpiresAt: t0 + 1000}
	if got := query(); got != want {
		t.Errorf("frozen: got %+v, want %+v", got, want)
	}
	stored, err := base.GetMessage(ctx, m.MsgID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Frozen == nil || stored.Frozen.Read != 1 || stored.Frozen.Unread != 1 {
		t.Errorf("stored frozen counts = %+v, want read 1, unread 1", stored.Frozen)
	}
}
