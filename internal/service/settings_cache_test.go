package service

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/internal/store/storewrap"
	"github.com/seen-im/seen/protocol"
)

// On a single node the reader's settings come from the cache after the
// first read, and every change through the service is what the next read
// sees, even when reads and changes race.
func TestSettingsCacheOnASingleNode(t *testing.T) {
	ctx := context.Background()
	base, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var gets atomic.Int64
	st := storewrap.Wrap(base, storewrap.BeforeFunc(func(ctx context.Context, op string) error {
		if op == "get_settings" {
			gets.Add(1)
		}
		return nil
	}))
	b := local.New()
	svc := New(Options{Store: st, Bus: b, Config: config.Default()})
	t.Cleanup(func() { _ = svc.Close(ctx); _ = b.Close(); _ = base.Close() })
	if _, err := svc.CreateUser(ctx, "u", ""); err != nil {
		t.Fatal(err)
	}
	c := Caller{UserID: "u"}
	for range 5 {
		if s, err := svc.Settings(ctx, c, protocol.Empty{}); err != nil || !s.ShareReads {
			t.Fatalf("settings = %+v, %v", s, err)
		}
	}
	if n := gets.Load(); n != 1 {
		t.Fatalf("five reads of the settings read the store %d times, want 1", n)
	}

	// Changes racing reads: once they stop, a read gives the last change.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				v := (i+j)%2 == 0
				if _, err := svc.UpdateSettings(ctx, c, protocol.SettingsUpdateParams{ShareReads: &v}); err != nil {
					t.Error(err)
				}
				if _, err := svc.Settings(ctx, c, protocol.Empty{}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	stored, err := base.GetSettings(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.Settings(ctx, c, protocol.Empty{})
	if err != nil || got.ShareReads != stored.ShareReads || got.ShareDelivery != stored.ShareDelivery {
		t.Fatalf("after racing changes the service says %+v (%v), the store %+v", got, err, stored)
	}
}
