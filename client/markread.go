package client

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/seen-im/seen/protocol"
)

// MarkRead records a single-message read of msgID in conv: Read with one
// id, sharing requests whatever WithReadBatching says. While one
// message.read of a conversation is in flight, further calls queue, and
// the next request carries all of them (up to 100 ids). An app that marks
// messages read one by one as they scroll into view sends one request per
// round trip instead of one per message, and a quiet conversation's read
// goes out at once, with no added delay.
//
// It returns when the server has recorded the read, with the error the
// server gave for this id. If ctx ends first it returns ctx's error; the
// read may still be recorded.
func (c *Client) MarkRead(ctx context.Context, conv protocol.Conversation, msgID string) error {
	_, err := c.queueRead(ctx, conv, []string{msgID})
	return err
}

// MarkReadAsync is MarkRead without the wait: it queues the read of msgID
// in conv, sharing requests as MarkRead does, and returns at once. done,
// if not nil, is called with what MarkRead would have returned, once the
// request that carried the read is answered or has failed (the client's
// Close fails it). Each request is bounded by the client's ack timeout.
//
// done runs on a goroutine of the client's, or on that of a MarkRead call
// that shared the request, one call after another: it must not block. It
// may call MarkReadAsync. A client that marks many messages read at once
// (a bot, a bridge, a load generator) needs no goroutine per read, where
// MarkRead holds one for each until the answer.
func (c *Client) MarkReadAsync(conv protocol.Conversation, msgID string, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	c.queueReadAsync(conv, []string{msgID}, func(_ int, err error) { done(err) })
}

// queueReadAsync is queueRead without the wait: done gets its result.
func (c *Client) queueReadAsync(conv protocol.Conversation, ids []string, done func(int, error)) {
	w := &readWaiter{ids: ids, async: done}
	if c.reads.join(conv, w) {
		c.leadAsync(conv)
	}
}

// leadAsync sends conv's queued reads on a new goroutine of the client's,
// whose front waiter is asynchronous: no caller waits to send them. Once
// Close has begun, no goroutine may start, and this one sends them itself
// (each fails at once).
func (c *Client) leadAsync(conv protocol.Conversation) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.flushReads(conv, true)
		return
	}
	c.wg.Add(1) // before Close's Wait: Close sets closed under c.mu first
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		c.flushReads(conv, true)
	}()
}

// queueRead is a Read of ids (1 to MaxMsgIDs) that shares a request with
// the other queued reads of conv. It returns how many of ids the server
// newly recorded (see attribute) or the error it gave for them.
func (c *Client) queueRead(ctx context.Context, conv protocol.Conversation, ids []string) (int, error) {
	w := &readWaiter{ids: ids, ctx: ctx, done: make(chan struct{}), turn: make(chan struct{})}
	if !c.reads.join(conv, w) {
		select {
		case <-w.done:
			return w.read, w.err
		case <-w.turn:
		case <-ctx.Done():
			switch c.reads.leave(conv, w) {
			case leftQueue, takenByBatch:
				// A batch that took w answers no one for it; the ids
				// may still be recorded, as ctx's error says.
				return 0, ctx.Err()
			case mustLead:
				// w was handed the lead: the waiters behind it need it
				// to send their batch, so it does, then returns.
				<-w.turn
			}
		}
	}
	c.flushReads(conv, false)
	<-w.done
	return w.read, w.err
}

// readWaiter is one queued Read, MarkRead or MarkReadAsync call.
type readWaiter struct {
	ids  []string
	ctx  context.Context // the caller's; bounds a request that carries only w
	read int             // set before done is closed
	err  error           // set before done is closed
	lead bool            // guarded by readQueues.mu: w leads (or is to)
	done chan struct{}   // closed with the result
	turn chan struct{}   // closed when w is handed the lead
	// async is MarkReadAsync's or ReadAsync's callback. An asynchronous
	// waiter has no ctx, done or turn: no goroutine of its own waits.
	async func(read int, err error)
}

// finish hands w its result.
func (w *readWaiter) finish() {
	if w.async != nil {
		w.async(w.read, w.err)
		return
	}
	close(w.done)
}

// readQueue is a conversation's read calls waiting for a request. It
// exists while a waiter leads.
type readQueue struct {
	waiting []*readWaiter
}

// readQueues are the client's read queues, one per conversation in use.
// The leader of a conversation sends one batch, its own ids first, then
// hands the lead to the first waiter left, if any.
type readQueues struct {
	mu    sync.Mutex
	convs map[protocol.Conversation]*readQueue // guarded by mu
}

// join queues w and reports whether it leads: it does when no request of
// conv is in flight, so a lone read goes out at once.
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
		w.lead = true
	}
	q.waiting = append(q.waiting, w)
	return w.lead
}

// leaveResult is what leave did.
type leaveResult int

const (
	leftQueue    leaveResult = iota // w was waiting and is out
	takenByBatch                    // a batch in flight carries w
	mustLead                        // w was handed the lead and must send
)

// leave takes w out of its queue if no batch took it yet.
func (rq *readQueues) leave(conv protocol.Conversation, w *readWaiter) leaveResult {
	rq.mu.Lock()
	defer rq.mu.Unlock()
	if w.lead {
		return mustLead
	}
	q := rq.convs[conv]
	if q == nil {
		return takenByBatch
	}
	i := slices.Index(q.waiting, w)
	if i < 0 {
		return takenByBatch
	}
	q.waiting = slices.Delete(q.waiting, i, i+1)
	return leftQueue
}

// take removes the next batch of conv's waiters, the leader first: as
// many as fit in one request of MaxMsgIDs ids.
func (rq *readQueues) take(conv protocol.Conversation) []*readWaiter {
	rq.mu.Lock()
	defer rq.mu.Unlock()
	q := rq.convs[conv]
	n, ids := 0, 0
	for _, w := range q.waiting {
		if n > 0 && ids+len(w.ids) > protocol.MaxMsgIDs {
			break
		}
		n++
		ids += len(w.ids)
	}
	batch := slices.Clone(q.waiting[:n])
	q.waiting = slices.Delete(q.waiting, 0, n)
	return batch
}

// handOff ends a leader's turn: the first waiter left leads next, or the
// queue goes away. It returns the new leader, if any.
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

// flushReads sends conv's queued reads as their leader: a batch, then the
// lead goes to the first waiter left. A synchronous waiter's own goroutine
// sends its batch. An asynchronous waiter's batch is sent by the goroutine
// that leads when it is the client's (owned), or by a new one of the
// client's: a MarkRead caller returns once its own batch is answered.
func (c *Client) flushReads(conv protocol.Conversation, owned bool) {
	for {
		batch := c.reads.take(conv)
		if len(batch) == 1 && batch[0].async == nil {
			// Shared with no one: the caller's own context bounds it, as
			// without batching.
			w := batch[0]
			res, err := c.readNow(w.ctx, protocol.ReadParams{Conversation: conv, MsgIDs: w.ids})
			w.read, w.err = res.Read, err
		} else {
			c.sendShared(conv, batch)
		}
		next := c.reads.handOff(conv)
		for _, w := range batch {
			w.finish()
		}
		switch {
		case next == nil:
			return
		case next.async == nil:
			close(next.turn)
			return
		case !owned:
			c.leadAsync(conv)
			return
		}
	}
}

// sendShared sends the ids of several callers as one message.read, bounded
// by the client's life and ackTimeout rather than one caller's context.
func (c *Client) sendShared(conv protocol.Conversation, batch []*readWaiter) {
	var ids []string
	for _, w := range batch {
		ids = append(ids, w.ids...)
	}
	ctx, cancel := context.WithTimeout(c.ctx, ackTimeout)
	defer cancel()
	read := func(part []string) (int, error) {
		res, err := c.readNow(ctx, protocol.ReadParams{Conversation: conv, MsgIDs: part})
		if err != nil && c.ctx.Err() != nil {
			// The client stopped, which ended ctx: say why (ErrClosed
			// after Close), as a call bounded by its caller's context would.
			if stop := c.Err(); stop != nil {
				err = stop
			}
		}
		return res.Read, err
	}
	n, err := read(ids)
	var pe *protocol.Error
	if errors.As(err, &pe) {
		// The server refused the batch for one id (say, a message that is
		// not there): each caller's ids go again alone, so each caller
		// gets its own answer and one bad id fails only its own caller.
		for _, w := range batch {
			w.read, w.err = read(w.ids)
		}
		return
	}
	for _, w := range batch {
		w.read, w.err = attribute(n, len(ids), len(w.ids)), err
	}
}

// attribute splits a shared request's count of newly recorded reads: the
// server counts the request, not each caller's part. When every id was
// new, each caller's part is exact; otherwise which ids were already read
// is unknown, and a caller gets at most its own number of ids.
func attribute(read, total, own int) int {
	if read >= total {
		return own
	}
	return min(read, own)
}
