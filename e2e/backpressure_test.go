package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/internal/transport/ws"
)

// queueTestConfig gives a small queue budget, so that the bound is small,
// and a write timeout short enough for a quick drop yet long enough for an
// unbounded queue to pass the bound many times over (pages are built far
// faster than one per 100 ms). MaxInflight keeps its default: the pages
// in flight are bounded apart from it.
func queueTestConfig(c *config.Config) {
	c.MaxQueueBytes = 256 << 10
	c.WriteTimeout = 3 * time.Second
}

// queueBound is what the send queues may hold under the attack, for
// clients connections in all: per connection, MaxQueueBytes plus
// ws.MaxPagesInflight responses of a full history page (100 bodies of at
// most MaxBodyBytes, and each message's envelope) plus MaxInflight small
// responses.
func queueBound(cfg config.Config, clients int) float64 {
	page := 100 * (cfg.MaxBodyBytes + 512)
	const small = 4 << 10
	return float64(clients) * float64(cfg.MaxQueueBytes+int64(ws.MaxPagesInflight*page+cfg.MaxInflight*small))
}

// largeHistory fills alice's conversation with bob with 100 messages with
// bodies near MaxBodyBytes, so that each history page is ~3 MB.
func largeHistory(t *testing.T, s *seentest.Server) {
	t.Helper()
	s.Users("alice", "bob")
	alice := connectRaw(t, s, "alice", "")
	text := strings.Repeat("x", s.Cfg.MaxBodyBytes-64)
	for i := range 100 {
		send(t, alice, peer("bob"), strconv.Itoa(i), text)
	}
	alice.Close()
}

// pipeliner connects bob on a bare socket and sends history requests for
// a full page, n of them, without reading anything but the connect result
// (or, if readEvery is set, reading one frame each readEvery). done gets
// the error that ended the socket, or nil once n responses were read.
func pipeliner(t *testing.T, s *seentest.Server, n int, readEvery time.Duration) (done chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	c, _, err := websocket.Dial(ctx, s.WSURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { c.CloseNow() })
	connect, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 0, "method": "connect", "params": map[string]string{"token": s.Token("bob")}})
	if err := c.Write(ctx, websocket.MessageText, connect); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	if readEvery > 0 {
		go func() {
			for range n {
				if _, _, err := c.Read(ctx); err != nil {
					done <- err
					return
				}
				time.Sleep(readEvery) // the slow reader's pace, not an assertion
			}
			done <- nil
		}()
	}
	go func() {
		for i := 1; i <= n; i++ {
			req := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"message.history","params":{"conversation":{"type":"peer","id":"alice"},"limit":100}}`, i)
			if err := c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
				if readEvery == 0 {
					done <- err
				}
				return
			}
		}
	}()
	return done
}

// watchQueue polls seen_send_queue_bytes until stop returns true, failing
// the test if it ever exceeds bound.
func watchQueue(t *testing.T, s *seentest.Server, bound float64, stop func() bool) {
	t.Helper()
	peak := 0.0
	seentest.Eventually(t, 60*time.Second, func() error {
		v, err := strconv.ParseFloat(metric(t, s, "seen_send_queue_bytes"), 64)
		if err != nil {
			t.Fatalf("seen_send_queue_bytes: %v", err)
		}
		peak = max(peak, v)
		if v > bound {
			t.Fatalf("seen_send_queue_bytes = %.0f, want at most %.0f", v, bound)
		}
		if !stop() {
			return fmt.Errorf("still going; queue peak %.0f bytes", peak)
		}
		return nil
	})
	t.Logf("send queue peak %.0f bytes (bound %.0f)", peak, bound)
}

// A client that pipelines large history pages and never reads holds at
// most its budget plus MaxInflight responses, and is dropped once its
// queue has stayed over the budget for the write timeout.
func TestNonReadingPipelinerIsBoundedAndDropped(t *testing.T) {
	s := seentest.Start(t, queueTestConfig)
	largeHistory(t, s)
	pipeliner(t, s, 5000, 0)
	watchQueue(t, s, queueBound(s.Cfg, 1), func() bool {
		return metric(t, s, "seen_connections") == "0" && metric(t, s, "seen_send_queue_bytes") == "0"
	})
}

// A client that reads slowly is served at its own pace: the server stops
// reading its requests while its queue is over the budget, so the queue
// stays bounded however many requests it pipelines. Whether it keeps up
// (and gets every answer) or stays over the budget past the write timeout
// (and is dropped), the bound holds.
func TestSlowReaderQueueStaysBounded(t *testing.T) {
	s := seentest.Start(t, queueTestConfig)
	largeHistory(t, s)
	done := pipeliner(t, s, 40, 200*time.Millisecond)
	var end error
	ended := false
	watchQueue(t, s, queueBound(s.Cfg, 1), func() bool {
		if !ended {
			select {
			case end = <-done:
				ended = true
			default:
				return false
			}
		}
		return metric(t, s, "seen_send_queue_bytes") == "0"
	})
	t.Logf("slow reader ended with %v (nil: it read every answer)", end)
}

// Events count against the byte budget too: a client that does not read
// is dropped once the events waiting for it pass the budget, long before
// the event count cap (here out of reach) or the write timeout (long).
func TestEventsOverTheByteBudgetDropTheClient(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) {
		c.MaxQueueBytes = 64 << 10
		c.SendQueue = 1 << 20
		c.WriteTimeout = time.Minute
	})
	s.Users("sender", "bob")
	pipeliner(t, s, 0, 0) // connects bob, then reads nothing
	sender := connectRaw(t, s, "sender", "")
	big := strings.Repeat("x", 30000)
	for i := 0; metric(t, s, "seen_slow_client_drops_total") != "1"; i++ {
		if i == 2000 {
			t.Fatalf("the client that does not read was not dropped after %d large events", i)
		}
		send(t, sender, peer("bob"), strconv.Itoa(i), big)
	}
}
