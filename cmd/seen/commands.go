package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/seen-im/seen/internal/auth"
	"github.com/seen-im/seen/internal/buildinfo"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/server"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "seen",
		Short:         "Seen: a messaging server whose first-class feature is message receipts",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newTokenCmd(), newVersionCmd())
	root.AddCommand(newBenchCmd(), newMigrateCmd(), newWebhookCmd())
	return root
}

// newLogger builds the process's logger: text (for people) or json (one
// object per line, for log collectors), at the given level.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Seen server node (embedded store by default)",
		Long: `Run a Seen server node.

Every setting below can be given, from weakest to strongest, as its
default, a key in the YAML file named by --config (or SEEN_CONFIG), its
SEEN_* environment variable, or its flag. An unknown key or SEEN_* variable
is an error. deploy/seen.yaml is a commented example of the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := loadConfig(cmd.Flags(), os.Environ(), loadOptions{strictEnv: true})
			if err != nil {
				return err
			}
			log, err := newLogger(cmd.ErrOrStderr(), cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				return err
			}
			info := buildinfo.Read(version)
			log.Info("seen starting", "version", info.Version, "revision", info.Revision,
				slog.Group("config", showConfig(cfg)...))
			srv, err := newServer(cmd.Context(), cfg, log, info)
			if err != nil {
				return err
			}
			if cfg.AdminKey == "" {
				log.Info("admin API key is in " + filepath.Join(cfg.Data, "admin-key"))
			}
			return srv.Run(cmd.Context())
		},
	}
	cmd.Flags().String("config", "", configFlagUsage)
	configFlags(cmd.Flags())
	return cmd
}

// newServer builds the server, or gives up when ctx ends (SIGINT or
// SIGTERM): opening the store replays its write-ahead log, which can take
// long or, on a failing disk, not end, and a signal must stop the process
// whatever it is doing. The goroutine left behind then ends with the
// process, which exits at once.
func newServer(ctx context.Context, cfg config.Config, log *slog.Logger, info buildinfo.Info) (*server.Server, error) {
	type result struct {
		srv *server.Server
		err error
	}
	res := make(chan result, 1)
	go func() {
		srv, err := server.New(cfg, server.WithLogger(log), server.WithBuildInfo(info))
		res <- result{srv, err}
	}()
	select {
	case r := <-res:
		return r.srv, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("interrupted while opening the store (%s)", storeName(cfg))
	}
}

func newTokenCmd() *cobra.Command {
	var user string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Mint a user token with the server's secret",
		Long: `Mint a user token with the server's secret: --token-secret (or
SEEN_TOKEN_SECRET, or token_secret in the --config file), else the
token-secret file the server created in its data directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := loadConfig(cmd.Flags(), os.Environ(), loadOptions{})
			if err != nil {
				return err
			}
			secret, err := secretFromData(cfg.TokenSecret, cfg.Data, "token-secret", "SEEN_TOKEN_SECRET")
			if err != nil {
				return err
			}
			tok, _, err := auth.New(secret, nil).Mint(user, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "user", "", "user id (required)")
	cmd.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "token lifetime")
	cmd.Flags().String("config", "", configFlagUsage)
	settingFlagsByKey(cmd.Flags(), "data", "token_secret")
	_ = cmd.MarkFlagRequired("user")
	return cmd
}

// secretFromData returns given if set, else the secret the server keeps
// in file under its data directory (it creates it on first start).
func secretFromData(given, data, file, env string) (string, error) {
	if given != "" {
		return given, nil
	}
	b, err := os.ReadFile(filepath.Join(data, file))
	if err != nil {
		return "", fmt.Errorf("no %s: set %s or start the server once on --data %s: %w", file, env, data, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and Go version of this binary",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			i := buildinfo.Read(version)
			fmt.Fprintf(cmd.OutOrStdout(), "seen %s (revision %s, %s)\n", i.Version, i.Revision, i.GoVersion)
		},
	}
}

// storeName says which store a configuration opens, without its URL
// (which may hold a password).
func storeName(cfg config.Config) string {
	if cfg.PostgresURL != "" {
		return "PostgreSQL"
	}
	return "in " + cfg.Data
}
