package ackrule_test

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/seen-im/seen/internal/ackrule"
)

// readOneByInsert is ReadOne as it was before the next message skipped the
// insert: every ack inserted in order, then folded. The fast path must
// give the same state.
func readOneByInsert(s *ackrule.State, seq uint64, at int64) (bool, error) {
	if seq <= s.Read {
		return false, nil
	}
	i, found := slices.BinarySearchFunc(s.Acks, seq, func(a ackrule.Ack, seq uint64) int { return cmp.Compare(a.Seq, seq) })
	if found {
		return false, nil
	}
	if len(s.Acks) >= ackrule.MaxAcks && seq != s.Read+1 {
		return false, ackrule.ErrTooManyAcks
	}
	s.Acks = slices.Insert(slices.Clip(s.Acks), i, ackrule.Ack{Seq: seq, At: at})
	s.Fold()
	return true, nil
}

// TestReadOneNextMatchesInsert drives ReadOne and the insert-then-fold rule
// with the same random acks, many of them the next message (the fast
// path), and checks that they agree on every result and state, and that
// ReadOne never changes the Acks it was given in place.
func TestReadOneNextMatchesInsert(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 4))
	for round := range 200 {
		var got, want ackrule.State
		for i := range 300 {
			seq := got.Read + 1
			if r.IntN(3) > 0 {
				seq = got.Read + uint64(r.IntN(12))
			}
			at := int64(round*1000 + i)
			before := slices.Clone(got.Acks)
			kept := got.Acks
			gc, gerr := got.ReadOne(seq, at)
			wc, werr := readOneByInsert(&want, seq, at)
			if gc != wc || gerr != werr {
				t.Fatalf("round %d ack %d of %d: changed %v, %v; want %v, %v", round, i, seq, gc, gerr, wc, werr)
			}
			if got.Read != want.Read || got.ReadAt != want.ReadAt || got.Delivered != want.Delivered ||
				got.DeliveredAt != want.DeliveredAt || !slices.Equal(got.Acks, want.Acks) {
				t.Fatalf("round %d ack %d of %d: state %+v, want %+v", round, i, seq, got, want)
			}
			if !slices.Equal(kept, before) {
				t.Fatalf("round %d ack %d of %d: the Acks given were changed in place: %v, was %v", round, i, seq, kept, before)
			}
		}
	}
}

// TestReadOneInOrderAllocatesNothing: a reader acking the next message,
// with no out-of-order acks pending, costs no allocation (it cost two, an
// insert and the fold's copy, three times per ack in the server).
func TestReadOneInOrderAllocatesNothing(t *testing.T) {
	var s ackrule.State
	allocs := testing.AllocsPerRun(100, func() {
		if changed, err := s.ReadOne(s.Read+1, 7); !changed || err != nil {
			t.Fatalf("ReadOne(next) = %v, %v", changed, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ReadOne(next) allocated %v times, want 0", allocs)
	}
}
