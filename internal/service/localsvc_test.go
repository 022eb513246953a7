package service

import (
	"context"
	"testing"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store/pebblestore"
)

// newLocalService is a single node on a small embedded store in a temp
// directory and the in-process bus, with users created, closed when t
// ends.
func newLocalService(t *testing.T, users ...string) *Service {
	t.Helper()
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	b := local.New()
	svc := New(Options{Store: st, Bus: b, Config: config.Default()})
	t.Cleanup(func() { _ = svc.Close(context.Background()); _ = b.Close(); _ = st.Close() })
	for _, u := range users {
		if err := svc.EnsureUser(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	return svc
}
