package ws

import (
	"context"
	"time"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/protocol"
)

// A connection's send queue holds every frame not yet written to its
// socket, responses and events together, and is bounded in bytes by
// Config.MaxQueueBytes (the budget):
//
//   - Over the budget, the reader reads no more frames (back-pressure): a
//     client that pipelines requests and does not read the answers stops
//     being read.
//   - A response is always queued, even over the budget, so a single
//     response larger than the budget (a page of large bodies) is sent.
//     Responses to requests are bounded by MaxInflight instead: a request's
//     in-flight slot is freed when its response is written, not queued.
//     Of those, at most MaxPagesInflight may be methods whose answer can be
//     a page of whole messages (message.history, conversation.list).
//   - An event that would put more than the budget of events (or more than
//     SendQueue events) in the queue drops the client at once: the bus
//     never waits for a slow reader.
//   - A connection over the budget for longer than WriteTimeout is dropped.
//
// So a connection holds at most MaxQueueBytes of events, MaxPagesInflight
// pages of up to 100 whole messages, and MaxInflight small responses in
// memory: about 16 MB with the defaults, whatever the client does.

// outFrame is one frame waiting to be written.
type outFrame struct {
	b     []byte
	event bool // counts against the event limits
	slot  bool // holds a request's in-flight slot, freed once b is written
	page  bool // holds a page slot too (see MaxPagesInflight)
}

// release frees the slots f holds once it is written or never will be.
func (c *conn) release(f outFrame) {
	if f.slot {
		<-c.sem
	}
	if f.page {
		<-c.pages
	}
}

// enqueue adds a frame to the send queue and makes sure a writer runs. It
// reports false, queueing nothing, for an event beyond the queue's event
// limits.
func (c *conn) enqueue(f outFrame) bool {
	ok, _ := c.push(f, false)
	return ok
}

// enqueueAndWrite queues a response and, if no writer runs, writes the
// queue on the calling goroutine instead of starting one: a request's
// worker may block on the socket (its in-flight slot is held until the
// response is written anyway); the bus's delivery, which must not, uses
// enqueue.
func (c *conn) enqueueAndWrite(f outFrame) {
	if _, write := c.push(f, true); write {
		c.writer()
	}
}

// push queues f (see enqueue). With inline, a writer is not started but
// reported: the caller must then run c.writer itself.
func (c *conn) push(f outFrame, inline bool) (ok, write bool) {
	f.b = wireText(f.b)
	n := int64(len(f.b))
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.dead || c.ctx.Err() != nil {
		// The connection is going; nothing to write any more.
		c.release(f)
		return true, false
	}
	if f.event {
		// One event may exceed the budget on its own, as a response may.
		if c.events >= c.h.o.Config.SendQueue || (c.evbytes > 0 && c.evbytes+n > c.h.o.Config.MaxQueueBytes) {
			return false, false
		}
		c.events++
		c.evbytes += n
	}
	if c.queue == nil && c.spare != nil {
		// The array of the last batch written: no new one per response.
		c.queue, c.spare = c.spare, nil
	}
	c.queue = append(c.queue, f)
	c.h.o.Metrics.SendQueue.Add(1)
	c.qbytes += n
	c.h.o.Metrics.SendQueueBytes.Add(n)
	if c.qbytes > c.h.o.Config.MaxQueueBytes && c.overSince.IsZero() {
		c.overSince = time.Now()
		if c.overTimer == nil {
			c.overTimer = time.AfterFunc(c.h.writeTimeout(), c.overCheck)
		} else {
			c.overTimer.Reset(c.h.writeTimeout())
		}
	}
	if inline {
		return true, c.claimWriterLocked()
	}
	c.startWriterLocked()
	return true, false
}

// uncountLocked uncounts frames that were written or never will be. c.qmu
// is held.
func (c *conn) uncountLocked(frames []outFrame) {
	var n, ev int64
	for _, f := range frames {
		n += int64(len(f.b))
		if f.event {
			ev += int64(len(f.b))
		}
	}
	c.qbytes -= n
	c.evbytes -= ev
	c.h.o.Metrics.SendQueue.Add(-int64(len(frames)))
	c.h.o.Metrics.SendQueueBytes.Add(-n)
	if c.qbytes <= c.h.o.Config.MaxQueueBytes {
		c.overSince = time.Time{}
		if c.room != nil {
			close(c.room)
			c.room = nil
		}
	}
}

// waitRoom waits until the queue is within its budget; it reports false if
// ctx ended first.
func (c *conn) waitRoom(ctx context.Context) bool {
	c.qmu.Lock()
	if c.qbytes <= c.h.o.Config.MaxQueueBytes {
		c.qmu.Unlock()
		return true
	}
	if c.room == nil {
		c.room = make(chan struct{})
	}
	room := c.room
	c.qmu.Unlock()
	select {
	case <-room:
		return true
	case <-ctx.Done():
		return false
	}
}

// overCheck runs from the over-budget timer: a connection whose queue has
// stayed over its budget for WriteTimeout is dropped; one that went under
// meanwhile (and perhaps over again) is checked again later.
func (c *conn) overCheck() {
	c.qmu.Lock()
	if c.dead || c.ctx.Err() != nil || c.overSince.IsZero() {
		c.qmu.Unlock()
		return
	}
	if left := c.h.writeTimeout() - time.Since(c.overSince); left > 0 {
		c.overTimer.Reset(left)
		c.qmu.Unlock()
		return
	}
	queued := c.qbytes
	c.workers.Add(1)
	c.qmu.Unlock()
	defer c.workers.Done()
	c.h.o.Metrics.SlowDrops.Inc()
	c.h.log.Info("dropping slow client: send queue over budget", "conn", c.id, "user", c.caller.UserID,
		"queued_bytes", queued, "for", c.h.writeTimeout())
	c.abort()
}

// startWriterLocked starts a writer unless one runs. c.qmu is held.
func (c *conn) startWriterLocked() {
	if c.claimWriterLocked() {
		go c.writer()
	}
}

// claimWriterLocked makes the caller the writer, counted in c.workers,
// unless one runs: if it reports true the caller must run c.writer. c.qmu
// is held.
func (c *conn) claimWriterLocked() bool {
	if c.writing || c.dead {
		return false
	}
	c.writing = true
	c.workers.Add(1)
	return true
}

// requestClose asks for the socket to be closed with a status once what is
// queued is written. The first request wins.
func (c *conn) requestClose(code websocket.StatusCode, reason string) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.closing == nil {
		c.closing = &closeReq{code, reason}
	}
	c.startWriterLocked()
}

// writer writes queued frames until the queue is empty, then exits; if a
// close was requested, it closes the socket once everything is written.
func (c *conn) writer() {
	defer c.workers.Done()
	for {
		c.qmu.Lock()
		batch, closing := c.queue, c.closing
		c.queue, c.events = nil, 0
		if len(batch) == 0 {
			if closing == nil {
				c.writing = false
				c.qmu.Unlock()
				return
			}
			c.qmu.Unlock()
			_ = c.ws.Close(closing.code, closing.reason)
			c.cancel()
			return
		}
		c.qmu.Unlock()
		if c.bc != nil && len(batch) > 1 {
			c.bc.cork()
		}
		for i, f := range batch {
			ok := c.write(f.b)
			c.qmu.Lock()
			if ok {
				c.uncountLocked(batch[i : i+1])
			} else {
				c.uncountLocked(batch[i:])
			}
			c.qmu.Unlock()
			if !ok {
				c.cancel()
				return
			}
			c.release(f)
		}
		if c.bc != nil {
			if err := c.bc.uncork(); err != nil {
				c.h.log.Debug("write", "conn", c.id, "err", err)
				c.cancel()
				return
			}
		}
		if cap(batch) <= maxSpareFrames {
			// Written, released: the array holds nothing the next batch
			// needs, and no pointer to what was written.
			clear(batch)
			c.qmu.Lock()
			c.spare = batch[:0]
			c.qmu.Unlock()
		}
	}
}

// maxSpareFrames bounds the queue array a connection keeps between
// batches: a burst's long queue is left to the collector.
const maxSpareFrames = 64

func (c *conn) write(b []byte) bool {
	// c.ctx closes the socket when it ends (serve), which stops the write.
	ctx := context.Background()
	if c.bc == nil {
		// A batchConn bounds each write itself; without one the context
		// does.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(c.ctx, c.h.writeTimeout())
		defer cancel()
	}
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.h.log.Debug("write", "conn", c.id, "err", err)
		return false
	}
	return true
}

// MaxPagesInflight bounds, per connection, the requests whose answer may
// be a page of up to 100 whole messages (a few MB with large bodies) that
// are in progress or not yet written. Without it, MaxInflight such pages
// could wait for a client that does not read: about 200 MB with the
// defaults. Four keep a client's history loads and list refreshes in
// parallel.
const MaxPagesInflight = 4

// isPageMethod reports whether MaxPagesInflight bounds method.
func isPageMethod(method string) bool {
	return method == protocol.MethodMessageHistory || method == protocol.MethodConversationList
}
