package service

import (
	"context"
	"encoding/json"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/internal/store/pgstore"
	"github.com/seen-im/seen/internal/testpg"
	"github.com/seen-im/seen/protocol"
)

// hookWorld is a service on an embedded store in a directory that outlives
// it (reopen), with a clock the test moves, and group "g" of sender "s"
// and readers r1, r2.
type hookWorld struct {
	t   *testing.T
	now atomic.Int64
	t0  int64
	cfg config.Config
	// openStore opens the world's store, the same data each time.
	openStore func() (store.Store, error)
	st        store.Store
	svc       *Service
	// ownStores: each node opens a store of its own (PostgreSQL); the
	// embedded store is one process's, so nodes share it.
	ownStores bool
	// close closes svc and st before the test ends (open again after).
	close func()
}

var hookGroup = protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}

// backends runs test against each store: the embedded one, and
// PostgreSQL when SEEN_TEST_POSTGRES_URL names one (skipped otherwise).
func backends(t *testing.T, test func(t *testing.T, newWorld func(ttl time.Duration) *hookWorld)) {
	t.Run("pebble", func(t *testing.T) {
		test(t, func(ttl time.Duration) *hookWorld { return newHookWorld(t, ttl, nil) })
	})
	t.Run("postgres", func(t *testing.T) {
		url := testpg.Database(t)
		open := func() (store.Store, error) { return pgstore.Open(context.Background(), url, pgstore.Options{}) }
		test(t, func(ttl time.Duration) *hookWorld {
			w := newHookWorld(t, ttl, open)
			w.ownStores = true
			return w
		})
	})
}

// newHookWorld makes a world on the store openStore opens, an embedded one
// in a directory of the test's if nil.
func newHookWorld(t *testing.T, ttl time.Duration, openStore func() (store.Store, error)) *hookWorld {
	t.Helper()
	if openStore == nil {
		dir := t.TempDir()
		openStore = func() (store.Store, error) {
			return pebblestore.Open(dir, pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
		}
	}
	w := &hookWorld{t: t, cfg: config.Default(), openStore: openStore}
	w.cfg.Receipts.TTL = ttl
	w.t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	w.now.Store(w.t0)
	w.open()
	ctx := context.Background()
	for _, u := range []string{"s", "r1", "r2"} {
		if err := w.svc.EnsureUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.svc.CreateGroup(ctx, "s", protocol.GroupCreateParams{GroupID: "g", Members: []string{"r1", "r2"}}); err != nil {
		t.Fatal(err)
	}
	return w
}

// open opens the store and a service on it, closed when the test ends
// unless closed before.
func (w *hookWorld) open() {
	w.t.Helper()
	st, err := w.openStore()
	if err != nil {
		w.t.Fatal(err)
	}
	b := local.New()
	svc := New(Options{Store: st, Bus: b, Config: w.cfg, Now: func() time.Time { return time.UnixMilli(w.now.Load()) }})
	closed := false
	w.t.Cleanup(func() {
		if !closed {
			_ = svc.Close(context.Background())
			_ = b.Close()
			_ = st.Close()
		}
	})
	w.st, w.svc = st, svc
	w.close = func() {
		closed = true
		if err := svc.Close(context.Background()); err != nil {
			w.t.Error(err)
		}
		_ = b.Close()
		if err := st.Close(); err != nil {
			w.t.Error(err)
		}
	}
}

// endpoint registers an endpoint for events, seen at once.
func (w *hookWorld) endpoint(id string, events ...string) {
	w.t.Helper()
	ctx := context.Background()
	if err := w.svc.store.CreateWebhook(ctx, store.Webhook{ID: id, URL: "http://127.0.0.1:1/", Secret: "whsec_x", Events: events}); err != nil {
		w.t.Fatal(err)
	}
	w.svc.webhooksChanged(ctx)
}

func as(u string) Caller { return Caller{UserID: u, ConnID: u + "-conn"} }

func (w *hookWorld) send(clientMsgID string, receipt bool, remindAfterMs int64) protocol.SendResult {
	w.t.Helper()
	p := protocol.SendParams{Conversation: hookGroup, ClientMsgID: clientMsgID, Body: json.RawMessage(`{"text":"hi"}`), Receipt: receipt}
	if remindAfterMs != 0 {
		p.RemindAfterMs = &remindAfterMs
	}
	res, err := w.svc.Send(context.Background(), as("s"), p)
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

func (w *hookWorld) read(u, msgID string) {
	w.t.Helper()
	if _, err := w.svc.Read(context.Background(), as(u), protocol.ReadParams{Conversation: hookGroup, MsgIDs: []string{msgID}}); err != nil {
		w.t.Fatal(err)
	}
}

// deliveries lists endpoint ep's deliveries without claiming them.
func (w *hookWorld) deliveries(ep string) []store.Delivery {
	w.t.Helper()
	ds, err := w.svc.store.ListDeliveries(context.Background(), ep, "", "", 1000)
	if err != nil {
		w.t.Fatal(err)
	}
	return ds
}

// ofType keeps the deliveries of one event type, decoded.
func ofType(t *testing.T, ds []store.Delivery, typ string) []hookEnvelope {
	t.Helper()
	var out []hookEnvelope
	for _, d := range ds {
		if d.Type != typ {
			continue
		}
		var env hookEnvelope
		if err := json.Unmarshal(d.Payload, &env); err != nil {
			t.Fatalf("payload of %s: %v", d.EventID, err)
		}
		if env.Type != typ {
			t.Errorf("delivery %s: payload type %q, want %q", d.EventID, env.Type, typ)
		}
		out = append(out, env)
	}
	return out
}

// timers lists every stored timer, claiming them far in the future: only
// for tests that fire no more timers afterwards.
func (w *hookWorld) timers() []store.Timer {
	w.t.Helper()
	far := w.now.Load() + 365*24*3600*1000
	ts, err := w.svc.store.ClaimTimers(context.Background(), far, far+1, 1000)
	if err != nil {
		w.t.Fatal(err)
	}
	return ts
}

func (w *hookWorld) fire() int {
	w.t.Helper()
	n, err := w.svc.fireDueTimers(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

// A send's message.sent is in the same durable write as the message: once
// Send returns, the delivery loop can claim it, with the message's body,
// time and fresh receipt; the timers and the track are stored with the
// message's place. A clientMsgId retry adds nothing.
func TestSendEnqueuesMessageSentWithTheMessage(t *testing.T) {
	backends(t, func(t *testing.T, newWorld func(time.Duration) *hookWorld) {
		ctx := context.Background()
		w := newWorld(time.Hour)
		w.endpoint("ep", HookMessageSent, HookReceiptRead, HookUnreadAfter, HookExpired)
		res := w.send("c1", true, 60_000)

		ds, err := w.svc.store.ClaimDeliveries(ctx, w.now.Load(), w.now.Load()+1000, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].Type != HookMessageSent || ds[0].EventID != "sent_"+res.MsgID || ds[0].Endpoint != "ep" {
			t.Fatalf("claimed %+v, want one message.sent for ep", ds)
		}
		env := ofType(t, ds, HookMessageSent)[0]
		want := hookData{
			Conversation: hookGroup, MsgID: res.MsgID, Sender: "s", Body: json.RawMessage(`{"text":"hi"}`), SentAt: res.SentAt,
			Receipt: &protocol.Receipt{MsgID: res.MsgID, Status: protocol.StatusPending, UnreadCount: 2, ExpiresAt: res.SentAt + time.Hour.Milliseconds()},
		}
		if got, _ := json.Marshal(env.Data); string(got) != string(must(json.Marshal(want))) {
			t.Errorf("data:\n got %s\nwant %s", got, must(json.Marshal(want)))
		}

		again, err := w.svc.Send(ctx, as("s"), protocol.SendParams{Conversation: hookGroup, ClientMsgID: "c1", Body: json.RawMessage(`{"text":"hi"}`), Receipt: true})
		if err != nil || again.MsgID != res.MsgID {
			t.Fatalf("retry: %+v, %v", again, err)
		}
		if ds := w.deliveries("ep"); len(ds) != 1 {
			t.Errorf("after a clientMsgId retry: %d deliveries, want 1", len(ds))
		}
		conv := store.GroupConv("g")
		tracks, err := w.svc.store.GetTracks(ctx, conv, []uint64{res.Seq})
		if err != nil || len(tracks) != 1 || tracks[0].MsgID != res.MsgID || tracks[0].Reported != 0 {
			t.Errorf("tracks: %+v, %v; want one for the message", tracks, err)
		}
		wantTimers := map[string]int64{store.TimerUnreadAfter: res.SentAt + 60_000, store.TimerExpired: res.SentAt + time.Hour.Milliseconds()}
		ts := w.timers()
		if len(ts) != 2 {
			t.Fatalf("timers: %+v, want unread_after and expired", ts)
		}
		for _, tm := range ts {
			if tm.Conv != conv || tm.Seq != res.Seq || tm.DueAt != wantTimers[tm.Kind] {
				t.Errorf("timer %+v, want at %s/%d due %d", tm, conv, res.Seq, wantTimers[tm.Kind])
			}
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A message without receipts has no message.sent unless the endpoint asks
// for every message; without any endpoint a send writes no webhook row.
func TestSendHooksOnlyWhenWanted(t *testing.T) {
	backends(t, func(t *testing.T, newWorld func(time.Duration) *hookWorld) {
		ctx := context.Background()
		w := newWorld(time.Hour)
		w.send("none", true, 1000)
		w.send("none2", false, 0)
		if ts := w.timers(); len(ts) != 0 {
			t.Errorf("no endpoint: timers %+v", ts)
		}
		if tr, err := w.svc.store.ListTracks(ctx, "", 0, 10); err != nil || len(tr) != 0 {
			t.Errorf("no endpoint: tracks %+v, %v", tr, err)
		}

		w.endpoint("receipts", HookMessageSent)
		if err := w.svc.store.CreateWebhook(ctx, store.Webhook{ID: "all", URL: "http://127.0.0.1:1/", Secret: "whsec_x", Events: []string{HookMessageSent}, AllMessages: true}); err != nil {
			t.Fatal(err)
		}
		w.svc.webhooksChanged(ctx)
		plain := w.send("plain", false, 0)
		if ds := w.deliveries("receipts"); len(ds) != 0 {
			t.Errorf("a message without receipts went to an endpoint that did not ask for all: %+v", ds)
		}
		got := ofType(t, w.deliveries("all"), HookMessageSent)
		if len(got) != 1 || got[0].Data.MsgID != plain.MsgID || got[0].Data.Receipt != nil {
			t.Errorf("all messages: %+v, want one message.sent without a receipt", got)
		}
		// Only message.sent is wanted: no track, no timer.
		if ts := w.timers(); len(ts) != 0 {
			t.Errorf("timers nobody wants: %+v", ts)
		}
	})
}

// remindAfterMs is 1 ms to 30 days, an integer, with receipt: true on
// message.send; anything else is -32602 naming the field, nothing stored.
func TestRemindAfterValidation(t *testing.T) {
	ctx := context.Background()
	w := newHookWorld(t, 0, nil)
	w.endpoint("ep", HookUnreadAfter)
	plain := w.send("plain", false, 0)
	maxOK := strconv.Itoa(protocol.MaxRemindAfterMs)
	tooBig := strconv.Itoa(protocol.MaxRemindAfterMs + 1)
	n := 0
	send := func(v string, receipt bool) string {
		n++
		return `{"conversation":{"type":"group","id":"g"},"clientMsgId":"v` + strconv.Itoa(n) + `","body":1,"receipt":` + strconv.FormatBool(receipt) + `,"remindAfterMs":` + v + `}`
	}
	request := func(v string) string {
		return `{"conversation":{"type":"group","id":"g"},"msgId":"` + plain.MsgID + `","remindAfterMs":` + v + `}`
	}
	for _, tc := range []struct {
		method, params string
		ok             bool
	}{
		{protocol.MethodMessageSend, send("0", true), false},
		{protocol.MethodMessageSend, send("-5", true), false},
		{protocol.MethodMessageSend, send(tooBig, true), false},
		{protocol.MethodMessageSend, send("1.5", true), false},
		{protocol.MethodMessageSend, send(`"60000"`, true), false},
		{protocol.MethodMessageSend, send("1e30", true), false},
		{protocol.MethodMessageSend, send("60000", false), false},
		{protocol.MethodReceiptRequest, request("0"), false},
		{protocol.MethodReceiptRequest, request("-1"), false},
		{protocol.MethodReceiptRequest, request(tooBig), false},
		{protocol.MethodReceiptRequest, request("2.5"), false},
		{protocol.MethodMessageSend, send(maxOK, true), true},
		{protocol.MethodMessageSend, send("1", true), true},
	} {
		seqBefore, _ := w.st.LastSeq(ctx, store.GroupConv("g"))
		_, pe := w.svc.Dispatch(ctx, as("s"), tc.method, json.RawMessage(tc.params))
		seqAfter, _ := w.st.LastSeq(ctx, store.GroupConv("g"))
		if tc.ok {
			if pe != nil {
				t.Errorf("%s %s: %v, want success", tc.method, tc.params, pe)
			}
			continue
		}
		if pe == nil || pe.Code != protocol.CodeInvalidParams {
			t.Errorf("%s %s: %v, want -32602", tc.method, tc.params, pe)
			continue
		}
		if f, _ := pe.Data["field"].(string); f != "remindAfterMs" {
			t.Errorf("%s %s: data %v, want field remindAfterMs", tc.method, tc.params, pe.Data)
		}
		if seqAfter != seqBefore {
			t.Errorf("%s %s: a message was stored", tc.method, tc.params)
		}
	}
	m, err := w.st.GetMessage(ctx, plain.MsgID)
	if err != nil || m.Receipt {
		t.Errorf("a refused receipt.request turned receipts on: %+v, %v", m, err)
	}
	if ts := w.timers(); len(ts) != 2 {
		t.Errorf("timers: %+v, want the two of the accepted sends", ts)
	}
}

// receipt.unread_after fires once, when the time comes, with the counts
// as the sender would query them and the path that pages the unread; a
// message every member has read by then fires nothing.
func TestUnreadAfterFiresOnceWhenSomeoneIsUnread(t *testing.T) {
	backends(t, func(t *testing.T, newWorld func(time.Duration) *hookWorld) {
		w := newWorld(0)
		w.endpoint("ep", HookUnreadAfter)
		some := w.send("some", true, 1000)
		all := w.send("all", true, 1000)
		w.read("r1", some.MsgID)
		w.read("r1", all.MsgID)
		w.read("r2", all.MsgID)

		w.now.Store(w.t0 + 999)
		if n := w.fire(); n != 0 {
			t.Fatalf("fired %d timers before they were due", n)
		}
		w.now.Store(w.t0 + 1000)
		if n := w.fire(); n != 2 {
			t.Fatalf("fired %d timers, want 2", n)
		}
		got := ofType(t, w.deliveries("ep"), HookUnreadAfter)
		if len(got) != 1 {
			t.Fatalf("unread_after events: %+v, want one (for the message r2 has not read)", got)
		}
		d := got[0].Data
		wantReceipt := protocol.Receipt{MsgID: some.MsgID, Status: protocol.StatusPending, ReadCount: 1, UnreadCount: 1, DeliveredCount: 1}
		if d.MsgID != some.MsgID || d.Sender != "s" || d.Conversation != hookGroup || d.Receipt == nil || *d.Receipt != wantReceipt ||
			d.RemindAfterMs != 1000 || d.UnreadMembers != "/v1/admin/messages/"+some.MsgID+"/members?filter=unread" {
			t.Errorf("data %+v (receipt %+v)", d, d.Receipt)
		}
		if ds := w.deliveries("ep"); ds[0].EventID != "unread_"+some.MsgID+"_"+strconv.FormatInt(w.t0+1000, 10) {
			t.Errorf("event id %q", ds[0].EventID)
		}
		w.now.Store(w.t0 + 100_000)
		if n := w.fire(); n != 0 {
			t.Errorf("fired %d more", n)
		}
		if ds := w.deliveries("ep"); len(ds) != 1 {
			t.Errorf("%d deliveries after firing again, want 1", len(ds))
		}
	})
}

// A timer that fell due while no service ran fires, through the timer
// loop, once a new service opens the same store.
func TestUnreadAfterDueWhileClosedFiresAfterRestart(t *testing.T) {
	backends(t, func(t *testing.T, newWorld func(time.Duration) *hookWorld) {
		w := newWorld(0)
		w.endpoint("ep", HookUnreadAfter)
		m := w.send("m", true, 5000)
		w.close()

		w.now.Store(w.t0 + 60_000)
		w.open()
		w.svc.StartTimers()
		deadline := time.Now().Add(20 * time.Second)
		for {
			if got := ofType(t, w.deliveries("ep"), HookUnreadAfter); len(got) > 0 {
				if len(got) != 1 || got[0].Data.MsgID != m.MsgID || got[0].Data.Receipt.UnreadCount != 2 {
					t.Fatalf("after restart: %+v", got)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the timer due while the service was closed did not fire")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// receipt.expired fires once, when the window closes, with the counts
// frozen then; a receipt done before it closed fires nothing.
func TestExpiredFiresWithFrozenCounts(t *testing.T) {
	backends(t, func(t *testing.T, newWorld func(time.Duration) *hookWorld) {
		w := newWorld(time.Second)
		w.endpoint("ep", HookExpired)
		open := w.send("open", true, 0)
		done := w.send("done", true, 0)
		w.read("r1", open.MsgID)
		w.read("r1", done.MsgID)
		w.read("r2", done.MsgID)

		w.now.Store(w.t0 + 1000)
		if n := w.fire(); n != 2 {
			t.Fatalf("fired %d timers, want 2", n)
		}
		got := ofType(t, w.deliveries("ep"), HookExpired)
		if len(got) != 1 {
			t.Fatalf("expired events: %+v, want one", got)
		}
		want := protocol.Receipt{MsgID: open.MsgID, Status: protocol.StatusExpired, ReadCount: 1, UnreadCount: 1, DeliveredCount: 1, ExpiresAt: w.t0 + 1000}
		if r := got[0].Data.Receipt; r == nil || *r != want || got[0].Data.MsgID != open.MsgID {
			t.Errorf("receipt %+v, want %+v", r, want)
		}
		stored, err := w.st.GetMessage(context.Background(), open.MsgID)
		if err != nil || stored.Frozen == nil || *stored.Frozen != (store.Frozen{Read: 1, Unread: 1, Delivered: 1}) {
			t.Errorf("stored %+v, %v: want frozen counts", stored, err)
		}
		w.now.Store(w.t0 + 100_000)
		if n := w.fire(); n != 0 {
			t.Errorf("fired %d more", n)
		}
		if ds := w.deliveries("ep"); len(ds) != 1 || ds[0].EventID != "exp_"+open.MsgID {
			t.Errorf("deliveries %+v, want exp_%s alone", ds, open.MsgID)
		}
	})
}

// receipt.request with remindAfterMs sets the reminder from the request's
// time, also on a message that asks for receipts already (a retried
// request); the first request also starts the track and the expired timer.
func TestReceiptRequestSetsTimers(t *testing.T) {
	backends(t, func(t *testing.T, newWorld func(time.Duration) *hookWorld) {
		ctx := context.Background()
		w := newWorld(time.Hour)
		w.endpoint("ep", HookThreshold, HookUnreadAfter, HookExpired)
		m := w.send("m", false, 0)
		w.now.Store(w.t0 + 10)
		remind := int64(2000)
		req := protocol.ReceiptRequestParams{Conversation: hookGroup, MsgID: m.MsgID, RemindAfterMs: &remind}
		if _, err := w.svc.RequestReceipt(ctx, as("s"), req); err != nil {
			t.Fatal(err)
		}
		w.now.Store(w.t0 + 20)
		if _, err := w.svc.RequestReceipt(ctx, as("s"), req); err != nil {
			t.Fatal(err)
		}
		tracks, err := w.svc.store.GetTracks(ctx, store.GroupConv("g"), []uint64{m.Seq})
		if err != nil || len(tracks) != 1 {
			t.Errorf("tracks %+v, %v: want one", tracks, err)
		}
		want := map[string]int64{store.TimerUnreadAfter: w.t0 + 10 + 2000, store.TimerExpired: w.t0 + 10 + time.Hour.Milliseconds()}
		ts := w.timers()
		if len(ts) != 2 {
			t.Fatalf("timers %+v, want unread_after and expired", ts)
		}
		for _, tm := range ts {
			if tm.Seq != m.Seq || tm.DueAt != want[tm.Kind] {
				t.Errorf("timer %+v, want due %d", tm, want[tm.Kind])
			}
		}
	})
}

// Two nodes on one store fire a due timer once between them: the claim's
// lease hands it to one.
func TestTimerFiresOnceAcrossNodes(t *testing.T) {
	backends(t, func(t *testing.T, newWorld func(time.Duration) *hookWorld) {
		w := newWorld(0)
		w.endpoint("ep", HookUnreadAfter)
		for i := range 50 {
			w.send("m"+strconv.Itoa(i), true, 1000)
		}
		b := local.New()
		other := New(Options{Store: w.st, Bus: b, Config: w.cfg, Now: func() time.Time { return time.UnixMilli(w.now.Load()) }})
		t.Cleanup(func() { _ = other.Close(context.Background()); _ = b.Close() })

		w.now.Store(w.t0 + 1000)
		counts := make(chan int, 2)
		for _, s := range []*Service{w.svc, other} {
			go func() {
				n, err := s.fireDueTimers(context.Background())
				if err != nil {
					t.Error(err)
				}
				counts <- n
			}()
		}
		if total := <-counts + <-counts; total != 50 {
			t.Errorf("the nodes fired %d timers between them, want 50", total)
		}
		if got := ofType(t, w.deliveries("ep"), HookUnreadAfter); len(got) != 50 {
			t.Errorf("%d unread_after events, want 50", len(got))
		}
	})
}

// A receipt.request answered with an error may have turned receipts on
// without writing the track; its retry (receipts already on) writes it.
func TestReceiptRequestRetryAddsAMissingTrack(t *testing.T) {
	backends(t, func(t *testing.T, newWorld func(time.Duration) *hookWorld) {
		ctx := context.Background()
		w := newWorld(0)
		w.endpoint("ep", HookThreshold)
		m := w.send("m", false, 0)
		req := protocol.ReceiptRequestParams{Conversation: hookGroup, MsgID: m.MsgID}
		if _, err := w.svc.RequestReceipt(ctx, as("s"), req); err != nil {
			t.Fatal(err)
		}
		// The track lost, as if the first request's write of it had failed.
		if err := w.svc.store.CommitReport(ctx, nil, []store.MsgRef{{Conv: store.GroupConv("g"), Seq: m.Seq}}, nil); err != nil {
			t.Fatal(err)
		}
		if tracks, _ := w.svc.store.GetTracks(ctx, store.GroupConv("g"), []uint64{m.Seq}); len(tracks) != 0 {
			t.Fatalf("track still there: %+v", tracks)
		}
		if _, err := w.svc.RequestReceipt(ctx, as("s"), req); err != nil {
			t.Fatal(err)
		}
		tracks, err := w.svc.store.GetTracks(ctx, store.GroupConv("g"), []uint64{m.Seq})
		if err != nil || len(tracks) != 1 || tracks[0].MsgID != m.MsgID {
			t.Errorf("after the retry: tracks %+v, %v; want m's", tracks, err)
		}
	})
}
