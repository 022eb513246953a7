package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/seen-im/seen/internal/bench"
	"github.com/seen-im/seen/internal/config"
)

// errCheckFailed makes `seen bench --check` exit 1 once the report is out.
var errCheckFailed = errors.New("bench: a check failed")

// benchFlags are the settings every bench scenario shares.
type benchFlags struct {
	o       bench.Options
	shard   string
	json    string
	check   bool
	setup   bool
	verbose bool
	cpuProf string
	data    string
}

func (f *benchFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.o.URL, "url", envOr("SEEN_BENCH_URL", "http://127.0.0.1:8080"), "server base URL (SEEN_BENCH_URL); several comma-separated for the nodes of a cluster: sockets take turns over them, admin calls go to the first")
	fs.StringVar(&f.o.AdminURL, "admin-url", "", "admin API base URL when it listens apart (default --url)")
	fs.StringVar(&f.o.AdminKey, "admin-key", os.Getenv("SEEN_ADMIN_KEY"), "admin API key (SEEN_ADMIN_KEY); default: the admin-key file in --data")
	fs.StringVar(&f.data, "data", envOr("SEEN_DATA", config.Default().Data), "the server's data directory, for its admin-key file when --admin-key is not given (SEEN_DATA)")
	fs.StringVar(&f.o.TokenSecret, "token-secret", os.Getenv("SEEN_TOKEN_SECRET"),
		"mint user tokens locally with this secret (SEEN_TOKEN_SECRET); default: one admin call per user")
	fs.StringVar(&f.o.Prefix, "prefix", "bench", "prefix of the run's user and group ids; use a fresh one per run")
	fs.StringVar(&f.shard, "shard", "0/1", "this process's part i/n of a run split over n processes (shard 0 sets up and sends)")
	fs.IntVar(&f.o.SourceIPs, "source-ips", 8, "spread sockets over this many loopback source addresses 127.0.0.2, ... (0: kernel's choice)")
	fs.IntVar(&f.o.DialConcurrency, "dial-concurrency", 128, "connects in parallel")
	fs.IntVar(&f.o.AdminConcurrency, "admin-concurrency", 32, "admin API calls in parallel")
	fs.DurationVar(&f.o.Timeout, "timeout", time.Minute, "how long to wait for the expected final state")
	fs.IntVar(&f.o.ServerPID, "server-pid", 0, "sample this server process's VmRSS before and after (same machine)")
	fs.StringVar(&f.json, "json", "", "also write the report as JSON to this file")
	fs.BoolVar(&f.check, "check", false, "exit 1 on any error response or a final state other than expected")
	fs.BoolVar(&f.setup, "setup", true, "create users and groups through the admin API (shard 0 creates shared groups)")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "log progress to stderr")
	fs.StringVar(&f.cpuProf, "cpuprofile", "", "write the load generator's own CPU profile to this file")
}

// options resolves the shared flags.
func (f *benchFlags) options() (bench.Options, error) {
	o := f.o
	i, n, ok := strings.Cut(f.shard, "/")
	si, err1 := strconv.Atoi(i)
	sn, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || sn < 1 || si < 0 || si >= sn {
		return o, fmt.Errorf("--shard %q: want i/n with 0 <= i < n", f.shard)
	}
	o.Shard, o.Shards = si, sn
	if o.AdminKey == "" && f.setup {
		// As seen token does with the token secret: a bench next to the
		// server it loads needs no key on its command line.
		if key, err := secretFromData("", f.data, "admin-key", "SEEN_ADMIN_KEY"); err == nil {
			o.AdminKey = key
		}
	}
	if o.AdminKey == "" && f.setup {
		return o, fmt.Errorf("no admin key: give --admin-key (or SEEN_ADMIN_KEY), or --data of the server (no admin-key file in %s); or --setup=false", f.data)
	}
	if o.AdminKey == "" && o.TokenSecret == "" {
		return o, errors.New("need --token-secret or --admin-key to get user tokens")
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	return o, nil
}

// output prints the report, writes the JSON, and applies --check.
func (f *benchFlags) output(cmd *cobra.Command, rep *bench.Report) error {
	if err := rep.WriteTable(cmd.OutOrStdout()); err != nil {
		return err
	}
	if f.json != "" {
		if err := rep.WriteJSONFile(f.json); err != nil {
			return err
		}
	}
	if f.check && !rep.OK {
		return errCheckFailed
	}
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func newBenchCmd() *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load generator: drive a running server through the Go SDK and measure",
		Long: `seen bench drives a running Seen server (it never starts one) through the Go SDK
and the admin API, and prints throughput, latency percentiles, the events the
senders got and the errors by code. --json FILE writes the same as JSON;
--check exits 1 on any error response or a final state other than expected.

Sockets are spread over loopback source addresses (--source-ips), the open-file
limit is raised to its hard limit, and a run that needs more sockets than fit
is refused: split it with --shard i/n over n processes started with the same
--prefix (shard 0 creates the users and group and sends; start it first or
last, the others wait for it).`,
		Args: cobra.NoArgs,
	}
	f.register(cmd.PersistentFlags())
	cmd.AddCommand(benchPeerCmd(f), benchGroupCmd(f, false), benchGroupCmd(f, true),
		benchMixedCmd(f), benchBurstCmd(f), benchRoundTripCmd(f), benchIdleCmd(f))
	return cmd
}

// runBench is the body every scenario command shares.
func runBench(f *benchFlags, run func(ctx context.Context, o bench.Options) (*bench.Report, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		o, err := f.options()
		if err != nil {
			return err
		}
		if f.cpuProf != "" {
			// The load generator shares the machine with the server: its
			// own profile shows what a figure owes to the generator.
			pf, err := os.Create(f.cpuProf)
			if err != nil {
				return fmt.Errorf("cpu profile: %w", err)
			}
			defer pf.Close()
			if err := pprof.StartCPUProfile(pf); err != nil {
				return fmt.Errorf("cpu profile: %w", err)
			}
			defer pprof.StopCPUProfile()
		}
		rep, err := run(cmd.Context(), o)
		if err != nil {
			return err
		}
		return f.output(cmd, rep)
	}
}

func benchPeerCmd(f *benchFlags) *cobra.Command {
	var p bench.PeerParams
	cmd := &cobra.Command{
		Use:   "peer",
		Short: "P pairs chatting, every message delivered and read",
		Args:  cobra.NoArgs,
		RunE: runBench(f, func(ctx context.Context, o bench.Options) (*bench.Report, error) {
			p.Setup = f.setup
			return bench.Peer(ctx, o, p)
		}),
	}
	fs := cmd.Flags()
	fs.IntVar(&p.Pairs, "pairs", 50, "pairs chatting (over all shards)")
	fs.DurationVar(&p.Duration, "duration", 10*time.Second, "how long to send")
	fs.Float64Var(&p.Rate, "rate", 0, "messages per second per sender (0: as fast as answers come)")
	fs.IntVar(&p.Inflight, "inflight", 1, "sends in flight per sender")
	fs.BoolVar(&p.Delivered, "delivered", true, "send message.delivered before each read")
	return cmd
}

func benchGroupCmd(f *benchFlags, storm bool) *cobra.Command {
	var p bench.GroupParams
	cmd := &cobra.Command{
		Use:   "group",
		Short: "One group of N members (C connected), K receipt messages, every connected member reading each",
		Args:  cobra.NoArgs,
	}
	if storm {
		cmd.Use = "storm"
		cmd.Short = "N members all reading one message at once; the sender's view must converge to the exact counts"
	}
	cmd.RunE = runBench(f, func(ctx context.Context, o bench.Options) (*bench.Report, error) {
		p.Setup = f.setup
		if storm {
			return bench.Storm(ctx, o, p)
		}
		return bench.Group(ctx, o, p)
	})
	fs := cmd.Flags()
	fs.IntVar(&p.Members, "members", 1000, "group size, the sender included")
	fs.IntVar(&p.Connected, "connected", 0, "members besides the sender that connect and read, over all shards (0: all)")
	if storm {
		fs.IntVar(&p.MaxChangedPerSec, "max-changed-per-sec", 0, "with --check: most receipt.changed per second allowed at the sender (0: not checked)")
		fs.BoolVar(&p.Delivered, "delivered", false, "send message.delivered before the read")
	} else {
		fs.IntVar(&p.Messages, "messages", 20, "receipt messages to send (0: set up and connect only, an idle baseline)")
		fs.DurationVar(&p.Interval, "interval", 0, "pause between two sends")
		fs.IntVar(&p.Window, "window", 1, "sends the sender keeps in flight (1: each after the last one's answer)")
		fs.BoolVar(&p.Delivered, "delivered", true, "send message.delivered before each read")
		fs.BoolVar(&p.NoRead, "no-read", false, "readers receive every message and ack none: the baseline that isolates what the acks cost")
	}
	fs.BoolVar(&p.MarkRead, "mark-read", false, "read with the SDK's MarkRead (MarkReadAsync without --delivered): a member's concurrent reads share message.read requests")
	return cmd
}

func benchMixedCmd(f *benchFlags) *cobra.Command {
	var p bench.MixedParams
	cmd := &cobra.Command{
		Use:   "mixed",
		Short: "Many groups and peer chats at once, every user connected",
		Args:  cobra.NoArgs,
		RunE: runBench(f, func(ctx context.Context, o bench.Options) (*bench.Report, error) {
			p.Setup = f.setup
			return bench.Mixed(ctx, o, p)
		}),
	}
	fs := cmd.Flags()
	fs.IntVar(&p.Users, "users", 500, "connected users")
	fs.IntVar(&p.Groups, "groups", 20, "groups")
	fs.IntVar(&p.GroupSize, "group-size", 50, "members per group, drawn at random from the users")
	fs.IntVar(&p.Pairs, "pairs", 200, "peer chats between random users")
	fs.DurationVar(&p.Duration, "duration", 10*time.Second, "how long to send")
	fs.Float64Var(&p.Rate, "rate", 200, "messages per second over all conversations")
	fs.Float64Var(&p.Receipts, "receipts", 0.5, "fraction of messages that ask for receipts")
	fs.BoolVar(&p.Delivered, "delivered", true, "send message.delivered before each read")
	fs.Uint64Var(&p.Seed, "seed", 1, "random seed of the conversations and the traffic")
	return cmd
}

func benchBurstCmd(f *benchFlags) *cobra.Command {
	var p bench.BurstParams
	cmd := &cobra.Command{
		Use:   "burst",
		Short: "One client fires N message.read acks as fast as it can write; no drop, no error, exact watermark",
		Args:  cobra.NoArgs,
		RunE: runBench(f, func(ctx context.Context, o bench.Options) (*bench.Report, error) {
			p.Setup = f.setup
			return bench.Burst(ctx, o, p)
		}),
	}
	cmd.Flags().IntVar(&p.Acks, "acks", 2000, "messages sent, then read one by one at once")
	cmd.Flags().BoolVar(&p.Shuffle, "shuffle", false, "fire the reads in random order (past 1,024 acks above the watermark the server answers 422 by design)")
	cmd.Flags().BoolVar(&p.MarkRead, "mark-read", false, "read with the SDK's MarkRead, as an app does by default: reads fired while one is in flight share the next message.read")
	return cmd
}

func benchRoundTripCmd(f *benchFlags) *cobra.Command {
	var p bench.RoundTripParams
	cmd := &cobra.Command{
		Use:   "roundtrip",
		Short: "One message at a time: send, message.new, read, receipt back to the sender; p50 against two fdatasyncs",
		Args:  cobra.NoArgs,
		RunE: runBench(f, func(ctx context.Context, o bench.Options) (*bench.Report, error) {
			p.Setup = f.setup
			return bench.RoundTrip(ctx, o, p)
		}),
	}
	cmd.Flags().IntVar(&p.Messages, "messages", 1000, "round trips, one after another")
	cmd.Flags().StringVar(&p.FsyncDir, "fsync-dir", os.TempDir(),
		"time an fdatasync between round trips in this directory, on the disk of the server's data (\"\": none)")
	cmd.Flags().BoolVar(&p.Delivered, "delivered", false, "the reader acks message.delivered before the read (a third durable write)")
	return cmd
}

func benchIdleCmd(f *benchFlags) *cobra.Command {
	var p bench.IdleParams
	cmd := &cobra.Command{
		Use:   "idle",
		Short: "Hold N idle connections and report the server's memory per connection (--server-pid)",
		Args:  cobra.NoArgs,
		RunE: runBench(f, func(ctx context.Context, o bench.Options) (*bench.Report, error) {
			p.Setup = f.setup
			return bench.Idle(ctx, o, p)
		}),
	}
	cmd.Flags().IntVar(&p.Conns, "conns", 1000, "idle connections (over all shards)")
	cmd.Flags().DurationVar(&p.Settle, "settle", 3*time.Second, "hold this long before sampling the server's memory")
	return cmd
}
