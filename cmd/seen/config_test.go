package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/config"
)

var update = flag.Bool("update", false, "rewrite README.md's settings table and deploy/seen.yaml from config.Config")

// samples gives three distinct valid values of a setting, as a user would
// type them, for the layering test: file, then environment, then flag.
func samples(t *testing.T, s config.Setting) [3]string {
	t.Helper()
	strs := map[string][3]string{
		"listen":                   {"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"},
		"admin_listen":             {"127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103"},
		"data":                     {"/srv/a", "/srv/b", "/srv/c"},
		"admin_key":                {"key-from-the-file", "key-from-the-env", "key-from-the-flag"},
		"token_secret":             {"secret-from-the-file", "secret-from-the-env", "secret-from-the-flag"},
		"demo":                     {"on", "off", "on"},
		"allowed_origins":          {"a.example.com", "localhost:5173,*.example.com", "https://c.example.com"},
		"log_level":                {"warn", "error", "debug"},
		"log_format":               {"json", "text", "json"},
		"receipts.who_may_request": {"admins", "all", "admins"},
		"receipts.visibility":      {"members", "sender", "members"},
		"receipts.group_types":     {"work", "team,family", "school"},
		"receipts.require_sharing": {"work", "work,school", "*"},
		"receipts.reciprocal":      {"true", "false", "true"},
		"webhooks.deny_private":    {"true", "false", "true"},
		"webhooks.url":             {"http://127.0.0.1:9001/hooks", "https://app.example/hooks", "http://[::1]:9003/"},
		"webhooks.secret":          {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX", "whsec_p5jXN8AQM9LWM0D4loKWxJekp5jXN8AQ"},
		"webhooks.events":          {"receipt.read", "receipt.threshold,receipt.expired", "message.sent"},
		"webhooks.thresholds":      {"50", "25,75", "100"},
		"postgres_url":             {"postgres://seen@db-a/seen", "postgres://seen:pw@db-b/seen", "postgres://db-c/seen?sslmode=require"},
		"nats_url":                 {"nats://n-a:4222", "nats://n-b:4222,nats://n-c:4222", "nats://user:pw@n-d:4222"},
	}
	if v, ok := strs[s.Key]; ok {
		return v
	}
	d := config.Default()
	var out [3]string
	for i := range out {
		switch v := s.Value(&d).(type) {
		case time.Duration:
			out[i] = (v + time.Duration(i+1)*time.Second).String()
		case int, int64, uint64:
			out[i] = fmt.Sprint(reflect.ValueOf(v).Convert(reflect.TypeFor[int64]()).Int() + int64(i+1))
		case float64:
			out[i] = strconv.FormatFloat(v+float64(i+1), 'g', -1, 64)
		default:
			t.Fatalf("setting %s (%T): add three sample values to samples()", s.Key, v)
		}
	}
	return out
}

// yamlFor writes key: value as YAML, nesting dotted keys.
func yamlFor(key, value string) string {
	section, leaf, nested := strings.Cut(key, ".")
	if !nested {
		return key + ": " + strconv.Quote(value) + "\n"
	}
	return section + ":\n  " + leaf + ": " + strconv.Quote(value) + "\n"
}

func loadWith(t *testing.T, env []string, args ...string) (config.Config, sources, error) {
	t.Helper()
	fs := newServeCmd().Flags()
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return loadConfig(fs, env, loadOptions{strictEnv: true})
}

// needs holds, for a setting that is valid only with others, those others.
var needs = map[string][]string{
	"postgres_url":    {"SEEN_TOKEN_SECRET=0123456789abcdef", "SEEN_ADMIN_KEY=admin-key"},
	"nats_url":        {"SEEN_POSTGRES_URL=postgres://db/seen", "SEEN_TOKEN_SECRET=0123456789abcdef", "SEEN_ADMIN_KEY=admin-key"},
	"webhooks.url":    {"SEEN_WEBHOOKS_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	"webhooks.secret": {"SEEN_WEBHOOKS_URL=http://127.0.0.1:9000/"},
}

// TestEverySettingEveryLayer sets each setting in the config file, the
// environment and a flag, and checks that each layer beats the one below
// and that the configuration remembers where the value came from.
func TestEverySettingEveryLayer(t *testing.T) {
	for _, s := range config.Settings() {
		t.Run(s.Key, func(t *testing.T) {
			v := samples(t, s)
			path := filepath.Join(t.TempDir(), "seen.yaml")
			if err := os.WriteFile(path, []byte(yamlFor(s.Key, v[0])), 0o600); err != nil {
				t.Fatal(err)
			}
			layers := []struct {
				env  []string
				args []string
				want string // sample value
				from string
			}{
				{nil, []string{"--config", path}, v[0], s.Key + " in " + path},
				{[]string{s.Env + "=" + v[1]}, []string{"--config", path}, v[1], s.Env},
				{[]string{s.Env + "=" + v[1], "SEEN_CONFIG=" + path}, []string{"--" + s.Flag, v[2]}, v[2], "--" + s.Flag},
			}
			for _, l := range layers {
				cfg, src, err := loadWith(t, append(l.env, needs[s.Key]...), l.args...)
				if err != nil {
					t.Fatalf("env %q args %q: %v", l.env, l.args, err)
				}
				want := config.Default()
				if err := s.Parse(&want, l.want); err != nil {
					t.Fatal(err)
				}
				if got, w := s.Format(&cfg), s.Format(&want); got != w {
					t.Errorf("env %q args %q: %s = %q, want %q", l.env, l.args, s.Key, got, w)
				}
				if src[s.Key] != l.from {
					t.Errorf("env %q args %q: %s set by %q, want %q", l.env, l.args, s.Key, src[s.Key], l.from)
				}
			}
		})
	}
}

func TestUnknownSettings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seen.yaml")
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:8080\nreceipts:\n  tll: 1h\nmax_inflihgt: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"env typo", []string{"SEEN_RECIEPTS_TTL=1h"}, nil,
			[]string{"unknown setting SEEN_RECIEPTS_TTL (from the environment); did you mean SEEN_RECEIPTS_TTL?"}},
		{"env far from anything", []string{"SEEN_WHATEVER_THIS_IS=1"}, nil,
			[]string{"unknown setting SEEN_WHATEVER_THIS_IS (from the environment)"}},
		{"file typos", nil, []string{"--config", path}, []string{
			"unknown setting receipts.tll in " + path + "; did you mean receipts.ttl?",
			"unknown setting max_inflihgt in " + path + "; did you mean max_inflight?",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := loadWith(t, tt.env, tt.args...)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// The variables of tests and tools are no settings and no error.
	env := []string{"SEEN_BIN=/tmp/seen", "SEEN_TEST_SKIP_WEB=1", "SEEN_TEST_POSTGRES_URL=postgres://x", "SEEN_CRASH_SEED=4", "SEEN_DEMO=off"}
	if _, _, err := loadWith(t, env); err != nil {
		t.Errorf("with %q: %v", env, err)
	}
	// Commands other than serve read a few settings and ignore the rest.
	t.Setenv("SEEN_RECIEPTS_TTL", "1h")
	out, err := run(t, "token", "--user", "alice", "--token-secret", "a-secret-of-more-than-16-bytes")
	if err != nil {
		t.Errorf("seen token with an unknown SEEN_ variable: %v (%s)", err, out)
	}
}

// TestErrorsNameWhatTheUserSet: an error points at the variable, flag or
// file key the user wrote, and names a default by its variable.
func TestErrorsNameWhatTheUserSet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seen.yaml")
	if err := os.WriteFile(path, []byte("idle_timeout: 10s\nreceipts:\n  coalesce: often\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"env", []string{"SEEN_IDLE_TIMEOUT=10s"}, nil, []string{"SEEN_IDLE_TIMEOUT: must exceed SEEN_PING_INTERVAL"}},
		{"flag", nil, []string{"--idle-timeout=10s"}, []string{"--idle-timeout: must exceed SEEN_PING_INTERVAL"}},
		{"both set", []string{"SEEN_PING_INTERVAL=1m"}, []string{"--idle-timeout=10s"}, []string{"--idle-timeout: must exceed SEEN_PING_INTERVAL"}},
		{"flag names other flag", nil, []string{"--idle-timeout=10s", "--ping-interval=20s"}, []string{"--idle-timeout: must exceed --ping-interval"}},
		{"file", nil, []string{"--config", path}, []string{"receipts.coalesce in " + path + ": want a duration"}},
		{"bad number", []string{"SEEN_MAX_INFLIGHT=lots"}, nil, []string{"SEEN_MAX_INFLIGHT: want a whole number"}},
		{"bad enum", []string{"SEEN_LOG_FORMAT=xml"}, nil, []string{"SEEN_LOG_FORMAT: must be text or json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := loadWith(t, tt.env, tt.args...)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "idle_timeout") && !strings.Contains(err.Error(), path) {
				t.Errorf("error %q names the internal key", err)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	clearSeenEnv(t)
	out, err := run(t, "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range config.Settings() {
		if !strings.Contains(out, "--"+s.Flag+" ") || !strings.Contains(out, "("+s.Env+")") {
			t.Errorf("seen serve --help lacks --%s or %s", s.Flag, s.Env)
		}
	}
	if !strings.Contains(out, "--config") {
		t.Errorf("seen serve --help lacks --config")
	}
	out, err = run(t, "token", "--help")
	if err != nil {
		t.Fatal(err)
	}
	own := map[string]bool{"--user": true, "--ttl": true, "--config": true, "--data": true, "--token-secret": true, "--help": true}
	for f := range own {
		if !strings.Contains(out, f) {
			t.Errorf("seen token --help lacks %s", f)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "-") {
			continue
		}
		f, _, _ := strings.Cut(strings.TrimPrefix(line, "-h, "), " ")
		if !own[f] {
			t.Errorf("seen token --help lists %s, which is not the token command's", f)
		}
	}
}

const tableBegin, tableEnd = "<!-- settings table: generated by go test ./cmd/seen -run TestReadmeTable -update -->\n", "<!-- end of settings table -->\n"

// settingsTable is README.md's configuration table.
func settingsTable() string {
	var b strings.Builder
	b.WriteString("| variable | flag | key in `--config` file | default | meaning |\n|---|---|---|---|---|\n")
	d := config.Default()
	for _, s := range config.Settings() {
		def := "`" + s.Format(&d) + "`"
		if s.Format(&d) == "" {
			def = "(none)"
		}
		fmt.Fprintf(&b, "| `%s` | `--%s` | `%s` | %s | %s |\n", s.Env, s.Flag, s.Key, def, strings.ReplaceAll(s.Help, "|", "\\|"))
	}
	return b.String()
}

func TestReadmeTable(t *testing.T) {
	path := filepath.Join("..", "..", "README.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, tableBegin), strings.Index(readme, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers of the settings table")
	}
	want := settingsTable()
	if got := readme[i+len(tableBegin) : j]; got != want {
		if *update {
			if err := os.WriteFile(path, []byte(readme[:i+len(tableBegin)]+want+readme[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("README.md's settings table is out of date with config.Config; run go test ./cmd/seen -run TestReadmeTable -update")
	}
	for _, s := range config.Settings() {
		if !strings.Contains(readme, "| `"+s.Env+"` |") {
			t.Errorf("README.md's table lacks %s", s.Env)
		}
	}
}
