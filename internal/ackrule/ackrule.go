// Package ackrule is the one rule by which a member's read and delivery
// watermarks and single-message read acks move. The store applies it to
// the member records it persists (store.Member, through the watermark
// operations both backends combine) and the receipt engine to the state it
// counts from (receipts.Conv), so every backend and every node agree on
// what an ack does, its limit included: before, each kept its own copy,
// and a divergence showed only as an engine reloaded out of step.
//
// It is pure: values in, values out, standard library only. A State's
// Acks are never modified in place: a change gives a new slice, so a
// caller may keep the old one (the engine diffs old against new).
package ackrule

import (
	"cmp"
	"errors"
	"slices"
)

// MaxAcks bounds a member's single-message acks above its read watermark.
const MaxAcks = 1024

// ErrTooManyAcks is returned by ReadOne, with nothing changed, for an ack
// that would give the member more than MaxAcks acks; callers wrap it in
// their own sentinel.
var ErrTooManyAcks = errors.New("ackrule: too many out-of-order acks")

// Ack is one single-message read ack.
type Ack struct {
	Seq uint64 `json:"seq"`
	At  int64  `json:"at"`
}

// State is one member's watermarks.
//
// Read is the read watermark (every message up to it is read), Delivered
// the delivery watermark, never below Read. ReadAt and DeliveredAt are
// when the message at each watermark was read or delivered: the time of
// the operation that moved it there, or the time of the ack it folded in
// last. Acks are the single-message acks above Read, sorted, at most
// MaxAcks, and never Read+1 (that one is folded).
type State struct {
	Read, Delivered     uint64
	ReadAt, DeliveredAt int64
	Acks                []Ack
}

func cmpAck(a Ack, seq uint64) int { return cmp.Compare(a.Seq, seq) }

// HasAck reports whether seq is among s's single-message acks.
func (s *State) HasAck(seq uint64) bool {
	_, ok := slices.BinarySearchFunc(s.Acks, seq, cmpAck)
	return ok
}

// ReadOne records a single-message read of seq at time at, then folds. It
// reports whether s changed (false if seq was read already), and
// ErrTooManyAcks, changing nothing, if s holds MaxAcks acks already and
// this one does not fold.
func (s *State) ReadOne(seq uint64, at int64) (bool, error) {
	if seq <= s.Read {
		return false, nil
	}
	if seq == s.Read+1 {
		// The next message, the usual ack of a reader reading in order:
		// it folds at once, so it is not inserted first (Acks never hold
		// Read+1, so it would land at the front) only to be folded off
		// again, which allocated a new slice twice per ack. Fold reaches
		// the acks above it as before.
		s.Read, s.ReadAt = seq, at
		s.Fold()
		return true, nil
	}
	i, found := slices.BinarySearchFunc(s.Acks, seq, cmpAck)
	if found {
		return false, nil
	}
	if len(s.Acks) >= MaxAcks && seq != s.Read+1 {
		return false, ErrTooManyAcks
	}
	s.Acks = slices.Insert(slices.Clip(s.Acks), i, Ack{Seq: seq, At: at})
	s.Fold()
	return true, nil
}

// ReadUpTo raises the read watermark to seq at time at (and the delivery
// watermark with it), folding the acks it reaches. It reports whether s
// changed.
func (s *State) ReadUpTo(seq uint64, at int64) bool {
	if seq <= s.Read {
		return false
	}
	s.Read, s.ReadAt = seq, at
	s.Fold()
	return true
}

// DeliverUpTo raises the delivery watermark to seq at time at. It reports
// whether s changed.
func (s *State) DeliverUpTo(seq uint64, at int64) bool {
	if seq <= s.Delivered {
		return false
	}
	s.Delivered, s.DeliveredAt = seq, at
	return true
}

// Fold moves the read watermark through the acks it reaches (Read+1
// acked), each giving ReadAt its time, drops acks at or below it, and
// keeps Delivered >= Read.
func (s *State) Fold() {
	i := 0
	for ; i < len(s.Acks); i++ {
		a := s.Acks[i]
		if a.Seq <= s.Read {
			continue
		}
		if a.Seq != s.Read+1 {
			break
		}
		s.Read, s.ReadAt = a.Seq, a.At
	}
	if i > 0 {
		s.Acks = slices.Clone(s.Acks[i:])
	}
	if len(s.Acks) == 0 {
		s.Acks = nil
	}
	if s.Delivered < s.Read {
		s.Delivered, s.DeliveredAt = s.Read, s.ReadAt
	}
}

// Normalize makes a state read back from storage valid for a member who
// joined at join: Read at least join-1, Acks sorted and deduplicated (the
// first of equal seqs kept), folded, and at most MaxAcks (the lowest).
func (s *State) Normalize(join uint64) {
	if join > 0 {
		s.Read = max(s.Read, join-1)
	}
	if len(s.Acks) > 0 {
		acks := slices.Clone(s.Acks)
		slices.SortStableFunc(acks, func(a, b Ack) int { return cmp.Compare(a.Seq, b.Seq) })
		s.Acks = slices.CompactFunc(acks, func(a, b Ack) bool { return a.Seq == b.Seq })
	}
	s.Fold()
	if len(s.Acks) > MaxAcks {
		s.Acks = slices.Clip(s.Acks[:MaxAcks])
	}
	if s.Delivered < s.Read {
		s.Delivered, s.DeliveredAt = s.Read, s.ReadAt
	}
}
