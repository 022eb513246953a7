package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

func TestIdleClientIsDropped(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) {
		c.PingInterval, c.IdleTimeout = 50*time.Millisecond, 200*time.Millisecond
	})
	s.Users("idle")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Connects, then never reads again: it cannot answer pings.
	c, _, err := websocket.Dial(ctx, s.WSURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	req, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "connect", "params": map[string]string{"token": s.Token("idle")}})
	if err := c.Write(ctx, websocket.MessageText, req); err != nil {
		t.Fatal(err)
	}
	seentest.Eventually(t, 20*time.Second, func() error {
		if v := metric(t, s, "seen_connections"); v != "0" {
			return fmt.Errorf("seen_connections = %s, want 0 once the idle client is dropped", v)
		}
		return nil
	})
	// A client that reads (and so answers pings) stays.
	alive := connectRaw(t, s, "idle", "")
	time.Sleep(500 * time.Millisecond) // several ping periods, not an assertion on time
	alive.MustCall(protocol.MethodConversationList, protocol.ConversationListParams{}, nil)
}

func TestSDKReconnectsAfterServerRestart(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob")
	reconnected := make(chan struct{}, 1)
	alice := dial(t, s, "alice", "d")
	alice.OnReconnect(func() { reconnected <- struct{}{} })
	alice.say(peer("bob"), "before")
	s.Restart()
	select {
	case <-reconnected:
	case <-time.After(30 * time.Second):
		t.Fatal("the SDK did not reconnect")
	}
	// Re-sync by state: history is there, and sending works again.
	h, err := alice.History(ctx(t), protocol.HistoryParams{Conversation: peer("bob")})
	if err != nil || len(h.Messages) != 1 {
		t.Fatalf("history after reconnect = %+v, %v", h, err)
	}
	if r := alice.say(peer("bob"), "after"); r.Seq != 2 {
		t.Fatalf("seq after reconnect = %d, want 2", r.Seq)
	}
}

// A storm of reads of one message: the sender's events carry each reader
// once and the last one the exact final counts.
func TestReadStormConvergesToExactCounts(t *testing.T) {
	s := seentest.Start(t)
	const n = 40
	users := []string{"sender"}
	for i := range n {
		users = append(users, fmt.Sprintf("r%02d", i))
	}
	s.Users(users...)
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "storm", "owner": "sender", "members": users[1:]})
	sender := dial(t, s, "sender", "d")
	g := group("storm")
	m := sender.sendReceipt(g, "everyone read this")
	var wg sync.WaitGroup
	for _, u := range users[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.Dial(context.Background(), s.WSURL(), s.Token(u), client.WithAutoDelivered(false))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			if _, err := c.Read(context.Background(), protocol.ReadParams{Conversation: g, MsgIDs: []string{m.MsgID}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	events := 0
	seen := map[string]bool{}
	for {
		e := next[protocol.ReceiptChangedEvent](sender)
		events++
		r := e.Receipts[0]
		for _, u := range r.NewReaders {
			if seen[u] {
				t.Fatalf("reader %s reported twice", u)
			}
			seen[u] = true
		}
		if r.ReadCount == n {
			if r.Status != protocol.StatusDone || r.UnreadCount != 0 || r.DeliveredCount != n {
				t.Fatalf("final receipt = %+v", r)
			}
			break
		}
	}
	t.Logf("%d reads reached the sender as %d receipt.changed events", n, events)
}
