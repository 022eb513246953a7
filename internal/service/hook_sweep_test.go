package service

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/storewrap"
	"github.com/seen-im/seen/protocol"
)

// Reads committed while no service ran (a crash between a read's commit
// and its report, here applied with store calls on the same store) are
// reported by the next service's sweep at start, naming exactly the new
// readers, with the threshold they crossed fired once.
func TestWebhookSweepReportsReadsMadeWhileDown(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openPebble(t, dir)
	if err := st.CreateWebhook(ctx, readHooksEndpoint); err != nil {
		t.Fatal(err)
	}
	readers := bigGroup(t, st, "g", "s", 20)
	svc1, close1 := hookService(t, st)
	res, conv := sendTracked(t, svc1, "s", groupConv("g"), "notice")
	for _, u := range readers[:3] {
		if _, err := svc1.Read(ctx, caller(u), protocol.ReadParams{Conversation: groupConv("g"), MsgIDs: []string{res.MsgID}}); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "the first three reads reported", func() bool {
		reads, _ := byType(t, deliveries(t, st, "ep"))
		return len(reads) > 0 && reads[len(reads)-1].rec.ReadCount == 3
	})
	close1()

	tracks, err := st.GetTracks(ctx, conv, []uint64{res.Seq})
	if err != nil || len(tracks) != 1 || tracks[0].Reported != 3 {
		t.Fatalf("track after the first report: %+v, %v", tracks, err)
	}
	at := max(time.Now().UnixMilli(), tracks[0].ReportedAt+1)
	late := readers[3:11]
	for _, u := range late {
		if _, _, err := st.AckMany(ctx, conv, u, []uint64{res.Seq}, at); err != nil {
			t.Fatal(err)
		}
	}

	svc2, _ := hookService(t, st)
	var reads []hookEv
	var thr map[string]hookEv
	waitUntil(t, "the sweep's report", func() bool {
		reads, thr = byType(t, deliveries(t, svc2.store, "ep"))
		return reads[len(reads)-1].rec.ReadCount == 11
	})
	last := reads[len(reads)-1]
	if got := sorted(last.Data.NewReaders); !slices.Equal(got, late) || last.Data.NewReadersMore {
		t.Fatalf("swept receipt.read names %v (more %v), want %v", got, last.Data.NewReadersMore, late)
	}
	if last.rec.UnreadCount != 9 || last.rec.Status != protocol.StatusPending {
		t.Fatalf("swept receipt: %+v", last.rec)
	}
	checkThresholds(t, thr, ThresholdFirst, "50")
	checkNewReaders(t, reads, readers[:11])
}

// With no endpoint, the read path reads and writes nothing for webhooks:
// no track, no outbox, no group lookup of its own; the endpoints are
// listed once (the cache), and a peer's read is not even handed to the
// coalescer.
func TestWebhookReadsCostNothingWithoutEndpoints(t *testing.T) {
	ctx := context.Background()
	base := openPebble(t, t.TempDir())
	var (
		mu  sync.Mutex
		ops = map[string]int{}
	)
	st := storewrap.Wrap(base, storewrap.BeforeFunc(func(ctx context.Context, op string) error {
		mu.Lock()
		ops[op]++
		mu.Unlock()
		return nil
	}))
	b := local.New()
	cfg := config.Default()
	cfg.Receipts.Coalesce = 20 * time.Millisecond
	svc := New(Options{Store: st, Bus: b, Config: cfg})
	t.Cleanup(func() { _ = svc.Close(ctx); _ = b.Close() })

	readers := bigGroup(t, base, "g", "s", 30)
	res, err := svc.Send(ctx, caller("s"), protocol.SendParams{Conversation: groupConv("g"), ClientMsgID: "n", Body: []byte(`"n"`), Receipt: true})
	if err != nil {
		t.Fatal(err)
	}
	peer, err := svc.Send(ctx, caller("s"), protocol.SendParams{Conversation: protocol.Conversation{Type: protocol.ConvPeer, ID: readers[0]}, ClientMsgID: "p", Body: []byte(`"p"`), Receipt: true})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	ops = map[string]int{}
	mu.Unlock()
	for _, u := range readers {
		if _, err := svc.Read(ctx, caller(u), protocol.ReadParams{Conversation: groupConv("g"), MsgIDs: []string{res.MsgID}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Read(ctx, caller(readers[0]), protocol.ReadParams{Conversation: protocol.Conversation{Type: protocol.ConvPeer, ID: "s"}, MsgIDs: []string{peer.MsgID}}); err != nil {
		t.Fatal(err)
	}
	if svc.changes.busy(store.PeerConv("s", readers[0])) {
		t.Fatal("a peer read was handed to the coalescer with no endpoint")
	}
	waitUntil(t, "the flushes", func() bool { return !svc.changes.busy(store.GroupConv("g")) })
	mu.Lock()
	defer mu.Unlock()
	for _, op := range []string{"enqueue", "claim_deliveries", "add_timers", "add_track", "list_tracks", "get_tracks", "commit_report"} {
		if n := ops[op]; n > 0 {
			t.Errorf("%d webhook store calls %s with no endpoint", n, op)
		}
	}
	if n := ops["list_webhooks"]; n > 1 {
		t.Errorf("%d endpoint listings for one cache", n)
	}
	// And no more store calls than the reads themselves make: one lookup
	// (group or peer, member, messages: store.Finder) and one ack each,
	// a message lookup per flush.
	if ops["find"] != len(readers)+1 {
		t.Errorf("%d lookups for %d reads", ops["find"], len(readers)+1)
	}
}

// Two nodes on one store and one NATS server, reads through both: each
// threshold is enqueued once, each reader named once (one node reports a
// conversation), and the last receipt.read has the exact counts.
func TestWebhookReadsTwoNodes(t *testing.T) {
	n := newTwoNodes(t)
	waitUntil(t, "the nodes to see each other", func() bool {
		_, a := n.busA.Nodes()
		_, b := n.busB.Nodes()
		return len(a) == 2 && len(b) == 2
	})
	clusterReadReports(t, []*Service{n.a, n.b})
}

// As TestWebhookReadsTwoNodes, on PostgreSQL: two store handles on one
// database, as two cluster nodes have.
func TestWebhookReadsTwoNodesPG(t *testing.T) {
	c := newPGCluster(t, 2, config.Default())
	clusterReadReports(t, c.nodes)
}

func clusterReadReports(t *testing.T, nodes []*Service) {
	t.Helper()
	ctx := context.Background()
	h := nodes[0].store
	if err := h.CreateWebhook(ctx, readHooksEndpoint); err != nil {
		t.Fatal(err)
	}
	for _, node := range nodes {
		node.hookEps.forget() // as the admin API's webhooksChanged does
	}
	var readers []string
	for i := range 200 {
		readers = append(readers, fmt.Sprintf("u%03d", i))
	}
	makeGroup(t, nodes[0], "cg", "owner", readers)
	// Sent through a node that does not coalesce the group: the other
	// one hears of the endpoint only by the change notice (forget), not by
	// a send of its own, before the reads come.
	from := nodes[0]
	for _, node := range nodes {
		if !node.coalesces(store.GroupConv("cg")) {
			from = node
		}
	}
	res, _ := sendTracked(t, from, "owner", groupConv("cg"), "notice")
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < len(readers); i += 8 {
				node := nodes[i%len(nodes)]
				if _, err := node.Read(ctx, caller(readers[i]), protocol.ReadParams{Conversation: groupConv("cg"), MsgIDs: []string{res.MsgID}}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var reads []hookEv
	var thr map[string]hookEv
	waitUntil(t, "the last receipt.read", func() bool {
		reads, thr = byType(t, deliveries(t, h, "ep"))
		return len(reads) > 0 && reads[len(reads)-1].rec.ReadCount == len(readers)
	})
	if last := reads[len(reads)-1].rec; last.UnreadCount != 0 || last.Status != protocol.StatusDone {
		t.Fatalf("last receipt.read: %+v", last)
	}
	checkThresholds(t, thr, ThresholdFirst, "50", "90", ThresholdAll)
	checkNewReaders(t, reads, readers)
}

// A track whose message is gone is deleted by the sweep at start, with
// nothing enqueued: nothing more can be reported of it.
func TestWebhookSweepDropsTracksOfGoneMessages(t *testing.T) {
	ctx := context.Background()
	st := openPebble(t, t.TempDir())
	if err := st.CreateWebhook(ctx, readHooksEndpoint); err != nil {
		t.Fatal(err)
	}
	if err := st.AddTrack(ctx, store.HookTrack{Conv: store.GroupConv("gone"), Seq: 5, MsgID: "01GONE"}); err != nil {
		t.Fatal(err)
	}
	svc, _ := hookService(t, st)
	waitUntil(t, "the track deleted", func() bool {
		ts, err := svc.store.ListTracks(ctx, "", 0, 10)
		return err == nil && len(ts) == 0
	})
	if evs := deliveries(t, st, "ep"); len(evs) != 0 {
		t.Fatalf("enqueued for a gone message: %+v", evs)
	}
}
