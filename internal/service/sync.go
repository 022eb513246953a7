package service

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/metrics"
	"github.com/seen-im/seen/internal/receipts"
	"github.com/seen-im/seen/internal/store"
)

// Engines across nodes (see docs/cluster.md, "Receipt engines across
// nodes"). Every change a node makes to an engine after a durable write
// is also published to the other nodes as a syncOp, before the client
// hears that the write is done; a node applies it to its engine if it has
// one loaded. The engine's merges are monotone (watermarks only rise,
// acks only add, tracking is keyed by seq), so ops applied in any order,
// or twice (an engine loaded from the store after the write, then the op),
// converge. A membership change is not replayed: the other nodes drop the
// conversation's engine and member list and reload them from the store.
// Reads that answer from an engine wait first for everything published
// before them to be applied here (syncBarrier).

// syncKind names what a syncOp does.
type syncKind byte

const (
	opRead    syncKind = iota + 1 // User read up to Seq at At (and T is tracked first, if set: a send)
	opDeliver                     // User has everything up to Seq, at At
	opAcks                        // User read each of Seqs singly, at At
	opTrack                       // T asks for receipts now
	opUntrack                     // Seq's receipt is settled, or each of Seqs' if set
	opDrop                        // Conv's membership changed: reload it
	opChanged                     // a receipt.changed entry for the conversation's coalescing node
	opHooks                       // the webhook endpoints changed: forget them (Conv is hooksConv)
)

// syncOp is one engine change, as it travels between nodes.
type syncOp struct {
	Kind    syncKind          `json:"k"`
	Conv    store.ConvID      `json:"c"`
	User    string            `json:"u,omitempty"` // the member; the new reader for opChanged
	Seq     uint64            `json:"s,omitempty"`
	Seqs    []uint64          `json:"q,omitempty"`
	At      int64             `json:"a,omitempty"`
	T       *receipts.Tracked `json:"t,omitempty"`
	Changes []receiptChange   `json:"h,omitempty"` // opChanged
	// Node is the node that coalesces Conv's receipt.changed, as the
	// publisher of an opChanged sees the cluster: that node, and no
	// other, takes the changes (ApplySync).
	Node string `json:"o,omitempty"`
}

// apply makes op's change to an engine.
func (op syncOp) apply(e *receipts.Conv) error {
	switch op.Kind {
	case opRead:
		if op.T != nil {
			e.Track(*op.T)
		}
		_, _, _, _, err := e.ReadUpTo(op.User, op.Seq, op.At)
		return err
	case opDeliver:
		_, _, _, _, err := e.DeliverUpTo(op.User, op.Seq, op.At)
		return err
	case opAcks:
		return readEach(e, op.User, op.Seqs, op.At)
	case opTrack:
		e.Track(*op.T)
	case opUntrack:
		if op.Seqs == nil {
			// One seq: an op from a node that sends them one by one.
			e.Untrack(op.Seq)
			break
		}
		e.UntrackAll(op.Seqs)
	default:
		return fmt.Errorf("sync op of kind %d does not apply to an engine", op.Kind)
	}
	return nil
}

// applyOp applies a change the store has made durable to this node's
// engine, and sends it to the other nodes'.
func (s *Service) applyOp(ctx context.Context, op syncOp) {
	s.applyEngine(ctx, op.Conv, op.apply)
	s.publishSync(ctx, op)
}

// readEach applies user's single reads of seqs at at: opAcks.
func readEach(e *receipts.Conv, user string, seqs []uint64, at int64) error {
	for _, seq := range seqs {
		if _, _, err := e.ReadOne(user, seq, at); err != nil {
			return err
		}
	}
	return nil
}

// applyAcks is applyOp of an opAcks op, with seqs not kept: the op sent
// to other nodes has a copy. The ack path calls it for every ack, and an
// op built for applyOp put its list on the heap (the op's encoding keeps
// it, as far as the compiler can tell), even on a single node.
func (s *Service) applyAcks(ctx context.Context, conv store.ConvID, user string, seqs []uint64, at int64) {
	s.applyEngine(ctx, conv, func(e *receipts.Conv) error { return readEach(e, user, seqs, at) })
	if !s.single {
		s.publishSync(ctx, syncOp{Kind: opAcks, Conv: conv, User: user, Seqs: slices.Clone(seqs), At: at})
	}
}

// recordSent applies a message just stored: tracked if it asks for
// receipts, and read by its sender up to it.
func (s *Service) recordSent(ctx context.Context, m store.Message) {
	op := syncOp{Kind: opRead, Conv: m.Conv, User: m.Sender, Seq: m.Seq, At: m.SentAt}
	if m.Receipt {
		t := s.tracked(m)
		op.T = &t
	}
	s.applyOp(ctx, op)
}

// publishSync sends op to the other nodes and returns once it has left
// this one. A failure is logged: the write is durable, and a node that
// missed the op learns of the loss (a reconnect, a silent node) and
// reloads.
func (s *Service) publishSync(ctx context.Context, op syncOp) {
	if s.single {
		// No other node: encoding op (a reflective json.Marshal and its
		// allocations on every ack) would be for nobody.
		return
	}
	data, err := json.Marshal(op)
	if err != nil {
		s.log.ErrorContext(ctx, "encode sync op", "err", err)
		return
	}
	if err := s.bus.PublishSync(context.WithoutCancel(ctx), data); err != nil {
		s.log.WarnContext(ctx, "publish sync op", "conv", op.Conv, "kind", op.Kind, "err", err)
	}
}

// ApplySync takes another node's engine change (bus.SyncReceiver). It
// runs on the bus's delivery goroutine, in order with that node's events.
func (s *Service) ApplySync(data []byte) {
	var op syncOp
	if err := json.Unmarshal(data, &op); err != nil || op.Conv == "" {
		s.log.Warn("dropping a malformed sync op", "err", err)
		// It may have been any conversation's.
		s.dropAll(metrics.ReloadLost)
		return
	}
	ctx := context.Background()
	switch op.Kind {
	case opHooks:
		s.hookEps.forget()
	case opDrop:
		ce := s.engines.pinLoaded(op.Conv)
		if ce == nil {
			return
		}
		defer s.engines.unpin(ce)
		ce.mu.Lock()
		s.unloadLocked(ce, metrics.ReloadRemote)
		ce.mu.Unlock()
	case opChanged:
		// The node the publisher named takes them, whatever this one
		// thinks of who coalesces: while two nodes disagree on which
		// nodes are live (one missed the other's heartbeats for a
		// while), each may think the other coalesces, and the changes,
		// with their new readers, would be nobody's. An op from a node
		// that names none is taken as before, by this node's view.
		node, self := s.coalescer(op.Conv)
		if op.Node != "" {
			node = op.Node
		}
		if node == self {
			s.addChanges(op.Conv, op.User, op.Changes)
		}
	default:
		ce := s.engines.pinLoaded(op.Conv)
		if ce == nil {
			return // the next load reads the store, which has the change
		}
		defer s.engines.unpin(ce)
		ce.mu.Lock()
		defer ce.mu.Unlock()
		if ce.conv == nil {
			return // the next load reads the store, which has the change
		}
		// As for a local write: receipts whose window closed before the
		// write are frozen before it can move their counts.
		now := s.nowMs()
		if op.At > 0 {
			now = min(now, op.At)
		}
		s.expireLocked(ctx, op.Conv, ce, now)
		if err := op.apply(ce.conv); err != nil {
			s.log.Warn("receipt engine out of step with another node; reloading", "conv", op.Conv, "err", err)
			s.unloadLocked(ce, metrics.ReloadOutOfStep)
		}
	}
}

// SyncLost drops every engine (bus.SyncReceiver): another node's changes
// may have been lost.
func (s *Service) SyncLost(reason string) {
	s.log.Warn("engine changes from other nodes may be lost: reloading every engine", "reason", reason)
	s.hookEps.forget() // an opHooks may have been among them
	if reason == bus.LostReconnect {
		s.dropAll(metrics.ReloadResync)
		return
	}
	s.dropAll(metrics.ReloadLost)
}

// syncBarrier waits until every engine change other nodes published
// before it has been applied here: what an engine answers next includes
// every write a client has been told is done. Never call it with an
// engine locked (the changes it waits for need the lock) nor from the
// bus's delivery goroutine.
func (s *Service) syncBarrier(ctx context.Context) error {
	if s.single {
		return nil // no other node publishes changes to wait for
	}
	once, _ := ctx.Value(barrierKey{}).(*barrierOnce)
	if once == nil {
		return s.barrier(ctx)
	}
	once.mu.Lock()
	defer once.mu.Unlock()
	if once.done {
		return nil
	}
	if err := s.barrier(ctx); err != nil {
		return err
	}
	once.done = true
	return nil
}

func (s *Service) barrier(ctx context.Context) error {
	if err := s.bus.Barrier(ctx); err != nil {
		return fmt.Errorf("wait for other nodes' engine changes: %w", err)
	}
	return nil
}

// barrierOnce lets one request pass one barrier: what was done before the
// request began is in after the first, so a history page or a
// conversation list that reads many receipts waits once, not once per
// message.
type barrierOnce struct {
	mu   sync.Mutex
	done bool // guarded by mu
}

type barrierKey struct{}

// withBarrierOnce gives a request's context its barrierOnce.
func withBarrierOnce(ctx context.Context) context.Context {
	return context.WithValue(ctx, barrierKey{}, &barrierOnce{})
}

// currentMemberIDs is memberIDs after a syncBarrier: the member list
// reflects every membership change made through any node so far. A
// failed barrier is logged, and the list this node has is used.
func (s *Service) currentMemberIDs(ctx context.Context, conv store.ConvID) ([]string, error) {
	if err := s.syncBarrier(ctx); err != nil {
		s.log.WarnContext(ctx, "member list may be stale", "conv", conv, "err", err)
	}
	return s.memberIDs(ctx, conv)
}

// receiptChange is one receipt message of conv whose counts changed.
type receiptChange struct {
	Sender string `json:"n"`
	Seq    uint64 `json:"s"`
}

// changed records receipt changes, reader being the new reader ("" for a
// delivery), for the coalescer of the node that coalesces conv: this
// one's, or sent to it in one message.
func (s *Service) changed(ctx context.Context, conv store.ConvID, reader string, chs []receiptChange) {
	if len(chs) == 0 {
		return
	}
	node, self := s.coalescer(conv)
	if node == self {
		s.addChanges(conv, reader, chs)
		return
	}
	// A copy: chs is the caller's, often on its stack.
	s.publishSync(ctx, syncOp{Kind: opChanged, Conv: conv, User: reader, Changes: slices.Clone(chs), Node: node})
}

func (s *Service) addChanges(conv store.ConvID, reader string, chs []receiptChange) {
	for _, ch := range chs {
		s.changes.add(coalesceKey{conv: conv, sender: ch.Sender}, ch.Seq, reader)
	}
}

// coalesces reports whether this node feeds conv's receipt.changed: one
// node per conversation among the live ones (rendezvous hashing, so a
// node coming or going moves only its own share), so that a sender gets
// one stream of events whichever nodes its readers use.
func (s *Service) coalesces(conv store.ConvID) bool {
	node, self := s.coalescer(conv)
	return node == self
}

// coalescer is the node that coalesces conv's receipt.changed as this
// node sees the cluster, and this node's id: equal when it is this one.
func (s *Service) coalescer(conv store.ConvID) (node, self string) {
	if s.single {
		return "", "" // and no list of nodes allocated per ack to say so
	}
	self, live := s.bus.Nodes()
	if len(live) <= 1 {
		return self, self
	}
	return owner(live, conv), self
}

// owner is the node of live with the highest hash of (node, conv).
func owner(live []string, conv store.ConvID) string {
	var best string
	var top uint64
	for _, n := range live {
		h := fnv.New64a()
		_, _ = h.Write([]byte(n))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write([]byte(conv))
		if v := h.Sum64(); best == "" || v > top || v == top && n < best {
			best, top = n, v
		}
	}
	return best
}
