package service

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pgstore"
	"github.com/seen-im/seen/internal/testpg"
	"github.com/seen-im/seen/protocol"
)

// The 100,000-member group of the PostgreSQL benchmarks: big100kMsgs
// messages, the last one asking for receipts, and member i's watermarks
// spread over them so counts and pages have both read and unread members.
const (
	big100kMembers = 100_000
	big100kMsgs    = 10
)

// BenchmarkGroupPG_100kMembers measures a 100,000-member group on
// PostgreSQL as a node meets it: the receipt engine loaded from the
// database (every member row, then the live receipts), the engine's memory
// per member (its own estimate, MemoryBytes, and the heap it really
// holds), and receipt.query and a receipt.members page of 100 through the
// service, each a store round trip for the message plus the engine. The
// group is written with the Importer `seen migrate` uses (COPY), not with
// 100,000 admin calls. It needs SEEN_TEST_POSTGRES_URL, and works in a
// database of its own (testpg.Database).
func BenchmarkGroupPG_100kMembers(b *testing.B) {
	ctx := context.Background()
	st := bigGroupStore(b)
	conv := store.GroupConv("big")
	last := bigGroupMsgID(big100kMsgs)
	svc := New(Options{Store: st, Bus: local.New(), Config: config.Default()})
	sender := Caller{UserID: bigGroupUser(0), ConnID: "bench", Device: "bench"}
	pc := protocol.Conversation{Type: protocol.ConvGroup, ID: "big"}

	b.Run("Load", func(b *testing.B) {
		b.ReportAllocs()
		var mem, members int
		var heap uint64
		for b.Loop() {
			var before, after runtime.MemStats
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&before)
			b.StartTimer()
			c, err := svc.loadEngine(ctx, conv)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			mem, members = c.MemoryBytes(), c.Len()
			heap = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
			runtime.KeepAlive(c)
			b.StartTimer()
		}
		if members != big100kMembers {
			b.Fatalf("engine holds %d members, want %d", members, big100kMembers)
		}
		b.ReportMetric(float64(mem)/float64(members), "est-B/member")
		b.ReportMetric(float64(heap)/float64(members), "heap-B/member")
	})

	b.Run("Count", func(b *testing.B) {
		// The first call loads the engine; the loop measures a loaded one.
		q := protocol.ReceiptQueryParams{Conversation: pc, MsgIDs: []string{last}}
		res, err := svc.QueryReceipts(ctx, sender, q)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Receipts) != 1 || res.Receipts[0].ReadCount+res.Receipts[0].UnreadCount != big100kMembers-1 {
			b.Fatalf("receipt.query: %+v, want read+unread = %d", res.Receipts, big100kMembers-1)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := svc.QueryReceipts(ctx, sender, q); err != nil {
				b.Fatal(err)
			}
		}
	})

	for _, filter := range []string{"read", "unread"} {
		b.Run("MembersPage100_"+filter, func(b *testing.B) {
			p := protocol.ReceiptMembersParams{Conversation: pc, MsgID: last, Filter: filter, Limit: 100}
			res, err := svc.ReceiptMembers(ctx, sender, p)
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Members) != 100 {
				b.Fatalf("receipt.members %s: %d members, want 100", filter, len(res.Members))
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.ReceiptMembers(ctx, sender, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func bigGroupUser(i int) string    { return fmt.Sprintf("u%06d", i) }
func bigGroupMsgID(seq int) string { return fmt.Sprintf("big-m%d", seq) }

// bigGroupStore opens a store on a fresh database and imports the group into
// it in one transaction; it reports how long the import took.
func bigGroupStore(b *testing.B) *pgstore.Store {
	b.Helper()
	ctx := context.Background()
	st, err := pgstore.Open(ctx, testpg.Database(b), pgstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })

	start := time.Now()
	now := time.Now().UnixMilli()
	conv := store.GroupConv("big")
	users := make([]store.User, big100kMembers)
	members := make([]store.Member, big100kMembers)
	for i := range members {
		users[i] = store.User{ID: bigGroupUser(i), CreatedAt: now}
		// Watermarks 0..big100kMsgs: about one member in 11 has read the
		// last message, the rest are spread below it.
		read := uint64(i % (big100kMsgs + 1))
		role := "member"
		if i == 0 {
			role, read = "owner", big100kMsgs
		}
		members[i] = store.Member{UserID: users[i].ID, Role: role, JoinSeq: 1, JoinedAt: now,
			ReadSeq: read, ReadAt: now, DeliveredSeq: max(read, big100kMsgs-1), DeliveredAt: now}
	}
	msgs := make([]store.Message, big100kMsgs)
	for i := range msgs {
		seq := i + 1
		msgs[i] = store.Message{ID: bigGroupMsgID(seq), Conv: conv, Seq: uint64(seq), Sender: users[0].ID,
			ClientMsgID: bigGroupMsgID(seq), Body: []byte(`{"text":"hi"}`), SentAt: now}
	}
	msgs[len(msgs)-1].Receipt, msgs[len(msgs)-1].ReceiptAt = true, now

	im, err := st.BeginImport(ctx)
	if err != nil {
		b.Fatal(err)
	}
	err = im.Users(users)
	if err == nil {
		err = im.Groups([]store.Group{{ID: "big", CreatedBy: users[0].ID, CreatedAt: now}})
	}
	if err == nil {
		err = im.Conversation(conv, big100kMsgs, now, big100kMembers)
	}
	if err == nil {
		err = im.Members(conv, members)
	}
	if err == nil {
		err = im.Messages(msgs)
	}
	if err != nil {
		_ = im.Rollback()
		b.Fatalf("import: %v", err)
	}
	if err := im.Commit(); err != nil {
		b.Fatalf("import: %v", err)
	}
	b.Logf("imported %d members in %v", big100kMembers, time.Since(start).Round(time.Millisecond))
	return st
}
