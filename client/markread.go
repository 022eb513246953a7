package client

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/seen-im/seen/protocol"
)

// MarkRead records a single-message read of msgID in conv, like Read with
// one id, but calls for the same conversation share requests: while one
// message.read of a conversation is in flight, further MarkRead calls
// queue, and the next request carries all of them (up to 100 ids). An
// app that marks messages read one by one as they scroll into view sends
// one request per round trip instead of one per message, and a quiet
// conversation's read goes out at once, with no added delay.
//
// It returns when the server has recorded the read, with the error the
// server gave for this id. If ctx ends first it returns ctx's error; the
// read may still be recorded.
func (c *Client) MarkRead(ctx context.Context, conv protocol.Conversation, msgID string) error {
	w := &readWaiter{id: msgID, done: make(chan struct{}), turn: make(chan struct{})}
	if !c.reads.join(conv, w) {
		select {
		case <-w.done:
			return w.err
		case <-w.turn:
		case <-ctx.Done():
			if c.reads.leave(conv, w) {
				return ctx.Err()
			}
			// A batch took w, or w was handed the lead: see it through.
			select {
			case <-w.done:
				return w.err
			case <-w.turn:
			}
		}
	}
	c.flushReads(conv)
	<-w.done
	return w.err
}

// readWaiter is one MarkRead call.
type readWaiter struct {
	id   string
	err  error         // set before done is closed
	lead bool          // guarded by readQueues.mu: w leads (or is to)
	done chan struct{} // closed with the result
	turn chan struct{} // closed when w is handed the lead
}

// readQueue is a conversation's MarkRead calls waiting for a request.
type readQueue struct {
	waiting []*readWaiter
	busy    bool // a waiter leads: it sends the next batch
}

// readQueues are the client's MarkRead queues, one per conversation in
// use. The leader of a conversation sends one batch, its own id first,
// then hands the lead to the first waiter left, if any.
type readQueues struct {
	mu    sync.Mutex
	convs map[protocol.Conversation]*readQueue // guarded by mu
}

// join queues w and reports whether it leads.
func (rq *readQueues) join(conv protocol.Conversation, w *readWaiter) bool {
	rq.mu.Lock()
	defer rq.mu.Unlock()
	if rq.convs == nil {
		rq.convs = make(map[protocol.Conversation]*readQueue)
	}
	q := rq.convs[conv]
	if q == nil {
		q = &readQueue{}
		rq.convs[conv] = q
	}
	q.waiting = append(q.waiting, w)
	if !q.busy {
		q.busy, w.lead = true, true
	}
	return w.lead
}

// leave takes w out of its queue if no batch took it yet, and reports
// whether it did. A waiter that was handed the lead is not taken out: it
// must lead.
func (rq *readQueues) leave(conv protocol.Conversation, w *readWaiter) bool {
	rq.mu.Lock()
	defer rq.mu.Unlock()
	q := rq.convs[conv]
	if q == nil || w.lead {
		return false
	}
	i := slices.Index(q.waiting, w)
	if i < 0 {
		return false
	}
	q.waiting = slices.Delete(q.waiting, i, i+1)
	return true
}

// take removes the next batch of conv's waiters, the leader first.
func (rq *readQueues) take(conv protocol.Conversation) []*readWaiter {
	rq.mu.Lock()
	defer rq.mu.Unlock()
	q := rq.convs[conv]
	n := min(len(q.waiting), protocol.MaxMsgIDs)
	batch := slices.Clone(q.waiting[:n])
	q.waiting = slices.Delete(q.waiting, 0, n)
	return batch
}

// handOff ends a leader's turn: the first waiter left leads next, or the
// queue goes idle. It returns the new leader, if any.
func (rq *readQueues) handOff(conv protocol.Conversation) *readWaiter {
	rq.mu.Lock()
	defer rq.mu.Unlock()
	q := rq.convs[conv]
	if len(q.waiting) == 0 {
		delete(rq.convs, conv)
		return nil
	}
	next := q.waiting[0]
	next.lead = true
	return next
}

// flushReads sends one batch of conv's queued reads and hands the lead on.
func (c *Client) flushReads(conv protocol.Conversation) {
	batch := c.reads.take(conv)
	ids := make([]string, len(batch))
	for i, w := range batch {
		ids[i] = w.id
	}
	ctx, cancel := context.WithTimeout(c.ctx, ackTimeout)
	_, err := c.Read(ctx, protocol.ReadParams{Conversation: conv, MsgIDs: ids})
	var pe *protocol.Error
	if errors.As(err, &pe) && len(batch) > 1 {
		// The server refused the batch for one id (say, a message that is
		// not there): each id goes again alone, so each caller gets its own
		// answer and one bad id fails only its own caller.
		for _, w := range batch {
			_, w.err = c.Read(ctx, protocol.ReadParams{Conversation: conv, MsgIDs: []string{w.id}})
		}
	} else {
		for _, w := range batch {
			w.err = err
		}
	}
	cancel()
	next := c.reads.handOff(conv)
	for _, w := range batch {
		close(w.done)
	}
	if next != nil {
		close(next.turn)
	}
}
