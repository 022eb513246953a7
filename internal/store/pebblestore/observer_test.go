package pebblestore

import (
	"testing"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/storetest"
)

// TestObserverSeesWatermarkQueueAndBatches: see storetest.RunObserver.
func TestObserverSeesWatermarkQueueAndBatches(t *testing.T) {
	storetest.RunObserver(t, func(t *testing.T, obs store.Observer) store.Store {
		opts := testOptions
		opts.Observer = obs
		s, err := Open(t.TempDir(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
