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

// MixedParams configure the mixed scenario.
type MixedParams struct {
	Users     int // connected users
	Groups    int // groups, each of GroupSize random users
	GroupSize int // members per group
	Pairs     int // peer chats between random users
	Duration  time.Duration
	Rate      float64 // messages per second over all conversations
	Receipts  float64 // fraction of messages that ask for receipts
	Delivered bool
	Setup     bool
	Seed      uint64
}

// convSpec is one conversation of the mixed scenario: its members (user
// indexes) and its id.
type convSpec struct {
	group   bool
	id      string // group id; for a peer chat, unused
	members []int
}

// sentMsg is a receipt message the mixed scenario sent.
type sentMsg struct {
	sender int
	conv   protocol.Conversation // from the sender's side
	msgID  string
}

// Mixed runs the mixed scenario: many groups and peer chats at once, every
// user connected, messages at Rate spread over random conversations and
// senders, every recipient delivering and reading each. At the end every
// receipt message must be done.
func Mixed(ctx context.Context, o Options, p MixedParams) (*Report, error) {
	e, err := newEnv(o)
	if err != nil {
		return nil, err
	}
	if e.o.Shards > 1 {
		return nil, errors.New("bench: mixed runs in one process (its conversations span all users); drop --shard")
	}
	if p.Users < 2 || p.GroupSize < 2 || p.GroupSize > p.Users || p.Groups+p.Pairs < 1 {
		return nil, errors.New("bench: mixed needs --users >= 2, 2 <= --group-size <= --users, and some --groups or --pairs")
	}
	if p.Duration <= 0 {
		p.Duration = 10 * time.Second
	}
	if p.Rate <= 0 {
		p.Rate = 200
	}
	if err := CheckSockets(p.Users); err != nil {
		return nil, err
	}
	rep := e.newReport("mixed", map[string]any{
		"users": p.Users, "groups": p.Groups, "groupSize": p.GroupSize, "pairs": p.Pairs,
		"duration": p.Duration.String(), "rate": p.Rate, "receipts": p.Receipts, "delivered": p.Delivered,
	})
	rng := rand.New(rand.NewPCG(p.Seed, 0x5ee9))
	users := make([]string, p.Users)
	for i := range users {
		users[i] = fmt.Sprintf("%s-m%d", e.o.Prefix, i)
	}
	convs := make([]convSpec, 0, p.Groups+p.Pairs)
	for g := range p.Groups {
		convs = append(convs, convSpec{group: true, id: fmt.Sprintf("%s-mg%d", e.o.Prefix, g), members: rng.Perm(p.Users)[:p.GroupSize]})
	}
	for range p.Pairs {
		a := rng.IntN(p.Users)
		b := (a + 1 + rng.IntN(p.Users-1)) % p.Users
		convs = append(convs, convSpec{members: []int{a, b}})
	}
	if p.Setup {
		if err := e.createUsers(ctx, rep, users); err != nil {
			return nil, err
		}
		start := time.Now()
		err := parallel(ctx, p.Groups, e.o.AdminConcurrency, func(ctx context.Context, g int) error {
			c := convs[g]
			ms := make([]string, 0, len(c.members)-1)
			for _, m := range c.members[1:] {
				ms = append(ms, users[m])
			}
			return e.createGroup(ctx, nil, c.id, users[c.members[0]], ms)
		})
		if err != nil {
			return nil, err
		}
		rep.Setup = append(rep.Setup, Step{Name: "create groups", N: p.Groups, Sec: time.Since(start).Seconds()})
	}
	doneRSS := e.sampleRSS(rep)

	tr := newReadTracker()
	var received, acked atomic.Int64
	acks := newGoPool()
	defer acks.Close() // after the clients close: no ack is left waiting
	start := time.Now()
	clients, err := e.dialAll(ctx, users, 1024, func(i int, self *atomic.Pointer[client.Client]) client.Handlers {
		h := e.readerHandlers(self, users[i], func(m protocol.Message) bool { return m.Sender != users[i] },
			p.Delivered, tr, &received, &acked, acks)
		h.ReceiptChanged = func(ev protocol.ReceiptChangedEvent) {
			now := time.Now()
			e.rec.ReceiptChanged(users[i]+"/"+ev.Conversation.String(), now)
			for _, cr := range ev.Receipts {
				tr.reported(cr.MsgID, cr.NewReaders, now, e.rec.Hist(LatReadToRcpt))
			}
		}
		return h
	})
	if err != nil {
		return nil, err
	}
	defer closeAll(clients)
	rep.Setup = append(rep.Setup, Step{Name: "connect", N: len(users), Sec: time.Since(start).Seconds()})

	// Send at Rate: one pacer hands out slots, workers send.
	var (
		mu       sync.Mutex
		receipts []sentMsg
		sent     atomic.Int64
		expected atomic.Int64 // deliveries the sends imply
	)
	slots := make(chan struct{}, 1024)
	sctx, stop := context.WithTimeout(ctx, p.Duration)
	defer stop()
	go func() {
		defer close(slots)
		begin := time.Now()
		issued := 0
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case now := <-t.C:
				due := int(now.Sub(begin).Seconds() * p.Rate)
				for ; issued < due; issued++ {
					select {
					case slots <- struct{}{}:
					default: // workers are behind; the slot is lost
					}
				}
			}
		}
	}()
	var wg sync.WaitGroup
	var pick sync.Mutex
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range slots {
				pick.Lock()
				c := convs[rng.IntN(len(convs))]
				si := rng.IntN(len(c.members))
				withReceipt := rng.Float64() < p.Receipts
				pick.Unlock()
				from := c.members[si]
				conv := protocol.Conversation{Type: protocol.ConvGroup, ID: c.id}
				if !c.group {
					conv = protocol.Conversation{Type: protocol.ConvPeer, ID: users[c.members[1-si]]}
				}
				var res protocol.SendResult
				err := e.rec.Timed(protocol.MethodMessageSend, func() error {
					cctx, cancel := context.WithTimeout(ctx, callTimeout)
					defer cancel()
					var err error
					res, err = clients[from].Send(cctx, protocol.SendParams{
						Conversation: conv, ClientMsgID: client.NewClientMsgID(),
						Body: stampedBody(time.Now()), Receipt: withReceipt,
					})
					return err
				})
				if err != nil {
					continue
				}
				sent.Add(1)
				expected.Add(int64(len(c.members) - 1))
				if withReceipt {
					mu.Lock()
					receipts = append(receipts, sentMsg{sender: from, conv: conv, msgID: res.MsgID})
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()

	wctx, cancel := context.WithTimeout(ctx, e.o.Timeout)
	defer cancel()
	drained := waitFor(wctx, 20*time.Millisecond, func() bool {
		return received.Load() >= expected.Load() && acked.Load() == received.Load()
	})
	rep.AddCheck("every message delivered and read by every recipient", drained,
		fmt.Sprintf("sent %d, deliveries expected %d, received %d, acked %d", sent.Load(), expected.Load(), received.Load(), acked.Load()))

	// Every receipt message is done, asked by its sender.
	type key struct {
		sender int
		conv   protocol.Conversation
	}
	bySender := make(map[key][]string)
	for _, m := range receipts {
		k := key{m.sender, m.conv}
		bySender[k] = append(bySender[k], m.msgID)
	}
	var notDone []string
	waitFor(wctx, 200*time.Millisecond, func() bool {
		notDone = notDone[:0]
		for k, ids := range bySender {
			for i := 0; i < len(ids); i += protocol.MaxPageLimit {
				batch := ids[i:min(len(ids), i+protocol.MaxPageLimit)]
				var res protocol.ReceiptQueryResult
				err := e.rec.Timed(protocol.MethodReceiptQuery, func() error {
					cctx, cancel := context.WithTimeout(ctx, callTimeout)
					defer cancel()
					var err error
					res, err = clients[k.sender].QueryReceipts(cctx, protocol.ReceiptQueryParams{Conversation: k.conv, MsgIDs: batch})
					return err
				})
				if err != nil {
					notDone = append(notDone, fmt.Sprintf("query %s: %v", k.conv, err))
					continue
				}
				for _, rc := range res.Receipts {
					if rc.Status != protocol.StatusDone || rc.UnreadCount != 0 {
						notDone = append(notDone, fmt.Sprintf("%s %s: %s read %d unread %d", k.conv, rc.MsgID, rc.Status, rc.ReadCount, rc.UnreadCount))
					}
				}
			}
		}
		return len(notDone) == 0
	})
	rep.AddCheck("every receipt message done", len(notDone) == 0, summarize(notDone, len(receipts)))
	doneRSS()
	return e.finish(rep), nil
}
