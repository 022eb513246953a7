// Package testpg gives tests a PostgreSQL database of their own, on the
// server test.sh starts (.ci/postgres.sh). It imports nothing of Seen, so
// the tests of any package can use it, the service's own included (which
// cannot import seentest: seentest imports the service).
package testpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// Database creates an empty database on the PostgreSQL named by
// SEEN_TEST_POSTGRES_URL, dropped when the test ends, and returns its URL.
// Without that variable the test is skipped, unless CI is "true": then it
// fails, since CI must run what it claims to (test.sh starts a private
// PostgreSQL with .ci/postgres.sh). A database, not a schema, per test:
// the nodes' advisory locks are database-wide.
func Database(t testing.TB) string {
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
		t.Fatalf("testpg: create database: %v", err)
	}
	t.Cleanup(func() {
		// Registered before the servers' cleanups, so it runs after
		// them; FORCE ends a session a failed test left behind.
		if err := exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("testpg: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testpg: parse SEEN_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
