package ws_test

import (
	"runtime/metrics"
	"testing"

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
	// The embedded store starts one goroutine per batch of watermark
	// operations (its combiner; a batch per ack here, as they come one at
	// a time), and timers and the runtime a few: the transport's own share,
	// a goroutine per request and one per response written, is what must
	// not come back.
	if limit := uint64(n + n/4); got >= limit {
		t.Errorf("%d sequential message.read started %d goroutines, want fewer than %d", n, got, limit)
	}
}
