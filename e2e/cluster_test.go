package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/internal/store/pgstore"
	"github.com/seen-im/seen/protocol"
	"github.com/seen-im/seen/server"
)

// twoNodes starts two cluster nodes on a fresh database and one NATS.
func twoNodes(t *testing.T) (*seentest.NATS, *seentest.Server, *seentest.Server) {
	t.Helper()
	pg := seentest.PostgresDB(t)
	n := seentest.StartNATS(t)
	a := seentest.Start(t, seentest.Cluster(pg, n.URL()))
	b := seentest.Start(t, seentest.Cluster(pg, n.URL()))
	return n, a, b
}

// TestClusterTwoNodes: alice on node 1 and bob on node 2 talk as on one
// node: messages and receipts cross nodes, a resend through the other node
// returns the original, a group made through one node's admin API is the
// other's, and concurrent senders on both nodes get gap-free unique seqs.
func TestClusterTwoNodes(t *testing.T) {
	_, a, b := twoNodes(t)
	// A node on PostgreSQL opens no embedded store.
	if _, err := os.Stat(filepath.Join(a.Cfg.Data, "store")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("node 1's data directory has a store: %v", err)
	}
	a.Users("alice", "bob")
	alice := connectRaw(t, a, "alice", "phone")
	bob := connectRaw(t, b, "bob", "phone")

	hi := protocol.SendParams{Conversation: peer("bob"), ClientMsgID: "c1", Body: json.RawMessage(`"hi bob"`), Receipt: true}
	var m protocol.SendResult
	alice.MustCall(protocol.MethodMessageSend, hi, &m)
	got := decode[protocol.MessageNewEvent](t, bob.EventAfter(protocol.EventMessageNew).Params).Message
	if got.MsgID != m.MsgID || got.Sender != "alice" {
		t.Fatalf("bob on node 2 got %+v, want %s from alice", got, m.MsgID)
	}
	bob.MustCall(protocol.MethodMessageRead, protocol.ReadParams{Conversation: peer("alice"), MsgIDs: []string{m.MsgID}}, nil)
	rr := decode[protocol.ReceiptReadEvent](t, alice.EventAfter(protocol.EventReceiptRead).Params)
	if rr.UserID != "bob" || !slices.Equal(rr.MsgIDs, []string{m.MsgID}) {
		t.Fatalf("alice on node 1 got receipt.read %+v, want bob read %s", rr, m.MsgID)
	}

	// The same clientMsgId through the other node: the original message.
	alice2 := connectRaw(t, b, "alice", "laptop")
	var again protocol.SendResult
	alice2.MustCall(protocol.MethodMessageSend, hi, &again)
	if again.MsgID != m.MsgID || again.Seq != m.Seq {
		t.Fatalf("resend through node 2 = %+v, want the original %+v", again, m)
	}

	// A group created through node 1's admin API, used through node 2.
	a.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "team", "owner": "alice", "members": []string{"bob"}})
	if e := decode[protocol.GroupMemberEvent](t, bob.EventAfter(protocol.EventGroupMember).Params); e.Conversation != group("team") {
		t.Fatalf("bob on node 2 got %+v, want a member event of team", e)
	}
	first := send(t, bob, group("team"), "g0", "from node 2")
	if code, body := b.Admin("GET", "/v1/admin/messages/"+first.MsgID+"/receipt", nil); code != http.StatusOK {
		t.Fatalf("node 2's admin API on the group's message = %d %s", code, body)
	}

	// Concurrent senders, two on each node, into one group.
	senders := []*seentest.Raw{alice, alice2, bob, connectRaw(t, a, "bob", "tablet")}
	const each = 25
	seqs := make([][]uint64, len(senders))
	var wg sync.WaitGroup
	for i, r := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				f := r.Call(protocol.MethodMessageSend, protocol.SendParams{
					Conversation: group("team"), ClientMsgID: fmt.Sprintf("s%d-%d", i, j), Body: json.RawMessage(`"x"`),
				})
				var res protocol.SendResult
				if f.Error != nil || json.Unmarshal(f.Result, &res) != nil {
					t.Errorf("sender %d send %d: %s %v", i, j, f.Result, f.Error)
					return
				}
				seqs[i] = append(seqs[i], res.Seq)
			}
		}()
	}
	wg.Wait()
	all := slices.Concat(seqs...)
	slices.Sort(all)
	want := make([]uint64, len(senders)*each)
	for i := range want {
		want[i] = first.Seq + 1 + uint64(i)
	}
	if !slices.Equal(all, want) {
		t.Fatalf("seqs of concurrent sends on two nodes = %v, want %d..%d each once", all, want[0], want[len(want)-1])
	}
}

// nodeConfig is a test node's configuration on the database at pg.
func nodeConfig(t *testing.T, pg, nats string) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.AdminKey, cfg.TokenSecret = seentest.AdminKey, seentest.TokenSecret
	cfg.PostgresURL, cfg.NATSURL = pg, nats
	return cfg
}

// TestClusterSingleNodeHoldsItsDatabase: a node on PostgreSQL without NATS
// holds the database alone; a second one, or a cluster node, refuses to
// start and says why. Once it stops, cluster nodes start, and then a node
// without NATS refuses.
func TestClusterSingleNodeHoldsItsDatabase(t *testing.T) {
	pg := seentest.PostgresDB(t)
	n := seentest.StartNATS(t)
	single := seentest.Start(t, seentest.Cluster(pg, ""))
	// The database's only writer answers lookups from memory.
	if on := cacheOn(t, single); on != 1 {
		t.Errorf("single node: seen_postgres_lookup_cache_on = %v, want 1", on)
	}
	for _, nats := range []string{"", n.URL()} {
		_, err := server.New(nodeConfig(t, pg, nats))
		if !errors.Is(err, pgstore.ErrInUse) || !strings.Contains(err.Error(), "NATS") {
			t.Errorf("node (nats %q) beside a single node: err = %v, want ErrInUse saying why", nats, err)
		}
	}
	single.Stop()
	node := seentest.Start(t, seentest.Cluster(pg, n.URL()))
	seentest.Start(t, seentest.Cluster(pg, n.URL()))
	if on := cacheOn(t, node); on != 0 {
		t.Errorf("cluster node: seen_postgres_lookup_cache_on = %v, want 0", on)
	}
	if _, err := server.New(nodeConfig(t, pg, "")); !errors.Is(err, pgstore.ErrInUse) {
		t.Errorf("single node beside cluster nodes: err = %v, want ErrInUse", err)
	}
}

// cacheOn is s's seen_postgres_lookup_cache_on.
func cacheOn(t *testing.T, s *seentest.Server) float64 {
	t.Helper()
	f := scrape(t, s)["seen_postgres_lookup_cache_on"]
	if f == nil || len(f.Metric) != 1 {
		t.Fatalf("seen_postgres_lookup_cache_on: %v, want one sample", f)
	}
	return f.Metric[0].GetGauge().GetValue()
}

// TestClusterConfigRefused: a NATS URL without PostgreSQL, and a node on
// PostgreSQL without its secrets, refuse to start, and the node creates no
// secret of its own.
func TestClusterConfigRefused(t *testing.T) {
	tests := []struct {
		name   string
		change func(*config.Config)
		want   string
	}{
		{"nats without postgres", func(c *config.Config) { c.PostgresURL = "" }, "nats_url: is set without postgres_url"},
		{"no token secret", func(c *config.Config) { c.TokenSecret = "" }, "token_secret: must be set with postgres_url"},
		{"no admin key", func(c *config.Config) { c.AdminKey = "" }, "admin_key: must be set with postgres_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Nothing listens at either URL: the refusal comes first.
			cfg := nodeConfig(t, "postgres://127.0.0.1:1/none", "nats://127.0.0.1:1")
			tt.change(&cfg)
			_, err := server.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("server.New = %v, want an error with %q", err, tt.want)
			}
			for _, f := range []string{"token-secret", "admin-key"} {
				if _, err := os.Stat(filepath.Join(cfg.Data, f)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s in the data directory: %v, want none created", f, err)
				}
			}
		})
	}
}

// healthz returns /healthz's status and body.
func healthz(s *seentest.Server) (int, string, error) {
	resp, err := http.Get(s.URL() + "/healthz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitHealth polls /healthz until it answers code with a body holding body.
func waitHealth(t *testing.T, s *seentest.Server, code int, body string) {
	t.Helper()
	seentest.Eventually(t, 20*time.Second, func() error {
		got, b, err := healthz(s)
		if err != nil {
			return err
		}
		if got != code || !strings.Contains(b, body) {
			return fmt.Errorf("/healthz = %d %q, want %d with %q", got, b, code, body)
		}
		return nil
	})
}

// TestClusterHealthFollowsNATS: /healthz answers 503 while NATS is down and
// 200 once the node has reconnected, which it counts.
func TestClusterHealthFollowsNATS(t *testing.T) {
	n, a, _ := twoNodes(t)
	// A group message with receipts loads the group's engine on node 1,
	// which the reconnect must drop: it may have missed events.
	a.Users("alice", "bob")
	a.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "team", "owner": "alice", "members": []string{"bob"}})
	alice := connectRaw(t, a, "alice", "phone")
	alice.MustCall(protocol.MethodMessageSend, protocol.SendParams{
		Conversation: group("team"), ClientMsgID: "m1", Body: json.RawMessage(`"hi"`), Receipt: true,
	}, nil)
	waitHealth(t, a, http.StatusOK, "ok")
	n.Shutdown()
	waitHealth(t, a, http.StatusServiceUnavailable, "nats")
	n.Restart()
	waitHealth(t, a, http.StatusOK, "ok")
	metrics := string(a.MustAdmin("GET", "/metrics", nil))
	for _, want := range []string{"seen_nats_connected 1", "seen_nats_reconnects_total 1", "seen_nats_dropped_total 0",
		`seen_receipt_engine_reloads_total{reason="resync"} 1`, "seen_receipt_engines_loaded 0", "seen_postgres_pool_total_conns"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestClusterHealthFollowsPostgres: /healthz answers 503 while the node's
// database refuses connections, and 200 once it takes them again.
func TestClusterHealthFollowsPostgres(t *testing.T) {
	pg := seentest.PostgresDB(t)
	a := seentest.Start(t, seentest.Cluster(pg, ""))
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, os.Getenv("SEEN_TEST_POSTGRES_URL"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	exec := func(sql string) {
		t.Helper()
		if _, err := admin.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	waitHealth(t, a, http.StatusOK, "ok")
	// The database takes no new connections, and loses those it had.
	exec("ALTER DATABASE " + db + " ALLOW_CONNECTIONS false")
	exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db + "'")
	waitHealth(t, a, http.StatusServiceUnavailable, "postgresql")
	exec("ALTER DATABASE " + db + " ALLOW_CONNECTIONS true")
	waitHealth(t, a, http.StatusOK, "ok")
}

// TestClusterNodesStartTogether: two cluster nodes started at the same
// moment on an empty database both come up (one migrates while the other
// waits for it) and run side by side.
func TestClusterNodesStartTogether(t *testing.T) {
	pg := seentest.PostgresDB(t)
	n := seentest.StartNATS(t)
	type result struct {
		srv *server.Server
		err error
	}
	res := make(chan result, 2)
	for range 2 {
		go func() {
			srv, err := server.New(nodeConfig(t, pg, n.URL()))
			res <- result{srv, err}
		}()
	}
	for range 2 {
		r := <-res
		if r.err != nil {
			t.Errorf("node started beside another on an empty database: %v", r.err)
			continue
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.srv.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
		})
	}
}
