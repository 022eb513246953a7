package e2e

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
)

// TestServesMoreGroupsThanItsEngineMemory: a server whose engine budget
// (engine_memory) holds about one group's receipt engine serves thirty
// groups with receipts; their engines are evicted and reloaded from the
// store along the way, and every count is the one the reads made, asked
// once while the reads go on and again after.
func TestServesMoreGroupsThanItsEngineMemory(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) { c.EngineMemory = 1 << 10 })
	s.Users("alice", "bob", "carol")
	devs := map[string]*device{}
	for _, u := range []string{"alice", "bob", "carol"} {
		devs[u] = dial(t, s, u, "d", client.WithAutoDelivered(false))
	}
	const groups = 30
	ids := make([]string, groups)
	wantRead := make([]int, groups)
	for i := range groups {
		g := fmt.Sprintf("g%d", i)
		s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": g, "owner": "alice", "members": []string{"bob", "carol"}})
		ids[i] = devs["alice"].sendReceipt(group(g), "hi").MsgID
		if i%2 == 0 {
			devs["bob"].read(group(g), ids[i])
			wantRead[i]++
		}
		if i%3 == 0 {
			devs["carol"].read(group(g), ids[i])
			wantRead[i]++
		}
		if r := devs["alice"].receipt(group(g), ids[i]); r.ReadCount != wantRead[i] || r.UnreadCount != 2-wantRead[i] {
			t.Fatalf("%s: read %d unread %d, want %d and %d", g, r.ReadCount, r.UnreadCount, wantRead[i], 2-wantRead[i])
		}
	}
	for i := range groups {
		g := fmt.Sprintf("g%d", i)
		if r := devs["alice"].receipt(group(g), ids[i]); r.ReadCount != wantRead[i] || r.UnreadCount != 2-wantRead[i] {
			t.Errorf("%s after eviction: read %d unread %d, want %d and %d", g, r.ReadCount, r.UnreadCount, wantRead[i], 2-wantRead[i])
		}
	}
	evicted, err := strconv.ParseFloat(metric(t, s, "seen_receipt_engine_evictions_total"), 64)
	if err != nil || evicted < groups/2 {
		t.Errorf("seen_receipt_engine_evictions_total = %v (%v), want at least %d", evicted, err, groups/2)
	}
	loaded, err := strconv.ParseFloat(metric(t, s, "seen_receipt_engines_loaded"), 64)
	if err != nil || loaded > 3 {
		t.Errorf("seen_receipt_engines_loaded = %v (%v), want at most a few", loaded, err)
	}
}
