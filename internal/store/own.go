package store

import "slices"

// Private reading keeps two read states per member. The shared one
// (Member.ReadSeq, ReadAt, Acks) is what senders see: counts, member lists,
// receipt events, peerReadSeq; it is what the receipt engine is fed. The
// own one (Member.Own) is what the member itself sees: its unread counts,
// its conversation list, its other devices. A shared read advances both, a
// private read only the own one, so the own state always holds every read
// of the shared one and maybe more. Both follow the same fold rule
// (Member.Fold) and the same MaxAcks bound.
//
// The own state is kept only while it differs from the shared one: Own is
// nil for a member who never read privately (or whose shared state caught
// up), so a member record costs nothing more unless its user reads
// privately, and a record written before private reading existed decodes
// with own state = shared state.

// OwnRead is a member's own read state where it differs from the shared one.
type OwnRead struct {
	ReadSeq uint64 `json:"readSeq"`
	ReadAt  int64  `json:"readAt,omitempty"`
	Acks    []Ack  `json:"acks,omitempty"`
}

// OwnState returns m's own read state: Own, or the shared state if Own is
// nil. The Acks are not shared with m.
func (m Member) OwnState() OwnRead {
	if m.Own != nil {
		return OwnRead{ReadSeq: m.Own.ReadSeq, ReadAt: m.Own.ReadAt, Acks: slices.Clone(m.Own.Acks)}
	}
	return OwnRead{ReadSeq: m.ReadSeq, ReadAt: m.ReadAt, Acks: slices.Clone(m.Acks)}
}

// OwnReadSeq is the member's own read watermark.
func (m Member) OwnReadSeq() uint64 {
	if m.Own != nil {
		return m.Own.ReadSeq
	}
	return m.ReadSeq
}

// OwnHasRead reports whether the member has read seq by its own state.
func (m Member) OwnHasRead(seq uint64) bool {
	o := m.Own
	if o == nil {
		return seq <= m.ReadSeq || m.HasAck(seq)
	}
	return seq <= o.ReadSeq || (Member{ReadSeq: o.ReadSeq, Acks: o.Acks}).HasAck(seq)
}

// OwnAcks returns the member's own single-message acks above its own
// watermark (not a copy).
func (m Member) OwnAcks() []Ack {
	if m.Own != nil {
		return m.Own.Acks
	}
	return m.Acks
}

// ownAsMember returns the own state as a Member carrying only read fields,
// so the shared rules (Member.Ack, Member.Fold) apply to it unchanged.
func (m Member) ownAsMember() Member {
	o := m.OwnState()
	return Member{ReadSeq: o.ReadSeq, ReadAt: o.ReadAt, Acks: o.Acks, DeliveredSeq: o.ReadSeq}
}

// setOwn stores o as m's own state, dropping it when it reads the same
// seqs as the shared state (its times may differ; the shared ones stand).
func (m *Member) setOwn(o Member) {
	same := o.ReadSeq == m.ReadSeq && len(o.Acks) == len(m.Acks)
	for i := 0; same && i < len(o.Acks); i++ {
		same = o.Acks[i].Seq == m.Acks[i].Seq
	}
	if same {
		m.Own = nil
		return
	}
	m.Own = &OwnRead{ReadSeq: o.ReadSeq, ReadAt: o.ReadAt, Acks: o.Acks}
}

// NormalizeOwn drops Own when it reads the same seqs as the shared state.
// Backends that store the own state in full (PostgreSQL) call it after
// reading a record.
func (m *Member) NormalizeOwn() {
	if m.Own != nil {
		m.setOwn(Member{ReadSeq: m.Own.ReadSeq, ReadAt: m.Own.ReadAt, Acks: m.Own.Acks})
	}
}

// ReadOwn raises the own read watermark to at least seq, stamping at, then
// folds; the shared state does not move. It reports whether m changed.
func (m *Member) ReadOwn(seq uint64, at int64) bool {
	o := m.ownAsMember()
	w := o.watermarks()
	if !w.ReadUpTo(seq, at) {
		return false
	}
	o.setWatermarks(w)
	m.setOwn(o)
	return true
}

// AckOwn records a single-message read of seq in the own state only, as
// Member.Ack does for the shared one (same fold, same MaxAcks bound).
func (m *Member) AckOwn(seq uint64, at int64) (bool, error) {
	o := m.ownAsMember()
	changed, err := o.Ack(seq, at)
	if err != nil || !changed {
		return false, err
	}
	m.setOwn(o)
	return true, nil
}

// ReadShared raises the shared read watermark (and DeliveredSeq) and, with
// it, the own one: what a shared read does, and what sending a message
// does to its sender. It reports whether m changed.
func (m *Member) ReadShared(seq uint64, at int64) bool {
	var own Member
	if m.Own != nil {
		own = m.ownAsMember()
	}
	w := m.watermarks()
	changed := w.ReadUpTo(seq, at)
	m.setWatermarks(w)
	if m.Own != nil {
		ow := own.watermarks()
		ow.ReadUpTo(seq, at)
		own.setWatermarks(ow)
		m.setOwn(own)
	}
	return changed
}

// ackShared records a single-message read on both levels, or on neither:
// if either refuses it (MaxAcks), nothing changes.
func (m *Member) ackShared(seq uint64, at int64) (bool, error) {
	if m.Own == nil {
		return m.Ack(seq, at)
	}
	own := m.ownAsMember()
	ownChanged, err := own.Ack(seq, at)
	if err != nil {
		return false, err
	}
	shared := *m
	changed, err := shared.Ack(seq, at)
	if err != nil {
		return false, err
	}
	*m = shared
	m.setOwn(own)
	return changed || ownChanged, nil
}
