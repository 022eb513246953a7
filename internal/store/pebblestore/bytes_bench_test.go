package pebblestore

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/seen-im/seen/internal/store"
)

// prefixBytes sums the key and value bytes under prefix: the logical size
// of what the store keeps there, before compression.
func prefixBytes(b *testing.B, db *pebble.DB, prefix []byte) int {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n += len(it.Key()) + len(it.Value())
	}
	return n
}

const (
	bytesMembers  = 100
	bytesMessages = 1000
)

// BenchmarkStoredBytesPerMember_1000Msgs measures the receipt state Seen
// keeps per member of a conversation after 1,000 messages, each read by
// every member in order: the member record (watermarks, times, role) and
// its entry in the member's conversation index. Messages are not counted:
// they cost the same whatever the receipt model.
func BenchmarkStoredBytesPerMember_1000Msgs(b *testing.B) { benchStoredBytes(b, false) }

// BenchmarkStoredBytesPerMember_1000Msgs_PrivateReaders is the same with
// every member reading privately from message 500 on: the own read state
// is kept beside the shared one, which stays at 499.
func BenchmarkStoredBytesPerMember_1000Msgs_PrivateReaders(b *testing.B) { benchStoredBytes(b, true) }

func benchStoredBytes(b *testing.B, private bool) {
	for range b.N {
		s, err := Open(b.TempDir(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		ctx := b.Context()
		conv := store.GroupConv("g")
		members := make([]store.Member, bytesMembers)
		for i := range members {
			members[i] = store.Member{UserID: fmt.Sprintf("user%05d", i), Role: "member", JoinSeq: 1, JoinedAt: 1700000000000}
		}
		if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: members[0].UserID}, members); err != nil {
			b.Fatal(err)
		}
		for seq := 1; seq <= bytesMessages; seq++ {
			m := store.Message{ID: fmt.Sprint("m", seq), Conv: conv, Sender: members[0].UserID, ClientMsgID: fmt.Sprint(seq),
				Body: []byte(`{"text":"hi"}`), SentAt: 1700000000000 + int64(seq), Receipt: true}
			if _, _, err := s.Append(ctx, m); err != nil {
				b.Fatal(err)
			}
			for _, mem := range members[1:] {
				read := s.AdvanceRead
				if private && seq >= bytesMessages/2 {
					read = s.AdvanceOwnRead
				}
				if _, _, err := read(ctx, conv, mem.UserID, uint64(seq), m.SentAt+5); err != nil {
					b.Fatal(err)
				}
			}
		}
		total := prefixBytes(b, s.db, convPrefix(prefixMember, conv, 0))
		for _, mem := range members {
			total += len(userConvKey(mem.UserID, conv))
		}
		b.ReportMetric(float64(total)/bytesMembers, "bytes/member")
		s.Close()
	}
}

// BenchmarkStoredBytesPerMember_1000Msgs_RowPerReceipt is the baseline the
// hosted clouds' limits come from: one row per (message, member) holding
// when that member read that message, in the same engine, keyed as
// compactly as Seen's own keys.
func BenchmarkStoredBytesPerMember_1000Msgs_RowPerReceipt(b *testing.B) {
	for range b.N {
		db, err := pebble.Open(b.TempDir(), &pebble.Options{Logger: pebbleLogger{slog.New(slog.DiscardHandler)}})
		if err != nil {
			b.Fatal(err)
		}
		conv := store.GroupConv("g")
		prefix := convPrefix(0x7f, conv, 0)
		for seq := uint64(1); seq <= bytesMessages; seq++ {
			batch := db.NewBatch()
			for i := 1; i < bytesMembers; i++ {
				k := appendSeq(append([]byte(nil), prefix...), seq)
				k = append(k, fmt.Sprintf("user%05d", i)...)
				v := binary.AppendVarint([]byte{1}, 1700000000000+int64(seq)+5) // read flag, read time
				_ = batch.Set(k, v, nil)
			}
			if err := batch.Commit(pebble.NoSync); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(prefixBytes(b, db, prefix))/bytesMembers, "bytes/member")
		db.Close()
	}
}
