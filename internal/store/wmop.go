package store

import (
	"context"
	"slices"
)

// The watermark operations below are the vocabulary both backends queue and
// combine per conversation (Watermarks): what one operation asks, how it
// changes a member, and where its result goes. Each backend keeps its own
// queue, locking and I/O; only the rule and the bookkeeping live here, so
// the two cannot drift apart.

// WatermarkKind is the kind of a watermark operation.
type WatermarkKind uint8

const (
	WatermarkRead      WatermarkKind = iota // raise the read watermark (and delivered)
	WatermarkDelivered                      // raise the delivered watermark
	WatermarkOne                            // a single-message read ack
)

// WatermarkOp is one queued watermark operation and, once Done is closed,
// its result. The backend that runs it sets Res, Changed and Err before
// closing Done. A backend whose WatermarkFront sets LazyDone gets ops
// without Done and makes it only where its caller waits.
type WatermarkOp struct {
	Kind WatermarkKind
	// Private makes a read or an ack move only the member's own read
	// state (see own.go); a delivery op ignores it.
	Private bool
	User    string
	Seq     uint64
	At      int64

	Res     Member
	Changed bool
	Err     error
	Done    chan struct{}
}

func newWatermarkOp(kind WatermarkKind, user string, seq uint64, at int64) *WatermarkOp {
	return &WatermarkOp{Kind: kind, User: user, Seq: seq, At: at, Done: make(chan struct{})}
}

// ReadOp is the operation of Watermarks.AdvanceRead.
func ReadOp(user string, seq uint64, at int64) *WatermarkOp {
	return newWatermarkOp(WatermarkRead, user, seq, at)
}

// DeliveredOp is the operation of Watermarks.AdvanceDelivered.
func DeliveredOp(user string, seq uint64, at int64) *WatermarkOp {
	return newWatermarkOp(WatermarkDelivered, user, seq, at)
}

// AckOp is the operation of Watermarks.AckOne.
func AckOp(user string, seq uint64, at int64) *WatermarkOp {
	return newWatermarkOp(WatermarkOne, user, seq, at)
}

// WatermarkFront implements Watermarks over a backend's queue. Run queues
// ops on conv, all in one go and in order, waits for their results (set on
// each op) and returns an error only when it queued none of them. A
// backend embeds it and sets Run when it opens.
type WatermarkFront struct {
	Run func(ctx context.Context, conv ConvID, ops []*WatermarkOp) error
	// LazyDone gives Run ops without a Done channel: the backend makes
	// one, before it queues an op, only for a caller that will wait on
	// it, and closes only those it made. The caller that runs the round
	// of its own ops never waits, and its channel was an allocation
	// per op for nothing.
	LazyDone bool
}

// withDone gives op its Done unless the backend makes it (LazyDone).
func (w WatermarkFront) withDone(op *WatermarkOp) {
	if !w.LazyDone {
		op.Done = make(chan struct{})
	}
}

// oneOp is an operation, the list of one that Run takes and AckMany's
// result for it, allocated together: one allocation for a single ack, not
// three.
type oneOp struct {
	op      WatermarkOp
	list    [1]*WatermarkOp
	changed [1]bool
}

// runOne queues the operation kind (Private as given) and waits for its
// result.
func (w WatermarkFront) runOne(ctx context.Context, conv ConvID, kind WatermarkKind, private bool, user string, seq uint64, at int64) (Member, bool, error) {
	o, err := w.runOneOp(ctx, conv, kind, private, user, seq, at)
	if err != nil {
		return Member{}, false, err
	}
	return o.op.Res, o.op.Changed, o.op.Err
}

// runOneOp queues the operation and waits for it; the error is Run's.
func (w WatermarkFront) runOneOp(ctx context.Context, conv ConvID, kind WatermarkKind, private bool, user string, seq uint64, at int64) (*oneOp, error) {
	o := &oneOp{op: WatermarkOp{Kind: kind, Private: private, User: user, Seq: seq, At: at}}
	w.withDone(&o.op)
	o.list[0] = &o.op
	return o, w.Run(ctx, conv, o.list[:])
}

// ackOne is AckMany (AckManyOwn if private) of one seq, the usual call
// (a message.read of one message): its results share the op's
// allocation.
func (w WatermarkFront) ackOne(ctx context.Context, conv ConvID, userID string, seq uint64, at int64, private bool) (Member, []bool, error) {
	o, err := w.runOneOp(ctx, conv, WatermarkOne, private, userID, seq, at)
	if err != nil {
		return Member{}, o.changed[:], err
	}
	o.changed[0] = o.op.Changed
	if o.op.Err != nil {
		return Member{}, o.changed[:], o.op.Err
	}
	return o.op.Res, o.changed[:], nil
}

// ackMany is AckMany (AckManyOwn if private): the acks are queued
// together, so the backend applies them in order in one round and makes
// them durable once.
func (w WatermarkFront) ackMany(ctx context.Context, conv ConvID, userID string, seqs []uint64, at int64, private bool) (Member, []bool, error) {
	if len(seqs) == 1 {
		return w.ackOne(ctx, conv, userID, seqs[0], at, private)
	}
	ops := make([]*WatermarkOp, len(seqs))
	for i, seq := range seqs {
		ops[i] = &WatermarkOp{Kind: WatermarkOne, Private: private, User: userID, Seq: seq, At: at}
		w.withDone(ops[i])
	}
	if err := w.Run(ctx, conv, ops); err != nil {
		return Member{}, make([]bool, len(seqs)), err
	}
	return FoldAckMany(ops)
}

// AdvanceRead implements Watermarks.
func (w WatermarkFront) AdvanceRead(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error) {
	return w.runOne(ctx, conv, WatermarkRead, false, userID, seq, at)
}

// AdvanceDelivered implements Watermarks.
func (w WatermarkFront) AdvanceDelivered(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error) {
	return w.runOne(ctx, conv, WatermarkDelivered, false, userID, seq, at)
}

// AckOne implements Watermarks.
func (w WatermarkFront) AckOne(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error) {
	return w.runOne(ctx, conv, WatermarkOne, false, userID, seq, at)
}

// AckMany implements Watermarks.
func (w WatermarkFront) AckMany(ctx context.Context, conv ConvID, userID string, seqs []uint64, at int64) (Member, []bool, error) {
	return w.ackMany(ctx, conv, userID, seqs, at, false)
}

// AdvanceOwnRead implements Watermarks.
func (w WatermarkFront) AdvanceOwnRead(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error) {
	return w.runOne(ctx, conv, WatermarkRead, true, userID, seq, at)
}

// AckManyOwn implements Watermarks.
func (w WatermarkFront) AckManyOwn(ctx context.Context, conv ConvID, userID string, seqs []uint64, at int64) (Member, []bool, error) {
	return w.ackMany(ctx, conv, userID, seqs, at, true)
}

// FoldAckMany folds the results of AckMany's operations into what Watermarks.AckMany
// returns: the member after the last op that succeeded, whether each op
// changed it, and the first error.
func FoldAckMany(ops []*WatermarkOp) (Member, []bool, error) {
	changed := make([]bool, len(ops))
	var m Member
	var first error
	for i, op := range ops {
		changed[i] = op.Changed
		switch {
		case op.Err != nil && first == nil:
			first = op.Err
		case op.Err == nil:
			m = op.Res
		}
	}
	return m, changed, first
}

// ApplyTo applies op to m and reports whether m changed, with a copy of m
// afterwards (its Acks not shared with m, which later ops of the same round
// may change). The rule is ackrule's (the receipt engine's too), applied
// to the shared and own states as own.go says. The error is
// ErrTooManyAcks, unwrapped: the backend adds its context.
func (op *WatermarkOp) ApplyTo(m *Member) (res Member, changed bool, err error) {
	changed, err = op.Apply(m)
	res = *m
	res.Acks = slices.Clone(m.Acks)
	if m.Own != nil {
		own := m.OwnState()
		res.Own = &own
	}
	return res, changed, err
}

// Apply is ApplyTo without the copy of m afterwards: for a caller that
// only asks what op does (whether it would overflow MaxAcks), the copy
// was an allocation per ack for nothing.
func (op *WatermarkOp) Apply(m *Member) (changed bool, err error) {
	switch {
	case op.Kind == WatermarkRead && op.Private:
		changed = m.ReadOwn(op.Seq, op.At)
	case op.Kind == WatermarkRead:
		changed = m.ReadShared(op.Seq, op.At)
	case op.Kind == WatermarkDelivered:
		w := m.watermarks()
		changed = w.DeliverUpTo(op.Seq, op.At)
		m.setWatermarks(w)
	case op.Private:
		changed, err = m.AckOwn(op.Seq, op.At)
	default:
		changed, err = m.ackShared(op.Seq, op.At)
	}
	return changed, err
}
