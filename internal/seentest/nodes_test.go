package seentest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/seen-im/seen/protocol"
)

// TestClusterModeSpreadsClients: with SEEN_TEST_NODES=2, Start starts two
// nodes of one cluster, hands out WebSocket URLs and admin calls by turns,
// Restart and Stop take every node (and the bus) down, and nothing it
// started outlives Stop.
func TestClusterModeSpreadsClients(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	t.Setenv(NodesEnv, "2")
	s := Start(t)
	nodes := s.Nodes()
	if len(nodes) != 2 || nodes[0].Addr() == nodes[1].Addr() {
		t.Fatalf("nodes = %d, want 2 on their own addresses", len(nodes))
	}
	if s.Addr() != nodes[0].Addr() || s.Cfg.Listen != nodes[0].Cfg.Listen {
		t.Errorf("the server's own address %s is not node 1's %s", s.Addr(), nodes[0].Addr())
	}
	for i, want := range []*Server{nodes[0], nodes[1], nodes[0]} {
		if got := s.WSURL(); got != "ws://"+want.Addr()+"/v1/ws" {
			t.Errorf("WSURL %d = %s, want node %s's", i, got, want.Addr())
		}
	}

	// alice is created through node 1, bob through node 2; each node
	// knows both.
	s.Users("alice", "bob")
	for _, n := range nodes {
		if code, b := n.Admin("POST", "/v1/admin/tokens", map[string]string{"userId": "bob"}); code != http.StatusOK {
			t.Fatalf("node %s: token for bob = %d %s", n.Addr(), code, b)
		}
	}
	alice := DialRaw(t, nodes[0].WSURL())
	alice.Connect(s.Token("alice"), "")
	bob := DialRaw(t, nodes[1].WSURL())
	bob.Connect(s.Token("bob"), "")
	sendHi(t, alice, "first")
	if f := bob.Event(protocol.EventMessageNew); !strings.Contains(string(f.Params), "hi bob") {
		t.Fatalf("bob on node 2 got %s, want alice's message", f.Params)
	}

	s.Restart()
	for i, n := range s.Nodes() {
		if n.Addr() != nodes[i].Addr() {
			t.Errorf("node %d came back on %s, want %s", i+1, n.Addr(), nodes[i].Addr())
		}
	}
	if alice.Closed() != 1001 || bob.Closed() != 1001 {
		t.Error("Restart did not close the sockets of both nodes")
	}
	bob = DialRaw(t, nodes[1].WSURL())
	bob.Connect(s.Token("bob"), "")
	alice = DialRaw(t, nodes[0].WSURL())
	alice.Connect(s.Token("alice"), "")
	sendHi(t, alice, "second")
	if f := bob.Event(protocol.EventMessageNew); !strings.Contains(string(f.Params), "hi bob") {
		t.Fatalf("after Restart, bob on node 2 got %s, want alice's message", f.Params)
	}
	alice.Close()
	bob.Close()
	s.Stop()
}

// TestStartSingleIgnoresClusterMode: a test that only holds on one node
// gets one, on its embedded store, whatever SEEN_TEST_NODES says.
func TestStartSingleIgnoresClusterMode(t *testing.T) {
	t.Setenv(NodesEnv, "3")
	s := StartSingle(t, "checks the harness")
	if n := len(s.Nodes()); n != 1 || s.Cfg.PostgresURL != "" || s.WSURL() != s.WSURL() {
		t.Fatalf("StartSingle: %d nodes, postgres %q, want one embedded node", n, s.Cfg.PostgresURL)
	}
}

func sendHi(t *testing.T, r *Raw, clientMsgID string) {
	t.Helper()
	r.MustCall(protocol.MethodMessageSend, protocol.SendParams{
		Conversation: protocol.Conversation{Type: protocol.ConvPeer, ID: "bob"},
		ClientMsgID:  clientMsgID, Body: json.RawMessage(`"hi bob"`),
	}, nil)
}
