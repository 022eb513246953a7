package pgstore

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// BenchmarkWebhookDeliveries measures the outbox's round: each op is one
// delivery claimed (ClaimDeliveries, a batch at a time) and finished
// (FinishDelivery, delivered), by 4 claimers on each of two store
// handles, as two nodes' delivery loops share one database. The b.N
// deliveries are enqueued before the timer starts.
func BenchmarkWebhookDeliveries(b *testing.B) {
	u := freshSchema(b)
	nodes := []*Store{openAt(b, u), openAt(b, u)}
	ctx := b.Context()
	if err := nodes[0].CreateWebhook(ctx, store.Webhook{ID: "e", URL: "http://127.0.0.1:1/", Secret: "whsec_eA==", Events: []string{"message.sent"}}); err != nil {
		b.Fatal(err)
	}
	for start := 0; start < b.N; start += 1000 {
		var ds []store.Delivery
		for i := start; i < min(start+1000, b.N); i++ {
			ds = append(ds, delivery("e", fmt.Sprintf("ev%09d", i), int64(i)))
		}
		if err := nodes[0].Enqueue(ctx, ds); err != nil {
			b.Fatal(err)
		}
	}
	const (
		claimers = 4 // per node
		batch    = 32
	)
	var (
		done atomic.Int64
		wg   sync.WaitGroup
	)
	now := int64(b.N) + 1
	b.ReportAllocs()
	b.ResetTimer()
	for _, s := range nodes {
		for range claimers {
			wg.Go(func() {
				for {
					ds, err := s.ClaimDeliveries(ctx, now, now+60_000, batch)
					if err != nil {
						b.Error(err)
						return
					}
					if len(ds) == 0 {
						return
					}
					for _, d := range ds {
						d.State, d.Attempts, d.UpdatedAt = store.DeliveryDelivered, 1, now
						if err := s.FinishDelivery(ctx, d); err != nil {
							b.Error(err)
							return
						}
					}
					done.Add(int64(len(ds)))
				}
			})
		}
	}
	wg.Wait()
	b.StopTimer()
	if got := done.Load(); got != int64(b.N) {
		b.Fatalf("finished %d deliveries, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
