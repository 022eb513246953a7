package ws

import (
	"encoding/json"
	"time"

	"github.com/seen-im/seen/protocol"
)

// Requests run on the connection's workers, not on a goroutine each. A
// fresh goroutine per request cost its creation, a small stack grown by
// copying as the request went deep (JSON, the store, the engine), and its
// exit: about an eighth of a read ack's instructions. A worker keeps its
// grown stack from one request to the next, and writes the response
// itself when no writer runs, so a request and its answer need no
// goroutine but the one that ran it.
//
// Workers start on demand, one per request in progress at most (a request
// holds an in-flight slot until its response is written, and a new worker
// starts only when none waits for work), and exit after workerIdle
// without work, so an idle connection keeps only its reader.

// workerIdle is how long a worker waits for a request before it exits:
// long enough to outlast the gaps of a client acking as it reads, short
// enough that a connection gone quiet soon holds only its reader.
const workerIdle = time.Second

// job is one request for a worker.
type job struct {
	id   json.RawMessage
	req  protocol.Request
	page bool
	buf  *[]byte // the frame's pooled buffer, put back once answered; or nil
}

// run hands j to a waiting worker, or starts one. It is called from the
// reader only, with j's in-flight slot held; the slots bound the workers.
func (c *conn) run(j job) {
	c.handoffs.Add(1)
	select {
	case c.jobs <- j:
		return
	default:
	}
	if int(c.nworkers.Load()) >= c.h.o.Config.MaxInflight {
		// Every worker is busy or about to wait for work: one will take j.
		select {
		case c.jobs <- j:
		case <-c.ctx.Done():
			c.dropJob(j)
		}
		return
	}
	c.nworkers.Add(1)
	c.runners.Add(1)
	go c.worker(j)
}

// dropJob gives back what a request that will not run holds.
func (c *conn) dropJob(j job) {
	<-c.sem
	if j.page {
		<-c.pages
	}
	c.inflight.Done()
}

// worker runs j, then the requests handed to it, until it has waited
// workerIdle for one or the connection ends.
func (c *conn) worker(j job) {
	defer c.runners.Done()
	defer c.nworkers.Add(-1)
	var idle *time.Timer
	for {
		c.runJob(j)
		select {
		case j = <-c.jobs:
			continue
		default:
		}
		if idle == nil {
			idle = time.NewTimer(workerIdle)
			defer idle.Stop()
		} else {
			idle.Reset(workerIdle)
		}
		select {
		case j = <-c.jobs:
		case <-idle.C:
			return
		case <-c.ctx.Done():
			return
		}
	}
}

// runJob runs one request and queues its response, writing it at once if
// no writer runs.
func (c *conn) runJob(j job) {
	defer c.inflight.Done()
	start := time.Now()
	ctx := newRequestCtxAt(c.ctx, start, c.h.o.Config.RequestTimeout) // one clock read for both
	res, pe := c.dispatch(ctx, j.req)
	ctx.cancel()
	mm := c.requestMetrics(j.req.Method)
	mm.duration.Observe(time.Since(start).Seconds())
	// The slot goes with the response and is freed once it is written,
	// not queued: a client that does not read cannot have more than
	// MaxInflight responses waiting.
	c.enqueueAndWrite(outFrame{b: c.responseWith(ctx.resp[:0], mm, j.id, j.req.Method, res, pe), slot: true, page: j.page})
	if j.buf != nil {
		frameBufs.Put(j.buf)
	}
}
