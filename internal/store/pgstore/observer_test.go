package pgstore

import (
	"context"
	"testing"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/storetest"
)

// TestObserverSeesWatermarkQueueAndBatches: see storetest.RunObserver; and
// the queue of a conversation whose combiner is done is dropped.
func TestObserverSeesWatermarkQueueAndBatches(t *testing.T) {
	var s *Store
	storetest.RunObserver(t, func(t *testing.T, obs store.Observer) store.Store {
		var err error
		s, err = Open(context.Background(), freshSchema(t), Options{Observer: obs})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
	// Reached only if RunObserver returned (t.Fatal and t.Skip end the
	// goroutine), so s is set.
	s.wmMu.Lock()
	left := len(s.wm)
	s.wmMu.Unlock()
	if left != 0 {
		t.Errorf("watermark queues left after the combiners ended: %d, want 0", left)
	}
}
