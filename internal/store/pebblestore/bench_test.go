package pebblestore

import (
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// benchParallelism is goroutines per GOMAXPROCS: enough concurrent writers
// that group commit shares fsyncs, as a busy server's connections would.
const benchParallelism = 16

func openBench(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// benchGroups creates n groups of two members, "w" and "r", and returns
// their conversations.
func benchGroups(b *testing.B, s *Store, n int) []store.ConvID {
	b.Helper()
	convs := make([]store.ConvID, n)
	for i := range convs {
		id := "g" + strconv.Itoa(i)
		err := s.CreateGroup(b.Context(), store.Group{ID: id, CreatedBy: "w"},
			[]store.Member{{UserID: "w", Role: "member"}, {UserID: "r", Role: "member"}})
		if err != nil {
			b.Fatal(err)
		}
		convs[i] = store.GroupConv(id)
	}
	return convs
}

func benchAppend(b *testing.B, nConvs int) {
	s := openBench(b)
	convs := benchGroups(b, s, nConvs)
	body := json.RawMessage(`{"text":"hello, this is a benchmark message"}`)
	var next atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			id := strconv.FormatUint(n, 10)
			m := store.Message{ID: id, Conv: convs[n%uint64(len(convs))], Sender: "w", ClientMsgID: id, Body: body, SentAt: int64(n)}
			if _, _, err := s.Append(b.Context(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkAppend_1Conv(b *testing.B)    { benchAppend(b, 1) }
func BenchmarkAppend_100Convs(b *testing.B) { benchAppend(b, 100) }

func BenchmarkAdvanceRead_100Convs(b *testing.B) {
	s := openBench(b)
	convs := benchGroups(b, s, 100)
	var next atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			// Nearly every call raises the watermark and so writes; a move
			// overtaken by a concurrent higher one in the same conversation
			// is a no-op, as in production.
			conv := convs[n%uint64(len(convs))]
			if _, _, err := s.AdvanceRead(b.Context(), conv, "r", n/uint64(len(convs))+1, int64(n)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
