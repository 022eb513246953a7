package receipts

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

const benchLast = 1000 // messages in the benchmark conversation

// benchConv is a conversation of n members over benchLast messages: 95%
// joined at the start, 5% late (at 801); watermarks spread uniformly,
// deliveries a little ahead of reads, and 1% of members with a few
// single-message acks.
func benchConv(b *testing.B, n int) (*Conv, []string) {
	b.Helper()
	r := rand.New(rand.NewPCG(uint64(n), 1))
	c := NewConv()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%07d", i)
		join := uint64(1)
		if i%20 == 19 {
			join = 801
		}
		c.Join(ids[i], join, 0)
		read := join - 1 + r.Uint64N(benchLast-join+2)
		c.ReadUpTo(ids[i], read, 1)
		c.DeliverUpTo(ids[i], min(benchLast, read+r.Uint64N(20)), 2)
		if i%100 == 7 {
			for range 4 {
				c.ReadOne(ids[i], 1+r.Uint64N(benchLast), 3)
			}
		}
	}
	return c, ids
}

// benchReadUpTo moves one member's watermark by one per op.
func benchReadUpTo(b *testing.B, n int) {
	c, ids := benchConv(b, n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := ids[i%n]
		st := c.members[id]
		if _, _, _, _, err := c.ReadUpTo(id, st.read+1, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadUpTo_1k(b *testing.B)   { benchReadUpTo(b, 1_000) }
func BenchmarkReadUpTo_10k(b *testing.B)  { benchReadUpTo(b, 10_000) }
func BenchmarkReadUpTo_100k(b *testing.B) { benchReadUpTo(b, 100_000) }

// BenchmarkReadOne_100k alternates, per member, an out-of-order ack (a
// sparse insert) and the ack of the hole below it (a fold of two).
func BenchmarkReadOne_100k(b *testing.B) {
	const n = 100_000
	c, ids := benchConv(b, n)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id := ids[(i/2)%n]
		m := c.members[id]
		seq := m.read + 2 - uint64(i%2)
		if _, _, err := c.ReadOne(id, seq, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchCounts(b *testing.B, n int) {
	c, ids := benchConv(b, n)
	var sink Counts
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		sink = c.Counts(uint64(1+i%benchLast), ids[i%n])
	}
	_ = sink
}

func BenchmarkCounts_1k(b *testing.B)   { benchCounts(b, 1_000) }
func BenchmarkCounts_10k(b *testing.B)  { benchCounts(b, 10_000) }
func BenchmarkCounts_100k(b *testing.B) { benchCounts(b, 100_000) }

// benchMembersPage lists one page of 100, starting at a cursor halfway
// through the list, of the read and of the unread members of message 500.
func benchMembersPage(b *testing.B, n int) {
	c, ids := benchConv(b, n)
	for _, f := range []Filter{FilterRead, FilterUnread} {
		b.Run(f.String(), func(b *testing.B) {
			cursor := ""
			cnt := c.Counts(500, ids[0])
			half := cnt.Read / 2
			if f == FilterUnread {
				half = cnt.Unread / 2
			}
			for half > 0 {
				step := min(half, 100)
				_, next, _, err := c.Members(500, ids[0], f, cursor, step)
				if err != nil {
					b.Fatal(err)
				}
				cursor, half = next, half-step
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				page, _, _, err := c.Members(500, ids[0], f, cursor, 100)
				if err != nil || len(page) != 100 {
					b.Fatal(len(page), err)
				}
			}
		})
	}
}

func BenchmarkMembersPage100_1k(b *testing.B)   { benchMembersPage(b, 1_000) }
func BenchmarkMembersPage100_10k(b *testing.B)  { benchMembersPage(b, 10_000) }
func BenchmarkMembersPage100_100k(b *testing.B) { benchMembersPage(b, 100_000) }

// BenchmarkJoin_100k measures building a 100,000-member conversation
// (Restore on load costs the same), per member.
func BenchmarkJoin_100k(b *testing.B) {
	ids := make([]string, 100_000)
	for i := range ids {
		ids[i] = fmt.Sprintf("user%07d", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		c := NewConv()
		for _, id := range ids {
			c.Join(id, 1, 0)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ids)), "ns/member")
}
