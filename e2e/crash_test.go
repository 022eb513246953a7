package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// crashWorld is what the server acknowledged during a crash run.
type crashWorld struct {
	mu       sync.Mutex
	sends    map[string]acked           // clientMsgId -> acknowledged send
	readSeq  map[string]uint64          // user -> highest acknowledged group readSeq
	acks     map[string]map[string]bool // user -> msgIds whose single read was acknowledged
	receipts []protocol.SendResult      // acknowledged group receipt messages, for readers to pick
	senderOf map[string]string          // msgId -> sender

	writes atomic.Int64 // acknowledged writes (sends and acks) of every round, for the kill to wait on
}

func newCrashWorld() *crashWorld {
	return &crashWorld{sends: map[string]acked{}, readSeq: map[string]uint64{}, acks: map[string]map[string]bool{}, senderOf: map[string]string{}}
}

// crashLoad runs one client doing a random mix of sends and acks until stop
// or until the server goes away. It marks dialled once connected (or once
// the dial failed): the kill waits for every client to be in.
func (w *crashWorld) crashLoad(t *testing.T, url, user, tok string, seed uint64, round int, dialled *sync.WaitGroup, stop <-chan struct{}) {
	c, err := dialProc(url, tok)
	dialled.Done()
	if err != nil {
		t.Errorf("dial %s: %v", user, err)
		return
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(seed+uint64(round), uint64(len(user))+uint64(user[1])))
	g := group("crash")
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		switch op := rng.IntN(10); {
		case op < 4: // a group message that asks for receipts
			id := fmt.Sprintf("%s-r%d-%d", user, round, i)
			var res protocol.SendResult
			res, err = c.Send(ctx, protocol.SendParams{Conversation: g, ClientMsgID: id, Body: json.RawMessage(`"` + id + `"`), Receipt: true})
			if err == nil {
				w.mu.Lock()
				w.sends[id] = acked{user: user, conv: g, seq: res.Seq, msgID: res.MsgID}
				w.receipts = append(w.receipts, res)
				w.senderOf[res.MsgID] = user
				if res.Seq > w.readSeq[user] {
					w.readSeq[user] = res.Seq // sending marks read
				}
				w.mu.Unlock()
			}
		case op < 7: // a single read of someone else's receipt message
			w.mu.Lock()
			var pick protocol.SendResult
			if n := len(w.receipts); n > 0 {
				pick = w.receipts[rng.IntN(n)]
			}
			mine := w.senderOf[pick.MsgID] == user
			w.mu.Unlock()
			if pick.MsgID == "" || mine {
				cancel()
				continue
			}
			_, err = c.Read(ctx, protocol.ReadParams{Conversation: g, MsgIDs: []string{pick.MsgID}})
			if err == nil {
				w.mu.Lock()
				if w.acks[user] == nil {
					w.acks[user] = map[string]bool{}
				}
				w.acks[user][pick.MsgID] = true
				w.mu.Unlock()
			}
		case op < 8: // read the group up to now
			var res protocol.ConversationReadResult
			res, err = c.ReadConversation(ctx, protocol.ConversationReadParams{Conversation: g})
			if err == nil {
				w.mu.Lock()
				w.readSeq[user] = max(w.readSeq[user], res.ReadSeq)
				w.mu.Unlock()
			}
		default: // a peer message
			id := fmt.Sprintf("%s-p%d-%d", user, round, i)
			var res protocol.SendResult
			p := peer(otherUser(user))
			res, err = c.Send(ctx, protocol.SendParams{Conversation: p, ClientMsgID: id, Body: json.RawMessage(`"` + id + `"`)})
			if err == nil {
				w.mu.Lock()
				w.sends[id] = acked{user: user, conv: p, seq: res.Seq, msgID: res.MsgID}
				w.mu.Unlock()
			}
		}
		cancel()
		if err != nil {
			return // the server went away
		}
		w.writes.Add(1)
	}
}

// verify checks the restarted server against everything acknowledged, and
// every receipt count against a recomputation from the members' own state.
func (w *crashWorld) verify(t *testing.T, p *seentest.Proc, tokens map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	g := group("crash")
	clients := map[string]*client.Client{}
	for u, tok := range tokens {
		c, err := dialProc(p.WSURL(), tok)
		if err != nil {
			t.Fatalf("dial %s: %v", u, err)
		}
		defer c.Close()
		clients[u] = c
	}
	checkAcked(t, p, tokens, w.sends, "crash")
	// Each member's own view of every group message: read or not.
	readBy := map[string]map[string]bool{} // msgId -> user -> read
	history := func(c *client.Client) []protocol.Message {
		var all []protocol.Message
		var before uint64
		for {
			h, err := c.History(ctx, protocol.HistoryParams{Conversation: g, BeforeSeq: before, Limit: 100})
			if err != nil {
				t.Fatalf("history: %v", err)
			}
			all = append(all, h.Messages...)
			if !h.HasMore {
				return all
			}
			before = h.Messages[len(h.Messages)-1].Seq
		}
	}
	for u, c := range clients {
		list, err := c.Conversations(ctx, protocol.ConversationListParams{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, ci := range list.Conversations {
			if ci.Conversation == g && ci.ReadSeq < w.readSeq[u] {
				t.Fatalf("%s: readSeq %d after restart, but %d was acknowledged", u, ci.ReadSeq, w.readSeq[u])
			}
		}
		for _, m := range history(c) {
			if a := client.MessageAckState(m); a != nil {
				if readBy[m.MsgID] == nil {
					readBy[m.MsgID] = map[string]bool{}
				}
				readBy[m.MsgID][u] = a.Read
				if w.acks[u][m.MsgID] && !a.Read {
					t.Fatalf("%s: the acknowledged read of %s was lost", u, m.MsgID)
				}
			}
		}
	}
	// Every count equals the number of members whose own state says read.
	for _, r := range w.receipts {
		sender := w.senderOf[r.MsgID]
		res, err := clients[sender].QueryReceipts(ctx, protocol.ReceiptQueryParams{Conversation: g, MsgIDs: []string{r.MsgID}})
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, read := range readBy[r.MsgID] {
			if read {
				want++
			}
		}
		got := res.Receipts[0]
		if got.ReadCount != want || got.ReadCount+got.UnreadCount != len(tokens)-1 {
			t.Fatalf("%s: readCount %d unread %d, but %d members say they read it (of %d)", r.MsgID, got.ReadCount, got.UnreadCount, want, len(tokens)-1)
		}
	}
}

// crashSeed is the seed of a crash run: SEEN_CRASH_SEED when set (to replay
// a failed run with the seed it logged), else the clock. It draws each
// round's kill point and every client's mix of operations; the
// interleaving itself is the scheduler's, so a replay reproduces the plan,
// not every instant.
func crashSeed(t *testing.T) uint64 {
	t.Helper()
	if v := os.Getenv("SEEN_CRASH_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SEEN_CRASH_SEED=%q is not an unsigned number", v)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// waitWrites polls until n() reaches k: the kill comes at a point of the
// load, counted in acknowledged writes, never at a moment of the clock.
func waitWrites(t *testing.T, what string, n func() int64, k int64) {
	t.Helper()
	seentest.Eventually(t, 60*time.Second, func() error {
		if got := n(); got < k {
			return fmt.Errorf("%s: %d writes acknowledged, waiting for %d", what, got, k)
		}
		return nil
	})
}

func TestCrashUnderMixedLoadLosesNothingAcknowledged(t *testing.T) {
	cycles := 3
	if v := os.Getenv("SEEN_CRASH_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SEEN_CRASH_CYCLES=%q is not a positive number", v)
		}
		cycles = n
	}
	var (
		p      *seentest.Proc
		dir    string
		addr   = seentest.FreeAddr(t)
		tokens map[string]string
		w      *crashWorld
	)
	seed := crashSeed(t)
	t.Logf("seed %d (replay with SEEN_CRASH_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	total, prev := 0, 0
	for round := range cycles {
		// Each check reads everything acknowledged so far, so a long run
		// starts a fresh server and world every 50 kill points to keep a
		// cycle's cost flat.
		if round%50 == 0 {
			if p != nil {
				if err := p.Term(); err != nil {
					t.Fatalf("SIGTERM exit: %v", err)
				}
			}
			dir = t.TempDir()
			p = seentest.StartProc(t, dir, addr)
			tokens = procGroup(t, p, "crash", 6)
			w = newCrashWorld()
		}
		stop := make(chan struct{})
		var wg, dialled sync.WaitGroup
		dialled.Add(len(tokens))
		for u := range tokens {
			wg.Add(1)
			go func() { defer wg.Done(); w.crashLoad(t, p.WSURL(), u, tokens[u], seed, round, &dialled, stop) }()
		}
		// Kill at a random point of the load, once every client is in and
		// k more writes were acknowledged.
		dialled.Wait()
		k := int64(1 + rng.IntN(300))
		waitWrites(t, fmt.Sprintf("round %d (seed %d)", round, seed), w.writes.Load, w.writes.Load()+k)
		p.Kill()
		close(stop)
		wg.Wait()
		p = seentest.StartProc(t, dir, addr)
		w.verify(t, p, tokens)
		total += len(w.sends) - prev
		prev = len(w.sends)
		if (round+1)%50 == 0 {
			t.Logf("%d kill points survived so far; %d acknowledged sends checked", round+1, total)
			prev = 0
		}
	}
	t.Logf("%d kill points survived; %d acknowledged sends checked", cycles, total)
	if err := p.Term(); err != nil {
		t.Fatalf("SIGTERM exit: %v", err)
	}
}
