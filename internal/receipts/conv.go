package receipts

import (
	"errors"
	"slices"

	"github.com/seen-im/seen/internal/ackrule"
)

// MaxSparse is the most single-message read acks a member may hold above
// its read watermark. An ack beyond it fails with ErrTooManySparse. It is
// the store's limit: both apply ackrule.
const MaxSparse = ackrule.MaxAcks

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
type Ack = ackrule.Ack

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
	// The store's rule normalizes: a state the store wrote is the state
	// it counts from.
	w := ackrule.State{Read: s.ReadSeq, Delivered: s.DeliveredSeq, ReadAt: s.ReadAt, DeliveredAt: s.DeliveredAt, Acks: s.Acks}
	w.Normalize(m.join)
	m.read, m.deliv, m.readAt, m.delivAt = w.Read, w.Delivered, w.ReadAt, w.DeliveredAt
	if len(w.Acks) > 0 {
		m.acks = w.Acks
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
	w := m.wm()
	if !w.ReadUpTo(seq, at) {
		return m.state(), 0, 0, false, nil
	}
	from = m.read
	c.apply(m, w, at, 0)
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
	w := m.wm()
	changed, err = w.ReadOne(seq, at)
	if errors.Is(err, ackrule.ErrTooManyAcks) {
		return m.state(), false, ErrTooManySparse
	}
	if !changed {
		return m.state(), false, nil
	}
	added := uint64(0)
	if seq > w.Read {
		added = seq // kept as a sparse ack
	}
	c.apply(m, w, at, added)
	return m.state(), true, nil
}

// wm is m's watermarks for ackrule. Its Acks is m.acks, which the rule
// never modifies in place: apply diffs it against the rule's result.
func (m *member) wm() ackrule.State {
	return ackrule.State{Read: m.read, Delivered: m.deliv, ReadAt: m.readAt, DeliveredAt: m.delivAt, Acks: m.acks}
}

// apply moves m to next, the state ackrule gave from m.wm() for an
// operation at time at, and keeps the indexes and move histories in step:
// the acks next folded or now counts as delivered leave the sparse
// indexes, and added, if not 0, is the one ack the operation added.
func (c *Conv) apply(m *member, next ackrule.State, at int64, added uint64) {
	old := m.acks
	oldRead, oldDeliv := m.read, m.deliv
	if next.Read > oldRead {
		m.readHist.advance(oldRead, next.Read, old, at)
		c.read.delete(key{oldRead, m.id})
		c.read.insert(key{next.Read, m.id})
	}
	if next.Delivered > oldDeliv {
		m.delivHist.advance(oldDeliv, next.Delivered, old, at)
		c.deliv.delete(key{oldDeliv, m.id})
		c.deliv.insert(key{next.Delivered, m.id})
	}
	for _, a := range old {
		if a.Seq > next.Delivered {
			break
		}
		if a.Seq <= next.Read {
			c.sparseRead.delete(key{a.Seq, m.id})
		}
		if a.Seq > oldDeliv {
			c.sparseDeliv.delete(key{a.Seq, m.id})
		}
	}
	if added != 0 {
		c.sparseRead.insert(key{added, m.id})
		if added > next.Delivered {
			c.sparseDeliv.insert(key{added, m.id})
		}
	}
	m.read, m.deliv, m.readAt, m.delivAt, m.acks = next.Read, next.Delivered, next.ReadAt, next.DeliveredAt, next.Acks
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
	w := m.wm()
	if !w.DeliverUpTo(seq, at) {
		return m.state(), 0, 0, false, nil
	}
	from = m.deliv
	c.apply(m, w, at, 0)
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
