package service

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/seen-im/seen/internal/receipts"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// groupReceiptsAllowed applies the receipt policy to a group: its type must
// be enabled and its size within the limit (422 otherwise).
func (s *Service) groupReceiptsAllowed(ctx context.Context, ref convRef) error {
	if !s.cfg.Receipts.ReceiptsForType(ref.group.Type) {
		return protocol.Errorf(protocol.CodeUnprocessable, "receipts are off for groups of type %q", ref.group.Type)
	}
	n, err := s.store.CountMembers(ctx, ref.id)
	if err != nil {
		return s.internal(ctx, "count members", err)
	}
	if n > s.cfg.Receipts.MaxGroupSize {
		return protocol.Errorf(protocol.CodeUnprocessable, "receipts are off for groups over %d members", s.cfg.Receipts.MaxGroupSize)
	}
	return nil
}

// freshReceipt is the receipt of a message just sent to eligible members.
func (s *Service) freshReceipt(m store.Message, eligible int) *protocol.Receipt {
	r := &protocol.Receipt{MsgID: m.ID, Status: protocol.StatusPending, UnreadCount: eligible, ExpiresAt: s.expiresAt(m)}
	if eligible == 0 {
		r.Status = protocol.StatusDone
	}
	return r
}

// ackState is whether member has acked message seq, for the receipt field
// of other people's receipt messages: the member's own view, so a private
// read shows as read to the reader (and only to it).
func ackState(member store.Member, seq uint64) *protocol.AckState {
	read := member.OwnHasRead(seq)
	return &protocol.AckState{Read: read, Delivered: read || member.DeliveredSeq >= seq}
}

// receiptField is the receipt field of a receipt message in viewer's
// history: the Receipt for the sender, the viewer's own ack state otherwise.
func (s *Service) receiptField(ctx context.Context, ref convRef, m store.Message, viewer string) (any, error) {
	if m.Sender != viewer {
		return ackState(ref.member, m.Seq), nil
	}
	rs, err := s.receiptsOf(ctx, m.Conv, []store.Message{m})
	if err != nil {
		return nil, err
	}
	return &rs[0], nil
}

// receiptsOf computes the receipts of msgs, all of conv, as of one moment.
// A message read from the store before the engine settled it (its window
// closed, or it became done, in between) is read again: the store has its
// frozen counts by then.
func (s *Service) receiptsOf(ctx context.Context, conv store.ConvID, msgs []store.Message) ([]protocol.Receipt, error) {
	if err := s.syncBarrier(ctx); err != nil {
		return nil, err
	}
	out := make([]protocol.Receipt, len(msgs))
	var stale []int
	err := s.withEngine(ctx, conv, func(e *receipts.Conv) error {
		now := s.nowMs()
		for i, m := range msgs {
			r, ok := s.receiptLocked(e, m, now, false)
			if !ok {
				stale = append(stale, i)
				continue
			}
			out[i] = r
		}
		return nil
	})
	if err != nil || len(stale) == 0 {
		return out, err
	}
	again := make([]store.Message, len(stale))
	for j, i := range stale {
		if again[j], err = s.store.MessageAt(ctx, conv, msgs[i].Seq); err != nil {
			return nil, fmt.Errorf("read settled message %s/%d: %w", conv, msgs[i].Seq, err)
		}
	}
	err = s.withEngine(ctx, conv, func(e *receipts.Conv) error {
		now := s.nowMs()
		for j, i := range stale {
			out[i], _ = s.receiptLocked(e, again[j], now, true)
		}
		return nil
	})
	return out, err
}

// receiptLocked computes m's Receipt at time now with conv's engine
// locked. The status is a function of now and expiresAt: a receipt whose
// window has closed reads expired (with the counts frozen at that moment)
// whether or not anything has frozen it yet. ok is false if m is a live
// receipt in the store copy given but the engine no longer tracks it: it
// was settled since m was read, and the caller must read it again; with
// final, the answer is made from the live counts instead.
func (s *Service) receiptLocked(c *receipts.Conv, m store.Message, now int64, final bool) (r protocol.Receipt, ok bool) {
	r = protocol.Receipt{MsgID: m.ID, Status: protocol.StatusNone}
	if !m.Receipt {
		return r, true
	}
	r.ExpiresAt = s.expiresAt(m)
	var counts receipts.Counts
	switch _, tracked := c.Tracked(m.Seq); {
	case m.Frozen != nil:
		counts = receipts.Counts{Read: m.Frozen.Read, Unread: m.Frozen.Unread, Delivered: m.Frozen.Delivered}
		r.Status = protocol.StatusExpired
		if counts.Unread == 0 {
			r.Status = protocol.StatusDone
		}
	case tracked:
		var exp int64
		r.Status, counts, exp = c.Status(m.Seq, now)
		if exp != 0 {
			r.ExpiresAt = exp
		}
	case !m.Settled && !final:
		return r, false
	default:
		// Settled as done: done is for good; counts stay live, so members
		// who leave drop out of them. (Or a receipt the engine has not
		// heard of yet, just asked for.)
		counts = c.Counts(m.Seq, m.Sender)
		switch {
		case counts.Unread == 0:
			r.Status = protocol.StatusDone
		case r.ExpiresAt > 0 && r.ExpiresAt <= now:
			r.Status = protocol.StatusExpired
		default:
			r.Status = protocol.StatusPending
		}
	}
	r.ReadCount, r.UnreadCount, r.DeliveredCount = counts.Read, counts.Unread, counts.Delivered
	return r, true
}

// message looks msgID up in conv for caller: 404 if it is not there (or
// before caller joined), field naming the parameter.
func (s *Service) message(ctx context.Context, ref convRef, msgID, field string) (store.Message, error) {
	m, err := s.store.GetMessage(ctx, msgID)
	if errors.Is(err, store.ErrNotFound) {
		m, err = store.Message{}, nil
	} else if err != nil {
		return store.Message{}, s.internal(ctx, "get message", err)
	}
	if pe := inConv(ref, m, msgID, field); pe != nil {
		return store.Message{}, pe
	}
	return m, nil
}

// messagesAfterBegin returns the messages of ids, aligned with them, for a
// write that beginWrite has let through: those f read with the
// conversation, or, if it read none (Read leaves them out where beginWrite
// may freeze receipts meanwhile: a group with a receipt TTL), read now,
// so that a frozen one is seen as frozen.
func (s *Service) messagesAfterBegin(ctx context.Context, f store.Found, ids []string) ([]store.Message, error) {
	if f.Messages == nil {
		return s.messages(ctx, ids)
	}
	return f.Messages, nil
}

// messages looks ids up in one store call (one round trip, not one per
// id), the result aligned with ids. The caller checks each entry with
// inConv in the order of ids, so the error names the first bad one, as a
// lookup id by id would.
func (s *Service) messages(ctx context.Context, ids []string) ([]store.Message, error) {
	ms, err := s.store.GetMessages(ctx, ids)
	if err != nil {
		return nil, s.internal(ctx, "get messages", err)
	}
	return ms, nil
}

// inConv answers 404, field naming the parameter, unless m (the zero
// Message if msgID is unknown) is in conv at or after caller's join.
func inConv(ref convRef, m store.Message, msgID, field string) error {
	if !isInConv(ref, m) {
		return notInConv(msgID, field)
	}
	return nil
}

// isInConv is inConv's test, for loops that name the field only on error.
func isInConv(ref convRef, m store.Message) bool {
	return m.ID != "" && m.Conv == ref.id && m.Seq >= ref.member.JoinSeq
}

// notInConv is inConv's error.
func notInConv(msgID, field string) error {
	pe := protocol.Errorf(protocol.CodeNotFound, "no message %q in this conversation", msgID)
	pe.Data = map[string]any{"field": field}
	return pe
}

// msgIDsField names the i-th of a request's msgIds in an error. Built
// only for an error: formatting it for every id cost every ack a fmt call.
func msgIDsField(i int) string { return "msgIds[" + strconv.Itoa(i) + "]" }

// expired reports whether m's receipt validity window has closed by now.
func (s *Service) expired(m store.Message, now int64) bool {
	exp := s.expiresAt(m)
	return (exp > 0 && exp <= now) || m.Frozen != nil
}

// smallRead is the number of ids up to which Read finds repeated ones by
// a scan.
const smallRead = 8

// Read records single-message reads (message.read).
func (s *Service) Read(ctx context.Context, c Caller, p protocol.ReadParams) (protocol.ReadResult, error) {
	if pe := protocol.CheckMsgIDs(p.MsgIDs); pe != nil {
		return protocol.ReadResult{}, pe
	}
	// The messages are read with the conversation, in one store call,
	// unless beginWrite may freeze their receipts before they are used.
	ids := p.MsgIDs
	if s.writesGuarded(p.Conversation.Type == protocol.ConvGroup) {
		ids = nil
	}
	ref, f, err := s.resolveWith(ctx, c.UserID, p.Conversation, ids, false)
	if err != nil {
		return protocol.ReadResult{}, err
	}
	private, err := s.readPrivately(ctx, ref, c.UserID, p.Private)
	if err != nil {
		return protocol.ReadResult{}, err
	}
	// One time for the window checks and the acks: an ack accepted as
	// before expiresAt is stamped before it, and so counted in the
	// frozen counts (beginWrite).
	now := s.nowMs()
	end := s.beginWrite(ctx, ref.id, now)
	defer end()
	// Check every id before recording any, so a bad one changes nothing.
	// A request of one id, the usual one, keeps its message and the one
	// it newly read on the stack (neither list leaves this call).
	var msgsBuf, newlyBuf [1]store.Message
	msgs := msgsBuf[:0]
	// Repeated ids are found by a scan of those before, up to a few (no
	// map to make and hash for the usual one id), by a map beyond.
	var seen map[string]bool
	if len(p.MsgIDs) > smallRead {
		seen = make(map[string]bool, len(p.MsgIDs))
	}
	found, err := s.messagesAfterBegin(ctx, f, p.MsgIDs)
	if err != nil {
		return protocol.ReadResult{}, err
	}
	for i, id := range p.MsgIDs {
		m := found[i]
		if !isInConv(ref, m) {
			return protocol.ReadResult{}, notInConv(id, msgIDsField(i))
		}
		if m.Sender == c.UserID {
			pe := protocol.Errorf(protocol.CodeForbidden, "message %q is your own", id)
			pe.Data = map[string]any{"field": msgIDsField(i)}
			return protocol.ReadResult{}, pe
		}
		// A private read reports nothing, so a closed window does not
		// concern it: it only clears the reader's own unread state.
		if m.Receipt && !private && s.expired(m, now) {
			pe := protocol.Errorf(protocol.CodeGone, "the receipt window of message %q has closed", id)
			pe.Data = map[string]any{"field": msgIDsField(i)}
			return protocol.ReadResult{}, pe
		}
		var repeated bool
		if seen != nil {
			repeated, seen[id] = seen[id], true
		} else {
			repeated = slices.Contains(p.MsgIDs[:i], id)
		}
		if !repeated {
			msgs = append(msgs, m)
		}
	}
	// Run the acks on a copy of the member first: one that would overflow
	// the out-of-order limit refuses the whole call before anything is
	// written.
	sim := ref.member
	for _, m := range msgs {
		// On the stack, with no Done: it is only applied here.
		op := store.WatermarkOp{Kind: store.WatermarkOne, Private: private, User: c.UserID, Seq: m.Seq, At: now}
		if _, err := op.Apply(&sim); errors.Is(err, store.ErrTooManyAcks) {
			return protocol.ReadResult{}, s.tooManyAcks()
		}
	}
	// All the acks go to the store in one call: one durable write for the
	// lot, however many ids the request names.
	seqs := make([]uint64, len(msgs))
	for i, m := range msgs {
		seqs[i] = m.Seq
	}
	if private {
		return s.readPrivate(ctx, ref, c, seqs, now)
	}
	after, changed, err := s.store.AckMany(ctx, ref.id, c.UserID, seqs, now)
	newly := newlyBuf[:0]
	for i, m := range msgs {
		if i < len(changed) && changed[i] {
			newly = append(newly, m)
		}
	}
	if err != nil {
		// A concurrent ack from another device may still overflow the
		// limit, or the store may fail, after some acks were recorded:
		// report those (the engine and the senders hear of them) and fail
		// the call; repeating it is safe.
		s.acksRecorded(ctx, &ref, c, newly, after, now)
		if errors.Is(err, store.ErrTooManyAcks) {
			return protocol.ReadResult{}, s.tooManyAcks()
		}
		return protocol.ReadResult{}, s.internal(ctx, "ack", err)
	}
	s.acksRecorded(ctx, &ref, c, newly, after, now)
	return protocol.ReadResult{Read: len(newly)}, nil
}

// readPrivate records single-message reads in the reader's own state only:
// no engine, no sender hears of them; the reader's other devices learn of
// a move of its own watermark.
func (s *Service) readPrivate(ctx context.Context, ref convRef, c Caller, seqs []uint64, now int64) (protocol.ReadResult, error) {
	after, changed, err := s.store.AckManyOwn(ctx, ref.id, c.UserID, seqs, now)
	n := 0
	for _, ch := range changed {
		if ch {
			n++
		}
	}
	if n > 0 {
		s.ownReadMoved(ctx, &ref, c, after)
	}
	if errors.Is(err, store.ErrTooManyAcks) {
		return protocol.ReadResult{}, s.tooManyAcks()
	} else if err != nil {
		return protocol.ReadResult{}, s.internal(ctx, "private ack", err)
	}
	return protocol.ReadResult{Read: n}, nil
}

// ownReadMoved tells the reader's other devices its own read watermark now
// stands at after's, if it moved past where it stood in ref.
func (s *Service) ownReadMoved(ctx context.Context, ref *convRef, c Caller, after store.Member) {
	if after.UserID == "" || after.OwnReadSeq() <= ref.member.OwnReadSeq() {
		return
	}
	// Asked before the event is built: most readers have no other device,
	// and building it (the list of one, the event put in an interface)
	// cost every ack two allocations.
	if !s.reachesUser(c.UserID, c.ConnID) {
		return
	}
	s.publish(ctx, []string{c.UserID}, c.ConnID, protocol.EventConversationRead, protocol.ConversationReadEvent{
		Conversation: ref.wire, UserID: c.UserID, Seq: after.OwnReadSeq(),
	})
}

// acksRecorded applies single reads the store recorded to the engine and
// tells the senders.
func (s *Service) acksRecorded(ctx context.Context, ref *convRef, c Caller, newly []store.Message, after store.Member, now int64) {
	if len(newly) == 0 {
		return
	}
	var buf [4]uint64 // an ack's seqs, off the heap (applyAcks keeps none)
	seqs := buf[:0]
	for _, m := range newly {
		seqs = append(seqs, m.Seq)
	}
	s.applyAcks(ctx, ref.id, c.UserID, seqs, now)
	s.readsChanged(ctx, ref, c, newly, after)
}

func (s *Service) tooManyAcks() *protocol.Error {
	return protocol.Errorf(protocol.CodeUnprocessable,
		"more than %d messages read out of order: mark the conversation read (conversation.read)", store.MaxAcks)
}

// readsChanged tells senders about new single-message reads of receipt
// messages: receipt.read to a peer sender at once, receipt.changed to group
// senders through the coalescer. A fold may also have moved the reader's
// watermark: the reader's other devices hear of it.
func (s *Service) readsChanged(ctx context.Context, ref *convRef, c Caller, newly []store.Message, after store.Member) {
	var peerRead []string
	// Room for an ack's changes without a heap allocation: the list goes
	// no further than this call (changed copies what it keeps).
	var buf [4]receiptChange
	changes := buf[:0]
	for _, m := range newly {
		if !m.Receipt {
			continue
		}
		if ref.id.IsPeer() {
			peerRead = append(peerRead, m.ID)
		} else {
			changes = append(changes, receiptChange{Sender: m.Sender, Seq: m.Seq})
		}
	}
	moved := after.ReadSeq > ref.member.ReadSeq
	if moved && ref.id.IsGroup() {
		// The move's changes go with the single reads', in one call: a
		// message both read singly and reached by the fold is one change,
		// and a reader is reported once even when the coalescer is on
		// another node and flushes between two messages from here.
		changes = s.appendWatermarkChanges(changes, ctx, ref, c, ref.member.ReadSeq, after.ReadSeq)
	}
	s.changed(ctx, ref.id, c.UserID, changes)
	if len(peerRead) > 0 {
		s.publish(ctx, s.receiptEventsTo(ctx, []string{ref.peer}), "", protocol.EventReceiptRead, protocol.ReceiptReadEvent{
			Conversation: wireConv(ref.id, ref.peer), UserID: c.UserID, MsgIDs: peerRead,
		})
		var seqs []uint64
		for _, m := range newly {
			if m.Receipt {
				seqs = append(seqs, m.Seq)
			}
		}
		s.settleDone(ctx, ref.id, seqs)
		s.peerReadsForHooks(ctx, *ref, c.UserID, seqs)
	}
	if moved && ref.id.IsPeer() {
		s.watermarkMoved(ctx, *ref, c, ref.member.ReadSeq, after.ReadSeq, true)
	}
	s.ownReadMoved(ctx, ref, c, after)
}

// watermarkMoved reports a shared read (or delivery) watermark move from
// from to to: in a peer chat, conversation.read (receipt.delivered) to the
// peer; in a group, receipt.changed to the senders of the receipt messages
// it covers. The reader's other devices follow its own read state
// (ownReadMoved), which a shared read may leave behind.
func (s *Service) watermarkMoved(ctx context.Context, ref convRef, c Caller, from, to uint64, read bool) {
	if ref.id.IsPeer() {
		if read {
			s.publish(ctx, []string{ref.peer}, "", protocol.EventConversationRead, protocol.ConversationReadEvent{
				Conversation: wireConv(ref.id, ref.peer), UserID: c.UserID, Seq: to,
			})
		} else {
			s.publish(ctx, []string{ref.peer}, "", protocol.EventReceiptDelivered, protocol.ReceiptDeliveredEvent{
				Conversation: wireConv(ref.id, ref.peer), UserID: c.UserID, Seq: to,
			})
		}
	}
	if ref.id.IsPeer() && read {
		// The peer's receipt messages now read are done.
		var seqs []uint64
		_ = s.withEngine(ctx, ref.id, func(e *receipts.Conv) error {
			seqs = s.affected(e, ref.member, from, to, c.UserID)
			return nil
		})
		s.settleDone(ctx, ref.id, seqs)
		s.peerReadsForHooks(ctx, ref, c.UserID, seqs)
	}
	if ref.id.IsGroup() {
		reader := ""
		if read {
			reader = c.UserID
		}
		s.changed(ctx, ref.id, reader, s.watermarkChanges(ctx, ref, c, from, to))
	}
}

// watermarkChanges lists the live group receipts of others whose counts a
// watermark move of c from from to to changes.
func (s *Service) watermarkChanges(ctx context.Context, ref convRef, c Caller, from, to uint64) []receiptChange {
	return s.appendWatermarkChanges(nil, ctx, &ref, c, from, to)
}

// appendWatermarkChanges appends watermarkChanges to dst, leaving out
// those already in it (a message both read singly and reached by the
// move is one change), into dst's room where there is some.
func (s *Service) appendWatermarkChanges(dst []receiptChange, ctx context.Context, ref *convRef, c Caller, from, to uint64) []receiptChange {
	had := len(dst)
	_ = s.withEngine(ctx, ref.id, func(e *receipts.Conv) error {
		var buf [4]uint64 // the seqs go no further than this loop
		for _, seq := range s.appendAffected(buf[:0], e, ref.member, from, to, c.UserID) {
			t, _ := e.Tracked(seq)
			if ch := (receiptChange{Sender: t.Sender, Seq: seq}); !slices.Contains(dst[:had], ch) {
				dst = append(dst, ch)
			}
		}
		return nil
	})
	return dst
}

// affected lists the live receipts of others that a watermark move from
// from to to covered, leaving out those the member had already read one by
// one (before is its state before the move): their counts did not change.
func (s *Service) affected(e *receipts.Conv, before store.Member, from, to uint64, reader string) []uint64 {
	return s.appendAffected(nil, e, before, from, to, reader)
}

// appendAffected appends affected's seqs to dst, which must be empty.
func (s *Service) appendAffected(dst []uint64, e *receipts.Conv, before store.Member, from, to uint64, reader string) []uint64 {
	seqs := e.AppendAffected(dst, from, to, reader)
	if len(before.Acks) == 0 {
		return seqs
	}
	return slices.DeleteFunc(seqs, before.HasAck)
}

// settleDone settles receipts that are done for good and stops watching
// them: one store call and one op for them all, however many one read
// made done. The store need not have written them when it returns (a done
// receipt's settled flag is derived); if it refuses them, they stay
// watched, and done.
func (s *Service) settleDone(ctx context.Context, conv store.ConvID, seqs []uint64) {
	if len(seqs) == 0 {
		return
	}
	if err := s.store.SettleDone(context.WithoutCancel(ctx), conv, seqs); err != nil {
		s.log.WarnContext(ctx, "settle done receipts", "conv", conv, "seqs", seqs, "err", err)
		return
	}
	s.applyOp(ctx, syncOp{Kind: opUntrack, Conv: conv, Seqs: seqs})
}

// flushChanges sends one receipt.changed with the current counts of the
// changed messages to their sender, and settles those that are done.
func (s *Service) flushChanges(ctx context.Context, k coalesceKey, changes map[uint64]*pendingChange) {
	// Readers after this moment are left to the next report (hookReport).
	now := s.nowMs()
	seqs := slices.Sorted(maps.Keys(changes))
	// One store read per changed message per window, outside the engine lock.
	msgs := make([]store.Message, 0, len(seqs))
	for _, seq := range seqs {
		m, err := s.store.MessageAt(ctx, k.conv, seq)
		if err != nil {
			s.log.Warn("receipt.changed: read message", "conv", k.conv, "seq", seq, "err", err)
			continue
		}
		msgs = append(msgs, m)
	}
	ev := protocol.ReceiptChangedEvent{Conversation: wireConv(k.conv, k.sender)}
	rs, err := s.receiptsOf(ctx, k.conv, msgs)
	if err != nil {
		s.log.Warn("receipt.changed: engine", "conv", k.conv, "err", err)
		return
	}
	s.reportFlushed(ctx, k.conv, msgs, rs, changes, now)
	if k.hookOnly {
		return // a peer's reads: the peer heard at once, and they are settled
	}
	var done []uint64
	for i, m := range msgs {
		readers := changes[m.Seq].newReaders
		if readers == nil {
			readers = []string{}
		}
		// The list may hold more for webhooks (coalescer.hookReaders).
		readers = readers[:min(len(readers), maxNewReaders)]
		ev.Receipts = append(ev.Receipts, protocol.ChangedReceipt{Receipt: rs[i], NewReaders: readers})
		if rs[i].Status == protocol.StatusDone && !msgs[i].Settled {
			done = append(done, m.Seq)
		}
	}
	if len(ev.Receipts) > 0 {
		s.publish(ctx, s.receiptEventsTo(ctx, []string{k.sender}), "", protocol.EventReceiptChanged, ev)
		s.met.ReceiptChangedSent.Inc()
	}
	s.settleDone(ctx, k.conv, done)
}
