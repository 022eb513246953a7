package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/auth"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
)

// clearSeenEnv unsets every SEEN_* variable for the test, so the caller's
// environment cannot leak into what loadConfig sees. t.Setenv restores
// them afterwards.
func clearSeenEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SEEN_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

// load parses args with the serve command's flags and loads the config.
func load(t *testing.T, args ...string) (config.Config, string) {
	t.Helper()
	fs := newServeCmd().Flags()
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	cfg, _, err := loadConfig(fs, os.Environ(), loadOptions{strictEnv: true})
	if err != nil {
		t.Fatalf("loadConfig(%q): %v", args, err)
	}
	return cfg, cfg.LogLevel
}

func TestLoadConfigDefaults(t *testing.T) {
	clearSeenEnv(t)
	cfg, level := load(t)
	if diff := cmp.Diff(config.Default(), cfg); diff != "" {
		t.Errorf("with no env and no flags, config differs from Default (-want +got):\n%s", diff)
	}
	if level != "info" {
		t.Errorf("log level = %q, want info", level)
	}
}

func TestLoadConfigEnv(t *testing.T) {
	clearSeenEnv(t)
	env := map[string]string{
		"SEEN_LISTEN":                   "0.0.0.0:9000",
		"SEEN_ADMIN_LISTEN":             "127.0.0.1:9001",
		"SEEN_DATA":                     "/var/lib/seen",
		"SEEN_ADMIN_KEY":                "admin-key-from-env",
		"SEEN_TOKEN_SECRET":             "token-secret-from-env-0123",
		"SEEN_MAX_FRAME_BYTES":          "131072",
		"SEEN_MAX_BODY_BYTES":           "65536",
		"SEEN_PING_INTERVAL":            "5s",
		"SEEN_IDLE_TIMEOUT":             "15s",
		"SEEN_SEND_QUEUE":               "32",
		"SEEN_MAX_QUEUE_BYTES":          "262144",
		"SEEN_MAX_UNAUTHENTICATED":      "64",
		"SEEN_RECEIPTS_TTL":             "72h",
		"SEEN_RECEIPTS_MAX_GROUP_SIZE":  "500",
		"SEEN_RECEIPTS_WHO_MAY_REQUEST": "admins",
		"SEEN_RECEIPTS_VISIBILITY":      "members",
		"SEEN_RECEIPTS_COALESCE":        "50ms",
		"SEEN_LOG_LEVEL":                "debug",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, level := load(t)
	want := config.Default()
	want.Listen = "0.0.0.0:9000"
	want.AdminListen = "127.0.0.1:9001"
	want.Data = "/var/lib/seen"
	want.AdminKey = "admin-key-from-env"
	want.TokenSecret = "token-secret-from-env-0123"
	want.MaxFrameBytes = 131072
	want.MaxBodyBytes = 65536
	want.PingInterval = 5 * time.Second
	want.IdleTimeout = 15 * time.Second
	want.SendQueue = 32
	want.MaxQueueBytes = 262144
	want.MaxUnauthenticated = 64
	want.LogLevel = "debug"
	want.Receipts.TTL = 72 * time.Hour
	want.Receipts.MaxGroupSize = 500
	want.Receipts.WhoMayRequest = "admins"
	want.Receipts.Visibility = "members"
	want.Receipts.Coalesce = 50 * time.Millisecond
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config from SEEN_* differs (-want +got):\n%s", diff)
	}
	if level != "debug" {
		t.Errorf("log level = %q, want debug", level)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("config from SEEN_* does not validate: %v", err)
	}
}

func TestLoadConfigReceiptsTTLZero(t *testing.T) {
	clearSeenEnv(t)
	t.Setenv("SEEN_RECEIPTS_TTL", "0")
	cfg, _ := load(t)
	if cfg.Receipts.TTL != 0 {
		t.Errorf("SEEN_RECEIPTS_TTL=0: ttl = %v, want 0 (never expires)", cfg.Receipts.TTL)
	}
}

// TestLoadConfigGroupTypes checks the comma list of PROTOCOL.md's
// "Running" section, from the environment and from the flag.
func TestLoadConfigGroupTypes(t *testing.T) {
	tests := []struct {
		name string
		env  string   // SEEN_RECEIPTS_GROUP_TYPES, if set
		args []string // flags
		want []string
	}{
		{name: "default", want: []string{"*"}},
		{name: "env star", env: "*", want: []string{"*"}},
		{name: "env one", env: "work", want: []string{"work"}},
		{name: "env list", env: "work,team", want: []string{"work", "team"}},
		{name: "flag list", args: []string{"--receipts-group-types", "family,work"}, want: []string{"family", "work"}},
		{name: "flag beats env", env: "work,team", args: []string{"--receipts-group-types=school"}, want: []string{"school"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearSeenEnv(t)
			if tt.env != "" {
				t.Setenv("SEEN_RECEIPTS_GROUP_TYPES", tt.env)
			}
			cfg, _ := load(t, tt.args...)
			if !slices.Equal(cfg.Receipts.GroupTypes, tt.want) {
				t.Errorf("group types = %q, want %q", cfg.Receipts.GroupTypes, tt.want)
			}
			// What the server then decides for a type named in the list.
			for _, typ := range tt.want {
				if !cfg.Receipts.ReceiptsForType(typ) {
					t.Errorf("ReceiptsForType(%q) = false with group types %q", typ, cfg.Receipts.GroupTypes)
				}
			}
		})
	}
}

func TestLoadConfigFlagsBeatEnv(t *testing.T) {
	clearSeenEnv(t)
	t.Setenv("SEEN_LISTEN", "127.0.0.1:7000")
	t.Setenv("SEEN_DATA", "/from/env")
	t.Setenv("SEEN_RECEIPTS_TTL", "72h")
	t.Setenv("SEEN_RECEIPTS_MAX_GROUP_SIZE", "500")
	t.Setenv("SEEN_RECEIPTS_VISIBILITY", "members")
	t.Setenv("SEEN_LOG_LEVEL", "warn")
	cfg, level := load(t,
		"--listen", "127.0.0.1:7001",
		"--receipts-ttl", "1h",
		"--receipts-max-group-size=20",
		"--log-level", "error",
	)
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen (flag)", cfg.Listen, "127.0.0.1:7001"},
		{"receipts.ttl (flag)", cfg.Receipts.TTL, time.Hour},
		{"receipts.max_group_size (flag)", cfg.Receipts.MaxGroupSize, 20},
		{"log level (flag)", level, "error"},
		// An unset flag's default must not hide the environment.
		{"data (env)", cfg.Data, "/from/env"},
		{"receipts.visibility (env)", cfg.Receipts.Visibility, "members"},
		// Neither: the default.
		{"receipts.who_may_request (default)", cfg.Receipts.WhoMayRequest, "all"},
		{"max_frame_bytes (default)", cfg.MaxFrameBytes, int64(64 << 10)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadConfigFlagSetToDefaultBeatsEnv(t *testing.T) {
	clearSeenEnv(t)
	t.Setenv("SEEN_RECEIPTS_VISIBILITY", "members")
	// Given explicitly, the flag wins even though its value is the default.
	cfg, _ := load(t, "--receipts-visibility", "sender")
	if cfg.Receipts.Visibility != "sender" {
		t.Errorf("visibility = %q, want sender (flag given explicitly)", cfg.Receipts.Visibility)
	}
}

func TestLoadConfigBadValue(t *testing.T) {
	clearSeenEnv(t)
	t.Setenv("SEEN_RECEIPTS_MAX_GROUP_SIZE", "lots")
	fs := newServeCmd().Flags()
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadConfig(fs, os.Environ(), loadOptions{strictEnv: true}); err == nil {
		t.Errorf("loadConfig with SEEN_RECEIPTS_MAX_GROUP_SIZE=lots = nil error, want one")
	}
}

// run executes the root command with args and returns its output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestVersion(t *testing.T) {
	out, err := run(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "seen ") || !strings.HasSuffix(out, "\n") || len(strings.TrimSpace(out)) <= len("seen") {
		t.Errorf("seen version printed %q, want \"seen <version>\\n\"", out)
	}
}

func TestTokenWithSecretFlag(t *testing.T) {
	clearSeenEnv(t)
	const secret = "a-secret-of-more-than-16-bytes"
	before := time.Now()
	out, err := run(t, "token", "--user", "alice", "--token-secret", secret)
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out)
	if strings.Count(out, "\n") != 1 || tok == "" {
		t.Fatalf("seen token printed %q, want one token on one line", out)
	}
	sub, _, err := auth.New(secret, nil).Verify(tok)
	if err != nil || sub != "alice" {
		t.Fatalf("Verify(printed token) = %q, %v; want alice", sub, err)
	}
	if _, _, err := auth.New("another-secret-of-16-bytes", nil).Verify(tok); err == nil {
		t.Errorf("the token verifies with another secret")
	}
	// --ttl bounds its life: a token for one minute is dead in two.
	out, err = run(t, "token", "--user", "alice", "--token-secret", secret, "--ttl", "1m")
	if err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return before.Add(2*time.Minute + auth.Leeway) }
	if _, _, err := auth.New(secret, later).Verify(strings.TrimSpace(out)); err == nil {
		t.Errorf("a --ttl 1m token still verifies two minutes later")
	}
}

func TestTokenSecretFromEnv(t *testing.T) {
	clearSeenEnv(t)
	const secret = "secret-from-the-environment"
	t.Setenv("SEEN_TOKEN_SECRET", secret)
	out, err := run(t, "token", "--user", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if sub, _, err := auth.New(secret, nil).Verify(strings.TrimSpace(out)); err != nil || sub != "bob" {
		t.Fatalf("Verify = %q, %v; want bob", sub, err)
	}
}

func TestTokenSecretFromDataDir(t *testing.T) {
	clearSeenEnv(t)
	dir := t.TempDir()
	const secret = "secret-written-by-the-server-0123"
	if err := os.WriteFile(filepath.Join(dir, "token-secret"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "token", "--user", "carol", "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	if sub, _, err := auth.New(secret, nil).Verify(strings.TrimSpace(out)); err != nil || sub != "carol" {
		t.Fatalf("Verify = %q, %v; want carol", sub, err)
	}
}

func TestTokenErrors(t *testing.T) {
	clearSeenEnv(t)
	tests := []struct {
		name string
		args []string
	}{
		{"no user", []string{"token", "--token-secret", "a-secret-of-more-than-16-bytes"}},
		{"bad user id", []string{"token", "--user", "a b", "--token-secret", "a-secret-of-more-than-16-bytes"}},
		{"no secret anywhere", []string{"token", "--user", "alice", "--data", t.TempDir()}},
		{"zero ttl", []string{"token", "--user", "alice", "--token-secret", "a-secret-of-more-than-16-bytes", "--ttl", "0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, tt.args...)
			if err == nil {
				t.Errorf("seen %q succeeded with %q, want an error", tt.args, out)
			}
		})
	}
}

// TestServe runs `seen serve` in-process until its context is cancelled.
// With --listen 127.0.0.1:0 the chosen port is only logged, so the test
// takes a port that was free a moment ago instead.
func TestServe(t *testing.T) {
	clearSeenEnv(t)
	dir := t.TempDir()
	addr := seentest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCmd()
	root.SetArgs([]string{"serve", "--listen", addr, "--data", dir, "--log-level", "error"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	seentest.Eventually(t, 30*time.Second, func() error {
		select {
		case err := <-done:
			t.Fatalf("seen serve ended before serving: %v", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
	// With no key configured, the server made one in the data directory,
	// and the admin API takes it.
	key, err := os.ReadFile(filepath.Join(dir, "admin-key"))
	if err != nil {
		t.Fatalf("admin key file: %v", err)
	}
	if code, body := seentest.Admin(t, "http://"+addr, strings.TrimSpace(string(key)), "POST", "/v1/admin/users", map[string]string{"userId": "alice"}); code != http.StatusCreated {
		t.Errorf("POST /v1/admin/users with the generated key = %d %s, want 201", code, body)
	}
	if _, err := os.Stat(filepath.Join(dir, "token-secret")); err != nil {
		t.Errorf("token secret file: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("seen serve after cancel = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("seen serve did not stop within 30s of its context ending")
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Errorf("still serving after shutdown")
	}
}

func TestServeRejectsBadConfig(t *testing.T) {
	clearSeenEnv(t)
	_, err := run(t, "serve", "--listen", "nowhere", "--data", t.TempDir(), "--log-level", "error")
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("seen serve --listen nowhere = %v, want a config error about listen", err)
	}
}
