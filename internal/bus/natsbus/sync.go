package natsbus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/seen-im/seen/internal/bus"
)

// syncTimeout bounds the round trip that PublishSync and Barrier make to
// the NATS server.
const syncTimeout = 5 * time.Second

// peer is another node as its heartbeats show it.
type peer struct {
	inc  string    // its incarnation: new each time its bus is made
	seen time.Time // its last heartbeat
	gone bool      // missing for PeerTimeout, until it beats again
}

// SetSync sets who receives other nodes' sync messages.
func (b *Bus) SetSync(r bus.SyncReceiver) { b.sync.Store(&r) }

// PublishSync sends data to every other node on <prefix>.sync, then waits
// for the NATS server's answer to a PING sent after it: the server has
// the message then, and has queued it to every other node before anything
// they ask afterwards (see Barrier).
func (b *Bus) PublishSync(ctx context.Context, data []byte) error {
	if err := b.send(b.syncSubj, encode(message{kind: kindSync, ev: bus.Event{Data: data}})); err != nil {
		return err
	}
	return b.flush(ctx)
}

// flush is a round trip to the NATS server. While the connection is
// down it fails at once rather than wait for a reconnect: nats.go would
// hold the PING until then, and every write and read with it.
func (b *Bus) flush(ctx context.Context) error {
	if !b.nc.IsConnected() {
		if b.nc.IsClosed() {
			return bus.ErrClosed
		}
		return fmt.Errorf("natsbus: flush: %w: not connected to NATS", bus.ErrUnavailable)
	}
	fctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	if err := b.nc.FlushWithContext(fctx); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return bus.ErrClosed
		}
		return fmt.Errorf("natsbus: flush: %w: %w", bus.ErrUnavailable, err)
	}
	return nil
}

// Barrier makes a round trip to the NATS server, then sends a marker
// through the delivery channel and waits for the delivery goroutine to
// reach it. The server answers this node's PING after it has queued to
// this node every message it took before (one connection's messages are
// written in order), and nats.go puts those messages on the delivery
// channel before it reads the answer: so everything another node had
// published before Barrier was called is delivered when it returns. With
// a NATS cluster of several servers a message may still be on a route
// between servers; see docs/cluster.md.
func (b *Bus) Barrier(ctx context.Context) error {
	if err := b.flush(ctx); err != nil {
		return err
	}
	mark := &nats.Msg{} // no subject: run knows it from real messages
	reached := make(chan struct{})
	b.marksMu.Lock()
	b.marks[mark] = reached
	b.marksMu.Unlock()
	drop := func() {
		b.marksMu.Lock()
		delete(b.marks, mark)
		b.marksMu.Unlock()
	}
	select {
	case b.in <- mark:
	case <-ctx.Done():
		drop()
		return fmt.Errorf("natsbus: barrier: %w", ctx.Err())
	case <-b.done:
		drop()
		return bus.ErrClosed
	}
	select {
	case <-reached:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("natsbus: barrier: %w", ctx.Err())
	case <-b.done:
		return bus.ErrClosed
	}
}

// reachMark releases the Barrier waiting for mark.
func (b *Bus) reachMark(mark *nats.Msg) {
	b.marksMu.Lock()
	ch := b.marks[mark]
	delete(b.marks, mark)
	b.marksMu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// applySync hands a sync message to the receiver.
func (b *Bus) applySync(data []byte) {
	if r := b.sync.Load(); r != nil {
		(*r).ApplySync(data)
	}
}

// lost tells the receiver that messages from other nodes may be lost.
func (b *Bus) lost(reason string) {
	if r := b.sync.Load(); r != nil {
		(*r).SyncLost(reason)
	}
}

// Nodes returns this node's id and the live nodes' ids, sorted.
func (b *Bus) Nodes() (string, []string) {
	b.peersMu.Lock()
	defer b.peersMu.Unlock()
	live := []string{b.id}
	for id, p := range b.peers {
		if !p.gone {
			live = append(live, id)
		}
	}
	slices.Sort(live)
	return b.id, live
}

// heartbeat publishes this node's heartbeat every Heartbeat and marks the
// peers missing for PeerTimeout as gone, until Close.
func (b *Bus) heartbeat() {
	defer b.beats.Done()
	t := time.NewTicker(b.o.Heartbeat)
	defer t.Stop()
	beat := appendString(appendString(nil, b.id), b.inc)
	// The first beat says hello: the nodes that hear it answer at once
	// (onBeat), so this one knows them before it serves (discover).
	hello := append(beat[:len(beat):len(beat)], beatHello)
	if err := b.nc.Publish(b.nodesSubj, hello); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		b.log.Warn("heartbeat", "err", err)
	}
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		if err := b.nc.Publish(b.nodesSubj, beat); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			b.log.Warn("heartbeat", "err", err)
		}
		var gone []string
		now := time.Now()
		b.peersMu.Lock()
		for id, p := range b.peers {
			if !p.gone && now.Sub(p.seen) > b.o.PeerTimeout {
				p.gone = true
				gone = append(gone, id)
			}
		}
		b.peersMu.Unlock()
		if len(gone) > 0 {
			// It may have committed writes whose sync messages never
			// left it.
			b.log.Warn("nodes gone silent: dropping what was built from their messages", "nodes", gone)
			b.lost(bus.LostPeer)
		}
	}
}

// beatHello ends a node's first heartbeat: the nodes that receive it
// answer with a heartbeat at once.
const beatHello = 1

// discover waits, after this node's hello, for the nodes already running
// to answer: up to Discover for the first answer, then while answers keep
// coming within a fifth of it, a second in all at most. A node that
// serves knowing its peers agrees with them at once on which node
// coalesces a conversation's receipt.changed (Service.coalesces); the
// peers learn of it from the hello itself. Answers that come later still
// count, as heartbeats; the window of disagreement is then up to one
// heartbeat (docs/cluster.md).
func (b *Bus) discover() {
	if b.o.Discover < 0 {
		return
	}
	deadline := time.NewTimer(time.Second)
	defer deadline.Stop()
	wait := b.o.Discover
	for {
		t := time.NewTimer(wait)
		select {
		case <-b.answered:
			t.Stop()
			wait = max(b.o.Discover/5, time.Millisecond)
			continue
		case <-t.C:
		case <-deadline.C:
			t.Stop()
		}
		return
	}
}

// onBeat records another node's heartbeat.
func (b *Bus) onBeat(m *nats.Msg) {
	r := reader{b: m.Data}
	id, inc := r.string(), r.string()
	hello := len(r.b) > 0 && r.b[0] == beatHello
	if r.err != nil || id == "" {
		b.log.Warn("dropping a malformed heartbeat", "subject", m.Subject)
		return
	}
	if id == b.id {
		// Another node with this node's name: counting it as this node
		// restarting over and over would drop every engine each beat.
		b.dupOnce.Do(func() { b.log.Error("another node has this node's name: give each node its own", "name", id) })
		return
	}
	b.peersMu.Lock()
	p := b.peers[id]
	var why string
	switch {
	case p == nil:
		p = &peer{inc: inc}
		b.peers[id] = p
	case p.inc != inc:
		why = "restarted" // its last writes may never have been sent
	case p.gone:
		why = "back" // what it wrote while it was away may be missing here
	}
	p.inc, p.seen, p.gone = inc, time.Now(), false
	b.peersMu.Unlock()
	if hello {
		// A node starting: answer now rather than at the next beat.
		if err := b.nc.Publish(b.nodesSubj, appendString(appendString(nil, b.id), b.inc)); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			b.log.Warn("heartbeat", "err", err)
		}
	} else {
		select {
		case b.answered <- struct{}{}:
		default:
		}
	}
	if why != "" {
		b.log.Warn("node "+why+": dropping what was built from its messages", "node", id)
		b.lost(bus.LostPeer)
	}
}
