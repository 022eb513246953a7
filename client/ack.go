package client

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/seen-im/seen/protocol"
)

// acker batches automatic message.delivered acks: it remembers the highest
// seq received per conversation and, a delay after the first one, sends one
// ack per conversation.
type acker struct {
	delay time.Duration
	send  func(ctx context.Context, conv protocol.Conversation, seq uint64) error
	after func(time.Duration) <-chan time.Time // time.After; tests control it
	log   *slog.Logger

	kick chan struct{} // cap 1: there is something to flush

	mu      sync.Mutex
	pending map[protocol.Conversation]uint64 // guarded by mu; to ack at the next flush
	acked   map[protocol.Conversation]uint64 // guarded by mu; highest seq the server took
}

func newAcker(delay time.Duration, log *slog.Logger,
	send func(context.Context, protocol.Conversation, uint64) error) *acker {
	return &acker{
		delay:   delay,
		send:    send,
		after:   time.After,
		log:     log,
		kick:    make(chan struct{}, 1),
		pending: make(map[protocol.Conversation]uint64),
		acked:   make(map[protocol.Conversation]uint64),
	}
}

// note records that seq of conv arrived. It never waits.
func (a *acker) note(conv protocol.Conversation, seq uint64) {
	a.mu.Lock()
	if seq <= a.acked[conv] || seq <= a.pending[conv] {
		a.mu.Unlock()
		return
	}
	a.pending[conv] = seq
	a.mu.Unlock()
	a.wake()
}

// wake asks for a flush after the delay.
func (a *acker) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// run flushes a delay after each wake until ctx ends.
func (a *acker) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		}
		select {
		case <-ctx.Done():
			return
		case <-a.after(a.delay):
		}
		a.flush(ctx)
	}
}

// flush sends what is pending, one ack per conversation. Acks that failed
// because the connection is down go back to pending and wait for the next
// wake (the client wakes the acker after a reconnect); other errors are
// logged and the ack dropped, as the server would refuse it again.
func (a *acker) flush(ctx context.Context) {
	a.mu.Lock()
	batch := a.pending
	a.pending = make(map[protocol.Conversation]uint64)
	a.mu.Unlock()

	for conv, seq := range batch {
		if ctx.Err() != nil {
			return
		}
		err := a.send(ctx, conv, seq)
		switch {
		case err == nil:
			a.mu.Lock()
			if seq > a.acked[conv] {
				a.acked[conv] = seq
			}
			a.mu.Unlock()
			delete(batch, conv)
		case errors.Is(err, ErrDisconnected):
			a.log.Debug("seen client: delivered acks wait for the connection", "err", err)
			a.requeue(batch)
			return
		default:
			a.log.Warn("seen client: delivered ack failed",
				"conversation", conv.String(), "seq", seq, "err", err)
			delete(batch, conv)
		}
	}
}

// requeue puts unsent acks back, keeping the higher seq of each.
func (a *acker) requeue(batch map[protocol.Conversation]uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for conv, seq := range batch {
		if seq > a.pending[conv] && seq > a.acked[conv] {
			a.pending[conv] = seq
		}
	}
}
