package pgstore

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// The benchmarks need SEEN_TEST_POSTGRES_URL, as the tests do. Figures and
// the command are in docs/benchmarks.md.

// benchParallelism is goroutines per GOMAXPROCS: enough concurrent callers
// that the watermark combiner has something to combine, as a busy server's
// connections would.
const benchParallelism = 16

// roundCounter counts combiner rounds and the operations they carried.
type roundCounter struct{ rounds, ops atomic.Int64 }

func (c *roundCounter) WatermarkQueued(int) {}
func (c *roundCounter) WatermarkBatch(n int) {
	c.rounds.Add(1)
	c.ops.Add(int64(n))
}

func openBench(b *testing.B, obs store.Observer) *Store {
	b.Helper()
	s, err := Open(context.Background(), freshSchema(b), Options{Observer: obs, MaxConns: 32})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// benchGroups creates n groups whose members are "w" and readers r0...,
// and returns their conversations.
func benchGroups(b *testing.B, s *Store, n, readers int) []store.ConvID {
	b.Helper()
	convs := make([]store.ConvID, n)
	members := []store.Member{{UserID: "w", Role: "member"}}
	for i := range readers {
		members = append(members, store.Member{UserID: "r" + strconv.Itoa(i), Role: "member"})
	}
	for i := range convs {
		id := "g" + strconv.Itoa(i)
		if err := s.CreateGroup(b.Context(), store.Group{ID: id, CreatedBy: "w"}, members); err != nil {
			b.Fatal(err)
		}
		convs[i] = store.GroupConv(id)
	}
	return convs
}

func benchAppend(b *testing.B, nConvs int) {
	s := openBench(b, nil)
	convs := benchGroups(b, s, nConvs, 1)
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

// BenchmarkPG_Append_1Conv: every sender waits for one conversation's row
// lock, so this is the commit rate of one conversation.
func BenchmarkPG_Append_1Conv(b *testing.B) { benchAppend(b, 1) }

// BenchmarkPG_Append_100Convs: senders spread over conversations commit in
// parallel.
func BenchmarkPG_Append_100Convs(b *testing.B) { benchAppend(b, 100) }

// BenchmarkPG_ReadStorm: the readers of one 1,000-member group each raise
// their read watermark, concurrently: the combiner folds them into rounds
// of one transaction each. ops/round is how many one commit carried.
func BenchmarkPG_ReadStorm(b *testing.B) {
	rc := &roundCounter{}
	s := openBench(b, rc)
	const readers = 1000
	conv := benchGroups(b, s, 1, readers)[0]
	var next atomic.Uint64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			user := "r" + strconv.FormatUint(n%readers, 10)
			if _, _, err := s.AdvanceRead(b.Context(), conv, user, n/readers+1, int64(n)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if r := rc.rounds.Load(); r > 0 {
		b.ReportMetric(float64(rc.ops.Load())/float64(r), "ops/round")
	}
}

// BenchmarkPG_AckMany: one reader's AckMany of 10 acks per call, newest
// first (nine are kept as acks, the last folds them all), in 100
// conversations: each call is one round of at least 10 operations.
func BenchmarkPG_AckMany(b *testing.B) {
	rc := &roundCounter{}
	s := openBench(b, rc)
	convs := benchGroups(b, s, 100, 1)
	var next atomic.Uint64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		seqs := make([]uint64, 10)
		for pb.Next() {
			n := next.Add(1)
			conv := convs[n%uint64(len(convs))]
			base := (n / uint64(len(convs))) * uint64(len(seqs))
			for i := range seqs {
				seqs[i] = base + uint64(len(seqs)-i)
			}
			if _, _, err := s.AckMany(b.Context(), conv, "r0", seqs, int64(n)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(10*b.N)/b.Elapsed().Seconds(), "acks/s")
	if r := rc.rounds.Load(); r > 0 {
		b.ReportMetric(float64(rc.ops.Load())/float64(r), "ops/round")
	}
}
