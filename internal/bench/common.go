package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/jsonwalk"
	"github.com/seen-im/seen/protocol"
)

// callTimeout bounds one request of a scenario.
const callTimeout = 30 * time.Second

// readerQueue is the least event queue of clients that only receive
// messages; see readerQueueFor.
const readerQueue = 256

// readerQueueFor is the event queue of a reader in a run of `messages`
// messages. The reader's handler never blocks, but on a machine the
// generator shares with the server its dispatch goroutine can fall behind
// the socket while a window of sends fans out, and the SDK drops what its
// queue cannot hold: a queue that holds the whole run drops nothing. It
// stays within the SDK's default, as 4096 entries cost ~230 KiB a client.
func readerQueueFor(messages int) int {
	return min(client.DefaultEventQueue, max(readerQueue, messages+16))
}

// stampedBody is a message body carrying its send time, so any process on
// the machine can measure send -> message.new.
func stampedBody(t time.Time) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"t":%d,"text":"seen bench"}`, t.UnixNano()))
}

// sentAt reads the send time of a stamped body (zero if absent). A body
// as stampedBody writes it is read in place: decoding every member's body
// with encoding/json cost the load generator a twelfth of its CPU, which
// it shares with the server it measures.
func sentAt(body json.RawMessage) time.Time {
	const head = `{"t":`
	var t int64
	if bytes.HasPrefix(body, []byte(head)) {
		if j, ok := jsonwalk.Int(body, len(head), &t); ok && j < len(body) && body[j] == ',' && t != 0 {
			return time.Unix(0, t)
		}
	}
	var b struct {
		T int64 `json:"t"`
	}
	if json.Unmarshal(body, &b) != nil || b.T == 0 {
		return time.Time{}
	}
	return time.Unix(0, b.T)
}

// readTracker matches reads to the receipt events that report them at the
// sender (receipt.read for peers, receipt.changed for groups), for the
// read -> receipt latency. It only sees the reads of this process.
//
// A read is a value in its message's slice, with no pointer of its own
// and no closure: a run of a million reads keeps the collector's work and
// the generator's allocations off the figures it measures.
type readTracker struct {
	base    time.Time // the times below count from it
	mu      sync.Mutex
	pending map[string]*msgReads // guarded by mu; by msgId
}

// msgReads are the tracked reads of one message. Guarded by readTracker.mu.
type msgReads struct {
	reads []pendingRead
	open  int // reads not recorded yet
}

type pendingRead struct {
	user     string
	issued   time.Duration // since readTracker.base
	answered time.Duration // since readTracker.base; 0 until the read's response arrived
	recorded bool
}

// readTicket is one issued read; answered notes its response. The zero
// ticket tracks nothing.
type readTicket struct {
	t *readTracker
	m *msgReads
	i int
}

func newReadTracker() *readTracker {
	return &readTracker{base: time.Now(), pending: make(map[string]*msgReads)}
}

// issue notes that user is about to read msgID.
func (t *readTracker) issue(msgID, user string) readTicket {
	now := time.Since(t.base)
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.pending[msgID]
	if m == nil {
		m = &msgReads{}
		t.pending[msgID] = m
	}
	m.reads = append(m.reads, pendingRead{user: user, issued: now})
	m.open++
	return readTicket{t: t, m: m, i: len(m.reads) - 1}
}

// answered notes that the read's response arrived.
func (k readTicket) answered() {
	if k.t == nil {
		return
	}
	now := max(time.Since(k.t.base), 1) // 0 means not answered
	k.t.mu.Lock()
	k.m.reads[k.i].answered = now
	k.t.mu.Unlock()
}

// reported attributes the event that reached the sender at `at` about
// msgID: reads by the users it names, and reads answered before it
// arrived (their effect is in the counts the event carries), are done.
// Each read records at most once.
func (t *readTracker) reported(msgID string, users []string, at time.Time, h *Histogram) {
	since := at.Sub(t.base)
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.pending[msgID]
	if m == nil {
		return
	}
	for i := range m.reads {
		p := &m.reads[i]
		if p.recorded {
			continue
		}
		if slices.Contains(users, p.user) || (p.answered != 0 && p.answered < since) {
			h.Record(since - p.issued)
			p.recorded = true
			m.open--
		}
	}
	if m.open == 0 {
		delete(t.pending, msgID)
	}
}

// ack acknowledges one received message as an app with the conversation
// open would: message.delivered (when delivered is set), then message.read.
// It records send -> message.new first.
// readerHandlers are the handlers of a client that acks every message it
// accepts (delivered, if asked, then read) and times the receipt.read
// events that report reads to it as a sender.
// Each ack runs on acks, so a reader's acks overlap.
func (e *env) readerHandlers(self *atomic.Pointer[client.Client], user string, accept func(protocol.Message) bool,
	delivered bool, tr *readTracker, received, acked *atomic.Int64, acks *goPool) client.Handlers {
	h := e.countEvents()
	h.Message = func(m protocol.Message) {
		if !accept(m) {
			return
		}
		received.Add(1)
		acks.Go(func() {
			defer acked.Add(1)
			e.ack(await(self), user, m, delivered, false, tr)
		})
	}
	h.ReceiptRead = func(ev protocol.ReceiptReadEvent) {
		now := time.Now()
		for _, id := range ev.MsgIDs {
			tr.reported(id, []string{ev.UserID}, now, e.rec.Hist(LatReadToRcpt))
		}
	}
	return h
}

func (e *env) ack(c *client.Client, user string, m protocol.Message, delivered, markRead bool, tr *readTracker) {
	if t := sentAt(m.Body); !t.IsZero() {
		e.rec.Hist(LatSendToNew).Record(time.Since(t))
	}
	ctx := e.ackDeadline.get(time.Now())
	if delivered {
		_ = e.rec.Timed(protocol.MethodMessageDelivered, func() error {
			return c.Delivered(ctx, protocol.DeliveredParams{Conversation: m.Conversation, Seq: m.Seq})
		})
	}
	var ticket readTicket
	if tr != nil && m.Receipt != nil {
		ticket = tr.issue(m.MsgID, user)
	}
	_ = e.rec.Timed(protocol.MethodMessageRead, func() error {
		if markRead {
			// Concurrent reads of one conversation share requests.
			return c.MarkRead(ctx, m.Conversation, m.MsgID)
		}
		_, err := c.Read(ctx, protocol.ReadParams{Conversation: m.Conversation, MsgIDs: []string{m.MsgID}})
		return err
	})
	ticket.answered()
}

// ackAsync is ack's read through the SDK's MarkReadAsync, as an app that
// marks many messages read would, with no goroutine waiting for each:
// done runs when the read is answered (or has failed).
func (e *env) ackAsync(c *client.Client, user string, m protocol.Message, tr *readTracker, done func()) {
	if t := sentAt(m.Body); !t.IsZero() {
		e.rec.Hist(LatSendToNew).Record(time.Since(t))
	}
	var ticket readTicket
	if tr != nil && m.Receipt != nil {
		ticket = tr.issue(m.MsgID, user)
	}
	start := time.Now()
	c.MarkReadAsync(m.Conversation, m.MsgID, func(err error) {
		e.rec.Observe(protocol.MethodMessageRead, start, time.Now(), err)
		ticket.answered()
		done()
	})
}

// waitFor polls cond every step until it holds or ctx ends; it reports
// whether cond held.
func waitFor(ctx context.Context, step time.Duration, cond func() bool) bool {
	t := time.NewTicker(step)
	defer t.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-ctx.Done():
			return cond()
		case <-t.C:
		}
	}
}

// sampleRSS starts a server memory sample; the returned function finishes
// it. Both are no-ops without a server PID.
func (e *env) sampleRSS(rep *Report) func() {
	if e.o.ServerPID == 0 {
		return func() {}
	}
	before, err := RSSKiB(e.o.ServerPID)
	if err != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("server RSS: %v", err))
		return func() {}
	}
	return func() {
		after, err := RSSKiB(e.o.ServerPID)
		if err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("server RSS: %v", err))
			return
		}
		rep.Server = &ServerMem{PID: e.o.ServerPID, RSSBeforeK: before, RSSAfterK: after}
	}
}

// shardRange returns the part [lo, hi) of 0..n-1 that shard s of k
// handles: contiguous, sizes differing by at most one.
func shardRange(n, s, k int) (lo, hi int) {
	return n * s / k, n * (s + 1) / k
}

// newReport starts the report of a scenario.
func (e *env) newReport(name string, params map[string]any) *Report {
	return &Report{
		Scenario: name,
		Shard:    fmt.Sprintf("%d/%d", e.o.Shard, e.o.Shards),
		Params:   params,
		Started:  time.Now(),
	}
}

// finish fills the report from the recorder.
func (e *env) finish(rep *Report) *Report {
	rep.fill(e.rec, time.Since(rep.Started))
	rep.OK = rep.Passed()
	return rep
}

// senderHandlers counts every event a sender receives.
func (e *env) countEvents() client.Handlers {
	return client.Handlers{Event: func(method string, _ json.RawMessage) { e.rec.SenderEvent(method) }}
}

// serverRequests reads how many requests of method the server has answered
// (every code, every client) from its /metrics, which the server serves
// with the admin API and behind its key; ok is false if it cannot.
func (e *env) serverRequests(ctx context.Context, method string) (n int64, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.o.AdminURL+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	req.Header.Set("Authorization", "Bearer "+e.o.AdminKey)
	resp, err := e.admin.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	prefix := "seen_requests_total{"
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) || !strings.Contains(line, `method="`+method+`"`) {
			continue
		}
		_, v, _ := strings.Cut(line, "} ")
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false
		}
		n += int64(f)
	}
	// A server that has not answered the method yet has no line for it.
	return n, sc.Err() == nil
}
