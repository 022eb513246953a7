package pgstore

import (
	"context"
	"errors"
	"testing"
)

// TestLockNode: one node without NATS holds its database alone; cluster
// nodes share it with each other but not with such a node; closing a store
// releases its lock. The lock is database-wide, so this test is the only
// one in the package that takes it.
func TestLockNode(t *testing.T) {
	url := freshSchema(t)
	ctx := context.Background()
	single := openAt(t, url)
	if err := single.LockNode(ctx, false); err != nil {
		t.Fatalf("first single node: %v", err)
	}
	if !single.LookupCacheStat().On {
		t.Fatal("a single node's lookup cache is off")
	}
	other := openAt(t, url)
	if err := other.LockNode(ctx, false); !errors.Is(err, ErrInUse) {
		t.Fatalf("second single node: err = %v, want ErrInUse", err)
	}
	if err := other.LockNode(ctx, true); !errors.Is(err, ErrInUse) {
		t.Fatalf("cluster node beside a single node: err = %v, want ErrInUse", err)
	}
	if other.LookupCacheStat().On {
		t.Fatal("a node refused the lock answers lookups from its cache")
	}
	// The lock's session ends, as it does when the database restarts:
	// another node could take the lock now, so the cache goes off.
	single.lockMu.Lock()
	pid := single.lockConn.PgConn().PID()
	single.lockMu.Unlock()
	if _, err := other.pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cache to go off once the lock's session ended", func() bool {
		return !single.LookupCacheStat().On
	})
	if err := single.Close(); err != nil {
		t.Fatal(err)
	}
	a, b := openAt(t, url), openAt(t, url)
	for i, s := range []*Store{a, b} {
		if err := s.LockNode(ctx, true); err != nil {
			t.Fatalf("cluster node %d: %v", i+1, err)
		}
		if s.LookupCacheStat().On {
			t.Fatalf("cluster node %d answers lookups from a cache", i+1)
		}
	}
	if err := other.LockNode(ctx, false); !errors.Is(err, ErrInUse) {
		t.Fatalf("single node beside cluster nodes: err = %v, want ErrInUse", err)
	}
	if err := a.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if st := a.Stat(); st.TotalConns() < 1 {
		t.Errorf("Stat().TotalConns() = %d, want at least 1", st.TotalConns())
	}
}
