package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// expiryTTL is long enough for a test to send and ack before the window
// closes on a loaded machine, short enough to wait for.
const expiryTTL = 3 * time.Second

// waitPast polls the clock, not the server, until the Unix ms time at has
// passed: what the server reports after that is its first answer.
func waitPast(t *testing.T, at int64) {
	t.Helper()
	seentest.Eventually(t, expiryTTL+10*time.Second, func() error {
		if now := time.Now().UnixMilli(); now <= at {
			return fmt.Errorf("%d ms before expiry", at-now)
		}
		return nil
	})
}

// expiryGroup makes a group of s, r1, r2, r3 where s sent one receipt
// message that r1 read and r2 had delivered, and checks it is pending.
func expiryGroup(t *testing.T, s *seentest.Server, id string) (map[string]*device, protocol.SendResult, int64) {
	t.Helper()
	devs := groupOf(t, s, id, id+"-s", id+"-r1", id+"-r2", id+"-r3")
	g := group(id)
	m := devs[id+"-s"].sendReceipt(g, "before it closes")
	devs[id+"-r1"].read(g, m.MsgID)
	if err := devs[id+"-r2"].Delivered(ctx(t), protocol.DeliveredParams{Conversation: g, Seq: m.Seq}); err != nil {
		t.Fatal(err)
	}
	r := devs[id+"-s"].receipt(g, m.MsgID)
	if r.Status != protocol.StatusPending || r.ExpiresAt == 0 {
		t.Fatalf("%s: before expiry: %+v, want pending with expiresAt (setup slower than the TTL?)", id, r)
	}
	return devs, m, r.ExpiresAt
}

// frozenWant is the receipt of an expiryGroup message after its window.
func frozenWant(m protocol.SendResult, expiresAt int64) protocol.Receipt {
	return protocol.Receipt{MsgID: m.MsgID, Status: protocol.StatusExpired, ReadCount: 1, UnreadCount: 2, DeliveredCount: 2, ExpiresAt: expiresAt}
}

// historyReceipt is the sender's receipt of msgID in message.history.
func historyReceipt(t *testing.T, d *device, conv protocol.Conversation, msgID string) protocol.Receipt {
	t.Helper()
	h, err := d.History(ctx(t), protocol.HistoryParams{Conversation: conv, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range h.Messages {
		if m.MsgID == msgID {
			if r := client.MessageReceipt(m); r != nil {
				return *r
			}
			t.Fatalf("history: %s has receipt %#v", msgID, m.Receipt)
		}
	}
	t.Fatalf("history: no %s", msgID)
	return protocol.Receipt{}
}

// listReceipt is the sender's receipt of the last message of conv in
// conversation.list.
func listReceipt(t *testing.T, d *device, conv protocol.Conversation) protocol.Receipt {
	t.Helper()
	res, err := d.Conversations(ctx(t), protocol.ConversationListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Conversations {
		if c.Conversation == conv && c.LastMessage != nil {
			if r := client.MessageReceipt(*c.LastMessage); r != nil {
				return *r
			}
		}
	}
	t.Fatalf("conversation.list: no receipt message in %v", conv)
	return protocol.Receipt{}
}

func adminReceipt(t *testing.T, s *seentest.Server, msgID string) protocol.Receipt {
	t.Helper()
	var r protocol.Receipt
	if err := json.Unmarshal(s.MustAdmin("GET", "/v1/admin/messages/"+msgID+"/receipt", nil), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// Each path that reports a status must say expired the first time it is
// asked after expiresAt, not only once something else froze the receipt:
// each group below is first looked at, after its window, by one path.
func TestExpiredReceiptIsExpiredOnFirstAskOnEveryPath(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) {
		c.Receipts.TTL = expiryTTL
		c.Receipts.Coalesce = time.Millisecond
	})
	type path struct {
		name string
		ask  func(devs map[string]*device, g protocol.Conversation, m protocol.SendResult) protocol.Receipt
	}
	paths := []path{
		{"query", func(devs map[string]*device, g protocol.Conversation, m protocol.SendResult) protocol.Receipt {
			return devs[g.ID+"-s"].receipt(g, m.MsgID)
		}},
		{"history", func(devs map[string]*device, g protocol.Conversation, m protocol.SendResult) protocol.Receipt {
			return historyReceipt(t, devs[g.ID+"-s"], g, m.MsgID)
		}},
		{"list", func(devs map[string]*device, g protocol.Conversation, m protocol.SendResult) protocol.Receipt {
			return listReceipt(t, devs[g.ID+"-s"], g)
		}},
		{"admin", func(_ map[string]*device, _ protocol.Conversation, m protocol.SendResult) protocol.Receipt {
			return adminReceipt(t, s, m.MsgID)
		}},
	}
	type setup struct {
		devs map[string]*device
		m    protocol.SendResult
		exp  int64
	}
	groups := make([]setup, len(paths))
	for i, p := range paths {
		devs, m, exp := expiryGroup(t, s, "x"+p.name)
		groups[i] = setup{devs, m, exp}
	}
	for _, g := range groups {
		waitPast(t, g.exp)
	}
	for i, p := range paths {
		g := group("x" + p.name)
		want := frozenWant(groups[i].m, groups[i].exp)
		if got := p.ask(groups[i].devs, g, groups[i].m); got != want {
			t.Errorf("%s, first ask after expiry: got %+v, want %+v", p.name, got, want)
		}
		// And every other path agrees.
		for _, q := range paths {
			if got := q.ask(groups[i].devs, g, groups[i].m); got != want {
				t.Errorf("%s after %s: got %+v, want %+v", q.name, p.name, got, want)
			}
		}
	}
}

// Acks made after expiresAt must not reach the frozen counts, even when no
// engine was loaded to freeze them at the time (right after a restart).
func TestExpiryAfterRestartFreezesCountsAtExpiresAt(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) { c.Receipts.TTL = expiryTTL })
	_, m, exp := expiryGroup(t, s, "xr")
	g := group("xr")
	// Restart before the window closes: the engine is rebuilt from the
	// store, and nothing loads it until the acks below.
	s.Restart()
	sd := dial(t, s, "xr-s", "d2", client.WithAutoDelivered(false))
	r2 := dial(t, s, "xr-r2", "d2", client.WithAutoDelivered(false))
	r3 := dial(t, s, "xr-r3", "d2", client.WithAutoDelivered(false))
	waitPast(t, exp)
	if _, err := r2.ReadConversation(ctx(t), protocol.ConversationReadParams{Conversation: g}); err != nil {
		t.Fatal(err)
	}
	if err := r3.Delivered(ctx(t), protocol.DeliveredParams{Conversation: g, Seq: m.Seq}); err != nil {
		t.Fatal(err)
	}
	want := frozenWant(m, exp)
	check := func(when string) {
		t.Helper()
		if got := sd.receipt(g, m.MsgID); got != want {
			t.Errorf("%s: receipt.query %+v, want %+v", when, got, want)
		}
		if got := historyReceipt(t, sd, g, m.MsgID); got != want {
			t.Errorf("%s: history %+v, want %+v", when, got, want)
		}
		if got := adminReceipt(t, s, m.MsgID); got != want {
			t.Errorf("%s: admin %+v, want %+v", when, got, want)
		}
	}
	check("after expiry")
	s.Restart()
	sd = dial(t, s, "xr-s", "d3", client.WithAutoDelivered(false))
	check("after a second restart")
}
