package pebblestore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// tableObs sums what the store reports of its conversation table.
type tableObs struct {
	store.NopObserver
	convs, bytes atomic.Int64
}

func (o *tableObs) ConvTable(convs int, bytes int64) {
	o.convs.Add(int64(convs))
	o.bytes.Add(bytes)
}

// TestConvTableIsBounded: with room for a few conversations per shard,
// the store serves many more; the table stays within its budget (plus the
// entries in use), what it reports to its observer is what it holds, and
// every conversation reloaded from disk goes on with the right seqs, join
// positions, member counts and watermarks.
func TestConvTableIsBounded(t *testing.T) {
	ctx := context.Background()
	obs := &tableObs{}
	const budget = 64 << 10 // 1 KiB per shard: two or so states each
	s, err := Open(t.TempDir(), Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20, Observer: obs, ConvTableBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	const groups = 400
	conv := func(i int) store.ConvID { return store.GroupConv(fmt.Sprintf("g%d", i)) }
	send := func(i int, id string) store.Message {
		t.Helper()
		m, _, err := s.Append(ctx, store.Message{ID: fmt.Sprintf("%s-%d", id, i), Conv: conv(i), Sender: "a", SentAt: 1})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for i := range groups {
		if err := s.CreateGroup(ctx, store.Group{ID: conv(i).GroupID()}, []store.Member{{UserID: "a", Role: "owner"}, {UserID: "b"}}); err != nil {
			t.Fatal(err)
		}
		send(i, "m1")
		send(i, "m2")
		if _, _, err := s.AdvanceRead(ctx, conv(i), "b", 2, 5); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddMembers(ctx, conv(i), []store.Member{{UserID: "c"}}); err != nil {
			t.Fatal(err)
		}
	}
	convs, bytes := s.ConvTable()
	if convs >= groups/2 || bytes > budget+convShards*2048 {
		t.Errorf("after %d groups the table holds %d conversations, %d bytes; want far fewer, within about %d bytes", groups, convs, bytes, budget)
	}
	if int64(convs) != obs.convs.Load() || bytes != obs.bytes.Load() {
		t.Errorf("observer saw %d conversations, %d bytes; the table holds %d, %d", obs.convs.Load(), obs.bytes.Load(), convs, bytes)
	}
	for i := range groups {
		if m := send(i, "m3"); m.Seq != 3 {
			t.Errorf("%s: third message got seq %d, want 3", conv(i), m.Seq)
		}
		c, err := s.GetMember(ctx, conv(i), "c")
		if err != nil || c.JoinSeq != 3 {
			t.Errorf("%s: member c joined at %d (err %v), want 3", conv(i), c.JoinSeq, err)
		}
		b, err := s.GetMember(ctx, conv(i), "b")
		if err != nil || b.ReadSeq != 2 {
			t.Errorf("%s: b read to %d (err %v), want 2", conv(i), b.ReadSeq, err)
		}
		if n, err := s.CountMembers(ctx, conv(i)); err != nil || n != 3 {
			t.Errorf("%s: %d members (err %v), want 3", conv(i), n, err)
		}
	}
}

// TestConvTableEvictionKeepsSeqs: concurrent senders over more
// conversations than the table holds, with entries dropped and reloaded
// all the while, still get gap-free, unique seqs in every conversation.
func TestConvTableEvictionKeepsSeqs(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20, ConvTableBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	const convs, senders, each = 16, 8, 40
	conv := func(i int) store.ConvID { return store.PeerConv("a", fmt.Sprintf("u%d", i)) }
	var mu sync.Mutex
	seqs := make(map[store.ConvID]map[uint64]bool)
	var wg sync.WaitGroup
	for w := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range each {
				c := conv((w + n) % convs)
				m, _, err := s.Append(ctx, store.Message{ID: fmt.Sprintf("w%d-%d", w, n), Conv: c, Sender: "a", SentAt: 1})
				if err != nil {
					t.Error(err)
					return
				}
				// A watermark write between appends exercises the combiner's
				// hold on its entry.
				if _, _, err := s.AdvanceRead(ctx, c, "a", m.Seq, 1); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seqs[c] == nil {
					seqs[c] = make(map[uint64]bool)
				}
				if seqs[c][m.Seq] {
					t.Errorf("%s: seq %d given twice", c, m.Seq)
				}
				seqs[c][m.Seq] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for c, got := range seqs {
		for seq := uint64(1); seq <= uint64(len(got)); seq++ {
			if !got[seq] {
				t.Errorf("%s: seq %d missing of %d", c, seq, len(got))
			}
		}
	}
}
