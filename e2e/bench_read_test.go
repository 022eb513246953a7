package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/bench"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// readFixture is a group with a connected sender and connected members,
// and receipt messages from the sender that the members have received.
type readFixture struct {
	srv     *seentest.Server
	conv    protocol.Conversation
	sender  *client.Client
	members []*client.Client
	msgIDs  []string
}

// newReadFixture starts a server with a group of n members plus the
// sender, connects everyone, and sends msgs receipt messages, waiting
// until every member has received all of them (so the timed part reads
// only).
func newReadFixture(b *testing.B, n, msgs int) *readFixture {
	b.Helper()
	s := seentest.Start(b, unlimited)
	prefix := fmt.Sprintf("rd%d", n)
	sender := prefix + "-s"
	ids := make([]string, n)
	s.Users(sender)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-m%d", prefix, i)
		s.Users(ids[i])
	}
	f := &readFixture{srv: s, conv: protocol.Conversation{Type: protocol.ConvGroup, ID: prefix + "-g"}}
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": f.conv.ID, "owner": sender, "members": ids})

	dial := func(user string, h client.Handlers) *client.Client {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, s.WSURL(), s.Token(user),
			client.WithAutoDelivered(false), client.WithEventQueueSize(64), client.WithHandlers(h))
		if err != nil {
			b.Fatalf("dial %s: %v", user, err)
		}
		b.Cleanup(func() { c.Close() })
		return c
	}
	var received atomic.Int64
	f.sender = dial(sender, client.Handlers{})
	f.members = make([]*client.Client, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f.members[i] = dial(ids[i], client.Handlers{Message: func(protocol.Message) { received.Add(1) }})
		}()
	}
	wg.Wait()

	// Send, 16 in flight; msgIDs in seq order.
	f.msgIDs = make([]string, msgs)
	body := json.RawMessage(`{"text":"a receipt message"}`)
	next := atomic.Int64{}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= msgs {
					return
				}
				res, err := f.sender.Send(context.Background(), protocol.SendParams{
					Conversation: f.conv, ClientMsgID: fmt.Sprintf("m%d", i), Body: body, Receipt: true,
				})
				if err != nil {
					b.Errorf("send: %v", err)
					return
				}
				f.msgIDs[i] = res.MsgID
			}
		}()
	}
	wg.Wait()
	want := int64(n * msgs)
	deadline := time.Now().Add(time.Minute)
	for received.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("members received %d of %d messages", received.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return f
}

// BenchmarkRead_WebSocket_1Conn is the WebSocket path of one message.read,
// end to end: one member reads receipt messages one after another, each
// waiting for its answer (frame out, parse, durable ack, engine update,
// receipt.changed queued for the sender, response back).
func BenchmarkRead_WebSocket_1Conn(b *testing.B) {
	f := newReadFixture(b, 1, max(1, b.N))
	r := f.members[0]
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		res, err := r.Read(context.Background(), protocol.ReadParams{Conversation: f.conv, MsgIDs: []string{f.msgIDs[i]}})
		if err != nil {
			b.Fatal(err)
		}
		if res.Read != 1 {
			b.Fatalf("read %d newly recorded, want 1", res.Read)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acks/s")
}

// BenchmarkRead_WebSocket_1000Members: 1,000 connected members of one
// group ack the reads of the sender's receipt messages, all at once, each
// connection one read at a time. An op is one read ack; reported: acks/s
// and the p99 of request -> response in ms.
func BenchmarkRead_WebSocket_1000Members(b *testing.B) {
	const n = 1000
	msgs := (b.N + n - 1) / n
	f := newReadFixture(b, n, msgs)
	var lat bench.Histogram
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for j, c := range f.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			for k := 0; k*n+j < b.N; k++ {
				start := time.Now()
				_, err := c.Read(context.Background(), protocol.ReadParams{Conversation: f.conv, MsgIDs: []string{f.msgIDs[k]}})
				if err != nil {
					b.Errorf("member %d read %d: %v", j, k, err)
					return
				}
				lat.Record(time.Since(start))
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	close(gate)
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acks/s")
	b.ReportMetric(float64(lat.Quantile(0.99).Microseconds())/1000, "p99-ms")
}

// BenchmarkRead_WebSocket_1000Members_MarkRead is the same load read the
// way an app marks a screenful of messages: each member marks its messages
// read with the SDK's MarkRead, 10 calls at a time, so calls that meet
// share one message.read request. Every ack is still recorded on its own
// (one sparse ack per message, durable before the answer); an op is one
// read ack; reported: acks/s, acks per request and the p99 of MarkRead
// call -> answer in ms.
func BenchmarkRead_WebSocket_1000Members_MarkRead(b *testing.B) {
	const n, screen = 1000, 10
	msgs := (b.N + n - 1) / n
	f := newReadFixture(b, n, msgs)
	var lat bench.Histogram
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for j, c := range f.members {
		mine := max(0, (b.N-j+n-1)/n) // messages k with k*n+j < b.N
		next := atomic.Int64{}
		for range min(screen, mine) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				for {
					k := int(next.Add(1) - 1)
					if k >= mine {
						return
					}
					start := time.Now()
					if err := c.MarkRead(context.Background(), f.conv, f.msgIDs[k]); err != nil {
						b.Errorf("member %d read %d: %v", j, k, err)
						return
					}
					lat.Record(time.Since(start))
				}
			}()
		}
	}
	before := readRequests(b, f.srv)
	b.ReportAllocs()
	b.ResetTimer()
	close(gate)
	wg.Wait()
	b.StopTimer()
	reqs := readRequests(b, f.srv) - before
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "acks/s")
	b.ReportMetric(float64(b.N)/float64(max(1, reqs)), "acks/req")
	b.ReportMetric(float64(lat.Quantile(0.99).Microseconds())/1000, "p99-ms")
}
