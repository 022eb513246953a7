package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
}

// TestDefaultMatchesContract pins the defaults that PROTOCOL.md and
// docs/protocol.md promise.
func TestDefaultMatchesContract(t *testing.T) {
	c := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"max_frame_bytes", c.MaxFrameBytes, int64(64 << 10)},
		{"receipts.ttl", c.Receipts.TTL, time.Duration(0)},
		{"receipts.who_may_request", c.Receipts.WhoMayRequest, "all"},
		{"receipts.visibility", c.Receipts.Visibility, "sender"},
		{"receipts.group_types", strings.Join(c.Receipts.GroupTypes, ","), "*"},
		{"admin_listen", c.AdminListen, ""},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("default %s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"port zero", func(c *Config) { c.Listen = "127.0.0.1:0" }},
		{"all interfaces", func(c *Config) { c.Listen = ":8080" }},
		{"ipv6", func(c *Config) { c.Listen = "[::1]:8080" }},
		{"admin listen", func(c *Config) { c.AdminListen = "127.0.0.1:9090" }},
		{"token secret of 16 bytes", func(c *Config) { c.TokenSecret = "0123456789abcdef" }},
		{"body as large as a frame", func(c *Config) { c.MaxBodyBytes = int(c.MaxFrameBytes) }},
		{"smallest frame", func(c *Config) { c.MaxFrameBytes, c.MaxBodyBytes = 1024, 1 }},
		{"ttl", func(c *Config) { c.Receipts.TTL = 72 * time.Hour }},
		{"admins may request", func(c *Config) { c.Receipts.WhoMayRequest = "admins" }},
		{"members see receipts", func(c *Config) { c.Receipts.Visibility = "members" }},
		{"listed group types", func(c *Config) { c.Receipts.GroupTypes = []string{"work", "team"} }},
		{"group of one", func(c *Config) { c.Receipts.MaxGroupSize = 1 }},
		{"one node on postgres with its secrets", func(c *Config) {
			c.PostgresURL, c.TokenSecret, c.AdminKey = "postgres://db/seen", "0123456789abcdef", "admin-key"
		}},
		{"cluster node with its secrets", func(c *Config) {
			c.PostgresURL, c.NATSURL = "postgres://db/seen", "nats://a:4222,nats://b:4222"
			c.TokenSecret, c.AdminKey = "0123456789abcdef", "admin-key"
		}},
		{"static webhook", func(c *Config) {
			c.Webhooks.URL, c.Webhooks.Secret = "https://app.example/hooks", testWebhookSecret
			c.Webhooks.Events, c.Webhooks.Thresholds = []string{"receipt.threshold"}, []int{1, 90, 100}
		}},
		{"webhook retries fixed", func(c *Config) { c.Webhooks.RetryMin, c.Webhooks.RetryMax = time.Minute, time.Minute }},
		{"webhooks without age limit", func(c *Config) { c.Webhooks.MaxAge = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // substrings, one per problem reported
	}{
		{"listen without port", func(c *Config) { c.Listen = "localhost" }, []string{"listen"}},
		{"listen empty", func(c *Config) { c.Listen = "" }, []string{"listen"}},
		{"listen too many colons", func(c *Config) { c.Listen = "1:2:3" }, []string{"listen"}},
		{"admin listen without port", func(c *Config) { c.AdminListen = "admin.example" }, []string{"admin_listen"}},
		{"data empty", func(c *Config) { c.Data = "" }, []string{"data"}},
		{"short token secret", func(c *Config) { c.TokenSecret = "0123456789abcde" }, []string{"token_secret"}},
		{"tiny frame", func(c *Config) { c.MaxFrameBytes, c.MaxBodyBytes = 1023, 1 }, []string{"max_frame_bytes"}},
		{"body larger than frame", func(c *Config) { c.MaxBodyBytes = int(c.MaxFrameBytes) + 1 }, []string{"max_body_bytes"}},
		{"body zero", func(c *Config) { c.MaxBodyBytes = 0 }, []string{"max_body_bytes"}},
		{"ping zero", func(c *Config) { c.PingInterval = 0 }, []string{"ping_interval"}},
		{"idle equals ping", func(c *Config) { c.IdleTimeout = c.PingInterval }, []string{"idle_timeout"}},
		{"idle below ping", func(c *Config) { c.IdleTimeout = c.PingInterval - time.Second }, []string{"idle_timeout"}},
		{"idle zero", func(c *Config) { c.IdleTimeout = 0 }, []string{"idle_timeout: must be positive", "idle_timeout: must exceed ping_interval (0s <= 25s)"}},
		{"connect timeout zero", func(c *Config) { c.ConnectTimeout = 0 }, []string{"connect_timeout"}},
		{"write timeout negative", func(c *Config) { c.WriteTimeout = -time.Second }, []string{"write_timeout"}},
		{"shutdown timeout zero", func(c *Config) { c.ShutdownTimeout = 0 }, []string{"shutdown_timeout"}},
		{"send queue zero", func(c *Config) { c.SendQueue = 0 }, []string{"send_queue"}},
		{"max inflight zero", func(c *Config) { c.MaxInflight = 0 }, []string{"max_inflight"}},
		{"queue bytes tiny", func(c *Config) { c.MaxQueueBytes = 4095 }, []string{"max_queue_bytes"}},
		{"unauthenticated zero", func(c *Config) { c.MaxUnauthenticated = 0 }, []string{"max_unauthenticated"}},
		{"negative ttl", func(c *Config) { c.Receipts.TTL = -time.Hour }, []string{"receipts.ttl"}},
		{"max group size zero", func(c *Config) { c.Receipts.MaxGroupSize = 0 }, []string{"receipts.max_group_size"}},
		{"who may request unknown", func(c *Config) { c.Receipts.WhoMayRequest = "everyone" }, []string{"receipts.who_may_request"}},
		{"who may request empty", func(c *Config) { c.Receipts.WhoMayRequest = "" }, []string{"receipts.who_may_request"}},
		{"visibility unknown", func(c *Config) { c.Receipts.Visibility = "public" }, []string{"receipts.visibility"}},
		{"visibility empty", func(c *Config) { c.Receipts.Visibility = "" }, []string{"receipts.visibility"}},
		{"group types nil", func(c *Config) { c.Receipts.GroupTypes = nil }, []string{"receipts.group_types"}},
		{"group types empty", func(c *Config) { c.Receipts.GroupTypes = []string{} }, []string{"receipts.group_types"}},
		{"coalesce zero", func(c *Config) { c.Receipts.Coalesce = 0 }, []string{"receipts.coalesce"}},
		{"nats without postgres", func(c *Config) {
			c.NATSURL, c.TokenSecret, c.AdminKey = "nats://127.0.0.1:4222", "0123456789abcdef", "admin-key"
		}, []string{"nats_url: is set without postgres_url"}},
		{"postgres without secrets", func(c *Config) { c.PostgresURL = "postgres://db/seen" },
			[]string{"token_secret: must be set with postgres_url", "admin_key: must be set with postgres_url"}},
		{"postgres without the admin key", func(c *Config) {
			c.PostgresURL, c.NATSURL, c.TokenSecret = "postgres://db/seen", "nats://n:4222", "0123456789abcdef"
		}, []string{"admin_key: must be set with postgres_url"}},
		{"every problem at once", func(c *Config) {
			c.Listen = "nowhere"
			c.TokenSecret = "short"
			c.Receipts.TTL = -1
			c.Receipts.Visibility = "all"
		}, []string{"listen", "token_secret", "receipts.ttl", "receipts.visibility"}},
		{"webhook retry min zero", func(c *Config) { c.Webhooks.RetryMin = 0 }, []string{"webhooks.retry_min"}},
		{"webhook retry max below min", func(c *Config) { c.Webhooks.RetryMax = time.Second }, []string{"webhooks.retry_max"}},
		{"webhook attempts zero", func(c *Config) { c.Webhooks.MaxAttempts = 0 }, []string{"webhooks.max_attempts"}},
		{"webhook age negative", func(c *Config) { c.Webhooks.MaxAge = -time.Second }, []string{"webhooks.max_age"}},
		{"webhook concurrency zero", func(c *Config) { c.Webhooks.Concurrency = 0 }, []string{"webhooks.concurrency"}},
		{"webhook timeout zero", func(c *Config) { c.Webhooks.Timeout = 0 }, []string{"webhooks.timeout"}},
		{"webhook url not http", func(c *Config) { c.Webhooks.URL, c.Webhooks.Secret = "ftp://app.example/x", testWebhookSecret }, []string{"webhooks.url"}},
		{"webhook url without secret", func(c *Config) { c.Webhooks.URL = "http://127.0.0.1:9000/" }, []string{"webhooks.secret"}},
		{"webhook secret not base64", func(c *Config) { c.Webhooks.URL, c.Webhooks.Secret = "http://127.0.0.1:9000/", "whsec_not base64!" }, []string{"webhooks.secret"}},
		{"webhook secret without url", func(c *Config) { c.Webhooks.Secret = testWebhookSecret }, []string{"webhooks.secret"}},
		{"webhook unknown event", func(c *Config) { c.Webhooks.Events = []string{"receipt.read", "receipt.lost"} }, []string{"receipt.lost"}},
		{"webhook threshold 0 and 101", func(c *Config) { c.Webhooks.Thresholds = []int{0, 50, 101} }, []string{"webhooks.thresholds", "webhooks.thresholds"}},
		{"static webhook hearing nothing", func(c *Config) {
			c.Webhooks.URL, c.Webhooks.Secret, c.Webhooks.Events = "http://127.0.0.1:9000/", testWebhookSecret, nil
		}, []string{"webhooks.events"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() = nil, want errors mentioning %q", tt.want)
			}
			// Validate reports each problem as one line, prefixed "config: ".
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Validate() reported %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, line := range lines {
				if !strings.HasPrefix(line, "config: ") {
					t.Errorf("problem %q lacks the package prefix %q", line, "config: ")
				}
				if !strings.Contains(line, tt.want[i]) {
					t.Errorf("problem %d = %q, want it to mention %q", i, line, tt.want[i])
				}
			}
		})
	}
}

func TestReceiptsForType(t *testing.T) {
	tests := []struct {
		types []string
		typ   string
		want  bool
	}{
		{[]string{"*"}, "", true},
		{[]string{"*"}, "anything", true},
		{[]string{"work", "team"}, "work", true},
		{[]string{"work", "team"}, "team", true},
		{[]string{"work", "team"}, "Work", true},
		{[]string{"WORK"}, "work", true},
		{[]string{"work", "team"}, "family", false},
		{[]string{"work", "team"}, "", false},
		{[]string{"work", "team"}, "wor", false},
		{[]string{"work", "*"}, "family", true},
		{nil, "work", false},
	}
	for _, tt := range tests {
		r := Receipts{GroupTypes: tt.types}
		if got := r.ReceiptsForType(tt.typ); got != tt.want {
			t.Errorf("Receipts{GroupTypes: %q}.ReceiptsForType(%q) = %v, want %v", tt.types, tt.typ, got, tt.want)
		}
	}
}

// testWebhookSecret is a valid signing secret (24 bytes).
const testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8G"
