package receipts

import (
	"errors"
	"slices"
)

// MaxSparse is the most single-message read acks a member may hold above
// its read watermark. An ack beyond it fails with ErrTooManySparse.
const MaxSparse = 1024

var (
	// ErrNotMember is returned for a user who is not a member of the
	// conversation.
	ErrNotMember = errors.New("receipts: not a member")
	// ErrBadCursor is returned for a member-list cursor this engine did not
	// make for the same message and filter.
	ErrBadCursor = errors.New("receipts: bad cursor")
	// ErrTooManySparse is returned for a single-message ack that would give
	// the member more than MaxSparse acks above its read watermark.
	ErrTooManySparse = errors.New("receipts: too many single-message acks")
	// ErrBadFilter is returned by Members for an unknown Filter.
	ErrBadFilter = errors.New("receipts: bad filter")
)

// Ack is a single-message read ack: message Seq was read at At (Unix ms).
type Ack struct {
	Seq uint64
	At  int64
}

// MemberState is one member's receipt state, as the store keeps it.
type MemberState struct {
	UserID string
	// JoinSeq is the first seq the member can see (>= 1).
	JoinSeq uint64
	// ReadSeq is the read watermark: every message up to it is read. It
	// starts at JoinSeq-1, and ReadSeq+1 is never in Acks.
	ReadSeq uint64
	// DeliveredSeq is the delivery watermark, never below ReadSeq.
	DeliveredSeq uint64
	// ReadAt and DeliveredAt are when the watermarks last moved (0: never).
	ReadAt, DeliveredAt int64
	// JoinedAt is the time given to Join.
	JoinedAt int64
	// Acks are the single-message read acks above ReadSeq, sorted by Seq.
	Acks []Ack
}

// member is the engine's copy of a MemberState plus recent move history.
type member struct {
	id                  string
	join, read, deliv   uint64
	readAt, delivAt     int64
	joinedAt            int64
	acks                []Ack // sorted, all > read, at most MaxSparse
	readHist, delivHist history
}

func (m *member) state() MemberState {
	return MemberState{
		UserID:       m.id,
		JoinSeq:      m.join,
		ReadSeq:      m.read,
		DeliveredSeq: m.deliv,
		ReadAt:       m.readAt,
		DeliveredAt:  m.delivAt,
		JoinedAt:     m.joinedAt,
		Acks:         slices.Clone(m.acks),
	}
}

// ack returns the sparse ack at seq, if any.
func (m *member) ack(seq uint64) (Ack, bool) {
	if len(m.acks) == 0 || seq <= m.read {
		return Ack{}, false
	}
	i, ok := slices.BinarySearchFunc(m.acks, seq, cmpAck)
	if !ok {
		return Ack{}, false
	}
	return m.acks[i], true
}

func cmpAck(a Ack, seq uint64) int {
	switch {
	case a.Seq < seq:
		return -1
	case a.Seq > seq:
		return 1
	}
	return 0
}

func (m *member) isRead(seq uint64) bool {
	if seq <= m.read {
		return true
	}
	_, ok := m.ack(seq)
	return ok
}

func (m *member) isDelivered(seq uint64) bool {
	if seq <= m.deliv {
		return true
	}
	_, ok := m.ack(seq)
	return ok
}

// Conv is the receipt state of one conversation. The zero value is not
// usable; call NewConv.
type Conv struct {
	members map[string]*member

	// Indexes keyed by (seq, userId): every member once in join, read and
	// deliv; each sparse ack in sparseRead, and again in sparseDeliv while it
	// is above the member's deliveredSeq.
	join, read, deliv       *btree
	sparseRead, sparseDeliv *btree

	tracked map[uint64]*Tracked
	active  []uint64 // tracked, non-frozen seqs, sorted
	expiry  expiryHeap

	nodeSize int
	idBytes  int // total length of member ids, for MemoryBytes
}

// NewConv returns an empty conversation.
func NewConv() *Conv { return newConv(defaultNodeSize) }

func newConv(nodeSize int) *Conv {
	return &Conv{
		members:     make(map[string]*member),
		join:        newBtree(nodeSize),
		read:        newBtree(nodeSize),
		deliv:       newBtree(nodeSize),
		sparseRead:  newBtree(nodeSize),
		sparseDeliv: newBtree(nodeSize),
		tracked:     make(map[uint64]*Tracked),
		nodeSize:    nodeSize,
	}
}

// Len is the number of members.
func (c *Conv) Len() int { return len(c.members) }

// MemberIDs returns the user ids of all members, in no particular order.
func (c *Conv) MemberIDs() []string {
	ids := make([]string, 0, len(c.members))
	for id := range c.members {
		ids = append(ids, id)
	}
	return ids
}

// Member returns userID's state.
func (c *Conv) Member(userID string) (MemberState, bool) {
	m, ok := c.members[userID]
	if !ok {
		return MemberState{}, false
	}
	return m.state(), true
}

// Join adds userID with the given joinSeq (0 is taken as 1); its
// watermarks start at joinSeq-1 and at is kept as JoinedAt. It returns the
// new state, or the existing state and false if userID is already a member.
func (c *Conv) Join(userID string, joinSeq uint64, at int64) (MemberState, bool) {
	if m, ok := c.members[userID]; ok {
		return m.state(), false
	}
	joinSeq = max(joinSeq, 1)
	c.Restore(MemberState{
		UserID:       userID,
		JoinSeq:      joinSeq,
		ReadSeq:      joinSeq - 1,
		DeliveredSeq: joinSeq - 1,
		JoinedAt:     at,
	})
	return c.members[userID].state(), true
}

// Restore loads a member as stored, replacing any member with the same id.
// The state is normalized first: JoinSeq is at least 1, ReadSeq at least
// JoinSeq-1, DeliveredSeq at least ReadSeq; Acks are sorted, deduplicated,
// those at or below ReadSeq dropped, only the lowest MaxSparse kept, and a
// run starting at ReadSeq+1 folded into ReadSeq. The move history starts
// with the last move alone (ReadSeq at ReadAt, DeliveredSeq at
// DeliveredAt), so only the message at each watermark has a known time
// until the member acks again.
func (c *Conv) Restore(s MemberState) {
	c.Leave(s.UserID)
	m := &member{
		id:       s.UserID,
		join:     max(s.JoinSeq, 1),
		readAt:   s.ReadAt,
		delivAt:  s.DeliveredAt,
		joinedAt: s.JoinedAt,
	}
	m.read = max(s.ReadSeq, m.join-1)
	m.deliv = max(s.DeliveredSeq, m.read)
	if len(s.Acks) > 0 {
		acks := slices.Clone(s.Acks)
		slices.SortStableFunc(acks, func(a, b Ack) int { return cmpAck(a, b.Seq) })
		acks = slices.CompactFunc(acks, func(a, b Ack) bool { return a.Seq == b.Seq })
		i := 0
		for i < len(acks) && acks[i].Seq <= m.read {
			i++
		}
		acks = acks[i:]
		for len(acks) > 0 && acks[0].Seq == m.read+1 {
			m.read++
			acks = acks[1:]
		}
		m.deliv = max(m.deliv, m.read)
		if len(acks) > MaxSparse {
			acks = acks[:MaxSparse]
		}
		if len(acks) > 0 {
			m.acks = slices.Clip(acks)
		}
	}
	m.readHist.reset(m.read)
	if m.readAt != 0 && m.read >= m.join {
		m.readHist.reset(m.read - 1)
		m.readHist.push(m.read, m.readAt)
	}
	m.delivHist.reset(m.deliv)
	if m.delivAt != 0 && m.deliv >= m.join {
		m.delivHist.reset(m.deliv - 1)
		m.delivHist.push(m.deliv, m.delivAt)
	}

	c.members[m.id] = m
	c.idBytes += len(m.id)
	c.join.insert(key{m.join, m.id})
	c.read.insert(key{m.read, m.id})
	c.deliv.insert(key{m.deliv, m.id})
	for _, a := range m.acks {
		c.sparseRead.insert(key{a.Seq, m.id})
		if a.Seq > m.deliv {
			c.sparseDeliv.insert(key{a.Seq, m.id})
		}
	}
}

// Leave removes userID and reports whether it was a member.
func (c *Conv) Leave(userID string) bool {
	m, ok := c.members[userID]
	if !ok {
		return false
	}
	c.join.delete(key{m.join, m.id})
	c.read.delete(key{m.read, m.id})
	c.deliv.delete(key{m.deliv, m.id})
	for _, a := range m.acks {
		c.sparseRead.delete(key{a.Seq, m.id})
		if a.Seq > m.deliv {
			c.sparseDeliv.delete(key{a.Seq, m.id})
		}
	}
	delete(c.members, userID)
	c.idBytes -= len(userID)
	return true
}

// ReadUpTo raises userID's read watermark (and delivery watermark) to seq
// at time at, folding in the single-message acks it reaches or passes and
// the run of acks right above it. It returns the state after, and the range
// (from, to] between the old and the new read watermark; changed is false,
// and nothing moved, if seq was already read. The range may include seqs
// the member had already acked singly (they were in its Acks before the
// call): a caller that must not report those again can take them out with
// the state it held before.
func (c *Conv) ReadUpTo(userID string, seq uint64, at int64) (after MemberState, from, to uint64, changed bool, err error) {
	m, ok := c.members[userID]
	if !ok {
		return MemberState{}, 0, 0, false, ErrNotMember
	}
	if seq <= m.read {
		return m.state(), 0, 0, false, nil
	}
	from = m.read
	c.advanceRead(m, seq, at)
	return m.state(), from, m.read, true, nil
}

// ReadOne records that userID read message seq at time at, in or out of
// order. changed is false if seq was already read (or is 0). If seq is
// right above the read watermark the watermark moves, through any run of
// acks above it; otherwise seq joins the member's sparse acks, which fails
// with ErrTooManySparse, changing nothing, when it already holds MaxSparse.
func (c *Conv) ReadOne(userID string, seq uint64, at int64) (after MemberState, changed bool, err error) {
	m, ok := c.members[userID]
	if !ok {
		return MemberState{}, false, ErrNotMember
	}
	if seq <= m.read {
		return m.state(), false, nil
	}
	if seq == m.read+1 {
		c.advanceRead(m, seq, at)
		return m.state(), true, nil
	}
	i, found := slices.BinarySearchFunc(m.acks, seq, cmpAck)
	if found {
		return m.state(), false, nil
	}
	if len(m.acks) >= MaxSparse {
		return m.state(), false, ErrTooManySparse
	}
	m.acks = slices.Insert(m.acks, i, Ack{Seq: seq, At: at})
	c.sparseRead.insert(key{seq, m.id})
	if seq > m.deliv {
		c.sparseDeliv.insert(key{seq, m.id})
	}
	return m.state(), true, nil
}

// advanceRead moves m's read watermark to seq (> m.read) at time at, then
// on through the run of sparse acks right above it.
func (c *Conv) advanceRead(m *member, seq uint64, at int64) {
	k := 0
	for k < len(m.acks) && m.acks[k].Seq <= seq {
		k++
	}
	w := seq
	for k < len(m.acks) && m.acks[k].Seq == w+1 {
		w++
		k++
	}
	folded := m.acks[:k]
	oldRead, oldDeliv := m.read, m.deliv
	m.readHist.advance(oldRead, w, folded, at)
	for _, a := range folded {
		c.sparseRead.delete(key{a.Seq, m.id})
		if a.Seq > oldDeliv {
			c.sparseDeliv.delete(key{a.Seq, m.id})
		}
	}
	c.read.delete(key{oldRead, m.id})
	c.read.insert(key{w, m.id})
	m.read, m.readAt = w, at
	if w > oldDeliv {
		m.delivHist.advance(oldDeliv, w, folded, at)
		c.deliv.delete(key{oldDeliv, m.id})
		c.deliv.insert(key{w, m.id})
		m.deliv, m.delivAt = w, at
	}
	if k == len(m.acks) {
		m.acks = nil
	} else if k > 0 {
		m.acks = slices.Delete(m.acks, 0, k)
	}
}

// DeliverUpTo raises userID's delivery watermark to seq at time at. It
// returns the state after and the range (from, to] between the old and new
// delivery watermark; changed is false, and nothing moved, if seq was
// already covered by it. The range may include seqs the member had already
// read singly (a read implies delivered). Sparse read acks above the new
// watermark are left alone: they already count as delivered.
func (c *Conv) DeliverUpTo(userID string, seq uint64, at int64) (after MemberState, from, to uint64, changed bool, err error) {
	m, ok := c.members[userID]
	if !ok {
		return MemberState{}, 0, 0, false, ErrNotMember
	}
	if seq <= m.deliv {
		return m.state(), 0, 0, false, nil
	}
	from = m.deliv
	for _, a := range m.acks {
		if a.Seq > seq {
			break
		}
		if a.Seq > from {
			c.sparseDeliv.delete(key{a.Seq, m.id})
		}
	}
	m.delivHist.advance(from, seq, m.acks, at)
	c.deliv.delete(key{from, m.id})
	c.deliv.insert(key{seq, m.id})
	m.deliv, m.delivAt = seq, at
	return m.state(), from, seq, true, nil
}

// IsRead reports whether userID has read message seq. Messages from before
// the member joined count as read; a non-member has read nothing.
func (c *Conv) IsRead(userID string, seq uint64) bool {
	m, ok := c.members[userID]
	return ok && m.isRead(seq)
}

// IsDelivered reports whether message seq was delivered to userID (a read
// implies delivered). Messages from before the member joined count as
// delivered; nothing was delivered to a non-member.
func (c *Conv) IsDelivered(userID string, seq uint64) bool {
	m, ok := c.members[userID]
	return ok && m.isDelivered(seq)
}

// Counts are the receipt counts of one message.
type Counts struct {
	// Eligible is the number of members who joined no later than the
	// message, its sender excluded.
	Eligible int
	// Read and Unread split Eligible; Delivered >= Read.
	Read, Unread, Delivered int
}

// Counts computes the counts of message seq sent by sender in
// O(log members). The sender, if still a member, is not counted.
func (c *Conv) Counts(seq uint64, sender string) Counts {
	elig := c.join.countLE(seq)
	read := elig - c.read.countLT(seq) + c.sparseRead.countEq(seq)
	deliv := elig - c.deliv.countLT(seq) + c.sparseDeliv.countEq(seq)
	if m, ok := c.members[sender]; ok && m.join <= seq {
		elig--
		if m.isRead(seq) {
			read--
		}
		if m.isDelivered(seq) {
			deliv--
		}
	}
	return Counts{Eligible: elig, Read: read, Unread: elig - read, Delivered: deliv}
}
