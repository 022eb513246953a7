package service

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/metrics"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/protocol"
)

// TestEnginesStayWithinBudget: a node with room for a few engines serves
// ten times as many conversations. After every request the loaded engines'
// bytes, measured again here, stay within the budget (plus the engine just
// used), the map holds only loaded engines, evictions are counted, and
// every conversation's counts, read again through engines rebuilt from the
// store, are the ones its reads made.
func TestEnginesStayWithinBudget(t *testing.T) {
	ctx := context.Background()
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	met := metrics.New()
	cfg := config.Default()
	// No receipt.changed flush in the background while the test looks at
	// the engines: it would use one meanwhile.
	cfg.Receipts.Coalesce = time.Hour
	b := local.New()
	svc := New(Options{Store: st, Bus: b, Config: cfg, Metrics: met})
	t.Cleanup(func() { _ = svc.Close(context.Background()); _ = b.Close(); _ = st.Close() })
	users := []string{"s", "r1", "r2", "r3"}
	for _, u := range users {
		if err := svc.EnsureUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	as := func(u string) Caller { return Caller{UserID: u, ConnID: u + "-conn"} }
	group := func(i int) protocol.Conversation {
		return protocol.Conversation{Type: protocol.ConvGroup, ID: fmt.Sprintf("g%d", i)}
	}

	const groups, fit = 40, 4
	// loaded recomputes the loaded engines' bytes, and checks the
	// accounting against it.
	loaded := func() (bytes int64, n int) {
		t.Helper()
		svc.engines.mu.Lock()
		defer svc.engines.mu.Unlock()
		for conv, ce := range svc.engines.m {
			ce.mu.Lock()
			if ce.conv == nil {
				t.Errorf("%s: an idle entry without an engine stayed in the map", conv)
			} else {
				bytes += int64(ce.conv.MemoryBytes())
				n++
			}
			ce.mu.Unlock()
		}
		if got := svc.engines.lru.total.Load(); got != bytes {
			t.Errorf("accounted engine bytes %d, measured %d", got, bytes)
		}
		return bytes, n
	}
	msgs := make([]string, groups)
	wantRead := make([]int, groups)
	var one int64 // bytes of one conversation's engine
	for i := range groups {
		if _, err := svc.CreateGroup(ctx, "s", protocol.GroupCreateParams{GroupID: group(i).ID, Members: users[1:]}); err != nil {
			t.Fatal(err)
		}
		m, err := svc.Send(ctx, as("s"), protocol.SendParams{Conversation: group(i), ClientMsgID: "c", Body: json.RawMessage(`"hi"`), Receipt: true})
		if err != nil {
			t.Fatal(err)
		}
		msgs[i] = m.MsgID
		for _, r := range users[1 : 1+i%4] {
			if _, err := svc.Read(ctx, as(r), protocol.ReadParams{Conversation: group(i), MsgIDs: []string{m.MsgID}}); err != nil {
				t.Fatal(err)
			}
			wantRead[i]++
		}
		if i == 0 {
			// The budget: room for a few engines like this one (each
			// engine here has the same members and one receipt).
			bytes, _ := loaded()
			one = bytes
			svc.engines.mu.Lock()
			svc.engines.lru.budget = fit*one + one/2
			svc.engines.mu.Unlock()
		}
		bytes, n := loaded()
		if bytes > svc.engines.lru.budget+one || n > fit+1 {
			t.Fatalf("after group %d: %d engines of %d bytes loaded, want at most %d bytes (budget %d + the one in use)",
				i, n, bytes, svc.engines.lru.budget+one, svc.engines.lru.budget)
		}
	}
	if ev := testutil.ToFloat64(met.EngineEvictions); ev < groups-fit-1 {
		t.Errorf("evictions = %v, want at least %d", ev, groups-fit-1)
	}
	// Every conversation's counts, most from a reloaded engine.
	for i := range groups {
		res, err := svc.QueryReceipts(ctx, as("s"), protocol.ReceiptQueryParams{Conversation: group(i), MsgIDs: []string{msgs[i]}})
		if err != nil {
			t.Fatal(err)
		}
		r := res.Receipts[0]
		if r.ReadCount != wantRead[i] || r.UnreadCount != 3-wantRead[i] {
			t.Errorf("%s: read %d unread %d, want %d and %d", group(i).ID, r.ReadCount, r.UnreadCount, wantRead[i], 3-wantRead[i])
		}
		bytes, n := loaded()
		if bytes > svc.engines.lru.budget+one {
			t.Fatalf("after querying %s: %d bytes in %d engines, over budget", group(i).ID, bytes, n)
		}
		if got := testutil.ToFloat64(met.EnginesLoaded); got != float64(n) {
			t.Errorf("loaded gauge %v, want %d", got, n)
		}
	}
}

// TestEnginesEvictedUnderConcurrentReads: readers on several goroutines
// ack messages of more groups than the budget holds, with a receipt TTL
// (so each write registers with its engine's entry while in flight), and
// evictions happen all along; every count afterwards is what the reads
// made, from engines that are live or reloaded.
func TestEnginesEvictedUnderConcurrentReads(t *testing.T) {
	ctx := context.Background()
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	met := metrics.New()
	cfg := config.Default()
	cfg.Receipts.TTL = time.Hour
	cfg.EngineMemory = 1 // every engine but the ones in use is evicted
	cfg.Receipts.Coalesce = time.Hour
	b := local.New()
	svc := New(Options{Store: st, Bus: b, Config: cfg, Metrics: met})
	t.Cleanup(func() { _ = svc.Close(context.Background()); _ = b.Close(); _ = st.Close() })
	readers := []string{"r0", "r1", "r2", "r3"}
	for _, u := range append([]string{"s"}, readers...) {
		if err := svc.EnsureUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	as := func(u string) Caller { return Caller{UserID: u, ConnID: u + "-conn"} }
	const groups, msgs = 8, 6
	ids := make([][]string, groups)
	for g := range groups {
		conv := protocol.Conversation{Type: protocol.ConvGroup, ID: fmt.Sprintf("g%d", g)}
		if _, err := svc.CreateGroup(ctx, "s", protocol.GroupCreateParams{GroupID: conv.ID, Members: readers}); err != nil {
			t.Fatal(err)
		}
		for m := range msgs {
			res, err := svc.Send(ctx, as("s"), protocol.SendParams{Conversation: conv, ClientMsgID: fmt.Sprint(m), Body: json.RawMessage(`"hi"`), Receipt: true})
			if err != nil {
				t.Fatal(err)
			}
			ids[g] = append(ids[g], res.MsgID)
		}
	}
	// Reader i reads message m of every group if (i+m) is even, in an
	// order of its own.
	var wg sync.WaitGroup
	for i, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range groups * msgs {
				g, m := (k+3*i)%groups, k/groups
				if (i+m)%2 != 0 {
					continue
				}
				conv := protocol.Conversation{Type: protocol.ConvGroup, ID: fmt.Sprintf("g%d", g)}
				if _, err := svc.Read(ctx, as(r), protocol.ReadParams{Conversation: conv, MsgIDs: []string{ids[g][m]}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for g := range groups {
		conv := protocol.Conversation{Type: protocol.ConvGroup, ID: fmt.Sprintf("g%d", g)}
		res, err := svc.QueryReceipts(ctx, as("s"), protocol.ReceiptQueryParams{Conversation: conv, MsgIDs: ids[g]})
		if err != nil {
			t.Fatal(err)
		}
		for m, r := range res.Receipts {
			if r.ReadCount != 2 || r.UnreadCount != 2 {
				t.Errorf("g%d message %d: read %d unread %d, want 2 and 2", g, m, r.ReadCount, r.UnreadCount)
			}
		}
	}
	if testutil.ToFloat64(met.EngineEvictions) == 0 {
		t.Error("no engine was evicted")
	}
	if n := svc.engines.entries(); n > 1 {
		t.Errorf("%d entries left in the map with nothing in use, want at most the last used", n)
	}
}
