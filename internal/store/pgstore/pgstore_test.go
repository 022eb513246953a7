package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/storetest"
)

// testURL returns the PostgreSQL the tests use, or skips. test.sh starts a
// private one (.ci/postgres.sh) and sets SEEN_TEST_POSTGRES_URL.
func testURL(t testing.TB) string {
	u := os.Getenv("SEEN_TEST_POSTGRES_URL")
	if u == "" && os.Getenv("CI") == "true" {
		// CI must run the suite, not pass by skipping it.
		t.Fatal("CI=true but SEEN_TEST_POSTGRES_URL is not set: test.sh starts PostgreSQL with .ci/postgres.sh")
	}
	if u == "" {
		t.Skip("SEEN_TEST_POSTGRES_URL is not set: no PostgreSQL to test against (test.sh starts one with .ci/postgres.sh)")
	}
	return u
}

// freshSchema creates an empty schema, dropped when t ends, and returns a
// URL whose connections use it (search_path). A schema is much cheaper
// than a database per test, and the store's tables are unqualified.
func freshSchema(t testing.TB) string {
	base := testURL(t)
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, base)
	if err != nil {
		t.Fatalf("connect %s: %v", base, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openAt opens a store on url, closed when t ends.
func openAt(t testing.TB, url string) *Store {
	s, err := Open(context.Background(), url, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openSole opens a store on url as the only writer of its database, as
// a single node is (LockNode(false)): lookups are answered from memory,
// and here every answer is checked against the database too.
func openSole(t testing.TB, url string) *Store {
	s, err := Open(context.Background(), url, Options{CheckCachedLookups: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	s.cache.enable()
	return s
}

// TestConformance runs the conformance suite twice: as a single node, the
// only writer of its database, which answers lookups from its cache
// (every answer checked against the database), and as a cluster node,
// which reads every lookup from the database.
func TestConformance(t *testing.T) {
	testURL(t)
	t.Run("sole", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			return openSole(t, freshSchema(t))
		})
	})
	t.Run("shared", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store {
			return openAt(t, freshSchema(t))
		})
	})
}

// TestShared runs the two-handle cases: two stores on one database stand
// for two nodes, each with its own pool of connections.
func TestShared(t *testing.T) {
	testURL(t)
	storetest.RunShared(t, func(t *testing.T) (store.Store, store.Store) {
		u := freshSchema(t)
		return openAt(t, u), openAt(t, u)
	})
}

// TestOpenConcurrentOnEmpty starts several nodes at the same moment on an
// empty database: the migration lock lets one create the schema while the
// others wait, and all come up.
// Without the lock, the nodes' CREATE TABLEs collide in most rounds.
func TestOpenConcurrentOnEmpty(t *testing.T) {
	testURL(t)
	for round := range 3 {
		t.Run(fmt.Sprint("round", round), testOpenConcurrentOnEmpty)
	}
}

func testOpenConcurrentOnEmpty(t *testing.T) {
	u := freshSchema(t)
	const nodes = 4
	var (
		wg     sync.WaitGroup
		start  = make(chan struct{})
		stores [nodes]*Store
		errs   [nodes]error
	)
	for i := range nodes {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(t.Context(), u, Options{})
		})
	}
	close(start)
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil {
			t.Errorf("node %d: Open: %v", i, errs[i])
			continue
		}
		defer stores[i].Close()
	}
	if t.Failed() {
		return
	}
	// The schema is usable from every node.
	for i, s := range stores {
		if _, err := s.PutUser(t.Context(), store.User{ID: "u", CreatedAt: int64(i)}); err != nil {
			t.Errorf("node %d: PutUser: %v", i, err)
		}
	}
}

// TestOpenUnreachable: a database that cannot be reached is ErrUnavailable.
func TestOpenUnreachable(t *testing.T) {
	// A port that was just free: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Open(t.Context(), "postgres://seen@"+addr+"/seen?sslmode=disable&connect_timeout=5", Options{})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open on a closed port = %v, want ErrUnavailable", err)
	}
}

// TestBackendsTerminated: connections killed by the server (as on a
// restart or failover) give ErrUnavailable or a retried success, never
// another error, and service comes back without reopening the store.
func TestBackendsTerminated(t *testing.T) {
	u := freshSchema(t) + "&application_name=seen_terminated"
	s := openAt(t, u)
	ctx := t.Context()
	if _, err := s.PutUser(ctx, store.User{ID: "alice"}); err != nil {
		t.Fatal(err)
	}
	admin, err := pgxpool.New(ctx, testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	// Every idle connection of the store's pool is terminated.
	for range 3 {
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name = 'seen_terminated'`); err != nil {
			t.Fatal(err)
		}
		_, err := s.GetUser(ctx, "alice")
		if err != nil && !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("GetUser on a terminated connection = %v, want success or ErrUnavailable", err)
		}
	}
	// pgxpool replaces broken connections: a few tries at most succeed.
	var got error = errors.New("never tried")
	for range 10 {
		if _, got = s.GetUser(ctx, "alice"); got == nil {
			break
		}
	}
	if got != nil {
		t.Fatalf("GetUser after the terminations: %v", got)
	}
}

// TestClassify pins the mapping of connection failures.
func TestClassify(t *testing.T) {
	if err := classify("x", context.Canceled); !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("canceled: %v", err)
	}
	if err := classify("x", &net.OpError{Op: "dial", Err: errors.New("connection refused")}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("dial error: %v", err)
	}
	if err := classify("x", errors.New("syntax error")); errors.Is(err, store.ErrUnavailable) {
		t.Errorf("plain error classified unavailable: %v", err)
	}
}
