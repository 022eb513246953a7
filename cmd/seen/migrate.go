package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/seen-im/seen/internal/store/migrate"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/internal/store/pgstore"
)

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Copy an embedded data directory into an empty PostgreSQL database, and verify the copy",
		Long: `Copy everything the embedded store in --data holds (users, groups,
members with their roles, watermarks and acks, messages with their receipt
state) into the empty PostgreSQL database at --postgres-url, then verify
the copy: counts per kind, every user and group, and a checksum per
conversation read back from both.

Stop the server first: it locks its data directory. A database that holds
any data already is refused, and nothing is written. The copy is one
transaction: if it fails, the database is left empty and migrate can be
run again. Settings come from flags, SEEN_DATA and SEEN_POSTGRES_URL, or
the --config file, as for serve.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, src, err := loadConfig(cmd.Flags(), os.Environ(), loadOptions{noValidate: true})
			if err != nil {
				return err
			}
			if cfg.PostgresURL == "" {
				return errors.New("migrate: no database: set --postgres-url or SEEN_POSTGRES_URL")
			}
			if cfg.Data == "" {
				return fmt.Errorf("migrate: %s is empty", src.name("data"))
			}
			return runMigrate(cmd.Context(), cmd.OutOrStdout(), cfg.Data, cfg.PostgresURL)
		},
	}
	cmd.Flags().String("config", "", configFlagUsage)
	settingFlagsByKey(cmd.Flags(), "data", "postgres_url")
	return cmd
}

// runMigrate opens both stores, copies and verifies, and prints a summary.
func runMigrate(ctx context.Context, out io.Writer, data, url string) error {
	dir := filepath.Join(data, "store")
	// pebblestore.Open would create an empty store where there is none,
	// and the copy of nothing would succeed.
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("migrate: no embedded store in %s: %w", data, err)
	}
	src, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		return fmt.Errorf("migrate: open the data directory (is a seen server still running on %s? stop it first): %w", data, err)
	}
	defer func() { _ = src.Close() }()
	dst, err := pgstore.Open(ctx, url, pgstore.Options{})
	if err != nil {
		return fmt.Errorf("migrate: open the PostgreSQL database: %w", err)
	}
	defer func() { _ = dst.Close() }()
	sum, err := migrate.Run(ctx, src, dst)
	if errors.Is(err, pgstore.ErrNotEmptyDatabase) {
		return fmt.Errorf("migrate: refused: the PostgreSQL database already holds data (users, groups or messages); migrate writes only into an empty database, and wrote nothing")
	}
	c := sum.Copied
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "copied %d users, %d groups, %d conversations, %d members, %d messages in %s\n",
		c.Users, c.Groups, c.Conversations, c.Members, c.Messages, sum.Copy.Round(time.Millisecond))
	if h := sum.Webhooks; h != (migrate.WebhookCounts{}) {
		fmt.Fprintf(out, "copied %d webhooks with %d undelivered deliveries, %d timers, %d receipt tracks\n",
			h.Endpoints, h.Deliveries, h.Timers, h.Tracks)
	}
	fmt.Fprintf(out, "verified: counts match, every user and group matches, %d conversation checksums match (%s)\n",
		sum.Checksums, sum.Verify.Round(time.Millisecond))
	fmt.Fprintf(out, "next: start the nodes with SEEN_POSTGRES_URL, and SEEN_TOKEN_SECRET and SEEN_ADMIN_KEY set to the contents of %s and %s so that issued tokens stay valid\n",
		filepath.Join(data, "token-secret"), filepath.Join(data, "admin-key"))
	return nil
}
