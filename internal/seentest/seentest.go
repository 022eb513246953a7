// Package seentest starts real Seen servers for tests: in-process on a
// random loopback port with a temporary data directory, or as a child
// process of the built binary (for kill -9 tests).
//
// With SEEN_TEST_NODES=2 or 3 in the environment, Start and StartWith start
// that many cluster nodes on one fresh PostgreSQL database and one
// in-process NATS instead of one node, and spread the test's clients and
// admin calls over them (see Nodes). Tests that only make sense on one
// node say so with StartSingle.
package seentest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/server"
)

// AdminKey and TokenSecret are the fixed secrets of test servers.
const (
	AdminKey    = "test-admin-key-0123456789"
	TokenSecret = "test-token-secret-0123456789abcdef"
)

// Server is an in-process server under test.
type Server struct {
	*server.Server
	Cfg  config.Config
	opts []server.Option
	t    testing.TB

	// nodes are the cluster's nodes, each a one-node Server, node 1 first;
	// nil on one node. The embedded *server.Server and Cfg are node 1's.
	nodes []*Server
	// nats is the cluster's bus, stopped and started with its nodes.
	nats *NATS
	// nextClient and nextAdmin pick the node of the next WSURL, and of
	// the next admin call or URL, round-robin.
	nextClient, nextAdmin atomic.Uint32
}

// Start runs a server with test defaults, changed by opts, and stops it
// when the test ends. Under SEEN_TEST_NODES it is a cluster (StartWith).
func Start(t testing.TB, opts ...func(*config.Config)) *Server {
	t.Helper()
	return StartWith(t, nil, opts...)
}

// StartWith is Start with server options (a store hook, say). Under
// SEEN_TEST_NODES=N it starts N cluster nodes, every one with opts and
// serverOpts, and under SEEN_TEST_STORE=postgres one node on PostgreSQL,
// unless opts choose a PostgreSQL or NATS of their own: such a test builds
// its own topology.
func StartWith(t testing.TB, serverOpts []server.Option, opts ...func(*config.Config)) *Server {
	t.Helper()
	cfg := testConfig(t, opts)
	own := cfg.PostgresURL != "" || cfg.NATSURL != ""
	if n := clusterSize(t); n > 1 && !own {
		return startCluster(t, n, serverOpts, opts)
	}
	if onPostgres(t) && !own {
		pg := PostgresDB(t)
		opts = append(slices.Clip(opts), func(c *config.Config) { c.PostgresURL = pg })
		serverOpts = append(slices.Clip(serverOpts), server.WithCheckedLookups())
	}
	return startOne(t, serverOpts, opts)
}

// StartSingle is Start on one node on the embedded store, whatever
// SEEN_TEST_NODES and SEEN_TEST_STORE say, for a test that only means
// something on one node; why names the reason.
func StartSingle(t testing.TB, why string, opts ...func(*config.Config)) *Server {
	t.Helper()
	return StartSingleWith(t, why, nil, opts...)
}

// StartSingleWith is StartWith on one node; see StartSingle.
func StartSingleWith(t testing.TB, why string, serverOpts []server.Option, opts ...func(*config.Config)) *Server {
	t.Helper()
	if why == "" {
		t.Fatal("seentest: StartSingle needs the reason the test holds on one node only")
	}
	return startOne(t, serverOpts, opts)
}

// testConfig is a node's configuration: the test defaults, changed by opts.
func testConfig(t testing.TB, opts []func(*config.Config)) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.AdminKey = AdminKey
	cfg.TokenSecret = TokenSecret
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// startOne starts one node, stopped when the test ends.
func startOne(t testing.TB, serverOpts []server.Option, opts []func(*config.Config)) *Server {
	t.Helper()
	s := &Server{Cfg: testConfig(t, opts), opts: serverOpts, t: t}
	s.start()
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *Server) start() {
	s.t.Helper()
	if s.nodes != nil {
		s.startNodes()
		return
	}
	srv, err := server.New(s.Cfg, s.opts...)
	if err != nil {
		s.t.Fatalf("seentest: new server: %v", err)
	}
	if err := srv.Start(); err != nil {
		s.t.Fatalf("seentest: start: %v", err)
	}
	s.Server = srv
	// Later restarts reuse the address, so clients reconnect to it.
	s.Cfg.Listen = srv.Addr()
}

// Stop shuts the server (every node) down gracefully.
func (s *Server) Stop() {
	if s.nodes != nil {
		s.stopNodes()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.Server.Shutdown(ctx); err != nil {
		s.t.Errorf("seentest: shutdown: %v", err)
	}
}

// Restart stops the server and starts a new one on the same data
// directory and address; a cluster stops all its nodes, then starts them.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// RestartAfter stops the server, runs between (which may open the stopped
// server's data directory, s.Cfg.Data, to plant what an older version
// could have stored), and starts a new server on the same directory and
// address.
func (s *Server) RestartAfter(between func()) {
	s.t.Helper()
	if s.nodes != nil {
		s.t.Fatal("seentest: RestartAfter opens one node's data directory: start the test with StartSingle")
	}
	s.Stop()
	between()
	s.start()
}

// URL is the server's HTTP base URL; in a cluster, the next node's, taking
// turns with Admin.
func (s *Server) URL() string { return "http://" + s.pick(&s.nextAdmin).Addr() }

// WSURL is the client WebSocket URL; in a cluster, the next node's, so the
// first client dialled is on node 1, the second on node 2 and so on.
func (s *Server) WSURL() string { return "ws://" + s.pick(&s.nextClient).Addr() + "/v1/ws" }

// Token mints a one-hour token for userID.
func (s *Server) Token(userID string) string {
	s.t.Helper()
	tok, _, err := s.Tokens().Mint(userID, time.Hour)
	if err != nil {
		s.t.Fatalf("seentest: mint: %v", err)
	}
	return tok
}

// Admin calls the admin API and returns the status and body; in a cluster,
// the next node's, so what one node changes the next one counts with.
func (s *Server) Admin(method, path string, body any) (int, []byte) {
	s.t.Helper()
	return Admin(s.t, "http://"+s.pick(&s.nextAdmin).AdminAddr(), AdminKey, method, path, body)
}

// MustAdmin calls the admin API and fails the test unless it answers 2xx.
func (s *Server) MustAdmin(method, path string, body any) []byte {
	s.t.Helper()
	code, b := s.Admin(method, path, body)
	if code/100 != 2 {
		s.t.Fatalf("seentest: %s %s = %d %s", method, path, code, b)
	}
	return b
}

// Users creates users through the admin API.
func (s *Server) Users(ids ...string) {
	s.t.Helper()
	for _, id := range ids {
		s.MustAdmin("POST", "/v1/admin/users", map[string]string{"userId": id})
	}
}

// Admin calls an admin API at base with key.
func Admin(t testing.TB, base, key, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("seentest: marshal: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatalf("seentest: request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("seentest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// Eventually polls cond every step until it returns nil or wait passes,
// then fails the test with cond's last error.
func Eventually(t testing.TB, wait time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", wait, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
