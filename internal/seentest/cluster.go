package seentest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/seen-im/seen/internal/config"
)

// PostgresDB creates an empty database on the PostgreSQL named by
// SEEN_TEST_POSTGRES_URL, dropped when the test ends, and returns its URL.
// Without that variable the test is skipped, unless CI is "true": then it
// fails, since CI must run what it claims to (test.sh starts a private
// PostgreSQL with .ci/postgres.sh). A database, not a schema, per test:
// the nodes' advisory locks are database-wide.
func PostgresDB(t testing.TB) string {
	t.Helper()
	base := os.Getenv("SEEN_TEST_POSTGRES_URL")
	if base == "" && os.Getenv("CI") == "true" {
		t.Fatal("CI=true but SEEN_TEST_POSTGRES_URL is not set: test.sh starts PostgreSQL with .ci/postgres.sh")
	}
	if base == "" {
		t.Skip("SEEN_TEST_POSTGRES_URL is not set: no PostgreSQL to test against (test.sh starts one with .ci/postgres.sh)")
	}
	ctx := context.Background()
	// One connection to create the database and another to drop it, not
	// a pool kept open in between: a pool's goroutines would outlive the
	// servers a goroutine-leak check (goleak) watches.
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return fmt.Errorf("connect to PostgreSQL: %w", err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "seen_t_" + hex.EncodeToString(b[:])
	if err := exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("seentest: create database: %v", err)
	}
	t.Cleanup(func() {
		// Registered before the servers' cleanups, so it runs after
		// them; FORCE ends a session a failed test left behind.
		if err := exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("seentest: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("seentest: parse SEEN_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// NATS is an in-process nats-server listening on a random loopback port,
// which a test may shut down and restart on the same port.
type NATS struct {
	*natsserver.Server
	Port int
	t    testing.TB
}

// StartNATS starts a nats-server on 127.0.0.1 and shuts it down when the
// test ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	n := &NATS{Port: -1, t: t}
	n.start()
	t.Cleanup(func() { n.Shutdown() })
	return n
}

func (n *NATS) start() {
	n.t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: n.Port, NoLog: true, NoSigs: true})
	if err != nil {
		n.t.Fatalf("seentest: nats-server: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		n.t.Fatal("seentest: nats-server not ready within 10s")
	}
	n.Server = ns
	// The next start (Restart) takes the same port, so nodes reconnect.
	n.Port = ns.Addr().(*net.TCPAddr).Port
}

// URL is the server's client URL.
func (n *NATS) URL() string { return n.ClientURL() }

// Restart starts a new nats-server on the port of the one shut down.
func (n *NATS) Restart() {
	n.t.Helper()
	n.start()
}

// Cluster returns a config change that makes a node of the cluster on the
// database at pgURL and the NATS at natsURL ("" for a node without NATS).
func Cluster(pgURL, natsURL string) func(*config.Config) {
	return func(c *config.Config) {
		c.PostgresURL = pgURL
		c.NATSURL = natsURL
	}
}
