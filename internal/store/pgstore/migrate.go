package pgstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrateLockKey is the advisory lock held while migrating ("SEENMIGR").
// It is database-wide: nodes on one database migrate one at a time, and a
// node that waited finds the schema up to date.
const migrateLockKey int64 = 0x5345454e4d494752

// migrate applies the embedded migrations that the database lacks. It holds
// a session advisory lock, on a connection of its own, for the whole run,
// so several nodes starting at once on an empty database are safe: the
// first creates the schema while the others wait, then they find nothing
// to do.
func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return classify("migrate: connect", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return classify("migrate: take the migration lock", err)
	}
	defer func() {
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey); uerr != nil {
			// The session must not go back to the pool still holding the
			// lock; closing it releases the lock.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	// goose runs on database/sql; this *sql.DB borrows the pool's
	// connections and closing it leaves the pool open.
	db := stdlib.OpenDBFromPool(pool)
	defer func(db *sql.DB) { _ = db.Close() }(db)
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub)
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return classify("migrate", err)
	}
	for _, r := range results {
		log.Info("store: migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return nil
}
