package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/protocol"
)

// PeerParams configure the peer scenario.
type PeerParams struct {
	// Pairs is the number of pairs chatting, over all shards.
	Pairs int
	// Duration is how long both sides of every pair send.
	Duration time.Duration
	// Rate bounds each sender's messages per second; 0 sends as fast as
	// the answers come (closed loop).
	Rate float64
	// Inflight is how many sends each sender keeps in flight.
	Inflight int
	// Delivered sends message.delivered before each read.
	Delivered bool
	// Setup creates this shard's users through the admin API.
	Setup bool
}

// Peer runs the peer scenario: Pairs pairs, both sides sending receipt
// messages for Duration, every message delivered and read by the other
// side. At the end every sender's view (peerReadSeq, peerDeliveredSeq)
// must reach the conversation's last seq.
func Peer(ctx context.Context, o Options, p PeerParams) (*Report, error) {
	e, err := newEnv(o)
	if err != nil {
		return nil, err
	}
	if p.Pairs < 1 {
		return nil, errors.New("bench: --pairs must be at least 1")
	}
	if p.Duration <= 0 {
		p.Duration = 10 * time.Second
	}
	p.Inflight = max(1, p.Inflight)
	lo, hi := shardRange(p.Pairs, e.o.Shard, e.o.Shards)
	n := hi - lo
	if err := CheckSockets(2 * n); err != nil {
		return nil, err
	}
	rep := e.newReport("peer", map[string]any{
		"pairs": p.Pairs, "localPairs": n, "duration": p.Duration.String(),
		"rate": p.Rate, "inflight": p.Inflight, "delivered": p.Delivered,
	})
	// users[2k] and users[2k+1] are pair lo+k.
	users := make([]string, 2*n)
	for k := range n {
		users[2*k] = fmt.Sprintf("%s-p%da", e.o.Prefix, lo+k)
		users[2*k+1] = fmt.Sprintf("%s-p%db", e.o.Prefix, lo+k)
	}
	other := func(i int) int { return i ^ 1 }
	if p.Setup {
		if err := e.createUsers(ctx, rep, users); err != nil {
			return nil, err
		}
	}
	doneRSS := e.sampleRSS(rep)

	tr := newReadTracker()
	var received, acked atomic.Int64
	acks := newGoPool()
	defer acks.Close() // after the clients close: no ack is left waiting
	start := time.Now()
	clients, err := e.dialAll(ctx, users, 4096, func(i int, self *atomic.Pointer[client.Client]) client.Handlers {
		return e.readerHandlers(self, users[i], func(m protocol.Message) bool { return m.Sender == users[other(i)] },
			p.Delivered, tr, &received, &acked, acks)
	})
	if err != nil {
		return nil, err
	}
	defer closeAll(clients)
	rep.Setup = append(rep.Setup, Step{Name: "connect", N: len(users), Sec: time.Since(start).Seconds()})

	// Send for Duration.
	var sent atomic.Int64
	deadline := time.Now().Add(p.Duration)
	var wg sync.WaitGroup
	for i, c := range clients {
		conv := protocol.Conversation{Type: protocol.ConvPeer, ID: users[other(i)]}
		for range p.Inflight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var tick *time.Ticker
				if p.Rate > 0 {
					tick = time.NewTicker(time.Duration(float64(time.Second) * float64(p.Inflight) / p.Rate))
					defer tick.Stop()
				}
				for time.Now().Before(deadline) && ctx.Err() == nil {
					err := e.rec.Timed(protocol.MethodMessageSend, func() error {
						cctx, cancel := context.WithTimeout(ctx, callTimeout)
						defer cancel()
						_, err := c.Send(cctx, protocol.SendParams{
							Conversation: conv, ClientMsgID: client.NewClientMsgID(),
							Body: stampedBody(time.Now()), Receipt: true,
						})
						return err
					})
					if err == nil {
						sent.Add(1)
					} else if errors.Is(err, client.ErrDisconnected) || errors.Is(err, client.ErrClosed) {
						return
					}
					if tick != nil {
						<-tick.C
					}
				}
			}()
		}
	}
	wg.Wait()

	// Drain: every message received and acked, every receipt.read back.
	wctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	drained := waitFor(wctx, 20*time.Millisecond, func() bool {
		return received.Load() >= sent.Load() && acked.Load() == received.Load()
	})
	rep.Notes = append(rep.Notes, "a message its reader had already replied to is read by the reply "+
		"(conversation.read event), so its own message.read reports nothing: read -> receipt counts only receipt.read events")
	rep.AddCheck("every message delivered and read", drained,
		fmt.Sprintf("sent %d, received %d, acked %d", sent.Load(), received.Load(), acked.Load()))

	// The sender's view by state: the peer's watermarks reach the last seq.
	var behind []string
	var mu sync.Mutex
	waitFor(wctx, 100*time.Millisecond, func() bool {
		behind = behind[:0]
		_ = parallel(ctx, len(clients), 32, func(ctx context.Context, i int) error {
			var res protocol.ConversationListResult
			err := e.rec.Timed(protocol.MethodConversationList, func() error {
				cctx, cancel := context.WithTimeout(ctx, callTimeout)
				defer cancel()
				var err error
				res, err = clients[i].Conversations(cctx, protocol.ConversationListParams{Limit: 10})
				return err
			})
			if err != nil {
				return nil
			}
			for _, ci := range res.Conversations {
				if ci.Conversation.ID != users[other(i)] {
					continue
				}
				if ci.PeerReadSeq == nil || *ci.PeerReadSeq != ci.LastSeq || ci.PeerDeliveredSeq == nil || *ci.PeerDeliveredSeq != ci.LastSeq {
					mu.Lock()
					behind = append(behind, fmt.Sprintf("%s: lastSeq %d peerRead %v peerDelivered %v",
						users[i], ci.LastSeq, deref(ci.PeerReadSeq), deref(ci.PeerDeliveredSeq)))
					mu.Unlock()
				}
			}
			return nil
		})
		return len(behind) == 0
	})
	rep.AddCheck("every sender sees peerReadSeq = peerDeliveredSeq = lastSeq", len(behind) == 0, summarize(behind, len(users)))
	doneRSS()
	return e.finish(rep), nil
}

func deref(p *uint64) any {
	if p == nil {
		return "none"
	}
	return *p
}
