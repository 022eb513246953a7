package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
)

// runCmd runs the root command with args and returns its output and error.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestMigrateCmdNeedsADatabase(t *testing.T) {
	clearSeenEnv(t)
	t.Setenv("SEEN_DATA", t.TempDir())
	if _, err := runCmd(t, "migrate"); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("migrate without a URL: %v, want no database", err)
	}
}

// A data directory without a store is refused: copying "nothing" into the
// database would look like success.
func TestMigrateCmdRefusesAMissingStore(t *testing.T) {
	clearSeenEnv(t)
	dir := filepath.Join(t.TempDir(), "nowhere")
	t.Setenv("SEEN_DATA", dir)
	t.Setenv("SEEN_POSTGRES_URL", "postgres://nobody@127.0.0.1:1/none")
	if _, err := runCmd(t, "migrate"); err == nil || !strings.Contains(err.Error(), "no embedded store in "+dir) {
		t.Fatalf("migrate of a missing store: %v", err)
	}
}

// SEEN_DATA and SEEN_POSTGRES_URL are all migrate needs: no token secret
// or admin key, which a node on PostgreSQL must have but migrate is not.
func TestMigrateCmdFromTheEnvironment(t *testing.T) {
	pg := seentest.PostgresDB(t)
	clearSeenEnv(t)
	data := t.TempDir()
	st, err := pebblestore.Open(filepath.Join(data, "store"), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutUser(context.Background(), store.User{ID: "alice", Demo: true}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SEEN_DATA", data)
	t.Setenv("SEEN_POSTGRES_URL", pg)
	out, err := runCmd(t, "migrate")
	if err != nil || !strings.Contains(out, "copied 1 users, 0 groups") || !strings.Contains(out, "verified") {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	out, err = runCmd(t, "migrate")
	if err == nil || !strings.Contains(err.Error(), "already holds data") {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}
}
