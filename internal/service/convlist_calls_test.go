package service

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/internal/store/storewrap"
	"github.com/seen-im/seen/protocol"
)

// TestConversationListStoreCalls: a conversation.list page costs the same
// store calls whatever its length: the activity listing, the peers'
// records and the last messages, one call each (one round trip each on
// PostgreSQL), with peer and group chats, messages from either side, with
// and without receipts. Group engines are in memory after the first page.
func TestConversationListStoreCalls(t *testing.T) {
	ctx := context.Background()
	base, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		counting bool
		calls    = map[string]int{}
	)
	st := storewrap.Wrap(base, storewrap.BeforeFunc(func(ctx context.Context, op string) error {
		mu.Lock()
		if counting {
			calls[op]++
		}
		mu.Unlock()
		return nil
	}))
	b := local.New()
	svc := New(Options{Store: st, Bus: b, Config: config.Default()})
	t.Cleanup(func() { _ = svc.Close(context.Background()); _ = b.Close(); _ = base.Close() })
	as := func(u string) Caller { return Caller{UserID: u, ConnID: u + "-conn"} }
	if err := svc.EnsureUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		other := fmt.Sprintf("u%02d", i)
		if err := svc.EnsureUser(ctx, other); err != nil {
			t.Fatal(err)
		}
		conv := protocol.Conversation{Type: protocol.ConvPeer, ID: other}
		if i%2 == 0 {
			g := fmt.Sprintf("g%02d", i)
			if _, err := svc.CreateGroup(ctx, other, protocol.GroupCreateParams{GroupID: g, Members: []string{"alice"}}); err != nil {
				t.Fatal(err)
			}
			conv = protocol.Conversation{Type: protocol.ConvGroup, ID: g}
		}
		sender := other
		if i%3 == 0 {
			sender = "alice"
		}
		if sender == "alice" && conv.Type == protocol.ConvPeer {
			conv.ID = other
		} else if conv.Type == protocol.ConvPeer {
			conv.ID = "alice"
		}
		if _, err := svc.Send(ctx, as(sender), protocol.SendParams{Conversation: conv, ClientMsgID: "c",
			Body: json.RawMessage(`"hi"`), Receipt: i%4 < 2}); err != nil {
			t.Fatal(err)
		}
	}
	page := func(limit int) map[string]int {
		t.Helper()
		mu.Lock()
		counting, calls = true, map[string]int{}
		mu.Unlock()
		res, err := svc.Conversations(ctx, as("alice"), protocol.ConversationListParams{Limit: limit})
		mu.Lock()
		counting = false
		got := maps.Clone(calls)
		mu.Unlock()
		if err != nil || len(res.Conversations) != min(limit, n) {
			t.Fatalf("page of %d: %d conversations, err %v", limit, len(res.Conversations), err)
		}
		return got
	}
	page(100) // loads the engines of alice's own group receipts
	want := map[string]int{"conversations_activity": 1, "get_members": 1, "messages_at": 1}
	for _, limit := range []int{5, 100} {
		if got := page(limit); !maps.Equal(got, want) {
			t.Errorf("page of %d: store calls %v, want %v", limit, got, want)
		}
	}
}
