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
// closing Done.
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

// OwnReadOp is the operation of Watermarks.AdvanceOwnRead.
func OwnReadOp(user string, seq uint64, at int64) *WatermarkOp {
	op := newWatermarkOp(WatermarkRead, user, seq, at)
	op.Private = true
	return op
}

// AckOps are the operations of Watermarks.AckMany, one per seq, in order.
func AckOps(user string, seqs []uint64, at int64) []*WatermarkOp {
	ops := make([]*WatermarkOp, len(seqs))
	for i, seq := range seqs {
		ops[i] = AckOp(user, seq, at)
	}
	return ops
}

// WatermarkFront implements Watermarks over a backend's queue. Run queues
// ops on conv, all in one go and in order, waits for their results (set on
// each op) and returns an error only when it queued none of them. A
// backend embeds it and sets Run when it opens.
type WatermarkFront struct {
	Run func(ctx context.Context, conv ConvID, ops []*WatermarkOp) error
}

// AdvanceRead implements Watermarks.
func (w WatermarkFront) AdvanceRead(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error) {
	return w.one(ctx, conv, ReadOp(userID, seq, at))
}

// AdvanceDelivered implements Watermarks.
func (w WatermarkFront) AdvanceDelivered(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error) {
	return w.one(ctx, conv, DeliveredOp(userID, seq, at))
}

// AckOne implements Watermarks.
func (w WatermarkFront) AckOne(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error) {
	return w.one(ctx, conv, AckOp(userID, seq, at))
}

// AckMany implements Watermarks. The acks are queued together, so the
// backend applies them in order in one round and makes them durable once.
func (w WatermarkFront) AckMany(ctx context.Context, conv ConvID, userID string, seqs []uint64, at int64) (Member, []bool, error) {
	ops := AckOps(userID, seqs, at)
	if err := w.Run(ctx, conv, ops); err != nil {
		return Member{}, make([]bool, len(seqs)), err
	}
	return FoldAckMany(ops)
}

// AdvanceOwnRead implements Watermarks.
func (w WatermarkFront) AdvanceOwnRead(ctx context.Context, conv ConvID, userID string, seq uint64, at int64) (Member, bool, error) {
	return w.one(ctx, conv, OwnReadOp(userID, seq, at))
}

// AckManyOwn implements Watermarks.
func (w WatermarkFront) AckManyOwn(ctx context.Context, conv ConvID, userID string, seqs []uint64, at int64) (Member, []bool, error) {
	ops := AckOps(userID, seqs, at)
	for _, op := range ops {
		op.Private = true
	}
	if err := w.Run(ctx, conv, ops); err != nil {
		return Member{}, make([]bool, len(seqs)), err
	}
	return FoldAckMany(ops)
}

// one queues op on conv and waits for its result.
func (w WatermarkFront) one(ctx context.Context, conv ConvID, op *WatermarkOp) (Member, bool, error) {
	if err := w.Run(ctx, conv, []*WatermarkOp{op}); err != nil {
		return Member{}, false, err
	}
	return op.Res, op.Changed, op.Err
}

// FoldAckMany folds the results of AckOps into what Watermarks.AckMany
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
	res = *m
	res.Acks = slices.Clone(m.Acks)
	if m.Own != nil {
		own := m.OwnState()
		res.Own = &own
	}
	return res, changed, err
}
