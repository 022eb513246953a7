package receipts

// historyLen is how many recent watermark moves a member keeps, per
// watermark, to answer when a recent message was read or delivered.
const historyLen = 8

// history is a ring of a watermark's most recent moves. Move i covers the
// seqs in (move i-1, move i] and says they were acked at its At; the
// oldest retained move starts after base, and seqs <= base have no known
// time. Seqs are strictly increasing along the ring.
type history struct {
	base  uint64
	n     uint8
	head  uint8
	moves [historyLen]Ack
}

func (h *history) reset(base uint64) { *h = history{base: base} }

func (h *history) at(i int) *Ack { return &h.moves[(int(h.head)+i)%historyLen] }

// push records that the seqs above the last move, up to seq, were acked at
// at. A move with the same time as the last one extends it.
func (h *history) push(seq uint64, at int64) {
	if h.n > 0 {
		last := h.at(int(h.n) - 1)
		if last.At == at {
			last.Seq = seq
			return
		}
	}
	if h.n == historyLen {
		h.base = h.moves[h.head].Seq
		h.moves[h.head] = Ack{Seq: seq, At: at}
		h.head = (h.head + 1) % historyLen
		return
	}
	*h.at(int(h.n)) = Ack{Seq: seq, At: at}
	h.n++
}

// advance records a watermark move from old to new at time at, during
// which the sparse acks among acks (sorted) that lie in (old, new] were
// folded in: those keep their own times.
func (h *history) advance(old, new uint64, acks []Ack, at int64) {
	cur := old
	for _, a := range acks {
		if a.Seq <= cur {
			continue
		}
		if a.Seq > new {
			break
		}
		if a.Seq-1 > cur {
			h.push(a.Seq-1, at)
		}
		h.push(a.Seq, a.At)
		cur = a.Seq
	}
	if new > cur {
		h.push(new, at)
	}
}

// lookup is when seq was acked, or 0 if no retained move covers it.
func (h *history) lookup(seq uint64) int64 {
	if seq <= h.base {
		return 0
	}
	for i := 0; i < int(h.n); i++ {
		if m := h.at(i); m.Seq >= seq {
			return m.At
		}
	}
	return 0
}
