package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/seen-im/seen/internal/config"
)

// exampleValues are the values deploy/seen.yaml shows where a production
// node differs from the defaults (which suit a laptop).
var exampleValues = map[string]string{
	"data":       "/var/lib/seen",
	"demo":       "off",
	"log_format": "json",
}

// exampleConfig renders deploy/seen.yaml from config.Config: every
// setting, with its help, default and other names. Secrets are commented
// out: the server keeps them in files in its data directory, and a config
// file is the wrong place for one.
func exampleConfig() string {
	var b strings.Builder
	b.WriteString(`# Seen server configuration: seen serve --config /etc/seen/seen.yaml
#
# Generated from internal/config by
#   go test ./cmd/seen -run TestExampleConfig -update
# Every setting is listed. Values shown are the defaults, except where a
# production node wants another (data, demo, log_format). Each setting may
# also come from its SEEN_* environment variable or its flag, which win
# over this file. An unknown key is an error.

`)
	d := config.Default()
	section := ""
	for _, s := range config.Settings() {
		indent := ""
		sec, leaf, nested := strings.Cut(s.Key, ".")
		if nested {
			if sec != section {
				fmt.Fprintf(&b, "%s:\n", sec)
				section = sec
			}
			indent = "  "
		} else {
			leaf = s.Key
		}
		def := s.Format(&d)
		fmt.Fprintf(&b, "%s# %s\n", indent, s.Help)
		fmt.Fprintf(&b, "%s# default: %s; environment: %s; flag: --%s\n", indent, orNone(def), s.Env, s.Flag)
		v, ok := exampleValues[s.Key]
		if !ok {
			v = def
		}
		line := fmt.Sprintf("%s%s: %s\n", indent, leaf, yamlValue(s, v))
		if s.Secret {
			// A secret is not written into an example file: the
			// embedded node's secrets live in its data directory, and a
			// URL with a password belongs in the environment.
			hint := "<keep it in the data directory's file instead>"
			if strings.HasSuffix(s.Key, "_url") {
				hint = "<set it in the environment (" + s.Env + "): it may hold a password>"
			}
			line = indent + "# " + leaf + ": " + hint + "\n"
		}
		b.WriteString(line)
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// yamlValue renders a setting's value in YAML: lists as flow sequences,
// everything else quoted, so that "*" or "1m0s" stay strings.
func yamlValue(s config.Setting, v string) string {
	if strings.HasPrefix(s.Type.String(), "[]") {
		var items []string
		for _, e := range strings.Split(v, ",") {
			if e != "" {
				items = append(items, strconv.Quote(e))
			}
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return strconv.Quote(v)
}

// TestExampleConfig checks that deploy/seen.yaml is current, names only
// known settings, and loads into a configuration that validates.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "..", "deploy", "seen.yaml")
	want := exampleConfig()
	got, err := os.ReadFile(path)
	if *update && (err != nil || string(got) != want) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		got = []byte(want)
	} else if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("deploy/seen.yaml is out of date with config.Config; run go test ./cmd/seen -run TestExampleConfig -update")
	}
	// strictEnv and an empty environment: any unknown key in the file is
	// an error of its own.
	cfg, src, err := loadWith(t, nil, "--config", path)
	if err != nil {
		t.Fatalf("loading deploy/seen.yaml: %v", err)
	}
	for _, s := range config.Settings() {
		if _, set := src[s.Key]; !set && !s.Secret {
			t.Errorf("deploy/seen.yaml does not set %s", s.Key)
		}
	}
	if cfg.Demo != "off" || cfg.Data != "/var/lib/seen" || cfg.LogFormat != "json" {
		t.Errorf("deploy/seen.yaml loaded demo=%q data=%q log_format=%q", cfg.Demo, cfg.Data, cfg.LogFormat)
	}
}
