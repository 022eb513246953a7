package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The hot writes (Append, a watermark round) are transactions that lock a
// row and hold the lock to their commit. Each round trip made while the
// lock is held delays every other writer of the conversation, on every
// node, so these transactions are sent as two pipelined batches: one that
// begins, locks and reads, one that writes and commits. The lock is held
// for about one round trip plus the commit's flush, whatever the number
// of statements.

// errCommitRolledBack is a COMMIT the server answered with ROLLBACK: the
// transaction had failed, and nothing of it was written.
var errCommitRolledBack = errors.New("pgstore: commit rolled back")

// withConn runs fn on a connection of the pool. If fn fails with a
// transaction open, it is rolled back (a connection that cannot roll back
// is closed by the pool on release, which rolls back too). A sentinel error
// fn returns passes through as it is; others are classified.
func (s *Store) withConn(ctx context.Context, op string, fn func(conn *pgx.Conn) error) error {
	return withConnOf(ctx, s.pool, op, fn)
}

// withConnOf is withConn on a connection of pool.
func withConnOf(ctx context.Context, pool *pgxpool.Pool, op string, fn func(conn *pgx.Conn) error) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return classify(op, err)
	}
	defer c.Release()
	err = fn(c.Conn())
	if err == nil {
		return nil
	}
	if pc := c.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = c.Exec(rctx, "ROLLBACK")
		cancel()
	}
	if isDomain(err) {
		return err
	}
	return classify(op, err)
}

// batchRead reads the one row statement at of a batch answers.
type batchRead struct {
	at   int
	read func(pgx.Row) error
}

// commitBatch sends b followed by COMMIT and reads every result, failing on
// the first error or if the commit turned into a rollback. The statements
// named by reads (in order) have their row read; the others' rows are not.
func commitBatch(ctx context.Context, conn *pgx.Conn, b *pgx.Batch, reads ...batchRead) error {
	n := b.Len()
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	for i := range n {
		var err error
		if len(reads) > 0 && reads[0].at == i {
			err = reads[0].read(br.QueryRow())
			reads = reads[1:]
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			_ = br.Close()
			return err
		}
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if tag.String() != "COMMIT" {
		return fmt.Errorf("%w (%s)", errCommitRolledBack, tag)
	}
	return nil
}
