package receipts

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// markState is what places a member in a listing of a message: its
// watermarks and whether it has a single-message ack at the message.
type markState struct {
	read, deliv uint64
	ackAtSeq    bool
}

func markOf(c *Conv, id string, seq uint64) (markState, bool) {
	m, ok := c.members[id]
	if !ok {
		return markState{}, false
	}
	_, ack := m.ack(seq)
	return markState{m.read, m.deliv, ack}, true
}

// TestPagingStable lists a message's members page by page while other
// things happen between pages: single-message acks on other messages,
// members joining later, and some members whose state does change (reads,
// deliveries, leaves, acks of the message itself). Every member whose state
// did not change must be listed exactly once if it matches the filter, and
// not at all otherwise.
func TestPagingStable(t *testing.T) {
	for trial := range 200 {
		r := rand.New(rand.NewPCG(uint64(trial), 7))
		nodeSize := []int{4, 6, defaultNodeSize}[trial%3]
		c := newConv(nodeSize)
		const last, seq = 60, 30
		n := 20 + r.IntN(100)
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("m%03d", i)
			c.Join(ids[i], 1+uint64(r.IntN(40)), 0)
		}
		for _, id := range ids {
			c.ReadUpTo(id, uint64(r.IntN(last+1)), 1)
			c.DeliverUpTo(id, uint64(r.IntN(last+1)), 2)
			for range r.IntN(3) {
				c.ReadOne(id, uint64(1+r.IntN(last)), 3)
			}
		}
		sender := ids[0]
		filter := Filter(1 + trial%4)

		// Expected: who matches now, by the engine's own IsRead and
		// IsDelivered (checked against the model elsewhere).
		matches := func(id string) bool {
			m := c.members[id]
			if id == sender || m.join > seq {
				return false
			}
			switch filter {
			case FilterRead:
				return m.isRead(seq)
			case FilterUnread:
				return !m.isRead(seq)
			case FilterDelivered:
				return m.isDelivered(seq)
			}
			return !m.isDelivered(seq)
		}
		start := map[string]markState{}
		want := map[string]bool{}
		for _, id := range ids {
			start[id], _ = markOf(c, id, seq)
			want[id] = matches(id)
		}

		changed := map[string]bool{}
		seen := map[string]int{}
		cursor := ""
		joined := 0
		for pages := 0; ; pages++ {
			page, next, done, err := c.Members(seq, sender, filter, cursor, 1+r.IntN(6))
			if err != nil {
				t.Fatalf("trial %d: %v", trial, err)
			}
			for _, e := range page {
				seen[e.UserID]++
			}
			if done {
				break
			}
			cursor = next
			// Between pages.
			for range 1 + r.IntN(6) {
				id := ids[r.IntN(n)]
				switch k := r.IntN(10); {
				case k < 4: // ack of another message
					s := uint64(1 + r.IntN(last))
					if s != seq {
						c.ReadOne(id, s, 4)
					}
				case k < 6: // late joiner
					joined++
					c.Join(fmt.Sprintf("late%03d", joined), last+1, 5)
				case k < 7:
					c.ReadUpTo(id, uint64(r.IntN(last+1)), 6)
				case k < 8:
					c.DeliverUpTo(id, uint64(r.IntN(last+1)), 6)
				case k < 9:
					c.ReadOne(id, seq, 6)
				default:
					c.Leave(id)
				}
			}
			for _, id := range ids {
				if now, ok := markOf(c, id, seq); !ok || now != start[id] {
					changed[id] = true
				}
			}
			if pages > 500 {
				t.Fatalf("trial %d: too many pages", trial)
			}
		}
		for _, id := range ids {
			if changed[id] {
				continue
			}
			w := 0
			if want[id] {
				w = 1
			}
			if seen[id] != w {
				t.Fatalf("trial %d (%s, node %d): unchanged member %s listed %d times, want %d", trial, filter, nodeSize, id, seen[id], w)
			}
		}
		for id := range seen {
			if _, ok := start[id]; !ok {
				t.Fatalf("trial %d: late joiner %s listed", trial, id)
			}
		}
		if len(changed) == n {
			t.Logf("trial %d: every member changed", trial)
		}
	}
}

// TestPagingOrder checks that read pages list single-message acks first,
// by user id, then watermarks in (seq, user id) order.
func TestPagingOrder(t *testing.T) {
	c := NewConv()
	for _, id := range []string{"s", "d", "c", "b", "a", "e"} {
		c.Join(id, 1, 0)
	}
	c.ReadUpTo("s", 5, 0)
	c.ReadOne("d", 3, 10)
	c.ReadOne("b", 3, 11)
	c.ReadUpTo("c", 4, 12)
	c.ReadUpTo("a", 3, 13)
	c.Join("late", 6, 0) // its watermark is 5, above 3: skipped
	var got []Entry
	cursor := ""
	for {
		page, next, done, err := c.Members(3, "s", FilterRead, cursor, 1)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if done {
			break
		}
		cursor = next
	}
	want := []Entry{{"b", 11}, {"d", 10}, {"a", 13}, {"c", 12}}
	if !slices.Equal(got, want) {
		t.Errorf("read list = %v, want %v", got, want)
	}
	page, _, done, _ := c.Members(3, "s", FilterUnread, "", 10)
	if !slices.Equal(page, []Entry{{"e", 0}}) || !done {
		t.Errorf("unread list = %v (done %v)", page, done)
	}
}
