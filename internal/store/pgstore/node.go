package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// nodeLockKey is the advisory lock ("SEENNODE") by which the nodes on one
// database declare how they share it. It differs from migrateLockKey, which
// is held only while migrating.
const nodeLockKey int64 = 0x5345454e4e4f4445

// ErrInUse is returned by LockNode when the database is in use by nodes
// that cannot run beside this one.
var ErrInUse = errors.New("pgstore: database in use by another node")

// LockNode declares how this node shares the database, for as long as the
// store is open, on a connection of its own (a session advisory lock lives
// and dies with its session). A node without a bus between nodes (shared
// false) takes the lock exclusively: a second such node would miss the
// first one's events, so it is refused, as is a cluster node beside it.
// Cluster nodes (shared true) take it shared, so they run together. A
// refusal wraps ErrInUse and says what holds the database.
//
// If the connection is lost (the database restarted), the lock goes with
// it until the node restarts.
func (s *Store) LockNode(ctx context.Context, shared bool) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.lockConn != nil {
		return errors.New("pgstore: LockNode called twice")
	}
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return classify("node lock: connect", err)
	}
	// The connection leaves the pool for good: the pool must never hand
	// out (or close as idle) the session that holds the lock.
	conn := pc.Hijack()
	fn := "pg_try_advisory_lock"
	if shared {
		fn = "pg_try_advisory_lock_shared"
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT "+fn+"($1)", nodeLockKey).Scan(&ok); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return classify("node lock", err)
	}
	if !ok {
		_ = conn.Close(context.WithoutCancel(ctx))
		if shared {
			return fmt.Errorf("%w: a node without a NATS URL (a single node, which holds the database alone) is running on it; stop it, or give it the cluster's NATS URL", ErrInUse)
		}
		return fmt.Errorf("%w: another node is running on it (a single node without a NATS URL, or cluster nodes); two nodes without NATS would miss each other's events: give every node the same NATS URL to run them as a cluster", ErrInUse)
	}
	s.lockConn = conn
	if !shared {
		// The only writer: lookups may be answered from memory, while
		// the lock holds (watchLock).
		s.cache.enable()
		s.routines.Go("pgstore node lock watchdog", s.watchLock)
	}
	return nil
}

// lockCheckEvery is how often the watchdog checks the node lock's session.
const lockCheckEvery = time.Second

// watchLock checks the node lock's session every lockCheckEvery until the
// store closes. Once the session is lost (the database restarted, or the
// session was ended), another node may take the lock and write: the
// lookup cache is turned off for good.
func (s *Store) watchLock() {
	t := time.NewTicker(lockCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		err := s.pingLock()
		if err == nil {
			continue
		}
		if s.ctx.Err() != nil {
			return
		}
		s.cache.disable()
		s.log.Warn("pgstore: the node lock's session is lost; another node could now take the database, so lookups are no longer answered from memory", "err", err)
		return
	}
}

// pingLock sends one statement on the node lock's session.
func (s *Store) pingLock() error {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.lockConn == nil || s.lockConn.IsClosed() {
		return errors.New("pgstore: node lock: session closed")
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	_, err := s.lockConn.Exec(ctx, "SELECT 1")
	return err
}

// closeLockConn ends the node lock's session, which releases the lock.
func (s *Store) closeLockConn() {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.lockConn != nil {
		// Released before the connection closes: closing only asks the
		// server to end the session, whose locks go when its backend has
		// exited, a moment later, and a node started at once in this
		// one's place (a restart) would find the database still held.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = s.lockConn.Exec(ctx, "SELECT pg_advisory_unlock_all()")
		cancel()
		_ = s.lockConn.Close(context.Background())
		s.lockConn = nil
	}
}

// Ping checks that the database answers, for a node's health check.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return classify("ping", s.pool.Ping(ctx))
}

// Stat returns the connection pool's figures, for metrics.
func (s *Store) Stat() *pgxpool.Stat { return s.pool.Stat() }
