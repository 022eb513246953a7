package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

var allHookEvents = []string{"message.sent", "receipt.read", "receipt.threshold", "receipt.unread_after", "receipt.expired"}

// hookConfig makes webhooks quick to observe: receipt changes coalesce
// over 20 ms and failed calls are retried within a fraction of a second.
func hookConfig(c *config.Config) {
	c.Receipts.Coalesce = 20 * time.Millisecond
	c.Webhooks.RetryMin = 20 * time.Millisecond
	c.Webhooks.RetryMax = 200 * time.Millisecond
}

// sendRemind sends a receipt message that asks to be told when it is
// still unread after remind.
func (d *device) sendRemind(conv protocol.Conversation, text string, remind time.Duration) protocol.SendResult {
	d.t.Helper()
	res, err := d.Send(ctx(d.t), protocol.SendParams{Conversation: conv, ClientMsgID: text, Body: json.RawMessage(`"` + text + `"`),
		Receipt: true, RemindAfterMs: ptr(remind.Milliseconds())})
	if err != nil {
		d.t.Fatalf("send %q: %v", text, err)
	}
	return res
}

// Every event type reaches an endpoint with the documented body and a
// valid signature, each event once; a tampered body fails verification.
func TestWebhookEveryEvent(t *testing.T) {
	s := seentest.Start(t, hookConfig)
	rcv := newAppServer(t)
	rcv.register(s.MustAdmin, map[string]any{"events": allHookEvents, "thresholds": []int{50}})
	devs := groupOf(t, s, "g", "alice", "bob", "carol", "dave")
	alice, g := devs["alice"], group("g")

	m := alice.sendReceipt(g, "notice")
	alice.say(g, "plain") // asks for no receipts: no message.sent
	sent := rcv.waitFor("message.sent", 10*time.Second, func(ok []hookCall) bool { return len(ofType(ok, "message.sent")) > 0 })
	ev := ofType(sent, "message.sent")[0]
	if ev.data["msgId"] != m.MsgID || ev.data["sender"] != "alice" || fmt.Sprint(ev.data["body"]) != "map[text:notice]" || ev.count("unreadCount") != 3 {
		t.Errorf("message.sent body %s", ev.body)
	}
	if conv, _ := ev.data["conversation"].(map[string]any); conv["type"] != "group" || conv["id"] != "g" {
		t.Errorf("message.sent conversation %v", ev.data["conversation"])
	}

	devs["bob"].read(g, m.MsgID)
	rcv.waitFor("first read", 10*time.Second, func(ok []hookCall) bool { return len(ofType(ok, "receipt.threshold", "first")) == 1 })
	devs["carol"].read(g, m.MsgID)
	got := rcv.waitFor("50 %", 10*time.Second, func(ok []hookCall) bool { return len(ofType(ok, "receipt.threshold", "50")) == 1 })
	if th := ofType(got, "receipt.threshold", "50")[0]; th.count("readCount") != 2 || th.count("unreadCount") != 1 {
		t.Errorf("threshold 50: %s", th.body)
	}

	// A reminder asked for now: dave alone is still unread.
	if err := alice.RequestReceipt(ctx(t), protocol.ReceiptRequestParams{Conversation: g, MsgID: m.MsgID, RemindAfterMs: ptr[int64](100)}); err != nil {
		t.Fatal(err)
	}
	got = rcv.waitFor("unread_after", 10*time.Second, func(ok []hookCall) bool { return len(ofType(ok, "receipt.unread_after")) == 1 })
	un := ofType(got, "receipt.unread_after")[0]
	if un.count("unreadCount") != 1 || un.data["remindAfterMs"] == nil {
		t.Errorf("unread_after: %s", un.body)
	}
	path, _ := un.data["unreadMembers"].(string)
	var page protocol.ReceiptMembersResult
	if err := json.Unmarshal(s.MustAdmin("GET", path, nil), &page); err != nil || len(page.Members) != 1 || page.Members[0].UserID != "dave" {
		t.Errorf("GET %s = %+v, %v; want dave", path, page, err)
	}

	devs["dave"].read(g, m.MsgID)
	// The threshold and the receipt.read of the last read are enqueued
	// together but delivered in any order (docs/webhooks.md, "Order"):
	// wait for both.
	got = rcv.waitFor("all read", 10*time.Second, func(ok []hookCall) bool {
		return len(ofType(ok, "receipt.threshold", "all")) == 1 &&
			slices.ContainsFunc(ofType(ok, "receipt.read"), func(c hookCall) bool { return c.count("readCount") == 3 })
	})
	reads := ofType(got, "receipt.read")
	var readers []string
	for _, r := range reads {
		for _, u := range r.data["newReaders"].([]any) {
			readers = append(readers, u.(string))
		}
	}
	slices.Sort(readers)
	if !slices.Equal(readers, []string{"bob", "carol", "dave"}) {
		t.Errorf("receipt.read newReaders over all calls: %v", readers)
	}
	// The read counts only grow: the report with the highest is the last.
	last := slices.MaxFunc(reads, func(a, b hookCall) int { return a.count("readCount") - b.count("readCount") })
	if last.count("readCount") != 3 || last.count("unreadCount") != 0 {
		t.Errorf("last receipt.read: %s", last.body)
	}

	// A message sent with remindAfterMs that nobody reads.
	m2 := alice.sendRemind(g, "unread", 100*time.Millisecond)
	rcv.waitFor("unread_after of m2", 10*time.Second, func(ok []hookCall) bool {
		for _, c := range ofType(ok, "receipt.unread_after") {
			if c.data["msgId"] == m2.MsgID && c.count("unreadCount") == 3 {
				return true
			}
		}
		return false
	})

	rcv.checkSigned()
	calls := rcv.ok()
	if n := distinctIDs(calls); n != len(calls) {
		t.Errorf("%d calls answered 2xx carry %d distinct event ids: an event was delivered twice (%s)", len(calls), n, summary(calls))
	}
	for _, c := range calls {
		if c.typ == "message.sent" && fmt.Sprint(c.data["body"]) == "map[text:plain]" {
			t.Errorf("message.sent for a message without receipts: %s", c.body)
		}
	}
	tampered := slices.Clone(calls[0].body)
	tampered[len(tampered)/2] ^= 1
	if verifyHook(rcv.secret, calls[0].id, calls[0].timestamp, calls[0].signature, tampered) == nil {
		t.Error("a tampered body verified")
	}
}

// When a receipt's validity window closes, receipt.expired carries the
// frozen counts.
func TestWebhookExpired(t *testing.T) {
	s := seentest.Start(t, hookConfig, func(c *config.Config) { c.Receipts.TTL = time.Second })
	rcv := newAppServer(t)
	rcv.register(s.MustAdmin, map[string]any{"events": []string{"receipt.expired"}})
	devs := groupOf(t, s, "x", "alice", "bob", "carol")
	m := devs["alice"].sendReceipt(group("x"), "soon gone")
	devs["bob"].read(group("x"), m.MsgID)
	got := rcv.waitFor("receipt.expired", 15*time.Second, func(ok []hookCall) bool { return len(ok) > 0 })
	ex := got[0]
	if ex.typ != "receipt.expired" || ex.data["msgId"] != m.MsgID || ex.count("readCount") != 1 || ex.count("unreadCount") != 1 {
		t.Errorf("receipt.expired: %s", ex.body)
	}
	if r, _ := ex.data["receipt"].(map[string]any); r["status"] != protocol.StatusExpired {
		t.Errorf("receipt.expired status: %s", ex.body)
	}
	rcv.checkSigned()
}

// A receiver that fails for a while gets every event once it recovers,
// each under one id; one that never recovers ends in dead-letter, and a
// replay through the admin API delivers it.
func TestWebhookRetriesAndDeadLetter(t *testing.T) {
	s := seentest.Start(t, hookConfig, func(c *config.Config) { c.Webhooks.MaxAttempts = 3 })
	flaky := newAppServer(t)
	var failures atomic.Int32
	flaky.setAnswer(func(hookCall) int {
		if failures.Add(1) <= 4 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	flaky.register(s.MustAdmin, map[string]any{"events": []string{"message.sent"}})
	devs := groupOf(t, s, "r", "alice", "bob")
	var ids []string
	for i := range 3 {
		ids = append(ids, devs["alice"].sendReceipt(group("r"), fmt.Sprintf("m%d", i)).MsgID)
	}
	got := flaky.waitFor("every message.sent", 20*time.Second, func(ok []hookCall) bool { return len(ok) >= 3 })
	idOf := map[string]map[string]bool{} // msgId -> webhook ids seen, failed calls included
	for _, c := range flaky.all() {
		msg, _ := c.data["msgId"].(string)
		if idOf[msg] == nil {
			idOf[msg] = map[string]bool{}
		}
		idOf[msg][c.id] = true
	}
	for _, id := range ids {
		if len(idOf[id]) != 1 {
			t.Errorf("message %s went out under webhook ids %v, want one", id, idOf[id])
		}
	}
	if distinctIDs(got) != len(got) {
		t.Errorf("an event was answered 2xx twice: %s", summary(got))
	}
	flaky.checkSigned()

	dead := newAppServer(t)
	dead.setAnswer(func(hookCall) int { return http.StatusServiceUnavailable })
	epID := dead.register(s.MustAdmin, map[string]any{"events": []string{"message.sent"}})
	m := devs["alice"].sendReceipt(group("r"), "never")
	var list struct {
		Deliveries []struct {
			EventID  string `json:"eventId"`
			State    string `json:"state"`
			Attempts int    `json:"attempts"`
		} `json:"deliveries"`
	}
	seentest.Eventually(t, 20*time.Second, func() error {
		if err := json.Unmarshal(s.MustAdmin("GET", "/v1/admin/webhooks/"+epID+"/deliveries?state=dead", nil), &list); err != nil {
			return err
		}
		if len(list.Deliveries) != 1 {
			return fmt.Errorf("dead deliveries: %+v", list.Deliveries)
		}
		return nil
	})
	if d := list.Deliveries[0]; d.Attempts != 3 || d.State != "dead" {
		t.Errorf("dead delivery %+v, want 3 attempts", d)
	}
	if n := len(dead.all()); n != 3 {
		t.Errorf("the dead endpoint was called %d times, want 3", n)
	}
	dead.setAnswer(func(hookCall) int { return http.StatusOK })
	s.MustAdmin("POST", "/v1/admin/webhooks/"+epID+"/deliveries/"+list.Deliveries[0].EventID+"/replay", nil)
	got = dead.waitFor("the replayed delivery", 10*time.Second, func(ok []hookCall) bool { return len(ok) == 1 })
	if got[0].data["msgId"] != m.MsgID || got[0].id != list.Deliveries[0].EventID {
		t.Errorf("replayed call %s id %s", got[0].body, got[0].id)
	}
}

// A storm of reads of one message gives batched receipt.read calls with
// exact counts in the last, and every threshold exactly once.
func TestWebhookReadStorm(t *testing.T) {
	readers := 10_000
	if testing.Short() {
		readers = 1_000
	}
	const window = 100 * time.Millisecond
	s := seentest.Start(t, hookConfig, func(c *config.Config) { c.Receipts.Coalesce = window })
	rcv := newAppServer(t)
	rcv.register(s.MustAdmin, map[string]any{"events": []string{"receipt.read", "receipt.threshold"}, "thresholds": []int{50, 90}})
	users := make([]string, readers)
	for i := range users {
		users[i] = fmt.Sprintf("r%05d", i)
	}
	parallel(t, 16, users, func(u string) error {
		code, body := s.Admin("POST", "/v1/admin/users", map[string]string{"userId": u})
		if code/100 != 2 {
			return fmt.Errorf("create %s: %d %s", u, code, body)
		}
		return nil
	})
	s.Users("boss")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "storm", "owner": "boss", "members": users})
	boss := dial(t, s, "boss", "d", client.WithAutoDelivered(false))
	m := boss.sendReceipt(group("storm"), "all hands")
	start := time.Now()
	parallel(t, 32, users, func(u string) error {
		c, err := dialProc(s.WSURL(), s.Token(u))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Read(context.Background(), protocol.ReadParams{Conversation: group("storm"), MsgIDs: []string{m.MsgID}})
		return err
	})
	got := rcv.waitFor("all read", 60*time.Second, func(ok []hookCall) bool { return len(ofType(ok, "receipt.threshold", "all")) == 1 })
	for _, th := range []string{"first", "50", "90", "all"} {
		if n := len(ofType(got, "receipt.threshold", th)); n != 1 {
			t.Errorf("threshold %s fired %d times, want once", th, n)
		}
	}
	// namedIn returns the readers the receipt.read calls name, and whether
	// one said it left some out.
	namedIn := func(reads []hookCall) (map[string]bool, bool) {
		named, partial := map[string]bool{}, false
		for _, r := range reads {
			l, _ := r.data["newReaders"].([]any)
			for _, u := range l {
				named[u.(string)] = true
			}
			more, _ := r.data["newReadersMore"].(bool)
			partial = partial || more
		}
		return named, partial
	}
	// The counts are computed at each flush, so a call may count a read
	// whose reader's name reaches the coalescing node (after the read
	// itself, from another node) only for the next window's call: wait
	// for the last count and for every name.
	reads := rcv.waitFor("the last receipt.read and every reader named", 30*time.Second, func(ok []hookCall) bool {
		last := false
		for _, c := range ofType(ok, "receipt.read") {
			last = last || c.count("readCount") == readers
		}
		named, partial := namedIn(ofType(ok, "receipt.read"))
		return last && (partial || len(named) == readers)
	})
	elapsed := time.Since(start)
	reads = ofType(reads, "receipt.read")
	// At most one report per coalescing window (and one per sweep), however
	// many reads a window holds: a slower machine allows more.
	if most := int(elapsed/window) + int(elapsed/(10*time.Second)) + 2; len(reads) > most {
		t.Errorf("%d receipt.read calls for %d reads over %v: more than one per %v window (%d)", len(reads), readers, elapsed, window, most)
	}
	if named, partial := namedIn(reads); !partial && len(named) != readers {
		t.Errorf("receipt.read calls name %d distinct new readers and say none is left out; want %d", len(named), readers)
	}
	t.Logf("%d reads over %v: %d receipt.read calls", readers, elapsed, len(reads))
	rcv.checkSigned()
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// parallel runs f over items with n workers and fails on the first error.
func parallel(t *testing.T, n int, items []string, f func(string) error) {
	t.Helper()
	work := make(chan string)
	var (
		wg    sync.WaitGroup
		first atomic.Pointer[error]
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range work {
				if err := f(it); err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
	if err := first.Load(); err != nil {
		t.Fatal(*err)
	}
}
