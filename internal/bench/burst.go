package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/protocol"
)

// BurstParams configure the burst scenario.
type BurstParams struct {
	// Acks is how many messages are sent, then read one message.read each,
	// all at once from one client.
	Acks int
	// Shuffle fires the reads in random order instead of seq order; past
	// 1,024 reads above the watermark the server answers 422 by design.
	Shuffle bool
	// MarkRead reads through the SDK's MarkRead, as an app does by
	// default: reads fired while one message.read is in flight share the
	// next request. Without it, every read is a request of its own.
	MarkRead bool
	Setup    bool
}

// burstWindow bounds how far the burst's reads may pass one another: the
// read fired k-th waits, inside its timed call, for the answer to the
// (k-burstWindow)-th. The server refuses by design an ack more than 1,024
// above a member's watermark (422). The reads are 2,000 goroutines started
// in order, and a few of them stalled in the scheduler while a thousand
// later ones went by: the burst failed its own checks (once, in CI).
const burstWindow = 512

// Burst runs the burst scenario: a sender sends Acks receipt messages to
// a reader, who then fires one message.read per message as fast as it can
// write (with MarkRead, one MarkRead per message: the SDK lets them share
// requests). There must be no disconnect and no error, and the reader's read
// watermark (and the sender's peerReadSeq) must end at the highest seq.
func Burst(ctx context.Context, o Options, p BurstParams) (*Report, error) {
	e, err := newEnv(o)
	if err != nil {
		return nil, err
	}
	if p.Acks < 1 {
		return nil, errors.New("bench: --acks must be at least 1")
	}
	if err := CheckSockets(2); err != nil {
		return nil, err
	}
	rep := e.newReport("burst", map[string]any{"acks": p.Acks, "shuffle": p.Shuffle, "markRead": p.MarkRead})
	sender, reader := e.o.Prefix+"-bs", e.o.Prefix+"-br"
	if p.Setup {
		if err := e.createUsers(ctx, rep, []string{sender, reader}); err != nil {
			return nil, err
		}
	}
	doneRSS := e.sampleRSS(rep)
	var drops atomic.Int64
	onDrop := client.Handlers{Disconnect: func(error) { drops.Add(1) }}
	sh := e.countEvents()
	sh.Disconnect = onDrop.Disconnect
	tr := newReadTracker()
	sh.ReceiptRead = func(ev protocol.ReceiptReadEvent) {
		now := time.Now()
		for _, id := range ev.MsgIDs {
			tr.reported(id, []string{ev.UserID}, now, e.rec.Hist(LatReadToRcpt))
		}
	}
	sc, err := e.dial(ctx, sender, 8192, sh)
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	rc, err := e.dial(ctx, reader, 8192, onDrop)
	if err != nil {
		return nil, err
	}
	defer rc.Close()

	// The messages, 32 sends in flight; their msgIds in seq order.
	start := time.Now()
	toReader := protocol.Conversation{Type: protocol.ConvPeer, ID: reader}
	ids := make([]string, p.Acks)
	seqs := make([]uint64, p.Acks)
	err = parallel(ctx, p.Acks, 32, func(ctx context.Context, i int) error {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		res, err := sc.Send(cctx, protocol.SendParams{
			Conversation: toReader, ClientMsgID: client.NewClientMsgID(), Body: stampedBody(time.Now()), Receipt: true,
		})
		ids[i], seqs[i] = res.MsgID, res.Seq
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("send the messages: %w", err)
	}
	var top uint64
	for _, s := range seqs {
		top = max(top, s)
	}
	rep.Setup = append(rep.Setup, Step{Name: "send messages", N: p.Acks, Sec: time.Since(start).Seconds()})

	// The burst: one message.read per message, each on its own goroutine
	// so none waits for an answer but the one burstWindow places before
	// it, started in seq order (each starts the next just before its call,
	// so neighbours may swap on the wire, as pipelined requests of a real
	// client may be reordered by the server). With Shuffle they start in
	// random order instead.
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	if p.Shuffle {
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	toSender := protocol.Conversation{Type: protocol.ConvPeer, ID: sender}
	var wg sync.WaitGroup
	prev := make(chan struct{})
	first := prev
	answered := make([]chan struct{}, len(order))
	for k := range answered {
		answered[k] = make(chan struct{})
	}
	for k, i := range order {
		id := ids[i]
		next := make(chan struct{})
		var ahead chan struct{} // answered when this read may go
		if k >= burstWindow {
			ahead = answered[k-burstWindow]
		}
		wg.Add(1)
		go func(prev, next, ahead, self chan struct{}) {
			defer wg.Done()
			defer close(self)
			<-prev
			ticket := tr.issue(id, reader)
			close(next)
			_ = e.rec.Timed(protocol.MethodMessageRead, func() error {
				if ahead != nil {
					// Inside the timed call: the wait is the read's, as
					// a queued request's would be.
					<-ahead
				}
				cctx, cancel := context.WithTimeout(ctx, callTimeout)
				defer cancel()
				if p.MarkRead {
					return rc.MarkRead(cctx, toSender, id)
				}
				_, err := rc.Read(cctx, protocol.ReadParams{Conversation: toSender, MsgIDs: []string{id}})
				return err
			})
			ticket.answered()
		}(prev, next, ahead, answered[k])
		prev = next
	}
	close(first)
	wg.Wait()

	// The watermarks, by state.
	wctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	var readSeq, peerRead uint64
	ok := waitFor(wctx, 50*time.Millisecond, func() bool {
		readSeq, peerRead = convState(ctx, e, rc, sender).ReadSeq, 0
		if ps := convState(ctx, e, sc, reader).PeerReadSeq; ps != nil {
			peerRead = *ps
		}
		return readSeq == top && peerRead == top
	})
	rep.AddCheck("no disconnect", drops.Load() == 0 && rc.Connected(), fmt.Sprintf("%d disconnects", drops.Load()))
	rep.AddCheck("final watermark = highest acked", ok,
		fmt.Sprintf("highest seq %d, reader readSeq %d, sender peerReadSeq %d", top, readSeq, peerRead))
	doneRSS()
	return e.finish(rep), nil
}

// convState returns c's entry for the peer conversation with peer (zero
// if absent or on error, which is counted).
func convState(ctx context.Context, e *env, c *client.Client, peer string) protocol.ConversationInfo {
	var res protocol.ConversationListResult
	err := e.rec.Timed(protocol.MethodConversationList, func() error {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		var err error
		res, err = c.Conversations(cctx, protocol.ConversationListParams{Limit: 100})
		return err
	})
	if err != nil {
		return protocol.ConversationInfo{}
	}
	for _, ci := range res.Conversations {
		if ci.Conversation.Type == protocol.ConvPeer && ci.Conversation.ID == peer {
			return ci
		}
	}
	return protocol.ConversationInfo{}
}
