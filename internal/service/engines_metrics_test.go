package service

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/metrics"
	"github.com/seen-im/seen/internal/receipts"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/protocol"
)

// TestEngineMetrics: the loaded gauge follows loads and unloads, each
// unload of a loaded engine counts one reload with its reason, and the
// memory gauge sums the engines' MemoryBytes at scrape time, without
// waiting for an engine whose mutex is held.
func TestEngineMetrics(t *testing.T) {
	ctx := context.Background()
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	met := metrics.New()
	b := local.New()
	svc := New(Options{Store: st, Bus: b, Config: config.Default(), Metrics: met})
	t.Cleanup(func() { _ = svc.Close(context.Background()); _ = b.Close(); _ = st.Close() })
	for _, u := range []string{"s", "r1", "r2"} {
		if err := svc.EnsureUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.CreateGroup(ctx, "s", protocol.GroupCreateParams{GroupID: "g", Members: []string{"r1", "r2"}}); err != nil {
		t.Fatal(err)
	}
	g := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	conv := store.GroupConv("g")
	if _, err := svc.Send(ctx, Caller{UserID: "s", ConnID: "c"}, protocol.SendParams{Conversation: g, ClientMsgID: "c1", Body: json.RawMessage(`"hi"`), Receipt: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.memberIDs(ctx, conv); err != nil { // loaded, if the send did not
		t.Fatal(err)
	}

	loaded := func() float64 { return testutil.ToFloat64(met.EnginesLoaded) }
	reloads := func(reason string) float64 { return testutil.ToFloat64(met.EngineReloads.WithLabelValues(reason)) }
	memory := func() float64 {
		t.Helper()
		fams, err := met.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == "seen_receipt_engine_memory_bytes" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("seen_receipt_engine_memory_bytes not exported")
		return 0
	}
	ce := svc.engines.pin(conv)
	ce.mu.Lock()
	want := float64(ce.conv.MemoryBytes())
	ce.mu.Unlock()
	if loaded() != 1 || want == 0 || memory() != want {
		t.Fatalf("after a load: loaded %v, memory %v; want 1, %v", loaded(), memory(), want)
	}
	// A scrape while the engine is held reports its last measure.
	ce.mu.Lock()
	got := memory()
	ce.mu.Unlock()
	if got != want {
		t.Errorf("memory with the engine's mutex held = %v, want the last measure %v", got, want)
	}

	svc.applyEngine(ctx, conv, func(*receipts.Conv) error { return errors.New("out of step") })
	if loaded() != 0 || reloads(metrics.ReloadOutOfStep) != 1 || memory() != 0 {
		t.Errorf("after out of step: loaded %v, out_of_step reloads %v, memory %v; want 0, 1, 0",
			loaded(), reloads(metrics.ReloadOutOfStep), memory())
	}
	if _, err := svc.memberIDs(ctx, conv); err != nil {
		t.Fatal(err)
	}
	svc.dropEngine(conv)
	svc.dropEngine(conv) // not loaded: nothing more to count
	if loaded() != 0 || reloads(metrics.ReloadDropped) != 1 || reloads(metrics.ReloadOutOfStep) != 1 {
		t.Errorf("after two drops: loaded %v, dropped reloads %v, out_of_step %v; want 0, 1, 1",
			loaded(), reloads(metrics.ReloadDropped), reloads(metrics.ReloadOutOfStep))
	}
	// A bus reconnect drops every loaded engine, each counted as a resync.
	if _, err := svc.memberIDs(ctx, conv); err != nil {
		t.Fatal(err)
	}
	svc.DropEngines()
	svc.DropEngines() // nothing loaded any more
	if loaded() != 0 || reloads(metrics.ReloadResync) != 1 || memory() != 0 {
		t.Errorf("after DropEngines: loaded %v, resync reloads %v, memory %v; want 0, 1, 0",
			loaded(), reloads(metrics.ReloadResync), memory())
	}
	ce.mu.Lock()
	ids := ce.ids
	ce.mu.Unlock()
	if ids != nil {
		t.Errorf("member ids after DropEngines = %v, want none cached", ids)
	}
}
