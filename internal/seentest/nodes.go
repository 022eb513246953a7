package seentest

import (
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/server"
)

// NodesEnv names the environment variable that runs the tests' servers as
// clusters: SEEN_TEST_NODES=2 or 3 starts that many nodes where a test
// starts one. Unset or 1: one node, as always. (cmd/seen takes every
// SEEN_TEST_* variable for the tests', not a setting.)
const NodesEnv = "SEEN_TEST_NODES"

// StoreEnv names the environment variable that runs the tests' single
// nodes on PostgreSQL: SEEN_TEST_STORE=postgres starts one node on a fresh
// database (with the in-process bus) where Start or StartWith starts one
// on the embedded store, unless the test chooses a PostgreSQL or NATS of
// its own. StartSingle keeps the embedded store: its tests hold on one
// node, most of them for what that store does.
// Such a node writes its database alone, so it answers lookups from
// memory (internal/store/pgstore/lookcache.go); here it checks every such
// answer against the database too. Unset: the embedded store.
const StoreEnv = "SEEN_TEST_STORE"

// onPostgres reports whether StoreEnv asks for PostgreSQL; a value it
// does not know fails the test rather than quietly testing the default.
func onPostgres(t testing.TB) bool {
	t.Helper()
	switch v := os.Getenv(StoreEnv); v {
	case "":
		return false
	case "postgres":
		return true
	default:
		t.Fatalf("seentest: %s=%q, want postgres or nothing", StoreEnv, v)
		return false
	}
}

// maxNodes bounds SEEN_TEST_NODES: the machine running the tests has few
// cores, and three nodes already put every message across the bus.
const maxNodes = 3

// clusterSize is the number of nodes SEEN_TEST_NODES asks for; a value
// out of range fails the test rather than quietly testing one node.
func clusterSize(t testing.TB) int {
	t.Helper()
	v := os.Getenv(NodesEnv)
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxNodes {
		t.Fatalf("seentest: %s=%q, want 1 to %d", NodesEnv, v, maxNodes)
	}
	return n
}

// startCluster starts n nodes on one fresh PostgreSQL database and one
// in-process NATS, each with the test's options and its own data directory
// and addresses, and stops them when the test ends (before the database
// and NATS go: their cleanups are registered first).
func startCluster(t testing.TB, n int, serverOpts []server.Option, opts []func(*config.Config)) *Server {
	t.Helper()
	pg := PostgresDB(t)
	nats := StartNATS(t)
	s := &Server{opts: serverOpts, t: t, nodes: make([]*Server, n), nats: nats}
	for i := range s.nodes {
		cfg := testConfig(t, append(slices.Clip(opts), Cluster(pg, nats.URL())))
		s.nodes[i] = &Server{Cfg: cfg, opts: serverOpts, t: t}
	}
	// Registered before any node starts, so a node that fails to start
	// does not leave the ones before it running.
	t.Cleanup(func() { s.Stop() })
	s.start()
	return s
}

// startNodes starts NATS if Stop stopped it, then every node, node 1
// first.
func (s *Server) startNodes() {
	s.t.Helper()
	if !s.nats.Running() {
		s.nats.Restart()
	}
	for _, n := range s.nodes {
		n.start()
	}
	s.Server, s.Cfg = s.nodes[0].Server, s.nodes[0].Cfg
}

// stopNodes stops the nodes that run, the last first, and then NATS: a
// stopped cluster leaves nothing running, as a stopped node does, so a
// test may check that no goroutine outlives Stop.
func (s *Server) stopNodes() {
	for i := len(s.nodes) - 1; i >= 0; i-- {
		if n := s.nodes[i]; n.Server != nil {
			n.Stop()
			n.Server = nil
		}
	}
	s.nats.Shutdown()
	s.nats.WaitForShutdown()
}

// Nodes are the cluster's nodes, node 1 first, each a one-node Server (its
// WSURL, URL and Admin are its own); on one node, just s.
func (s *Server) Nodes() []*Server {
	if s.nodes == nil {
		return []*Server{s}
	}
	return s.nodes
}

// pick returns the node whose turn counter c says is next: s itself on one
// node.
func (s *Server) pick(c *atomic.Uint32) *Server {
	if s.nodes == nil {
		return s
	}
	return s.nodes[int(c.Add(1)-1)%len(s.nodes)]
}
