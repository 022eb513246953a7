package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/protocol"
)

// GroupParams configure the group and storm scenarios.
type GroupParams struct {
	// Members is the group's size, the sender included.
	Members int
	// Connected is how many members besides the sender connect and read
	// every message, over all shards; default Members-1 (everyone).
	Connected int
	// Messages is how many receipt messages the sender sends; 0 runs the
	// setup and connects only.
	Messages int
	// Interval separates two sends.
	Interval time.Duration
	// Window is how many sends the sender keeps in flight; 0 or 1 sends
	// one at a time, each after the last one's answer. A wider window
	// lets messages reach a member faster than it reads them one by one,
	// as in a busy group, where a member's reads can share requests.
	Window int
	// NoRead has the readers receive every message without acking it:
	// with the same sends and fan-out as a run that reads, the baseline
	// scripts/instructions-per-ack.sh subtracts to get what the acks cost.
	NoRead bool
	// Delivered sends message.delivered before each read.
	Delivered bool
	// MarkRead reads through the SDK's MarkRead, which lets a member's
	// reads of the conversation share message.read requests, instead of
	// one message.read per message; without Delivered, through
	// MarkReadAsync, with no goroutine waiting for each read.
	MarkRead bool
	// Setup creates the users and the group (shard 0 only).
	Setup bool
	// MaxChangedPerSec, when positive, is checked: the most receipt.changed
	// events the sender may get per second in the conversation.
	MaxChangedPerSec int
}

// groupRun is the state of one group or storm run in this process.
type groupRun struct {
	e     *env
	p     GroupParams
	rep   *Report
	group protocol.Conversation
	users func(i int) string
	tr    *readTracker

	readsDone atomic.Int64 // reads answered (with or without error) by local readers

	mu   sync.Mutex
	last map[string]protocol.Receipt // guarded by mu; the sender's latest view by msgId
}

// Group runs the group scenario: one group of Members, Connected of them
// connected (spread over shards), Messages receipt messages from member
// 0, every connected member reading each.
func Group(ctx context.Context, o Options, p GroupParams) (*Report, error) {
	return runGroup(ctx, o, p, "group")
}

// Storm runs the storm scenario: one receipt message that every connected
// member reads at once; the sender's view must converge to the exact
// counts, and receipt.changed must stay coalesced.
func Storm(ctx context.Context, o Options, p GroupParams) (*Report, error) {
	p.Messages = 1
	return runGroup(ctx, o, p, "storm")
}

func runGroup(ctx context.Context, o Options, p GroupParams, name string) (*Report, error) {
	e, err := newEnv(o)
	if err != nil {
		return nil, err
	}
	if p.Members < 2 {
		return nil, errors.New("bench: --members must be at least 2")
	}
	if p.Connected <= 0 || p.Connected > p.Members-1 {
		p.Connected = p.Members - 1
	}
	if p.Messages < 0 {
		// Zero is allowed: the same setup and connects with no send and no
		// read, the idle baseline scripts/instructions-per-ack.sh subtracts.
		p.Messages = 0
	}
	lo, hi := shardRange(p.Connected, e.o.Shard, e.o.Shards)
	local := hi - lo
	sockets := local
	if e.o.Shard == 0 {
		sockets++
	}
	if err := CheckSockets(sockets); err != nil {
		return nil, err
	}
	r := &groupRun{
		e: e, p: p,
		rep: e.newReport(name, map[string]any{
			"members": p.Members, "connected": p.Connected, "messages": p.Messages,
			"localReaders": local, "delivered": p.Delivered, "markRead": p.MarkRead, "noRead": p.NoRead,
		}),
		group: protocol.Conversation{Type: protocol.ConvGroup, ID: o.Prefix + "-g"},
		users: func(i int) string { return fmt.Sprintf("%s-u%d", e.o.Prefix, i) },
		tr:    newReadTracker(),
		last:  make(map[string]protocol.Receipt),
	}
	before, countOK := e.serverRequests(ctx, protocol.MethodMessageRead)
	if err := r.run(ctx, lo, hi); err != nil {
		return nil, err
	}
	after, ok := e.serverRequests(ctx, protocol.MethodMessageRead)
	rep := e.finish(r.rep)
	if countOK && ok && e.o.Shards == 1 && after > before {
		rep.Notes = append(rep.Notes, fmt.Sprintf(
			"the server answered %d message.read requests during the run (every client): %.1f read acks per request",
			after-before, float64(rep.Throughput.Reads)/float64(after-before)))
	}
	return rep, nil
}

func (r *groupRun) run(ctx context.Context, lo, hi int) error {
	e := r.e
	sender := r.users(0)
	lead := e.o.Shard == 0

	if lead && r.p.Setup {
		all := make([]string, r.p.Members)
		for i := range all {
			all[i] = r.users(i)
		}
		if err := e.createUsers(ctx, r.rep, all); err != nil {
			return err
		}
		if err := e.createGroup(ctx, r.rep, r.group.ID, sender, all[1:]); err != nil {
			return err
		}
	}
	doneRSS := e.sampleRSS(r.rep)
	defer doneRSS()

	// The readers: members 1+lo .. 1+hi-1.
	readers := make([]string, hi-lo)
	for i := range readers {
		readers[i] = r.users(1 + lo + i)
	}
	if !lead && len(readers) > 0 {
		if err := r.awaitGroup(ctx, readers[0]); err != nil {
			return err
		}
	}
	acks := newGoPool()
	defer acks.Close() // after the clients close: no ack is left waiting
	start := time.Now()
	clients, err := e.dialAll(ctx, readers, readerQueueFor(r.p.Messages), func(i int, self *atomic.Pointer[client.Client]) client.Handlers {
		return client.Handlers{Message: func(m protocol.Message) {
			if m.Conversation != r.group || m.Sender != sender || m.Receipt == nil {
				return
			}
			if r.p.NoRead {
				r.readsDone.Add(1)
				return
			}
			if r.p.MarkRead && !r.p.Delivered {
				e.ackAsync(await(self), readers[i], m, r.tr, func() { r.readsDone.Add(1) })
				return
			}
			acks.Go(func() {
				defer r.readsDone.Add(1)
				e.ack(await(self), readers[i], m, r.p.Delivered, r.p.MarkRead, r.tr)
			})
		}}
	})
	if err != nil {
		return err
	}
	defer closeAll(clients)
	r.rep.Setup = append(r.rep.Setup, Step{Name: "connect readers", N: len(readers), Sec: time.Since(start).Seconds()})
	e.log.Info("readers connected", "n", len(readers), "sec", time.Since(start).Seconds())

	// A reader whose SDK dropped a message.new never reads it: say so, or
	// the shortfall in the counts below would have no cause.
	defer func() {
		var dropped uint64
		for _, c := range clients {
			dropped += c.DroppedEvents()
		}
		r.rep.AddCheck("no event dropped by a reader's SDK queue", dropped == 0, fmt.Sprintf("%d dropped", dropped))
	}()

	if !lead {
		if len(readers) > 0 {
			if err := r.announce(ctx, clients[0], sender); err != nil {
				return err
			}
		}
		want := int64(len(readers) * r.p.Messages)
		wctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
		defer cancel()
		ok := waitFor(wctx, 20*time.Millisecond, func() bool { return r.readsDone.Load() >= want })
		r.rep.AddCheck("every local reader read every message", ok,
			fmt.Sprintf("%d of %d reads answered", r.readsDone.Load(), want))
		return nil
	}
	return r.lead(ctx, sender)
}

// lead is shard 0's part: the sender connects, waits for the other
// shards, sends, and waits for the exact counts.
func (r *groupRun) lead(ctx context.Context, sender string) error {
	e := r.e
	h := e.countEvents()
	h.ReceiptChanged = func(ev protocol.ReceiptChangedEvent) {
		now := time.Now()
		e.rec.ReceiptChanged(ev.Conversation.String(), now)
		r.mu.Lock()
		for _, cr := range ev.Receipts {
			r.last[cr.MsgID] = cr.Receipt
		}
		r.mu.Unlock()
		for _, cr := range ev.Receipts {
			r.tr.reported(cr.MsgID, cr.NewReaders, now, e.rec.Hist(LatReadToRcpt))
		}
	}
	sc, err := e.dial(ctx, sender, 4096, h)
	if err != nil {
		return err
	}
	defer sc.Close()

	if e.o.Shards > 1 {
		if err := r.awaitShards(ctx, sc); err != nil {
			return err
		}
	}

	msgIDs, err := r.sendAll(ctx, sc)
	if err != nil {
		return err
	}

	want := r.p.Connected
	if r.p.NoRead {
		want = 0
	}
	eligible := r.p.Members - 1
	wctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	converged := waitFor(wctx, 20*time.Millisecond, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, id := range msgIDs {
			if r.last[id].ReadCount < want {
				return false
			}
		}
		return true
	})
	// Let a late event land before comparing the view with the truth.
	time.Sleep(2 * e.coalesceSlack())

	// The truth, by receipt.query.
	got := make(map[string]protocol.Receipt, len(msgIDs))
	for i := 0; i < len(msgIDs); i += protocol.MaxPageLimit {
		batch := msgIDs[i:min(len(msgIDs), i+protocol.MaxPageLimit)]
		var res protocol.ReceiptQueryResult
		err := e.rec.Timed(protocol.MethodReceiptQuery, func() error {
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			var err error
			res, err = sc.QueryReceipts(cctx, protocol.ReceiptQueryParams{Conversation: r.group, MsgIDs: batch})
			return err
		})
		if err != nil {
			return fmt.Errorf("receipt.query: %w", err)
		}
		for _, rc := range res.Receipts {
			got[rc.MsgID] = rc
		}
	}
	wantStatus := protocol.StatusPending
	if want == eligible {
		wantStatus = protocol.StatusDone
	}
	var bad, stale []string
	r.mu.Lock()
	for _, id := range msgIDs {
		rc := got[id]
		if rc.ReadCount != want || rc.UnreadCount != eligible-want || rc.DeliveredCount < rc.ReadCount || rc.Status != wantStatus {
			bad = append(bad, fmt.Sprintf("%s: status %s read %d unread %d delivered %d", id, rc.Status, rc.ReadCount, rc.UnreadCount, rc.DeliveredCount))
		}
		// With no reads there is no receipt.changed to compare.
		if v := r.last[id]; !r.p.NoRead && (v.ReadCount != rc.ReadCount || v.UnreadCount != rc.UnreadCount || v.DeliveredCount != rc.DeliveredCount || v.Status != rc.Status) {
			stale = append(stale, fmt.Sprintf("%s: last event read %d/%s, query read %d/%s", id, v.ReadCount, v.Status, rc.ReadCount, rc.Status))
		}
	}
	r.mu.Unlock()
	r.rep.AddCheck(fmt.Sprintf("receipt.query exact: read %d, unread %d, status %s", want, eligible-want, wantStatus),
		len(bad) == 0, summarize(bad, len(msgIDs)))
	r.rep.AddCheck("sender's last receipt.changed equals the final counts", converged && len(stale) == 0,
		summarize(stale, len(msgIDs)))
	if r.p.MaxChangedPerSec > 0 {
		n := e.rec.MaxChangedPerSecond()
		r.rep.AddCheck(fmt.Sprintf("at most %d receipt.changed per second", r.p.MaxChangedPerSec), n <= r.p.MaxChangedPerSec,
			fmt.Sprintf("max %d in one second", n))
	}
	return nil
}

// sendAll sends the run's messages from sc, Window at a time, and returns
// their ids in the order they were sent.
func (r *groupRun) sendAll(ctx context.Context, sc *client.Client) ([]string, error) {
	e := r.e
	msgIDs := make([]string, r.p.Messages)
	send := func(k int) error {
		var res protocol.SendResult
		err := e.rec.Timed(protocol.MethodMessageSend, func() error {
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			defer cancel()
			var err error
			res, err = sc.Send(cctx, protocol.SendParams{
				Conversation: r.group, ClientMsgID: client.NewClientMsgID(),
				Body: stampedBody(time.Now()), Receipt: true,
			})
			return err
		})
		if err != nil {
			return fmt.Errorf("send %d: %w", k, err)
		}
		msgIDs[k] = res.MsgID
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, r.p.Window))
	for k := range r.p.Messages {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return send(k) })
		if r.p.Interval > 0 && k < r.p.Messages-1 {
			time.Sleep(r.p.Interval)
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return msgIDs, nil
}

// coalesceSlack is how long a late receipt.changed may still be on its way
// after the counts were reached.
func (e *env) coalesceSlack() time.Duration { return 300 * time.Millisecond }

func summarize(bad []string, n int) string {
	if len(bad) == 0 {
		return fmt.Sprintf("%d messages", n)
	}
	if len(bad) > 3 {
		bad = append(bad[:3:3], fmt.Sprintf("... %d more", len(bad)-3))
	}
	return strings.Join(bad, "; ")
}

// awaitGroup waits until the group exists and user is in it (shard 0 may
// still be creating it).
func (r *groupRun) awaitGroup(ctx context.Context, user string) error {
	c, err := r.e.dial(ctx, user, 16, client.Handlers{})
	if err != nil {
		return err
	}
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, 10*r.e.o.Timeout)
	defer cancel()
	var last error
	ok := waitFor(wctx, 500*time.Millisecond, func() bool {
		cctx, cancel := context.WithTimeout(wctx, callTimeout)
		defer cancel()
		_, last = c.GroupMembers(cctx, protocol.GroupMembersParams{GroupID: r.group.ID, Limit: 1})
		return last == nil
	})
	if !ok {
		return fmt.Errorf("group %s never appeared: %w", r.group.ID, last)
	}
	return nil
}

// readyBody marks the peer message a shard sends the sender once its
// readers are connected.
const readyBody = `{"benchReady":true}`

// announce tells the sender that this shard's readers are connected.
func (r *groupRun) announce(ctx context.Context, c *client.Client, sender string) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := c.Send(cctx, protocol.SendParams{
		Conversation: protocol.Conversation{Type: protocol.ConvPeer, ID: sender},
		ClientMsgID:  client.NewClientMsgID(), Body: []byte(readyBody),
	})
	return err
}

// awaitShards waits until the first reader of every other shard said it
// is ready, by polling the peer history (the event may have come before
// the sender connected).
func (r *groupRun) awaitShards(ctx context.Context, sc *client.Client) error {
	wctx, cancel := context.WithTimeout(ctx, 10*r.e.o.Timeout)
	defer cancel()
	for s := 1; s < r.e.o.Shards; s++ {
		lo, hi := shardRange(r.p.Connected, s, r.e.o.Shards)
		if hi == lo {
			continue
		}
		lead := r.users(1 + lo)
		r.e.log.Info("waiting for shard", "shard", s, "leader", lead)
		ok := waitFor(wctx, 250*time.Millisecond, func() bool {
			cctx, cancel := context.WithTimeout(wctx, callTimeout)
			defer cancel()
			res, err := sc.History(cctx, protocol.HistoryParams{
				Conversation: protocol.Conversation{Type: protocol.ConvPeer, ID: lead}, Limit: 5,
			})
			if err != nil {
				return false
			}
			for _, m := range res.Messages {
				if m.Sender == lead && strings.Contains(string(m.Body), "benchReady") {
					return true
				}
			}
			return false
		})
		if !ok {
			return fmt.Errorf("shard %d (reader %s) did not report ready", s, lead)
		}
	}
	return nil
}
