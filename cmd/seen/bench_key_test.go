package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestBenchAdminKeyFromData: like seen token, seen bench finds the key the
// server created in its data directory.
func TestBenchAdminKeyFromData(t *testing.T) {
	clearSeenEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin-key"), []byte("key-written-by-the-server\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	parse := func(args ...string) *benchFlags {
		f := &benchFlags{}
		fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
		f.register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f
	}
	o, err := parse("--data", dir).options()
	if err != nil || o.AdminKey != "key-written-by-the-server" {
		t.Errorf("--data %s: admin key %q, %v; want the file's key", dir, o.AdminKey, err)
	}
	t.Setenv("SEEN_DATA", dir)
	if o, err := parse().options(); err != nil || o.AdminKey != "key-written-by-the-server" {
		t.Errorf("SEEN_DATA=%s: admin key %q, %v; want the file's key", dir, o.AdminKey, err)
	}
	if o, err := parse("--admin-key", "given").options(); err != nil || o.AdminKey != "given" {
		t.Errorf("--admin-key given: %q, %v", o.AdminKey, err)
	}
	empty := t.TempDir()
	if _, err := parse("--data", empty).options(); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("no key anywhere: %v, want an error naming %s", err, empty)
	}
}
