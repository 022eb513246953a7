package pgstore

import (
	"errors"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// The cache's rules, without a database: what a fill or a writer may leave
// in a slot, and when an answer is given.

var (
	lcConv = store.GroupConv("g")
	lcKey  = memberKey{lcConv, "u"}
	lcRef  = store.MemberRef{Conv: lcConv, UserID: "u"}
	lcAsk  = store.Lookup{Members: []store.MemberRef{lcRef}}
)

func lcRows(read uint64) rows {
	return rows{Members: map[store.MemberRef]store.Member{lcRef: {UserID: "u", ReadSeq: read}}}
}

func lcAnswer(t *testing.T, c *lookCache) (uint64, bool) {
	t.Helper()
	f, _, outcome, _, _ := c.answer(lcAsk)
	if outcome != answerHit {
		return 0, false
	}
	return f.Members[0].ReadSeq, true
}

func onCache() *lookCache {
	c := newLookCache(false)
	c.enable()
	return c
}

func TestLookCacheFillRefusedAfterAWrite(t *testing.T) {
	c := onCache()
	// A read snapped before a write began, answered after it ended,
	// may hold the row before the write: it must not fill.
	snap, _ := c.snap()
	w := c.begin(cacheKeys{members: []memberKey{lcKey}})
	w.end(nil, cacheResult{})
	c.fill(snap, lcRows(1))
	if _, ok := lcAnswer(t, c); ok {
		t.Fatal("a read older than a write filled the cache")
	}
	// Snapped while a write is in flight: refused too.
	w = c.begin(cacheKeys{members: []memberKey{lcKey}})
	snap, _ = c.snap()
	c.fill(snap, lcRows(1))
	w.end(nil, cacheResult{})
	if _, ok := lcAnswer(t, c); ok {
		t.Fatal("a read made during a write filled the cache")
	}
	// Snapped after the writes: it fills.
	fillNow(t, c, 2)
}

// fillNow fills c with the row of read seq read now, and checks it
// answers it.
func fillNow(t *testing.T, c *lookCache, read uint64) {
	t.Helper()
	snap, _ := c.snap()
	c.fill(snap, lcRows(read))
	if got, ok := lcAnswer(t, c); !ok || got != read {
		t.Fatalf("answer = %d, %v; want %d, true", got, ok, read)
	}
}

func TestLookCacheNoAnswerDuringAWrite(t *testing.T) {
	c := onCache()
	snap, _ := c.snap()
	c.fill(snap, lcRows(1))
	w := c.begin(cacheKeys{members: []memberKey{lcKey}})
	_, _, outcome, _, ended := c.answer(lcAsk)
	if outcome != answerBusy {
		t.Fatalf("answer while the row is being written: outcome %d, want busy", outcome)
	}
	select {
	case <-ended:
		t.Fatal("the wait ended before the write did")
	default:
	}
	w.end(nil, cacheResult{members: map[memberKey]*store.Member{lcKey: {UserID: "u", ReadSeq: 5}}})
	<-ended
	if got, ok := lcAnswer(t, c); !ok || got != 5 {
		t.Fatalf("after the write: answer = %d, %v; want the row it wrote, 5", got, ok)
	}
	// A write of the whole conversation holds the row too, and empties it.
	w = c.begin(cacheKeys{wide: []store.ConvID{lcConv}})
	if _, ok := lcAnswer(t, c); ok {
		t.Fatal("answered while the conversation is being written")
	}
	w.end(nil, cacheResult{})
	if _, ok := lcAnswer(t, c); ok {
		t.Fatal("answered a row a write of its conversation may have changed")
	}
}

func TestLookCacheOverlappingWritersEmpty(t *testing.T) {
	c := onCache()
	// Two writers of one row: which committed last is unknown, so
	// neither leaves its row, in either order of their ends.
	for _, firstEndsFirst := range []bool{true, false} {
		a := c.begin(cacheKeys{members: []memberKey{lcKey}})
		b := c.begin(cacheKeys{members: []memberKey{lcKey}})
		ra := cacheResult{members: map[memberKey]*store.Member{lcKey: {UserID: "u", ReadSeq: 1}}}
		rb := cacheResult{members: map[memberKey]*store.Member{lcKey: {UserID: "u", ReadSeq: 2}}}
		if firstEndsFirst {
			a.end(nil, ra)
			b.end(nil, rb)
		} else {
			b.end(nil, rb)
			a.end(nil, ra)
		}
		if got, ok := lcAnswer(t, c); ok {
			t.Fatalf("overlapping writers (first ends first: %v) left %d", firstEndsFirst, got)
		}
	}
	// A writer that failed leaves nothing.
	w := c.begin(cacheKeys{members: []memberKey{lcKey}})
	w.end(notFound("member"), cacheResult{members: map[memberKey]*store.Member{lcKey: {UserID: "u", ReadSeq: 3}}})
	if _, ok := lcAnswer(t, c); ok {
		t.Fatal("a failed write left its row")
	}
}

func TestLookCachePausesOnAnUnknownOutcome(t *testing.T) {
	c := onCache()
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	snap, _ := c.snap()
	c.fill(snap, lcRows(1))
	w := c.begin(cacheKeys{lasts: []store.ConvID{lcConv}})
	w.end(errors.New("conn closed"), cacheResult{})
	if _, ok := lcAnswer(t, c); ok {
		t.Fatal("answered after a write whose outcome is unknown")
	}
	snap, live := c.snap()
	c.fill(snap, lcRows(2))
	if _, ok := lcAnswer(t, c); ok || live {
		t.Fatal("filled while paused")
	}
	now = now.Add(cachePause)
	fillNow(t, c, 2)
}

func TestLookCacheBounded(t *testing.T) {
	c := onCache()
	snap, _ := c.snap()
	for i := range maxCacheSlots {
		conv := store.GroupConv("g" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)))
		c.fill(snap, rows{Members: map[store.MemberRef]store.Member{{Conv: conv, UserID: "u"}: {UserID: "u"}}})
	}
	if c.n > maxCacheSlots {
		t.Fatalf("the cache holds %d slots, more than %d", c.n, maxCacheSlots)
	}
	// Records were dropped: a read snapped before cannot fill.
	c.fill(snap, lcRows(1))
	if _, ok := lcAnswer(t, c); ok {
		t.Fatal("a read snapped before records were dropped filled the cache")
	}
}

func TestOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{notFound("member"), false},
		{errClientIDStored, false},
		{classify("x", errors.New("conn closed")), true},
		{errClosed, true},
	} {
		if got := outcomeUnknown(tc.err); got != tc.want {
			t.Errorf("outcomeUnknown(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestLookCacheFollowsEveryWrite: on a single node, each kind of write is
// followed by lookups that must answer what the database holds (the verify
// mode checks every answer from the cache) and must show the write.
func TestLookCacheFollowsEveryWrite(t *testing.T) {
	s := openSole(t, freshSchema(t))
	ctx := t.Context()
	for _, u := range []string{"a", "b", "c"} {
		if _, err := s.PutUser(ctx, store.User{ID: u}); err != nil {
			t.Fatal(err)
		}
	}
	conv := store.GroupConv("g")
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "a"}, []store.Member{
		{UserID: "a", Role: protocol.RoleOwner}, {UserID: "b", Role: protocol.RoleMember}}); err != nil {
		t.Fatal(err)
	}
	find := func(user string, msgs ...string) store.Found {
		t.Helper()
		q := store.Lookup{Groups: []string{"g"}, Members: []store.MemberRef{{Conv: conv, UserID: user}},
			Messages: msgs, LastSeqs: []store.ConvID{conv}}
		var f store.Found
		for range 2 { // the first fills, the second may answer
			var err error
			if f, err = s.Find(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		return f
	}
	before := s.LookupCacheStat().Answered
	if _, _, err := s.Append(ctx, store.Message{ID: "m1", Conv: conv, Sender: "a", ClientMsgID: "c1", SentAt: 1, Body: []byte(`{"t":1}`)}); err != nil {
		t.Fatal(err)
	}
	if f := find("b", "m1"); f.LastSeqs[0] != 1 || f.Messages[0].Seq != 1 || f.Members[0].ReadSeq != 0 {
		t.Fatalf("after an append: %+v", f)
	}
	if _, _, err := s.AdvanceRead(ctx, conv, "b", 1, 2); err != nil {
		t.Fatal(err)
	}
	if f := find("b", "m1"); f.Members[0].ReadSeq != 1 {
		t.Fatalf("after a read: member %+v", f.Members[0])
	}
	if _, _, err := s.Append(ctx, store.Message{ID: "m2", Conv: conv, Sender: "b", SentAt: 3}); err != nil {
		t.Fatal(err)
	}
	if f := find("b", "m2"); f.LastSeqs[0] != 2 || f.Members[0].ReadSeq != 2 {
		t.Fatalf("after b's append: %+v", f)
	}
	if err := s.SetRole(ctx, conv, "b", protocol.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if f := find("b"); f.Members[0].Role != protocol.RoleAdmin {
		t.Fatalf("after a role change: member %+v", f.Members[0])
	}
	if _, requested, err := s.RequestReceipt(ctx, conv, 2, 4); err != nil || !requested {
		t.Fatalf("RequestReceipt: %v, %v", requested, err)
	}
	if f := find("a", "m2"); !f.Messages[0].Receipt || f.Messages[0].ReceiptAt != 4 {
		t.Fatalf("after a receipt request: message %+v", f.Messages[0])
	}
	if err := s.SettleReceipt(ctx, conv, 2, &store.Frozen{Read: 1, Unread: 1}); err != nil {
		t.Fatal(err)
	}
	if f := find("a", "m2"); !f.Messages[0].Settled || f.Messages[0].Frozen == nil {
		t.Fatalf("after a settle: message %+v", f.Messages[0])
	}
	if _, err := s.AddMembers(ctx, conv, []store.Member{{UserID: "c", Role: protocol.RoleMember}}); err != nil {
		t.Fatal(err)
	}
	if f := find("c"); f.Members[0].JoinSeq != 3 {
		t.Fatalf("after a join: member %+v", f.Members[0])
	}
	if err := s.RemoveMember(ctx, conv, "b"); err != nil {
		t.Fatal(err)
	}
	if f := find("b", "m1"); f.Members[0].UserID != "" {
		t.Fatalf("after a removal: member %+v", f.Members[0])
	}
	for _, u := range []string{"a", "c"} {
		if err := s.RemoveMember(ctx, conv, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if f := find("a", "m1"); f.Groups[0].ID != "" || f.Messages[0].ID != "" || f.LastSeqs[0] != 0 {
		t.Fatalf("after the group's deletion: %+v", f)
	}
	// The group again: its seqs start at 1 again, under other ids.
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "a"}, []store.Member{{UserID: "a", Role: protocol.RoleOwner}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, store.Message{ID: "n1", Conv: conv, Sender: "a", SentAt: 5}); err != nil {
		t.Fatal(err)
	}
	if f := find("a", "m1"); f.Messages[0].ID != "" || f.LastSeqs[0] != 1 {
		t.Fatalf("the old message after the group was made again: %+v", f)
	}
	if f := find("a", "n1"); f.Messages[0].Seq != 1 {
		t.Fatalf("the new message: %+v", f.Messages[0])
	}
	if answered := s.LookupCacheStat().Answered - before; answered < 5 {
		t.Fatalf("the cache answered %d lookups; want most of them", answered)
	}
}

// TestSameFound: the verify mode tells a cached answer that differs from
// the database's, and takes one that does not.
func TestSameFound(t *testing.T) {
	one := store.Found{Members: []store.Member{{UserID: "u", ReadSeq: 1}}, LastSeqs: []uint64{3}}
	if err := sameFound(one, store.Found{Members: []store.Member{{UserID: "u", ReadSeq: 1}}, LastSeqs: []uint64{3}}); err != nil {
		t.Fatalf("the same records: %v", err)
	}
	for _, other := range []store.Found{
		{Members: []store.Member{{UserID: "u", ReadSeq: 2}}, LastSeqs: []uint64{3}},
		{Members: []store.Member{{UserID: "u", ReadSeq: 1}}, LastSeqs: []uint64{4}},
		{Members: []store.Member{{}}, LastSeqs: []uint64{3}}, // no row in the database
	} {
		if err := sameFound(one, other); err == nil {
			t.Errorf("sameFound(%+v, %+v) = nil, want a difference", one, other)
		}
	}
}
