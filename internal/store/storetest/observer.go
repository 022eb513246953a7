package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// obsLog records what a store tells its Observer.
type obsLog struct {
	mu      sync.Mutex
	queued  int   // current sum of the deltas
	peak    int   // highest queued seen
	batches []int // every round's size, in order
}

func (o *obsLog) WatermarkQueued(d int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.queued += d
	o.peak = max(o.peak, o.queued)
}

func (o *obsLog) WatermarkBatch(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.batches = append(o.batches, n)
}

// RunObserver checks what a backend that combines watermark operations
// tells its Observer: every operation queued and taken, so the queue gauge
// returns to zero, and each round's size, so the batch sizes add up to the
// operations made. open opens a new, empty store reporting to obs and
// arranges for it to be closed when t ends. RunObserver runs in t itself
// (no subtests), so the caller may inspect the store it opened afterwards.
func RunObserver(t *testing.T, open func(t *testing.T, obs store.Observer) store.Store) {
	obs := &obsLog{}
	s := open(t, obs)
	ctx := t.Context()
	const readers = 8
	members := []store.Member{{UserID: "a", Role: "owner"}}
	for i := range readers {
		members = append(members, store.Member{UserID: fmt.Sprint("r", i), Role: "member"})
	}
	if err := s.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "a"}, members); err != nil {
		t.Fatal(err)
	}
	conv := store.GroupConv("g")
	for i := range 4 {
		m := store.Message{ID: fmt.Sprint("m", i), Conv: conv, Sender: "a", ClientMsgID: fmt.Sprint(i), Body: []byte("x"), SentAt: 1}
		if _, _, err := s.Append(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	// Acks queued together are applied in one round.
	if _, _, err := s.AckMany(ctx, conv, "r0", []uint64{2, 3, 4}, 2); err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	if !slices.Equal(obs.batches, []int{3}) || obs.queued != 0 || obs.peak != 3 {
		t.Errorf("after one AckMany of 3: batches %v, queued %d, peak %d; want [3], 0, 3", obs.batches, obs.queued, obs.peak)
	}
	obs.mu.Unlock()

	// Concurrent reads may share rounds; every one is counted once.
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() {
			if _, _, err := s.AdvanceRead(ctx, conv, fmt.Sprint("r", i), 1, 3); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	total := 0
	for _, n := range obs.batches {
		total += n
	}
	if total != 3+readers || obs.queued != 0 {
		t.Errorf("batches %v add up to %d, queued %d; want %d, 0", obs.batches, total, obs.queued, 3+readers)
	}
}
