package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestSettingsCoverEveryField(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Settings() {
		if s.Help == "" {
			t.Errorf("setting %s has no help tag: it would have an empty --help line and README row", s.Key)
		}
		for _, name := range []string{"key " + s.Key, s.Env, "--" + s.Flag} {
			if seen[name] {
				t.Errorf("name %s is used twice", name)
			}
			seen[name] = true
		}
		// Every setting can be parsed from what a user types.
		c := Default()
		if err := s.Parse(&c, s.Format(&c)); err != nil && s.Format(&c) != "" {
			t.Errorf("%s: parsing its own default %q: %v", s.Key, s.Format(&c), err)
		}
	}
	// Count the leaves independently of Settings' walk.
	var leaves func(reflect.Type) int
	leaves = func(t reflect.Type) int {
		n := 0
		for i := range t.NumField() {
			if t.Field(i).Type.Kind() == reflect.Struct {
				n += leaves(t.Field(i).Type)
			} else {
				n++
			}
		}
		return n
	}
	if got, want := len(Settings()), leaves(reflect.TypeFor[Config]()); got != want {
		t.Errorf("Settings() has %d entries, Config has %d leaf fields", got, want)
	}
	s, ok := Lookup("receipts.ttl")
	if !ok || s.Env != "SEEN_RECEIPTS_TTL" || s.Flag != "receipts-ttl" {
		t.Errorf("Lookup(receipts.ttl) = %+v, %v; want SEEN_RECEIPTS_TTL and receipts-ttl", s, ok)
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.AdminKey = "the-admin-key-0123456789"
	for _, s := range Settings() {
		if got := s.Redacted(&c); strings.Contains(got, c.AdminKey) {
			t.Errorf("%s redacted = %q, shows the key", s.Key, got)
		}
	}
	s, _ := Lookup("admin_key")
	if got := s.Redacted(&c); got != "(set)" {
		t.Errorf("admin_key redacted = %q, want (set)", got)
	}
}

func TestNearest(t *testing.T) {
	known := []string{"SEEN_RECEIPTS_TTL", "SEEN_LISTEN", "SEEN_IDLE_TIMEOUT"}
	tests := []struct{ name, want string }{
		{"SEEN_RECIEPTS_TTL", "SEEN_RECEIPTS_TTL"},
		{"SEEN_LISTN", "SEEN_LISTEN"},
		{"SEEN_IDLE_TIMOUT", "SEEN_IDLE_TIMEOUT"},
		{"SEEN_SOMETHING_ELSE_ENTIRELY", ""},
	}
	for _, tt := range tests {
		if got := Nearest(tt.name, known); got != tt.want {
			t.Errorf("Nearest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	c := Default()
	ttl, _ := Lookup("receipts.ttl")
	if err := ttl.Parse(&c, "72h"); err != nil || c.Receipts.TTL.Hours() != 72 {
		t.Errorf("parse 72h: %v, %v", err, c.Receipts.TTL)
	}
	if err := ttl.Parse(&c, "soon"); err == nil || !strings.Contains(err.Error(), "duration") {
		t.Errorf("parse soon = %v, want an error asking for a duration", err)
	}
	gt, _ := Lookup("receipts.group_types")
	if err := gt.Parse(&c, []any{"work", "team"}); err != nil || strings.Join(c.Receipts.GroupTypes, ",") != "work,team" {
		t.Errorf("parse YAML list: %v, %q", err, c.Receipts.GroupTypes)
	}
	if err := gt.Parse(&c, "a, b"); err != nil || strings.Join(c.Receipts.GroupTypes, ",") != "a,b" {
		t.Errorf("parse comma list: %v, %q", err, c.Receipts.GroupTypes)
	}
	mi, _ := Lookup("max_inflight")
	if err := mi.Parse(&c, 12); err != nil || c.MaxInflight != 12 {
		t.Errorf("parse YAML int: %v, %d", err, c.MaxInflight)
	}
	if err := mi.Parse(&c, map[string]any{"a": 1}); err == nil {
		t.Errorf("parse a map into max_inflight: no error")
	}
}

func TestValidateNamed(t *testing.T) {
	c := Default()
	c.IdleTimeout = c.PingInterval
	names := map[string]string{"idle_timeout": "SEEN_IDLE_TIMEOUT", "ping_interval": "--ping-interval"}
	err := c.ValidateNamed(func(k string) string { return names[k] })
	if err == nil || err.Error() != "config: SEEN_IDLE_TIMEOUT: must exceed --ping-interval (25s <= 25s)" {
		t.Errorf("ValidateNamed = %v", err)
	}
	c = Default()
	c.AllowedOrigins = []string{"[bad"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "allowed_origins") {
		t.Errorf("bad origin pattern: %v", err)
	}
	c = Default()
	c.LogFormat = "xml"
	c.LogLevel = "loud"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "log_format") || !strings.Contains(err.Error(), "log_level") {
		t.Errorf("bad log settings: %v", err)
	}
}
