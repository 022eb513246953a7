package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// unlimited lifts the request rate limits: benchmarks measure the request
// path, not the limiter.
func unlimited(c *config.Config) {
	c.RatePerConn, c.BurstPerConn = 1e9, 1<<30
	c.RatePerUser, c.BurstPerUser = 1e9, 1<<30
}

// benchSend measures message.send end to end (request, durable append,
// fan-out, response) from n sockets, each its own user sending to a peer.
func benchSend(b *testing.B, n int) {
	s := seentest.Start(b, unlimited)
	clients := make([]*client.Client, n)
	for i := range n {
		u := fmt.Sprintf("b%d", i)
		s.Users(u, u+"-peer")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := client.Dial(ctx, s.WSURL(), s.Token(u), client.WithAutoDelivered(false))
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	body := json.RawMessage(`{"text":"a benchmark message of ordinary length"}`)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism((n + 1) / 2) // RunParallel runs GOMAXPROCS*n goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)-1) % n
		c := clients[i]
		conv := protocol.Conversation{Type: protocol.ConvPeer, ID: fmt.Sprintf("b%d-peer", i)}
		for j := 0; pb.Next(); j++ {
			_, err := c.Send(context.Background(), protocol.SendParams{
				Conversation: conv, ClientMsgID: fmt.Sprintf("%d-%d-%d", i, j, time.Now().UnixNano()), Body: body,
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
}

func BenchmarkSend_1Socket(b *testing.B)    { benchSend(b, 1) }
func BenchmarkSend_100Sockets(b *testing.B) { benchSend(b, 100) }
