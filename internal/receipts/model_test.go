package receipts

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// The property test drives a Conv and a brute-force model with the same
// random operations and compares them after every step. The model keeps, per
// member, the plain set of read and of delivered seqs, and recomputes every
// count by looking at every member.

type modelMember struct {
	id       string
	join     uint64
	read     []bool // read[s]: s was read (by any kind of ack)
	deliv    []bool // deliv[s]: s was delivered by a DeliverUpTo
	maxDeliv uint64 // highest DeliverUpTo accepted
}

func grow(b []bool, s uint64) []bool {
	for uint64(len(b)) <= s {
		b = append(b, false)
	}
	return b
}

// isRead follows the engine's definition: seqs before the join count.
func (m *modelMember) isRead(s uint64) bool {
	return s < m.join || (s < uint64(len(m.read)) && m.read[s])
}

func (m *modelMember) isDelivered(s uint64) bool {
	return m.isRead(s) || (s < uint64(len(m.deliv)) && m.deliv[s])
}

func (m *modelMember) readSeq() uint64 {
	w := m.join - 1
	for w+1 < uint64(len(m.read)) && m.read[w+1] {
		w++
	}
	return w
}

func (m *modelMember) deliveredSeq() uint64 {
	return max(m.maxDeliv, m.readSeq(), m.join-1)
}

func (m *modelMember) sparse() []uint64 {
	var out []uint64
	for s := m.readSeq() + 1; s < uint64(len(m.read)); s++ {
		if m.read[s] {
			out = append(out, s)
		}
	}
	return out
}

type modelMsg struct {
	seq       uint64
	sender    string
	tracked   bool
	expiresAt int64
	frozen    *Counts
}

type model struct {
	last    uint64
	now     int64
	members map[string]*modelMember
	all     []*modelMember // members, for fast iteration
	msgs    []*modelMsg    // msgs[s-1]
}

func (md *model) counts(s uint64, sender string) Counts {
	var c Counts
	for _, m := range md.all {
		if m.id == sender || m.join > s {
			continue
		}
		c.Eligible++
		if m.isRead(s) {
			c.Read++
		}
		if m.isDelivered(s) {
			c.Delivered++
		}
	}
	c.Unread = c.Eligible - c.Read
	return c
}

// status is message s's receipt, given its current counts c.
func (md *model) status(s uint64, c Counts) (string, Counts, int64) {
	msg := md.msgs[s-1]
	if !msg.tracked {
		return StatusNone, Counts{}, 0
	}
	if msg.frozen != nil {
		if msg.frozen.Unread == 0 {
			return StatusDone, *msg.frozen, msg.expiresAt
		}
		return StatusExpired, *msg.frozen, msg.expiresAt
	}
	switch {
	case c.Unread == 0:
		return StatusDone, c, msg.expiresAt
	case msg.expiresAt > 0 && msg.expiresAt <= md.now:
		return StatusExpired, c, msg.expiresAt
	}
	return StatusPending, c, msg.expiresAt
}

// list is the sorted ids of the eligible members of s matching f.
func (md *model) list(s uint64, f Filter) []string {
	sender := md.msgs[s-1].sender
	var out []string
	for id, m := range md.members {
		if id == sender || m.join > s {
			continue
		}
		var in bool
		switch f {
		case FilterRead:
			in = m.isRead(s)
		case FilterUnread:
			in = !m.isRead(s)
		case FilterDelivered:
			in = m.isDelivered(s)
		case FilterUndelivered:
			in = !m.isDelivered(s)
		}
		if in {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func (md *model) affected(from, to uint64, reader string) []uint64 {
	var out []uint64
	for s := from + 1; s <= to; s++ {
		if msg := md.msgs[s-1]; msg.tracked && msg.frozen == nil && msg.sender != reader {
			out = append(out, s)
		}
	}
	return out
}

// listAll pages through Members and fails on duplicates or errors.
func listAll(t *testing.T, c *Conv, s uint64, sender string, f Filter, r *rand.Rand) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		limit := 1 + r.IntN(7)
		page, next, done, err := c.Members(s, sender, f, cursor, limit)
		if err != nil {
			t.Fatalf("Members(%d, %s, %q): %v", s, f, cursor, err)
		}
		if len(page) > limit {
			t.Fatalf("Members: %d entries over limit %d", len(page), limit)
		}
		if !done && len(page) != limit {
			t.Fatalf("Members: short page of %d (limit %d) and not done", len(page), limit)
		}
		for _, e := range page {
			ids = append(ids, e.UserID)
		}
		if done {
			if next != "" {
				t.Fatalf("Members: done with next cursor %q", next)
			}
			break
		}
		if pages > 1000 {
			t.Fatal("Members: too many pages")
		}
		cursor = next
	}
	return ids
}

func sortedUnique(t *testing.T, ids []string) []string {
	t.Helper()
	out := slices.Clone(ids)
	slices.Sort(out)
	for i := 1; i < len(out); i++ {
		if out[i] == out[i-1] {
			t.Fatalf("member %s listed twice in %v", out[i], ids)
		}
	}
	return out
}

func TestModel(t *testing.T) {
	steps := 10000
	if testing.Short() {
		steps = 2000
	}
	for _, tc := range []struct {
		seed     uint64
		nodeSize int
	}{
		{1, 4}, {2, 7}, {3, defaultNodeSize},
	} {
		t.Run(fmt.Sprintf("seed%d_node%d", tc.seed, tc.nodeSize), func(t *testing.T) {
			t.Parallel()
			runModel(t, tc.seed, steps, tc.nodeSize)
		})
	}
}

func runModel(t *testing.T, seed uint64, steps, nodeSize int) {
	r := rand.New(rand.NewPCG(seed, 42))
	c := newConv(nodeSize)
	md := &model{now: 1_000_000, members: map[string]*modelMember{}}
	const pool = 60
	userName := func(i int) string { return fmt.Sprintf("u%02d", i) }
	randMember := func() (string, *modelMember) {
		if len(md.members) == 0 {
			return "", nil
		}
		ids := make([]string, 0, len(md.members))
		for id := range md.members {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		id := ids[r.IntN(len(ids))]
		return id, md.members[id]
	}
	randSeq := func() uint64 {
		if r.IntN(30) == 0 {
			return 0
		}
		return r.Uint64N(md.last + 1)
	}
	checkState := func(step int, id string) {
		m := md.members[id]
		got, ok := c.Member(id)
		if m == nil {
			if ok {
				t.Fatalf("step %d: Member(%s) present after leave", step, id)
			}
			return
		}
		var acks []uint64
		for _, a := range got.Acks {
			acks = append(acks, a.Seq)
		}
		if !ok || got.JoinSeq != m.join || got.ReadSeq != m.readSeq() || got.DeliveredSeq != m.deliveredSeq() || !slices.Equal(acks, m.sparse()) {
			t.Fatalf("step %d: Member(%s) = %+v, want join %d read %d delivered %d acks %v",
				step, id, got, m.join, m.readSeq(), m.deliveredSeq(), m.sparse())
		}
	}

	for step := range steps {
		md.now += r.Int64N(40)
		var op string
		switch k := r.IntN(100); {
		case k < 6 || len(md.members) < 3: // join
			op = "join"
			id := userName(r.IntN(pool))
			_, ok := c.Join(id, md.last+1, md.now)
			_, want := md.members[id]
			if ok == want {
				t.Fatalf("step %d: Join(%s) = %v, already member %v", step, id, ok, want)
			}
			if ok {
				m := &modelMember{id: id, join: md.last + 1}
				md.members[id] = m
				md.all = append(md.all, m)
			}
			checkState(step, id)
		case k < 8: // leave
			op = "leave"
			id, _ := randMember()
			if !c.Leave(id) {
				t.Fatalf("step %d: Leave(%s) = false", step, id)
			}
			delete(md.members, id)
			md.all = slices.DeleteFunc(md.all, func(m *modelMember) bool { return m.id == id })
			if c.Leave(id) {
				t.Fatalf("step %d: second Leave(%s) = true", step, id)
			}
			checkState(step, id)
		case k < 12: // send, with or without receipt
			op = "send"
			id, m := randMember()
			md.last++
			msg := &modelMsg{seq: md.last, sender: id}
			md.msgs = append(md.msgs, msg)
			if r.IntN(2) == 0 {
				msg.tracked = true
				if r.IntN(3) > 0 {
					msg.expiresAt = md.now + 1 + r.Int64N(3000)
				}
				c.Track(Tracked{Seq: msg.seq, Sender: id, SentAt: md.now, ExpiresAt: msg.expiresAt})
			}
			if _, _, _, _, err := c.ReadUpTo(id, md.last, md.now); err != nil {
				t.Fatalf("step %d: sender ReadUpTo: %v", step, err)
			}
			for s := m.join; s <= md.last; s++ {
				m.read = grow(m.read, s)
				m.read[s] = true
			}
			checkState(step, id)
		case k < 15: // receipt requested later, or forgotten
			if md.last == 0 {
				continue
			}
			msg := md.msgs[r.Uint64N(md.last)]
			if msg.tracked && r.IntN(4) == 0 {
				op = "untrack"
				if r.IntN(2) == 0 {
					if !c.Untrack(msg.seq) {
						t.Fatalf("step %d: Untrack(%d) = false", step, msg.seq)
					}
					msg.tracked, msg.frozen, msg.expiresAt = false, nil, 0
					break
				}
				// Several at once, tracked or not, one maybe twice.
				op = "untrack all"
				seqs := []uint64{msg.seq}
				for range r.IntN(4) {
					seqs = append(seqs, md.msgs[r.Uint64N(md.last)].seq)
				}
				want := 0
				for _, seq := range seqs {
					if o := md.msgs[seq-1]; o.tracked {
						want++
						o.tracked, o.frozen, o.expiresAt = false, nil, 0
					}
				}
				if got := c.UntrackAll(seqs); got != want {
					t.Fatalf("step %d: UntrackAll(%v) = %d, want %d", step, seqs, got, want)
				}
				break
			}
			op = "track"
			if !msg.tracked {
				msg.tracked = true
				msg.expiresAt = 0
				if r.IntN(2) == 0 {
					msg.expiresAt = md.now + r.Int64N(2000)
				}
			}
			// A reminder re-tracks with the same window; freezing is final.
			c.Track(Tracked{Seq: msg.seq, Sender: msg.sender, SentAt: md.now, ExpiresAt: msg.expiresAt})
		case k < 45: // single read
			op = "readOne"
			id, m := randMember()
			s := randSeq()
			if rs := m.readSeq(); r.IntN(2) == 0 && rs < md.last {
				s = rs + 1 + r.Uint64N(min(md.last-rs, 8)) // near the watermark: sparse acks and folds
			}
			wantChanged := !m.isRead(s)
			wantErr := wantChanged && s != m.readSeq()+1 && len(m.sparse()) >= MaxSparse
			got, changed, err := c.ReadOne(id, s, md.now)
			if wantErr {
				if !errors.Is(err, ErrTooManySparse) {
					t.Fatalf("step %d: ReadOne over cap: %v", step, err)
				}
				break
			}
			if err != nil || changed != wantChanged {
				t.Fatalf("step %d: ReadOne(%s, %d) = %v, %v; want changed %v", step, id, s, changed, err, wantChanged)
			}
			if wantChanged {
				m.read = grow(m.read, s)
				m.read[s] = true
			}
			if got.ReadSeq != m.readSeq() {
				t.Fatalf("step %d: ReadOne after.ReadSeq = %d, want %d", step, got.ReadSeq, m.readSeq())
			}
			checkState(step, id)
		case k < 60: // conversation read
			op = "readUpTo"
			id, m := randMember()
			s := randSeq()
			old := m.readSeq()
			for x := m.join; x <= s; x++ {
				m.read = grow(m.read, x)
				m.read[x] = true
			}
			got, from, to, changed, err := c.ReadUpTo(id, s, md.now)
			if err != nil || changed != (m.readSeq() > old) {
				t.Fatalf("step %d: ReadUpTo(%s, %d) changed %v, %v; want %v", step, id, s, changed, err, m.readSeq() > old)
			}
			if changed {
				if from != old || to != m.readSeq() || got.ReadSeq != to {
					t.Fatalf("step %d: ReadUpTo range (%d, %d], want (%d, %d]", step, from, to, old, m.readSeq())
				}
				if a, w := c.Affected(from, to, id), md.affected(from, to, id); !slices.Equal(a, w) {
					t.Fatalf("step %d: Affected(%d, %d, %s) = %v, want %v", step, from, to, id, a, w)
				}
			}
			checkState(step, id)
		case k < 78: // delivered
			op = "deliver"
			id, m := randMember()
			s := randSeq()
			old := m.deliveredSeq()
			_, from, to, changed, err := c.DeliverUpTo(id, s, md.now)
			if err != nil || changed != (s > old) {
				t.Fatalf("step %d: DeliverUpTo(%s, %d) changed %v, %v; want %v", step, id, s, changed, err, s > old)
			}
			if changed {
				if from != old || to != s {
					t.Fatalf("step %d: DeliverUpTo range (%d, %d], want (%d, %d]", step, from, to, old, s)
				}
				m.maxDeliv = s
				for x := m.join; x <= s; x++ {
					m.deliv = grow(m.deliv, x)
					m.deliv[x] = true
				}
			}
			checkState(step, id)
		case k < 84: // expiry
			op = "expire"
			var next int64
			for _, msg := range md.msgs {
				if msg.tracked && msg.frozen == nil && msg.expiresAt > 0 && (next == 0 || msg.expiresAt < next) {
					next = msg.expiresAt
				}
			}
			if got := c.NextExpiry(); got != next {
				t.Fatalf("step %d: NextExpiry = %d, want %d", step, got, next)
			}
			got := c.Expire(md.now)
			var want []uint64
			for _, msg := range md.msgs {
				if msg.tracked && msg.frozen == nil && msg.expiresAt > 0 && msg.expiresAt <= md.now {
					cnt := md.counts(msg.seq, msg.sender)
					msg.frozen = &cnt
					want = append(want, msg.seq)
				}
			}
			var gotSeqs []uint64
			for _, tr := range got {
				gotSeqs = append(gotSeqs, tr.Seq)
				if tr.Frozen == nil || *tr.Frozen != *md.msgs[tr.Seq-1].frozen {
					t.Fatalf("step %d: Expire froze %d with %v, want %v", step, tr.Seq, tr.Frozen, md.msgs[tr.Seq-1].frozen)
				}
			}
			slices.Sort(gotSeqs)
			if !slices.Equal(gotSeqs, want) {
				t.Fatalf("step %d: Expire = %v, want %v", step, gotSeqs, want)
			}
		case k < 87: // reload a member from its stored state
			op = "restore"
			id, _ := randMember()
			st, _ := c.Member(id)
			c.Restore(st)
			checkState(step, id)
		default: // acks from a stranger
			op = "stranger"
			id := "x" + userName(r.IntN(pool))
			if _, _, err := c.ReadOne(id, 1, md.now); !errors.Is(err, ErrNotMember) {
				t.Fatalf("step %d: ReadOne by stranger: %v", step, err)
			}
			if _, _, _, _, err := c.ReadUpTo(id, 1, md.now); !errors.Is(err, ErrNotMember) {
				t.Fatalf("step %d: ReadUpTo by stranger: %v", step, err)
			}
			if _, _, _, _, err := c.DeliverUpTo(id, 1, md.now); !errors.Is(err, ErrNotMember) {
				t.Fatalf("step %d: DeliverUpTo by stranger: %v", step, err)
			}
		}

		// Compare every message.
		if c.Len() != len(md.members) {
			t.Fatalf("step %d (%s): Len = %d, want %d", step, op, c.Len(), len(md.members))
		}
		for _, msg := range md.msgs {
			got := c.Counts(msg.seq, msg.sender)
			want := md.counts(msg.seq, msg.sender)
			if got != want {
				t.Fatalf("step %d (%s): Counts(%d, %s) = %+v, want %+v", step, op, msg.seq, msg.sender, got, want)
			}
			if got.Delivered < got.Read || got.Read+got.Unread != got.Eligible {
				t.Fatalf("step %d: Counts(%d) breaks invariants: %+v", step, msg.seq, got)
			}
			st, cnt, exp := c.Status(msg.seq, md.now)
			wst, wcnt, wexp := md.status(msg.seq, want)
			if st != wst || cnt != wcnt || exp != wexp {
				t.Fatalf("step %d (%s): Status(%d) = %s %+v %d, want %s %+v %d", step, op, msg.seq, st, cnt, exp, wst, wcnt, wexp)
			}
		}
		if step%50 == 0 {
			for id := range md.members {
				checkState(step, id)
			}
		}
		if md.last > 0 {
			s := 1 + r.Uint64N(md.last)
			f := Filter(1 + r.IntN(4))
			id, m := randMember()
			if m != nil && r.IntN(2) == 0 {
				if c.IsRead(id, s) != m.isRead(s) || c.IsDelivered(id, s) != m.isDelivered(s) {
					t.Fatalf("step %d: IsRead/IsDelivered(%s, %d) = %v/%v, want %v/%v", step, id, s,
						c.IsRead(id, s), c.IsDelivered(id, s), m.isRead(s), m.isDelivered(s))
				}
			}
			got := sortedUnique(t, listAll(t, c, s, md.msgs[s-1].sender, f, r))
			if want := md.list(s, f); !slices.Equal(got, want) {
				t.Fatalf("step %d (%s): Members(%d, %s) = %v, want %v", step, op, s, f, got, want)
			}
		}
		if step%500 == 0 {
			for _, tr := range []*btree{c.join, c.read, c.deliv, c.sparseRead, c.sparseDeliv} {
				if err := tr.check(); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
			}
		}
	}
	t.Logf("%d steps: %d messages, %d members, %d sparse acks", steps, md.last, len(md.members), c.sparseRead.len())
}
