package ws_test

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// goroutinesCreated is how many goroutines the process has started.
func goroutinesCreated(t *testing.T) uint64 {
	t.Helper()
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("runtime metric %s is not supported", s[0].Name)
	}
	return s[0].Value.Uint64()
}

// Sequential requests on one connection run on the connection's worker and
// are answered from it: they do not cost a goroutine each for the request
// and another for writing its response, as they did.
func TestSequentialRequestsReuseTheConnectionsWorker(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob")
	alice := seentest.DialRaw(t, s.WSURL())
	alice.Connect(s.Token("alice"), "a1")
	const n = 200
	ids := make([]string, n)
	toBob := protocol.Conversation{Type: protocol.ConvPeer, ID: "bob"}
	for i := range ids {
		var res protocol.SendResult
		alice.MustCall(protocol.MethodMessageSend, protocol.SendParams{
			Conversation: toBob, ClientMsgID: client.NewClientMsgID(), Body: []byte(`"hi"`),
		}, &res)
		ids[i] = res.MsgID
	}
	// Alice's receipts would be written by a writer of her connection's
	// own, started for each event: not what this test counts.
	alice.Close()

	bob := seentest.DialRaw(t, s.WSURL())
	bob.Connect(s.Token("bob"), "b1")
	toAlice := protocol.Conversation{Type: protocol.ConvPeer, ID: "alice"}
	before := goroutinesCreated(t)
	for _, id := range ids {
		bob.MustCall(protocol.MethodMessageRead, protocol.ReadParams{Conversation: toAlice, MsgIDs: []string{id}}, nil)
	}
	got := goroutinesCreated(t) - before
	t.Logf("%d sequential message.read started %d goroutines", n, got)
	// Neither the transport (a goroutine per request and one per response
	// written, once) nor the embedded store (a combiner goroutine per
	// batch of watermark operations, once: a batch per ack here, as they
	// come one at a time) starts one per ack any more; timers and the
	// runtime start a few.
	if limit := uint64(n / 4); got >= limit {
		t.Errorf("%d sequential message.read started %d goroutines, want fewer than %d", n, got, limit)
	}
}

// Workers started for a burst of requests exit once there is no more
// work: a connection gone quiet holds only its reader, as before workers.
func TestIdleConnectionsWorkersExit(t *testing.T) {
	s := seentest.Start(t)
	s.Users("carol")
	r := seentest.DialRaw(t, s.WSURL())
	r.Connect(s.Token("carol"), "c1")
	// Let the connect settle, then count.
	r.MustCall(protocol.MethodConversationList, map[string]any{"limit": 1}, nil)
	quiet := runtime.NumGoroutine()
	// Requests sent without waiting for their answers run on several
	// workers at once.
	const n = 32
	for i := range n {
		r.Send(fmt.Sprintf(`{"jsonrpc":"2.0","id":"p%d","method":"conversation.list","params":{"limit":1}}`, i))
	}
	for i := range n {
		if f := r.Response(fmt.Sprintf(`"p%d"`, i)); f.Error != nil {
			t.Fatalf("conversation.list: %v", f.Error)
		}
	}
	seentest.Eventually(t, 10*time.Second, func() error {
		if got := runtime.NumGoroutine(); got > quiet {
			return fmt.Errorf("%d goroutines, want at most %d as before the requests", got, quiet)
		}
		return nil
	})
}
