package service

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store"
)

// A node that publishes receipt changes names the node it thinks
// coalesces them, and that node takes them even if, by its own view of
// the cluster, another node does: while two nodes disagree on which nodes
// are live, each may think the other coalesces, and the changes, with
// their new readers' names, were nobody's.
func TestClusterChangesGoToTheNodeNamed(t *testing.T) {
	c := newPGCluster(t, 2, config.Default())
	self0, _ := c.buses[0].Nodes()
	self1, _ := c.buses[1].Nodes()
	// A conversation that, by both nodes' views, node 1 coalesces.
	var conv store.ConvID
	for i := 0; conv == ""; i++ {
		g := store.GroupConv(string(rune('a'+i%26)) + string(rune('a'+i/26)))
		if n, _ := c.nodes[0].coalescer(g); n == self1 {
			conv = g
		}
	}
	if c.nodes[0].coalesces(conv) || !c.nodes[1].coalesces(conv) {
		t.Fatalf("%s: node 1 should coalesce it, by both views", conv)
	}
	pendingReaders := func(node *Service) []string {
		node.changes.mu.Lock()
		defer node.changes.mu.Unlock()
		var ids []string
		for k, changes := range node.changes.pending {
			if k.conv != conv {
				continue
			}
			for _, pc := range changes {
				ids = append(ids, pc.newReaders...)
			}
		}
		return ids
	}
	op := func(node, reader string) []byte {
		data, err := json.Marshal(syncOp{Kind: opChanged, Conv: conv, User: reader,
			Changes: []receiptChange{{Sender: "alice", Seq: 1}}, Node: node})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	// From a node that thinks node 0 coalesces: node 0 takes it, node 1
	// leaves it.
	c.nodes[0].ApplySync(op(self0, "bob"))
	c.nodes[1].ApplySync(op(self0, "bob"))
	if got := pendingReaders(c.nodes[0]); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("node 0, named, holds new readers %v; want [bob]", got)
	}
	if got := pendingReaders(c.nodes[1]); len(got) != 0 {
		t.Errorf("node 1, not named, holds new readers %v; want none", got)
	}
	// An op that names no node (a node of an earlier version) goes by the
	// receiver's view.
	c.nodes[0].ApplySync(op("", "carol"))
	c.nodes[1].ApplySync(op("", "carol"))
	if got := pendingReaders(c.nodes[1]); !slices.Equal(got, []string{"carol"}) {
		t.Errorf("node 1, the coalescer by its view, holds new readers %v; want [carol]", got)
	}
	if got := pendingReaders(c.nodes[0]); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("node 0 holds new readers %v; want [bob] only", got)
	}
}
