package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/protocol"
)

// readHooksEndpoint is an endpoint that wants every read event, with
// thresholds at 50 and 90 %.
var readHooksEndpoint = store.Webhook{
	ID: "ep", URL: "http://127.0.0.1:1/hook", Secret: "whsec_dGVzdA==",
	Events: []string{HookReceiptRead, HookThreshold}, Thresholds: []int{50, 90},
}

// openPebble opens an embedded store in dir, closed when the test ends.
func openPebble(t *testing.T, dir string) *pebblestore.Store {
	t.Helper()
	st, err := pebblestore.Open(dir, pebblestore.Options{CacheBytes: 8 << 20, MemtableBytes: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// hookService is a single node on st with the in-process bus; closeSvc
// closes it (also done when the test ends).
func hookService(t *testing.T, st store.Store) (svc *Service, closeSvc func()) {
	t.Helper()
	return hookServiceAt(t, st, nil)
}

// hookServiceAt is hookService on the clock now (nil: time.Now).
func hookServiceAt(t *testing.T, st store.Store, now func() time.Time) (svc *Service, closeSvc func()) {
	t.Helper()
	b := local.New()
	cfg := config.Default()
	cfg.Receipts.Coalesce = 100 * time.Millisecond
	svc = New(Options{Store: st, Bus: b, Config: cfg, Now: now})
	var once sync.Once
	closeSvc = func() {
		once.Do(func() {
			if err := svc.Close(context.Background()); err != nil {
				t.Error(err)
			}
			_ = b.Close()
		})
	}
	t.Cleanup(closeSvc)
	return svc, closeSvc
}

// bigGroup creates group g of sender and n readers r00000.. with store
// calls (not n requests) and returns the readers.
func bigGroup(t *testing.T, st store.Store, g, sender string, n int) []string {
	t.Helper()
	ctx := context.Background()
	at := time.Now().UnixMilli()
	members := []store.Member{{UserID: sender, Role: protocol.RoleOwner, JoinSeq: 1, JoinedAt: at}}
	var readers []string
	for i := range n {
		id := fmt.Sprintf("r%05d", i)
		readers = append(readers, id)
		members = append(members, store.Member{UserID: id, Role: protocol.RoleMember, JoinSeq: 1, JoinedAt: at})
	}
	for _, m := range members {
		if _, err := st.PutUser(ctx, store.User{ID: m.UserID, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateGroup(ctx, store.Group{ID: g, CreatedBy: sender, CreatedAt: at}, members); err != nil {
		t.Fatal(err)
	}
	return readers
}

// sendTracked sends a receipt message through svc, which starts its track
// in the same write as the message since endpoints want its reads.
func sendTracked(t *testing.T, svc *Service, sender string, conv protocol.Conversation, text string) (protocol.SendResult, store.ConvID) {
	t.Helper()
	ctx := context.Background()
	res, err := svc.Send(ctx, caller(sender), protocol.SendParams{
		Conversation: conv, ClientMsgID: text, Body: json.RawMessage(fmt.Sprintf("%q", text)), Receipt: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := svc.store.GetMessage(ctx, res.MsgID)
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := svc.store.GetTracks(ctx, m.Conv, []uint64{m.Seq}); err != nil || len(ts) != 1 || ts[0].MsgID != m.ID {
		t.Fatalf("the send started no track: %+v, %v", ts, err)
	}
	return res, m.Conv
}

// hookEv is one enqueued delivery, decoded.
type hookEv struct {
	id   string
	Type string   `json:"type"`
	Data hookData `json:"data"`
	rec  protocol.Receipt
}

// deliveries lists every delivery of endpoint ep, decoded.
func deliveries(t *testing.T, h store.Webhooks, ep string) []hookEv {
	t.Helper()
	var out []hookEv
	after := ""
	for {
		ds, err := h.ListDeliveries(context.Background(), ep, "", after, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			var ev hookEv
			if err := json.Unmarshal(d.Payload, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Type != d.Type || ev.Data.Receipt == nil {
				t.Fatalf("delivery %s: type %q (%q), receipt %v", d.EventID, ev.Type, d.Type, ev.Data.Receipt)
			}
			ev.id, ev.rec = d.EventID, *ev.Data.Receipt
			out = append(out, ev)
		}
		if len(ds) < 500 {
			return out
		}
		after = ds[len(ds)-1].EventID
	}
}

// byType splits evs into receipt.read events (by read count) and
// thresholds (by key), failing on a threshold fired twice.
func byType(t *testing.T, evs []hookEv) (reads []hookEv, thresholds map[string]hookEv) {
	t.Helper()
	thresholds = map[string]hookEv{}
	for _, ev := range evs {
		switch ev.Type {
		case HookReceiptRead:
			reads = append(reads, ev)
		case HookThreshold:
			key := fmt.Sprint(ev.Data.Threshold)
			if _, dup := thresholds[key]; dup {
				t.Fatalf("threshold %s fired twice", key)
			}
			thresholds[key] = ev
		default:
			t.Fatalf("unexpected event %s", ev.Type)
		}
	}
	slices.SortFunc(reads, func(a, b hookEv) int { return a.rec.ReadCount - b.rec.ReadCount })
	return reads, thresholds
}

// checkThresholds checks that each threshold of keys fired once, when its
// counts had reached it, in the order of the counts.
func checkThresholds(t *testing.T, thr map[string]hookEv, keys ...string) {
	t.Helper()
	if len(thr) != len(keys) {
		t.Fatalf("thresholds fired: %v, want %v", sorted(mapKeys(thr)), keys)
	}
	last := 0
	for _, k := range keys {
		ev, ok := thr[k]
		if !ok {
			t.Fatalf("threshold %s never fired (fired: %v)", k, sorted(mapKeys(thr)))
		}
		r := ev.rec
		elig := r.ReadCount + r.UnreadCount
		var p int
		switch k {
		case ThresholdFirst:
			p = 0
		case ThresholdAll:
			p = 100
		default:
			_, _ = fmt.Sscan(k, &p)
		}
		if r.ReadCount < 1 || r.ReadCount*100 < p*elig || (k == ThresholdAll && r.UnreadCount != 0) {
			t.Fatalf("threshold %s fired at %d of %d", k, r.ReadCount, elig)
		}
		if r.ReadCount < last {
			t.Fatalf("threshold %s fired at %d, after a lower threshold at %d", k, r.ReadCount, last)
		}
		last = r.ReadCount
		if ev.id != hookEventID(HookThreshold, ev.Data.MsgID, k) {
			t.Fatalf("threshold %s has id %s", k, ev.id)
		}
	}
}

func mapKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// checkNewReaders checks that no reader is named twice across reads, and
// that the names are exactly want when no event said there were more.
func checkNewReaders(t *testing.T, reads []hookEv, want []string) {
	t.Helper()
	got := map[string]bool{}
	more := false
	for _, ev := range reads {
		more = more || ev.Data.NewReadersMore
		for _, id := range ev.Data.NewReaders {
			if got[id] {
				t.Fatalf("reader %s named in two receipt.read events", id)
			}
			got[id] = true
		}
	}
	if more {
		return
	}
	if g := sorted(mapKeys(got)); !slices.Equal(g, sorted(want)) {
		t.Fatalf("new readers named: %d %v, want %d", len(g), g[:min(len(g), 10)], len(want))
	}
}

// A storm of 10,000 reads of one message gives a few receipt.read
// deliveries, the last with the exact counts, every reader named once, and
// each threshold once, in order of the counts.
func TestWebhookReadStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 reads")
	}
	ctx := context.Background()
	st := openPebble(t, t.TempDir())
	if err := st.CreateWebhook(ctx, readHooksEndpoint); err != nil {
		t.Fatal(err)
	}
	const n = 10000
	readers := bigGroup(t, st, "big", "s", n)
	// The clock is moved on past the track's linger at the end, rather
	// than waited for.
	var ahead atomic.Int64
	svc, _ := hookServiceAt(t, st, func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) })
	res, _ := sendTracked(t, svc, "s", groupConv("big"), "notice")

	work := make(chan string)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for u := range work {
				if _, err := svc.Read(ctx, caller(u), protocol.ReadParams{Conversation: groupConv("big"), MsgIDs: []string{res.MsgID}}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for _, u := range readers {
		work <- u
	}
	close(work)
	wg.Wait()

	var reads []hookEv
	var thr map[string]hookEv
	waitUntil(t, "the last receipt.read", func() bool {
		reads, thr = byType(t, deliveries(t, svc.store, "ep"))
		return len(reads) > 0 && reads[len(reads)-1].rec.ReadCount == n
	})
	if len(reads) >= n/100 {
		t.Fatalf("%d receipt.read deliveries for %d reads, want under %d", len(reads), n, n/100)
	}
	last := reads[len(reads)-1].rec
	if last.UnreadCount != 0 || last.Status != protocol.StatusDone || last.MsgID != res.MsgID {
		t.Fatalf("last receipt.read: %+v", last)
	}
	for i, ev := range reads {
		if ev.id != hookEventID(HookReceiptRead, res.MsgID, fmt.Sprint(ev.rec.ReadCount)) ||
			(i > 0 && ev.rec.ReadCount == reads[i-1].rec.ReadCount) {
			t.Fatalf("receipt.read %d: id %s at count %d", i, ev.id, ev.rec.ReadCount)
		}
		if ev.Data.Sender != "s" || ev.Data.Conversation != groupConv("big") {
			t.Fatalf("receipt.read data: %+v", ev.Data)
		}
	}
	checkThresholds(t, thr, ThresholdFirst, "50", "90", ThresholdAll)
	checkNewReaders(t, reads, readers)
	// Done: the sweep deletes its track once it has lingered (a name
	// trailing the last count may still come), and nothing more is ever
	// reported. Once no window of the conversation is pending (the sweep
	// leaves a conversation with one to its flush), the clock moves on.
	waitUntil(t, "the windows flushed", func() bool { return !svc.changes.busy(store.GroupConv("big")) })
	ahead.Store(int64(hookFinalLinger))
	if err := svc.sweepOnce(ctx, true); err != nil {
		t.Fatal(err)
	}
	if ts, err := svc.store.GetTracks(ctx, store.GroupConv("big"), []uint64{res.Seq}); err != nil || len(ts) != 0 {
		t.Fatalf("tracks after the linger: %+v, %v; want none", ts, err)
	}
}

// A read of a peer's receipt message is reported too, after one window:
// receipt.read naming the reader, and every threshold at once (1 of 1 is
// first, 50 %, 90 % and all).
func TestWebhookPeerRead(t *testing.T) {
	ctx := context.Background()
	st := openPebble(t, t.TempDir())
	if err := st.CreateWebhook(ctx, readHooksEndpoint); err != nil {
		t.Fatal(err)
	}
	svc, _ := hookService(t, st)
	for _, u := range []string{"a", "b"} {
		if err := svc.EnsureUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	res, _ := sendTracked(t, svc, "a", protocol.Conversation{Type: protocol.ConvPeer, ID: "b"}, "hi")
	if _, err := svc.Read(ctx, caller("b"), protocol.ReadParams{Conversation: protocol.Conversation{Type: protocol.ConvPeer, ID: "a"}, MsgIDs: []string{res.MsgID}}); err != nil {
		t.Fatal(err)
	}
	var reads []hookEv
	var thr map[string]hookEv
	waitUntil(t, "the peer read reported", func() bool {
		reads, thr = byType(t, deliveries(t, svc.store, "ep"))
		return len(reads) == 1 && len(thr) == 4
	})
	r := reads[0]
	if !slices.Equal(r.Data.NewReaders, []string{"b"}) || r.rec.ReadCount != 1 || r.rec.UnreadCount != 0 ||
		r.Data.Conversation != (protocol.Conversation{Type: protocol.ConvPeer, ID: "b"}) || r.Data.Sender != "a" {
		t.Fatalf("peer receipt.read: %+v, receipt %+v", r.Data, r.rec)
	}
	checkThresholds(t, thr, ThresholdFirst, "50", "90", ThresholdAll)
}

// A node that hears of a new endpoint (a change notice) keeps the new
// readers of the very next window for webhooks, not only from its next
// load of the endpoints: otherwise that window's readers would be looked
// up in the engine, where a read recorded but not yet handed to the
// coalescer is named twice (seen with two nodes on PostgreSQL).
func TestWebhookChangeKeepsReadersAtOnce(t *testing.T) {
	ctx := context.Background()
	st := openPebble(t, t.TempDir())
	svc, _ := hookService(t, st)
	if _, err := svc.webhooks(ctx); err != nil { // loaded: none
		t.Fatal(err)
	}
	if svc.changes.hookReaders.Load() {
		t.Fatal("readers kept for webhooks with no endpoint")
	}
	if err := st.CreateWebhook(ctx, readHooksEndpoint); err != nil {
		t.Fatal(err)
	}
	svc.ApplySync([]byte(`{"k":8,"c":"*hooks"}`)) // another node's opHooks
	if !svc.changes.hookReaders.Load() {
		t.Fatal("after a change notice, the next window would drop readers")
	}
	if _, err := svc.webhooks(ctx); err != nil || !svc.changes.hookReaders.Load() {
		t.Fatalf("after loading an endpoint that wants receipt.read: kept %v, %v", svc.changes.hookReaders.Load(), err)
	}
}

// A reader counted by an earlier report before its window listed it is
// named by a receipt.read of its own, whose count did not rise and whose
// id is not that earlier report's.
func TestReportNamesALateReader(t *testing.T) {
	it := hookItem{
		track: store.HookTrack{Conv: store.GroupConv("g"), Seq: 3, MsgID: "m", Reported: 5, ReportedAt: 100},
		msg:   store.Message{ID: "m", Conv: store.GroupConv("g"), Seq: 3, Sender: "s", Receipt: true},
		rec:   protocol.Receipt{MsgID: "m", Status: protocol.StatusPending, ReadCount: 5, UnreadCount: 5},
	}
	rt := hookRoute{read: true}
	tr, evs := reportOf(it, rt, newReaders{ids: []string{"late"}}, 200)
	if len(evs) != 1 || evs[0].typ != HookReceiptRead || evs[0].id == hookEventID(HookReceiptRead, "m", "5") ||
		!slices.Equal(evs[0].data.NewReaders, []string{"late"}) || tr.Reported != 5 {
		t.Fatalf("report of a late reader: %+v, track %+v", evs, tr)
	}
	if _, evs := reportOf(it, rt, newReaders{}, 200); len(evs) != 0 {
		t.Fatalf("a report with nothing new fired %+v", evs)
	}
}

// lastReportWorld is a webhook endpoint for reads, a group "g" of sender
// "s" and two readers, and one tracked message of s's in it.
func lastReportWorld(t *testing.T) (st store.Store, svc *Service, readers []string, res protocol.SendResult, conv store.ConvID) {
	t.Helper()
	st = openPebble(t, t.TempDir())
	if err := st.CreateWebhook(context.Background(), readHooksEndpoint); err != nil {
		t.Fatal(err)
	}
	readers = bigGroup(t, st, "g", "s", 2)
	svc, _ = hookService(t, st)
	res, conv = sendTracked(t, svc, "s", groupConv("g"), "notice")
	return st, svc, readers, res, conv
}

// A receipt's last report starts no later one, so it names every reader it
// counts that the engine can: one whose read reached the engine before its
// name reached the coalescer (on a cluster the name comes after the read,
// from the reader's node).
func TestLastReportNamesAReaderNotListedYet(t *testing.T) {
	ctx := context.Background()
	st, svc, readers, res, conv := lastReportWorld(t)
	// readers[1]'s read: recorded and counted, its name not yet heard.
	now := time.Now().UnixMilli()
	if _, _, err := st.AckMany(ctx, conv, readers[1], []uint64{res.Seq}, now); err != nil {
		t.Fatal(err)
	}
	svc.applyAcks(ctx, conv, readers[1], []uint64{res.Seq}, now)
	// readers[0]'s, as a request makes it: the window's flush counts both
	// (done, the last report) and lists one.
	if _, err := svc.Read(ctx, caller(readers[0]), protocol.ReadParams{Conversation: groupConv("g"), MsgIDs: []string{res.MsgID}}); err != nil {
		t.Fatal(err)
	}
	var reads []hookEv
	waitUntil(t, "the last receipt.read", func() bool {
		reads, _ = byType(t, deliveries(t, svc.store, "ep"))
		return len(reads) > 0 && reads[len(reads)-1].rec.Status == protocol.StatusDone
	})
	checkNewReaders(t, reads, readers)
}

// A reader counted by a receipt's last report, whose read time is before
// the report before it (so the engine cannot name it since then) and whose
// name reaches the coalescer only after the last report, is still named:
// the track lingers, and the window that lists the name finds it.
func TestNameAfterTheLastReportIsNamed(t *testing.T) {
	ctx := context.Background()
	st, svc, readers, res, conv := lastReportWorld(t)
	readAt := time.Now().UnixMilli() - 1000 // readers[1]'s read, before any report
	if _, err := svc.Read(ctx, caller(readers[0]), protocol.ReadParams{Conversation: groupConv("g"), MsgIDs: []string{res.MsgID}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the first receipt.read", func() bool {
		reads, _ := byType(t, deliveries(t, svc.store, "ep"))
		return len(reads) == 1
	})
	// readers[1]'s read reaches the store and the engine; its name does
	// not reach the coalescer yet. A change without a reader makes the
	// window that reports the receipt done, naming nobody new.
	if _, _, err := st.AckMany(ctx, conv, readers[1], []uint64{res.Seq}, readAt); err != nil {
		t.Fatal(err)
	}
	svc.applyAcks(ctx, conv, readers[1], []uint64{res.Seq}, readAt)
	k := coalesceKey{conv: conv, sender: "s"}
	svc.changes.add(k, res.Seq, "")
	waitUntil(t, "the last count reported", func() bool {
		reads, _ := byType(t, deliveries(t, svc.store, "ep"))
		return len(reads) == 2 && reads[1].rec.Status == protocol.StatusDone
	})
	// The name comes after the last report.
	svc.changes.add(k, res.Seq, readers[1])
	var reads []hookEv
	waitUntil(t, "the trailing reader named", func() bool {
		reads, _ = byType(t, deliveries(t, svc.store, "ep"))
		return len(reads) == 3
	})
	checkNewReaders(t, reads, readers)
}
