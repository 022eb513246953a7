package pgstore

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// TestAppendRoundRefusesOnlyTheBad: appends by members and by strangers
// race into one conversation, so rounds of the combiner mix them; a
// stranger's refusal fails only that append, and the members' seqs are
// still exactly 1..n.
func TestAppendRoundRefusesOnlyTheBad(t *testing.T) {
	s := openAt(t, freshSchema(t))
	ctx := t.Context()
	const writers, each = 8, 15
	var users []store.Member
	for i := range writers {
		users = append(users, store.Member{UserID: fmt.Sprint("u", i), Role: "member"})
	}
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "u0"}, users); err != nil {
		t.Fatal(err)
	}
	conv := store.GroupConv("g")
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seqs []uint64
	)
	for w := range 2 * writers {
		wg.Go(func() {
			sender := fmt.Sprint("u", w)
			stranger := w >= writers
			for i := range each {
				m := store.Message{ID: fmt.Sprint(sender, "-", i), Conv: conv, Sender: sender, ClientMsgID: fmt.Sprint(i), Body: []byte(`1`), SentAt: int64(i)}
				got, _, err := s.Append(ctx, m)
				switch {
				case stranger && !errors.Is(err, store.ErrNotFound):
					t.Errorf("append by stranger %s = %v, want ErrNotFound", sender, err)
				case !stranger && err != nil:
					t.Errorf("append by member %s: %v", sender, err)
				case !stranger:
					mu.Lock()
					seqs = append(seqs, got.Seq)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(seqs)
	for i, seq := range seqs {
		if seq != uint64(i+1) {
			t.Fatalf("member seqs are not 1..%d: %v", writers*each, seqs)
		}
	}
	if len(seqs) != writers*each {
		t.Fatalf("%d member appends stored, want %d", len(seqs), writers*each)
	}
	if last, err := s.LastSeq(ctx, conv); err != nil || last != writers*each {
		t.Fatalf("LastSeq = %d, %v; want %d", last, err, writers*each)
	}
	s.apMu.Lock()
	left := len(s.ap)
	s.apMu.Unlock()
	if left != 0 {
		t.Errorf("append queues left after the combiners ended: %d, want 0", left)
	}
}
