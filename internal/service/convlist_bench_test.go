package service

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/protocol"
)

// BenchmarkConversationList_1000Convs is one conversation.list page (100,
// the most) for a user in 1,000 conversations, half groups and half peer
// chats, each with a message: every call orders all 1,000 by activity.
func BenchmarkConversationList_1000Convs(b *testing.B) {
	st, err := pebblestore.Open(b.TempDir(), pebblestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	benchConversationList(b, st)
}

// benchConversationList fills st with the 1,000 conversations and times
// the page; BenchmarkConversationListPG runs it on PostgreSQL.
func benchConversationList(b *testing.B, st store.Store) {
	ctx := context.Background()
	bus := local.New()
	svc := New(Options{Store: st, Bus: bus, Config: config.Default()})
	b.Cleanup(func() { _ = svc.Close(ctx); _ = bus.Close() })

	body := json.RawMessage(`{"text":"hello"}`)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i := range 1000 {
		other := fmt.Sprintf("u%04d", i)
		conv := store.PeerConv("alice", other)
		if i%2 == 0 {
			g := fmt.Sprintf("g%04d", i)
			members := []store.Member{{UserID: other, Role: protocol.RoleOwner, JoinedAt: at}, {UserID: "alice", Role: protocol.RoleMember, JoinedAt: at}}
			if err := st.CreateGroup(ctx, store.Group{ID: g, CreatedBy: other, CreatedAt: at}, members); err != nil {
				b.Fatal(err)
			}
			conv = store.GroupConv(g)
		}
		m := store.Message{ID: fmt.Sprintf("m%04d", i), Conv: conv, Sender: other, ClientMsgID: "c", Body: body, SentAt: at + int64(i*7919%1000)}
		if _, _, err := st.Append(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	c := Caller{UserID: "alice"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := svc.Conversations(ctx, c, protocol.ConversationListParams{Limit: 100})
		if err != nil || len(res.Conversations) != 100 {
			b.Fatalf("got %d conversations, err %v", len(res.Conversations), err)
		}
	}
}
