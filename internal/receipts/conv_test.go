package receipts

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func ackSeqs(acks []Ack) []uint64 {
	var out []uint64
	for _, a := range acks {
		out = append(out, a.Seq)
	}
	return out
}

func mustJoin(t *testing.T, c *Conv, id string, joinSeq uint64) {
	t.Helper()
	if _, ok := c.Join(id, joinSeq, 1); !ok {
		t.Fatalf("Join(%s) = false", id)
	}
}

func TestFolding(t *testing.T) {
	type op struct {
		kind string // "one", "upto", "deliver"
		seq  uint64
	}
	for _, tc := range []struct {
		name        string
		ops         []op
		read, deliv uint64
		acks        []uint64
		lastChanged bool
		from, to    uint64 // of the last op, for upto/deliver
	}{
		{name: "in order", ops: []op{{"one", 1}, {"one", 2}}, read: 2, deliv: 2, lastChanged: true},
		{name: "sparse", ops: []op{{"one", 3}, {"one", 5}}, read: 0, deliv: 0, acks: []uint64{3, 5}, lastChanged: true},
		{name: "hole filled folds the run", ops: []op{{"one", 2}, {"one", 3}, {"one", 5}, {"one", 1}}, read: 3, deliv: 3, acks: []uint64{5}, lastChanged: true},
		{name: "repeat is no change", ops: []op{{"one", 3}, {"one", 3}}, acks: []uint64{3}},
		{name: "read below watermark", ops: []op{{"upto", 4}, {"one", 2}}, read: 4, deliv: 4},
		{name: "upto passes acks", ops: []op{{"one", 3}, {"one", 9}, {"upto", 5}}, read: 5, deliv: 5, acks: []uint64{9}, lastChanged: true, from: 0, to: 5},
		{name: "upto then run", ops: []op{{"one", 6}, {"one", 7}, {"one", 9}, {"upto", 5}}, read: 7, deliv: 7, acks: []uint64{9}, lastChanged: true, from: 0, to: 7},
		{name: "upto below is no change", ops: []op{{"upto", 5}, {"upto", 3}}, read: 5, deliv: 5},
		{name: "deliver keeps acks", ops: []op{{"one", 3}, {"one", 8}, {"deliver", 5}}, deliv: 5, acks: []uint64{3, 8}, lastChanged: true, from: 0, to: 5},
		{name: "read raises delivered", ops: []op{{"deliver", 2}, {"upto", 4}}, read: 4, deliv: 4, lastChanged: true, from: 0, to: 4},
		{name: "deliver above read", ops: []op{{"upto", 4}, {"deliver", 9}, {"upto", 6}}, read: 6, deliv: 9, lastChanged: true, from: 4, to: 6},
		{name: "deliver below is no change", ops: []op{{"deliver", 9}, {"deliver", 9}}, deliv: 9},
		{name: "seq 0 one", ops: []op{{"one", 0}}},
		{name: "seq 0 upto", ops: []op{{"upto", 0}}},
		{name: "seq 0 deliver", ops: []op{{"deliver", 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConv()
			mustJoin(t, c, "a", 1)
			var (
				after    MemberState
				changed  bool
				from, to uint64
				err      error
			)
			for _, o := range tc.ops {
				from, to = 0, 0
				switch o.kind {
				case "one":
					after, changed, err = c.ReadOne("a", o.seq, 10)
				case "upto":
					after, from, to, changed, err = c.ReadUpTo("a", o.seq, 10)
				case "deliver":
					after, from, to, changed, err = c.DeliverUpTo("a", o.seq, 10)
				}
				if err != nil {
					t.Fatalf("%s(%d): %v", o.kind, o.seq, err)
				}
			}
			if after.ReadSeq != tc.read || after.DeliveredSeq != tc.deliv || !slices.Equal(ackSeqs(after.Acks), tc.acks) {
				t.Errorf("got read %d delivered %d acks %v, want %d %d %v", after.ReadSeq, after.DeliveredSeq, ackSeqs(after.Acks), tc.read, tc.deliv, tc.acks)
			}
			if changed != tc.lastChanged || from != tc.from || to != tc.to {
				t.Errorf("last op: changed %v (%d, %d], want %v (%d, %d]", changed, from, to, tc.lastChanged, tc.from, tc.to)
			}
			if st, _ := c.Member("a"); !slices.Equal(st.Acks, after.Acks) || st.ReadSeq != after.ReadSeq {
				t.Errorf("Member = %+v, want %+v", st, after)
			}
		})
	}
}

func TestSparseCap(t *testing.T) {
	c := NewConv()
	mustJoin(t, c, "a", 1)
	mustJoin(t, c, "s", 1)
	for k := uint64(1); k <= MaxSparse; k++ {
		if _, _, err := c.ReadOne("a", 2*k+1, 5); err != nil {
			t.Fatalf("ack %d: %v", 2*k+1, err)
		}
	}
	before, _ := c.Member("a")
	cnt := c.Counts(5000, "s")
	if _, changed, err := c.ReadOne("a", 5000, 6); !errors.Is(err, ErrTooManySparse) || changed {
		t.Fatalf("ack over cap: changed %v, err %v; want ErrTooManySparse", changed, err)
	}
	if after, _ := c.Member("a"); !slices.Equal(after.Acks, before.Acks) || c.Counts(5000, "s") != cnt {
		t.Fatal("ack over cap changed the state")
	}
	// An ack at the watermark needs no room and folds the run above it.
	if _, changed, err := c.ReadOne("a", 1, 7); err != nil || !changed {
		t.Fatalf("ReadOne(1): %v %v", changed, err)
	}
	after, changed, err := c.ReadOne("a", 2, 7)
	if err != nil || !changed || after.ReadSeq != 3 || len(after.Acks) != MaxSparse-1 {
		t.Fatalf("ReadOne(2): read %d, %d acks, %v %v; want 3, %d", after.ReadSeq, len(after.Acks), changed, err, MaxSparse-1)
	}
	if _, _, err := c.ReadOne("a", 5000, 8); err != nil {
		t.Fatalf("ack after fold: %v", err)
	}
	// A conversation read takes them all.
	after, _, _, _, _ = c.ReadUpTo("a", 6000, 9)
	if after.ReadSeq != 6000 || after.Acks != nil {
		t.Fatalf("ReadUpTo: read %d, %d acks", after.ReadSeq, len(after.Acks))
	}
	if c.sparseRead.len() != 0 || c.sparseDeliv.len() != 0 {
		t.Fatalf("sparse indexes hold %d/%d keys", c.sparseRead.len(), c.sparseDeliv.len())
	}
}

func TestNotMember(t *testing.T) {
	c := NewConv()
	mustJoin(t, c, "a", 1)
	if _, _, _, _, err := c.ReadUpTo("x", 1, 0); !errors.Is(err, ErrNotMember) {
		t.Errorf("ReadUpTo: %v", err)
	}
	if _, _, err := c.ReadOne("x", 0, 0); !errors.Is(err, ErrNotMember) {
		t.Errorf("ReadOne: %v", err)
	}
	if _, _, _, _, err := c.DeliverUpTo("x", 1, 0); !errors.Is(err, ErrNotMember) {
		t.Errorf("DeliverUpTo: %v", err)
	}
	if _, ok := c.Member("x"); ok {
		t.Error("Member(x) found")
	}
	if c.Leave("x") {
		t.Error("Leave(x) = true")
	}
	if c.IsRead("x", 1) || c.IsDelivered("x", 1) {
		t.Error("IsRead/IsDelivered true for a stranger")
	}
	if st, ok := c.Join("a", 9, 0); ok || st.JoinSeq != 1 {
		t.Errorf("second Join = %+v, %v; want the existing state, false", st, ok)
	}
	if got := ErrNotMember.Error(); got != "receipts: not a member" {
		t.Errorf("ErrNotMember = %q", got)
	}
}

func TestCountsBasic(t *testing.T) {
	c := NewConv()
	for _, id := range []string{"s", "a", "b", "c"} {
		mustJoin(t, c, id, 1)
	}
	c.ReadUpTo("s", 3, 1) // the sender sent 1..3
	c.ReadUpTo("a", 2, 1)
	c.ReadOne("b", 3, 1)
	c.DeliverUpTo("c", 3, 1)
	mustJoin(t, c, "late", 4)
	for _, tc := range []struct {
		seq  uint64
		want Counts
	}{
		{1, Counts{Eligible: 3, Read: 1, Unread: 2, Delivered: 2}},
		{2, Counts{Eligible: 3, Read: 1, Unread: 2, Delivered: 2}},
		{3, Counts{Eligible: 3, Read: 1, Unread: 2, Delivered: 2}},
		{4, Counts{Eligible: 4, Read: 0, Unread: 4, Delivered: 0}},
		{0, Counts{}},
	} {
		if got := c.Counts(tc.seq, "s"); got != tc.want {
			t.Errorf("Counts(%d) = %+v, want %+v", tc.seq, got, tc.want)
		}
	}
	// A sender who left is simply not counted.
	c.Leave("s")
	if got, want := c.Counts(3, "s"), (Counts{Eligible: 3, Read: 1, Unread: 2, Delivered: 2}); got != want {
		t.Errorf("Counts after sender left = %+v, want %+v", got, want)
	}
}

func TestRestoreNormalizes(t *testing.T) {
	c := NewConv()
	c.Restore(MemberState{
		UserID: "a", JoinSeq: 0, ReadSeq: 2, DeliveredSeq: 1, ReadAt: 50,
		Acks: []Ack{{Seq: 9, At: 1}, {Seq: 3, At: 2}, {Seq: 4, At: 3}, {Seq: 2, At: 4}, {Seq: 9, At: 5}, {Seq: 7, At: 6}},
	})
	got, _ := c.Member("a")
	// The acks folded in give the watermarks their times, as the store's
	// rule does (ackrule): the message at ReadSeq was read at 3.
	want := MemberState{UserID: "a", JoinSeq: 1, ReadSeq: 4, DeliveredSeq: 4, ReadAt: 3, DeliveredAt: 3, Acks: []Ack{{Seq: 7, At: 6}, {Seq: 9, At: 1}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Restore gave %+v, want %+v", got, want)
	}
	if got := c.Counts(9, "x"); got != (Counts{Eligible: 1, Read: 1, Delivered: 1}) {
		t.Errorf("Counts(9) = %+v", got)
	}
	// Restore replaces.
	c.Restore(MemberState{UserID: "a", JoinSeq: 5, ReadSeq: 4, DeliveredSeq: 4})
	if got := c.Counts(9, "x"); got != (Counts{Eligible: 1, Unread: 1}) || c.Len() != 1 {
		t.Errorf("after replace: Counts(9) = %+v, Len %d", got, c.Len())
	}
	if c.sparseRead.len() != 0 {
		t.Errorf("replaced member left %d sparse keys", c.sparseRead.len())
	}
}

func TestBadCursor(t *testing.T) {
	c := NewConv()
	for i := range 10 {
		mustJoin(t, c, fmt.Sprint("m", i), 1)
	}
	c.ReadUpTo("m1", 5, 1)
	c.ReadUpTo("m2", 5, 1)
	_, cur, done, err := c.Members(3, "m0", FilterUnread, "", 2)
	if err != nil || done || cur == "" {
		t.Fatalf("first page: %q %v %v", cur, done, err)
	}
	tampered := []byte(cur)
	tampered[len(tampered)/2] ^= 1
	for _, tc := range []struct {
		name   string
		seq    uint64
		filter Filter
		cursor string
	}{
		{"garbage", 3, FilterUnread, "not a cursor!"},
		{"base64 garbage", 3, FilterUnread, "AAAAAAAAAAAAAAAA"},
		{"tampered", 3, FilterUnread, string(tampered)},
		{"other filter", 3, FilterRead, cur},
		{"other message", 4, FilterUnread, cur},
		{"mark phase below the message for read", 3, FilterRead, encodeCursor(FilterRead, 3, phaseMark, key{2, "m1"})},
		{"sparse phase for unread", 3, FilterUnread, encodeCursor(FilterUnread, 3, phaseSparse, key{3, "m1"})},
		{"unread key above the message", 3, FilterUnread, encodeCursor(FilterUnread, 3, phaseMark, key{3, "m1"})},
	} {
		if _, _, _, err := c.Members(tc.seq, "m0", tc.filter, tc.cursor, 2); !errors.Is(err, ErrBadCursor) {
			t.Errorf("%s: err %v, want ErrBadCursor", tc.name, err)
		}
	}
	if _, _, _, err := c.Members(3, "m0", Filter(9), "", 2); !errors.Is(err, ErrBadFilter) {
		t.Errorf("bad filter: %v", err)
	}
	if page, _, _, err := c.Members(3, "m0", FilterUnread, cur, 2); err != nil || len(page) != 2 {
		t.Errorf("good cursor: %v, %v", page, err)
	}
}

func TestFilterNames(t *testing.T) {
	for f := FilterRead; f <= FilterUndelivered; f++ {
		if got, ok := ParseFilter(f.String()); !ok || got != f {
			t.Errorf("ParseFilter(%q) = %v, %v", f.String(), got, ok)
		}
	}
	if _, ok := ParseFilter("seen"); ok {
		t.Error(`ParseFilter("seen") ok`)
	}
}

// entryAt finds id's At in the full listing of seq.
func entryAt(t *testing.T, c *Conv, seq uint64, f Filter, id string) (int64, bool) {
	t.Helper()
	entries, _, _, err := c.Members(seq, "sender", f, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.UserID == id {
			return e.At, true
		}
	}
	return 0, false
}

func TestAt(t *testing.T) {
	c := NewConv()
	mustJoin(t, c, "sender", 1)
	mustJoin(t, c, "a", 1)
	c.ReadUpTo("a", 3, 100)
	c.ReadUpTo("a", 5, 200)
	c.ReadOne("a", 8, 300) // sparse
	c.ReadOne("a", 7, 350) // sparse
	c.DeliverUpTo("a", 7, 380)
	c.ReadOne("a", 6, 400) // folds 7 and 8
	c.DeliverUpTo("a", 10, 500)
	c.ReadOne("a", 12, 600)

	for _, tc := range []struct {
		seq    uint64
		filter Filter
		want   int64
	}{
		{1, FilterRead, 100},
		{3, FilterRead, 100},
		{4, FilterRead, 200},
		{5, FilterRead, 200},
		{6, FilterRead, 400},
		{7, FilterRead, 350}, // folded acks keep their own time
		{8, FilterRead, 300},
		{12, FilterRead, 600}, // sparse
		{3, FilterDelivered, 100},
		{6, FilterDelivered, 380}, // delivered before it was read
		{7, FilterDelivered, 350},
		{8, FilterDelivered, 300},
		{9, FilterDelivered, 500},
		{12, FilterDelivered, 600}, // a read implies delivered
		{11, FilterUndelivered, 0},
		{11, FilterUnread, 0},
	} {
		got, ok := entryAt(t, c, tc.seq, tc.filter, "a")
		if !ok || got != tc.want {
			t.Errorf("%s %d: At = %d (listed %v), want %d", tc.filter, tc.seq, got, ok, tc.want)
		}
	}

	// Older moves fall out of the history: their times become unknown.
	for i := range historyLen {
		c.ReadUpTo("a", uint64(20+i), int64(1000+i))
	}
	if got, _ := entryAt(t, c, 2, FilterRead, "a"); got != 0 {
		t.Errorf("evicted move: At = %d, want 0", got)
	}
	if got, _ := entryAt(t, c, 27, FilterRead, "a"); got != 1007 {
		t.Errorf("last move: At = %d, want 1007", got)
	}

	// A restored member knows only its last move.
	st, _ := c.Member("a")
	c.Restore(st)
	if got, _ := entryAt(t, c, 27, FilterRead, "a"); got != 1007 {
		t.Errorf("restored, at the watermark: At = %d, want 1007", got)
	}
	if got, _ := entryAt(t, c, 26, FilterRead, "a"); got != 0 {
		t.Errorf("restored, below the watermark: At = %d, want 0", got)
	}
}

func TestStatusAndExpiry(t *testing.T) {
	c := NewConv()
	for _, id := range []string{"s", "a", "b"} {
		mustJoin(t, c, id, 1)
	}
	c.ReadUpTo("s", 4, 0)
	c.Track(Tracked{Seq: 1, Sender: "s", ExpiresAt: 100})
	c.Track(Tracked{Seq: 2, Sender: "s", ExpiresAt: 100})
	c.Track(Tracked{Seq: 3, Sender: "s"}) // never expires
	c.Track(Tracked{Seq: 4, Sender: "a", ExpiresAt: 200})
	c.ReadUpTo("a", 1, 10)
	c.ReadUpTo("b", 1, 10)
	c.ReadOne("b", 2, 10)

	if st, _, exp := c.Status(9, 0); st != StatusNone || exp != 0 {
		t.Errorf("untracked: %s", st)
	}
	if st, _, _ := c.Status(1, 50); st != StatusDone {
		t.Errorf("seq 1 at 50: %s, want done", st)
	}
	if st, _, exp := c.Status(2, 50); st != StatusPending || exp != 100 {
		t.Errorf("seq 2 at 50: %s %d, want pending 100", st, exp)
	}
	if st, _, _ := c.Status(2, 100); st != StatusExpired {
		t.Errorf("seq 2 at 100 before Expire: %s, want expired", st)
	}
	if got := c.Affected(0, 4, "b"); !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Errorf("Affected before expiry = %v", got)
	}
	if got := c.Affected(0, 4, "a"); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Errorf("Affected excluding a's own = %v", got)
	}
	// AppendAffected lists the same into the room given, after what is
	// there; an empty range appends nothing.
	var buf [4]uint64
	if got := c.AppendAffected(buf[:0], 0, 4, "a"); !slices.Equal(got, []uint64{1, 2, 3}) || &got[0] != &buf[0] {
		t.Errorf("AppendAffected into room for 4 = %v (in the room: %v)", got, &got[0] == &buf[0])
	}
	if got := c.AppendAffected([]uint64{9}, 3, 4, "b"); !slices.Equal(got, []uint64{9, 4}) {
		t.Errorf("AppendAffected after 9 = %v, want [9 4]", got)
	}
	if got := c.AppendAffected(buf[:0], 4, 4, "b"); len(got) != 0 {
		t.Errorf("AppendAffected of an empty range = %v", got)
	}

	frozen := c.Expire(100)
	if len(frozen) != 2 || frozen[0].Seq != 1 || frozen[1].Seq != 2 {
		t.Fatalf("Expire(100) = %+v", frozen)
	}
	if *frozen[1].Frozen != (Counts{Eligible: 2, Read: 1, Unread: 1, Delivered: 1}) {
		t.Errorf("frozen counts of 2 = %+v", *frozen[1].Frozen)
	}
	if again := c.Expire(150); len(again) != 0 {
		t.Errorf("second Expire = %+v", again)
	}
	// Later reads change neither the frozen counts nor the status.
	c.ReadUpTo("a", 4, 160)
	if st, cnt, _ := c.Status(2, 160); st != StatusExpired || cnt.Read != 1 {
		t.Errorf("seq 2 after freeze: %s %+v, want expired with Read 1", st, cnt)
	}
	if st, _, _ := c.Status(1, 160); st != StatusDone {
		t.Errorf("seq 1 frozen done: %s, want done", st)
	}
	if got := c.Affected(0, 4, "b"); !slices.Equal(got, []uint64{3, 4}) {
		t.Errorf("Affected after expiry = %v", got)
	}
	// A reminder without Frozen does not thaw a frozen message.
	c.Track(Tracked{Seq: 2, Sender: "s", ExpiresAt: 100})
	if st, _, _ := c.Status(2, 160); st != StatusExpired {
		t.Errorf("seq 2 re-tracked: %s, want expired", st)
	}
	if tr, ok := c.Tracked(2); !ok || tr.Frozen == nil {
		t.Errorf("Tracked(2) = %+v, %v", tr, ok)
	}
	// A message loaded frozen stays out of Affected and Expire.
	c.Track(Tracked{Seq: 5, Sender: "s", ExpiresAt: 1, Frozen: &Counts{Eligible: 2, Unread: 2}})
	if st, cnt, _ := c.Status(5, 0); st != StatusExpired || cnt.Unread != 2 {
		t.Errorf("loaded frozen: %s %+v", st, cnt)
	}
	if got := c.Expire(1000); len(got) != 1 || got[0].Seq != 4 {
		t.Errorf("Expire(1000) = %+v, want seq 4 only", got)
	}
	if !c.Untrack(4) || c.Untrack(4) {
		t.Error("Untrack(4) twice")
	}
	if st, _, _ := c.Status(4, 0); st != StatusNone {
		t.Errorf("untracked: %s", st)
	}
	// Nobody eligible: done at once.
	c.Track(Tracked{Seq: 6, Sender: "s"})
	c.ReadUpTo("a", 6, 0)
	c.ReadUpTo("b", 6, 0)
	if st, _, _ := c.Status(6, 0); st != StatusDone {
		t.Errorf("all read: %s", st)
	}
}

func TestMemoryBytes(t *testing.T) {
	c := NewConv()
	if c.MemoryBytes() != 0 {
		t.Errorf("empty conv: %d bytes", c.MemoryBytes())
	}
	for i := range 1000 {
		mustJoin(t, c, fmt.Sprint("user", i), 1)
	}
	per := c.MemoryBytes() / 1000
	if per < 300 || per > 1000 {
		t.Errorf("%d bytes per member", per)
	}
}
