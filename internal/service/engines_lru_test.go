package service

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

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
	b := local.New()
	svc := New(Options{Store: st, Bus: b, Config: config.Default(), Metrics: met})
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
