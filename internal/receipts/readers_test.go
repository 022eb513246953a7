package receipts

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// ReadersSince names exactly the members who read the message after the
// given time, whether they read it singly or by a watermark move, and not
// the sender, late joiners, those who read before, or those who have not.
func TestReadersSinceKnownTimes(t *testing.T) {
	for trial := range 100 {
		r := rand.New(rand.NewPCG(uint64(trial), 15))
		c := newConv([]int{4, defaultNodeSize}[trial%2])
		const seq = 10
		sender := "m000"
		readAt := map[string]int64{} // when each member read seq
		n := 10 + r.IntN(60)
		for i := range n {
			id := fmt.Sprintf("m%03d", i)
			c.Join(id, uint64(1+r.IntN(12)), 0)
		}
		// Reads happen at times 1..100; each member reads seq at most once,
		// singly or by a watermark move, and may move on afterwards.
		for i := range n {
			id := fmt.Sprintf("m%03d", i)
			at := int64(1 + r.IntN(100))
			switch r.IntN(4) {
			case 0: // never reads it
			case 1:
				if _, ok, _ := c.ReadOne(id, seq, at); ok {
					readAt[id] = at
				}
			default:
				if _, _, _, ok, _ := c.ReadUpTo(id, seq+uint64(r.IntN(3)), at); ok {
					readAt[id] = at
				}
				if r.IntN(2) == 0 {
					c.ReadUpTo(id, seq+5, at+1) // a later move: seq keeps its time
				}
			}
		}
		since := int64(r.IntN(100))
		var want []string
		for id, at := range readAt {
			if m := c.members[id]; id != sender && m.join <= seq && at > since {
				want = append(want, id)
			}
		}
		got, more := c.ReadersSince(seq, sender, since, len(want), 0)
		if more || !slices.Equal(sorted(got), sorted(want)) {
			t.Fatalf("trial %d: ReadersSince(%d) = %v (more %v), want %v", trial, since, sorted(got), more, sorted(want))
		}
		if len(want) > 1 {
			got, more := c.ReadersSince(seq, sender, since, len(want), len(want)-1)
			if !more || len(got) != len(want)-1 {
				t.Fatalf("trial %d: limited to %d: %v, more %v", trial, len(want)-1, got, more)
			}
		}
	}
}

// A member restored from the store has no time for older reads: it is
// named only when the members of known time fall short of those expected,
// and only if its watermark moved after the time given.
func TestReadersSinceUnknownTimes(t *testing.T) {
	c := NewConv()
	c.Restore(MemberState{UserID: "s", JoinSeq: 1, ReadSeq: 5})
	// old read seq 5 long ago, then moved to 8 at time 50: seq 5's time is
	// unknown.
	c.Restore(MemberState{UserID: "old", JoinSeq: 1, ReadSeq: 8, ReadAt: 50})
	// before moved past seq 5 at time 5.
	c.Restore(MemberState{UserID: "before", JoinSeq: 1, ReadSeq: 8, ReadAt: 5})
	// exact read seq 5 at 40, and its watermark stands there.
	c.Restore(MemberState{UserID: "exact", JoinSeq: 1, ReadSeq: 5, ReadAt: 40})
	c.Restore(MemberState{UserID: "unread", JoinSeq: 1, ReadSeq: 4, ReadAt: 60})
	if got, _ := c.ReadersSince(5, "s", 10, 1, 0); !slices.Equal(got, []string{"exact"}) {
		t.Fatalf("want 1 since 10: %v, want [exact]", got)
	}
	if got, _ := c.ReadersSince(5, "s", 10, 2, 0); !slices.Equal(sorted(got), []string{"exact", "old"}) {
		t.Fatalf("want 2 since 10: %v, want [exact old]", got)
	}
	if got, _ := c.ReadersSince(5, "s", 45, 2, 0); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("want 2 since 45: %v, want [old]", got)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
