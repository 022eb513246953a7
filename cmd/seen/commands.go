package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/seen-im/seen/internal/auth"
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
	root.AddCommand(newBenchCmd())
	return root
}

// configFlags declares the flags that map onto config.Config. Each flag
// --a-b maps to key a_b, and --receipts-x-y to receipts.x_y, the same keys
// the SEEN_* variables map to.
func configFlags(fs *pflag.FlagSet) {
	d := config.Default()
	fs.String("listen", d.Listen, "client address (SEEN_LISTEN)")
	fs.String("admin-listen", "", "serve the admin API on this address only (SEEN_ADMIN_LISTEN)")
	fs.String("data", d.Data, "embedded store directory (SEEN_DATA)")
	fs.String("demo", d.Demo, "browser demo tokens: auto (on for loopback listeners), on, off (SEEN_DEMO)")
	fs.String("admin-key", "", "admin API key; default: <data>/admin-key, created on first start (SEEN_ADMIN_KEY)")
	fs.String("token-secret", "", "HS256 token secret; default: <data>/token-secret, created on first start (SEEN_TOKEN_SECRET)")
	fs.Int64("max-frame-bytes", d.MaxFrameBytes, "largest client frame (SEEN_MAX_FRAME_BYTES)")
	fs.Int("max-body-bytes", d.MaxBodyBytes, "largest message body (SEEN_MAX_BODY_BYTES)")
	fs.Duration("ping-interval", d.PingInterval, "ping period (SEEN_PING_INTERVAL)")
	fs.Duration("idle-timeout", d.IdleTimeout, "drop a client silent this long (SEEN_IDLE_TIMEOUT)")
	fs.Int("send-queue", d.SendQueue, "events queued per connection before a slow client is dropped (SEEN_SEND_QUEUE)")
	fs.Int64("max-queue-bytes", d.MaxQueueBytes, "bytes queued per connection before the server stops reading it (SEEN_MAX_QUEUE_BYTES)")
	fs.Int("max-unauthenticated", d.MaxUnauthenticated, "open sockets that have not connected, per node; beyond it upgrades get 503 (SEEN_MAX_UNAUTHENTICATED)")
	fs.Float64("rate-per-conn", d.RatePerConn, "requests per second per connection (SEEN_RATE_PER_CONN)")
	fs.Int("burst-per-conn", d.BurstPerConn, "request burst per connection (SEEN_BURST_PER_CONN)")
	fs.Float64("rate-per-user", d.RatePerUser, "requests per second per user, all connections (SEEN_RATE_PER_USER)")
	fs.Int("burst-per-user", d.BurstPerUser, "request burst per user (SEEN_BURST_PER_USER)")
	fs.Int("max-conns-per-user", d.MaxConnsPerUser, "open connections per user (SEEN_MAX_CONNS_PER_USER)")
	fs.Int("max-group-members", d.MaxGroupMembers, "members per group (SEEN_MAX_GROUP_MEMBERS)")
	fs.Duration("receipts-ttl", d.Receipts.TTL, "validity window of group receipts, 0 = never expires (SEEN_RECEIPTS_TTL)")
	fs.Int("receipts-max-group-size", d.Receipts.MaxGroupSize, "largest group with receipts (SEEN_RECEIPTS_MAX_GROUP_SIZE)")
	fs.String("receipts-who-may-request", d.Receipts.WhoMayRequest, "all | admins (SEEN_RECEIPTS_WHO_MAY_REQUEST)")
	fs.String("receipts-visibility", d.Receipts.Visibility, "sender | members (SEEN_RECEIPTS_VISIBILITY)")
	fs.String("receipts-group-types", strings.Join(d.Receipts.GroupTypes, ","), "group types with receipts, comma list or * (SEEN_RECEIPTS_GROUP_TYPES)")
	fs.Duration("receipts-coalesce", d.Receipts.Coalesce, "receipt.changed coalescing window (SEEN_RECEIPTS_COALESCE)")
	fs.String("log-level", "info", "debug | info | warn | error (SEEN_LOG_LEVEL)")
}

// configKey maps a flag or environment name (without SEEN_) to a key.
func configKey(name string) string {
	key := strings.ToLower(strings.ReplaceAll(name, "-", "_"))
	if rest, ok := strings.CutPrefix(key, "receipts_"); ok {
		return "receipts." + rest
	}
	return key
}

// loadConfig layers defaults < SEEN_* environment < flags.
func loadConfig(fs *pflag.FlagSet) (config.Config, string, error) {
	k := koanf.New(".")
	err := k.Load(env.Provider(".", env.Opt{
		Prefix: "SEEN_",
		TransformFunc: func(name, value string) (string, any) {
			return configKey(strings.TrimPrefix(name, "SEEN_")), value
		},
	}), nil)
	if err != nil {
		return config.Config{}, "", fmt.Errorf("environment: %w", err)
	}
	// With no koanf instance given, posflag takes only the flags set on
	// the command line, so flag defaults never hide the environment.
	err = k.Load(posflag.ProviderWithValue(fs, ".", nil, func(name, value string) (string, any) {
		return configKey(name), value
	}), nil)
	if err != nil {
		return config.Config{}, "", fmt.Errorf("flags: %w", err)
	}
	cfg := config.Default()
	// koanf's default decoder would wrap "work,team" into one element;
	// lists are comma separated in flags and the environment.
	dc := &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		Metadata:         nil,
		Result:           &cfg,
		WeaklyTypedInput: true,
		TagName:          "koanf",
	}
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf", DecoderConfig: dc}); err != nil {
		return config.Config{}, "", fmt.Errorf("config: %w", err)
	}
	level := k.String("log_level")
	if level == "" {
		level = "info"
	}
	return cfg, level, nil
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Seen server node (embedded store by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, level, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			log, err := newLogger(level)
			if err != nil {
				return err
			}
			srv, err := newServer(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			if cfg.AdminKey == "" {
				log.Info("admin API key is in " + filepath.Join(cfg.Data, "admin-key"))
			}
			return srv.Run(cmd.Context())
		},
	}
	configFlags(cmd.Flags())
	return cmd
}

// newServer builds the server, or gives up when ctx ends (SIGINT or
// SIGTERM): opening the store replays its write-ahead log, which can take
// long or, on a failing disk, not end, and a signal must stop the process
// whatever it is doing. The goroutine left behind then ends with the
// process, which exits at once.
func newServer(ctx context.Context, cfg config.Config, log *slog.Logger) (*server.Server, error) {
	type result struct {
		srv *server.Server
		err error
	}
	res := make(chan result, 1)
	go func() {
		srv, err := server.New(cfg, server.WithLogger(log))
		res <- result{srv, err}
	}()
	select {
	case r := <-res:
		return r.srv, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("interrupted while opening the store in %s", cfg.Data)
	}
}

func newTokenCmd() *cobra.Command {
	var user string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Mint a user token with the configured secret",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			secret := cfg.TokenSecret
			if secret == "" {
				b, err := os.ReadFile(filepath.Join(cfg.Data, "token-secret"))
				if err != nil {
					return fmt.Errorf("no token secret: set SEEN_TOKEN_SECRET or start the server once on --data %s: %w", cfg.Data, err)
				}
				secret = strings.TrimSpace(string(b))
			}
			tok, _, err := auth.New(secret, nil).Mint(user, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	configFlags(cmd.Flags())
	cmd.Flags().StringVar(&user, "user", "", "user id (required)")
	cmd.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "token lifetime")
	_ = cmd.MarkFlagRequired("user")
	return cmd
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "seen %s\n", v)
		},
	}
}
