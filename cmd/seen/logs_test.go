package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/seentest"
)

// lockedBuffer is the server's stderr: written by its goroutines, read by
// the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// records parses the JSON log, failing on any line that is not an object.
func (l *lockedBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// serveInProcess runs `seen serve` with args until the test ends, and
// returns its address and its log.
func serveInProcess(t *testing.T, args ...string) (string, *lockedBuffer) {
	t.Helper()
	addr := seentest.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &lockedBuffer{}
	root := newRootCmd()
	root.SetArgs(append([]string{"serve", "--listen", addr, "--data", t.TempDir()}, args...))
	root.SetErr(logs)
	root.SetOut(io.Discard)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("seen serve: %v", err)
		}
	})
	seentest.Eventually(t, 30*time.Second, func() error {
		select {
		case err := <-done:
			t.Fatalf("seen serve ended before serving: %v\n%s", err, logs)
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return addr, logs
}

func find(recs []map[string]any, msg string) map[string]any {
	for _, r := range recs {
		if r["msg"] == msg {
			return r
		}
	}
	return nil
}

// TestJSONLogs: SEEN_LOG_FORMAT=json gives one JSON object per line; the
// start-up configuration is logged with its secrets redacted; an admin
// action is logged at info, a connection at debug; pebble's chatter is
// never at info.
func TestJSONLogs(t *testing.T) {
	clearSeenEnv(t)
	t.Setenv("SEEN_LOG_FORMAT", "json")
	const key = "admin-key-that-must-not-be-logged"
	const secret = "token-secret-that-must-not-be-logged"
	addr, logs := serveInProcess(t, "--admin-key", key, "--token-secret", secret, "--log-level", "debug")

	if code, body := seentest.Admin(t, "http://"+addr, key, "POST", "/v1/admin/users", map[string]string{"userId": "alice"}); code != http.StatusCreated {
		t.Fatalf("create user = %d %s", code, body)
	}
	code, body := seentest.Admin(t, "http://"+addr, key, "GET", "/metrics", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	want := fmt.Sprintf(`seen_build_info{go_version=%q,`, runtime.Version())
	if !strings.Contains(string(body), want) || !strings.Contains(string(body), "} 1\n") {
		t.Errorf("/metrics lacks %s...} 1", want)
	}
	seentest.DialRaw(t, "ws://"+addr+"/v1/ws")

	var recs []map[string]any
	seentest.Eventually(t, 10*time.Second, func() error {
		recs = logs.records(t)
		if find(recs, "websocket opened") == nil {
			return errors.New("no websocket opened record yet")
		}
		for _, r := range recs {
			if r["msg"] == "admin request" && r["method"] == "POST" {
				return nil
			}
		}
		return errors.New("no admin request record yet")
	})
	if out := logs.String(); strings.Contains(out, key) || strings.Contains(out, secret) {
		t.Errorf("the log shows a secret:\n%s", out)
	}
	start := find(recs, "seen starting")
	if start == nil || start["level"] != "INFO" {
		t.Fatalf("no info record \"seen starting\" in\n%s", logs)
	}
	cfg, _ := start["config"].(map[string]any)
	if cfg["admin_key"] != "(set)" || cfg["token_secret"] != "(set)" || cfg["log_format"] != "json" || cfg["listen"] != addr {
		t.Errorf("start-up config = %v, want secrets as (set), log_format json, listen %s", cfg, addr)
	}
	if r, ok := cfg["receipts"].(map[string]any); ok || cfg["receipts.ttl"] != "0s" {
		t.Errorf("start-up config receipts = %v / receipts.ttl = %v, want the key receipts.ttl", r, cfg["receipts.ttl"])
	}
	if r := find(recs, "websocket opened"); r["level"] != "DEBUG" {
		t.Errorf("websocket opened logged at %v, want DEBUG", r["level"])
	}
	for _, r := range recs {
		if r["msg"] == "admin request" && r["method"] == "POST" {
			if r["level"] != "INFO" || r["path"] != "/v1/admin/users" || r["status"] != float64(201) {
				t.Errorf("admin action record = %v, want INFO, path /v1/admin/users, status 201", r)
			}
		}
		if r["component"] == "pebble" && r["level"] == "INFO" {
			t.Errorf("pebble logs at info: %v", r)
		}
	}
	pebbleDebug := false
	for _, r := range recs {
		pebbleDebug = pebbleDebug || (r["component"] == "pebble" && r["level"] == "DEBUG")
	}
	if !pebbleDebug {
		t.Errorf("no pebble record at debug: is the store's logger still wired?")
	}
}

// TestTextLogsByDefault: without SEEN_LOG_FORMAT the log is slog's text.
func TestTextLogsByDefault(t *testing.T) {
	clearSeenEnv(t)
	_, logs := serveInProcess(t)
	seentest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(logs.String(), `msg="seen starting"`) {
			return fmt.Errorf("no text start-up line in %q", logs)
		}
		return nil
	})
}

// TestVersionFromBuildInfo builds the binary with VCS stamping on, in this
// checkout, and checks that seen version reports the commit.
func TestVersionFromBuildInfo(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatal(err)
	}
	// Go stamps VCS info only where .git is a directory: not in a linked
	// worktree, whose .git is a file (internal/buildinfo's tests cover the
	// parsing there).
	if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !fi.IsDir() {
		t.Skip("a linked git worktree: go build records no VCS info here")
	}
	bin := filepath.Join(t.TempDir(), "seen")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	// The version is "devel", or the pseudo-version go build stamps from
	// the checkout (v0.0.0-<time>-<rev>, +dirty where files changed).
	rev := strings.TrimSpace(string(head))
	ver, rest, _ := strings.Cut(strings.TrimPrefix(string(out), "seen "), " ")
	if ver != "devel" && !(strings.HasPrefix(ver, "v") && strings.Contains(ver, rev[:12])) {
		t.Errorf("seen version = %q: version %q is neither devel nor a pseudo-version of %s", out, ver, rev[:12])
	}
	want := fmt.Sprintf("(revision %s", rev)
	if !strings.HasPrefix(rest, want) || !strings.HasSuffix(rest, ", "+runtime.Version()+")\n") {
		t.Errorf("seen version = %q, want %q[-dirty], %s)", out, want, runtime.Version())
	}
}
