// Package config holds the server's configuration: one documented struct,
// its defaults, and its validation. cmd/seen maps flags and SEEN_*
// environment variables onto it; tests build it directly.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path"
	"strings"
	"time"
)

// Config is the whole server configuration. The zero value is not usable;
// start from Default and change what you need.
//
// Every leaf field carries a koanf tag (its key in the config file; the
// SEEN_* variable and the flag are derived from it, see Settings) and a
// help tag (its line in --help and in README.md's table). A field tagged
// secret:"true" is redacted wherever the configuration is shown. Adding a
// field with these tags is all it takes to make it settable everywhere.
type Config struct {
	// Listen is the address of the client WebSocket and HTTP endpoints.
	Listen string `koanf:"listen" help:"client WebSocket and HTTP address"`
	// AdminListen, if set, serves the admin API on its own listener and
	// not on Listen.
	AdminListen string `koanf:"admin_listen" help:"serve the admin API and /metrics on this address only; empty: on listen"`
	// Data is the embedded store's directory.
	Data string `koanf:"data" help:"embedded store directory (also holds admin-key and token-secret)"`
	// AdminKey authenticates the admin API. Empty means the server uses
	// (and on first start creates) <Data>/admin-key.
	AdminKey string `koanf:"admin_key" secret:"true" help:"admin API key; empty: <data>/admin-key, created on first start"`
	// Demo is "auto", "on" or "off": whether the browser demo may mint a
	// token for any user name (POST /v1/demo/token). "auto" turns it on only
	// when Listen is a loopback address, so a server reachable from other
	// machines never hands out tokens to whoever asks.
	Demo string `koanf:"demo" help:"browser demo tokens for any user name: auto (on for loopback listeners), on, off"`
	// TokenSecret signs and verifies user tokens (HS256). Empty means the
	// server uses (and on first start creates) <Data>/token-secret.
	TokenSecret string `koanf:"token_secret" secret:"true" help:"HS256 user-token secret, at least 16 bytes; empty: <data>/token-secret, created on first start"`
	// AllowedOrigins lists the host patterns (path.Match syntax, as
	// coder/websocket's OriginPatterns) of the other origins whose pages
	// may open a WebSocket; a page on the server's own host always may.
	// See docs/security.md.
	AllowedOrigins []string `koanf:"allowed_origins" help:"other origins whose pages may connect, comma list of host patterns (localhost:5173, *.example.com); empty: same host only"`

	// LogLevel is debug, info, warn or error.
	LogLevel string `koanf:"log_level" help:"debug | info | warn | error"`
	// LogFormat is text (logfmt-like, for people) or json (one object per
	// line, for log collectors).
	LogFormat string `koanf:"log_format" help:"text | json"`

	// MaxFrameBytes is the largest WebSocket frame a client may send.
	MaxFrameBytes int64 `koanf:"max_frame_bytes" help:"largest frame a client may send, bytes"`
	// MaxBodyBytes is the largest message body, as encoded JSON.
	MaxBodyBytes int `koanf:"max_body_bytes" help:"largest message body, bytes of encoded JSON"`
	// PingInterval is how often the server pings an idle client.
	PingInterval time.Duration `koanf:"ping_interval" help:"how often the server pings an idle client"`
	// IdleTimeout drops a client that has sent nothing, not even a pong,
	// for this long.
	IdleTimeout time.Duration `koanf:"idle_timeout" help:"drop a client silent (not even a pong) this long; must exceed ping_interval"`
	// ConnectTimeout drops a socket that has not sent connect in time.
	ConnectTimeout time.Duration `koanf:"connect_timeout" help:"drop a socket that has not sent connect within this time"`
	// WriteTimeout drops a client whose socket does not take a frame
	// within this time.
	WriteTimeout time.Duration `koanf:"write_timeout" help:"drop a client whose socket does not take a frame within this time"`
	// SendQueue is the number of events queued per connection; a client
	// that lets it fill is disconnected. MaxQueueBytes bounds the bytes.
	SendQueue int `koanf:"send_queue" help:"events queued per connection; a client that lets it fill is dropped"`
	// MaxQueueBytes bounds the bytes waiting to be written to one
	// connection, responses and events together. While more is waiting the
	// server reads no more requests from it; a connection that stays over
	// it for longer than WriteTimeout is dropped, and an event that would
	// put more than MaxQueueBytes of events in the queue drops the client
	// at once. A single response larger than the budget (a history page
	// of large bodies) is still sent.
	MaxQueueBytes int64 `koanf:"max_queue_bytes" help:"bytes queued per connection (responses and events) before the server stops reading it; at least 4096"`
	// MaxUnauthenticated bounds the sockets, across the node, that are
	// open but have not completed connect; beyond it an upgrade gets 503.
	MaxUnauthenticated int `koanf:"max_unauthenticated" help:"open sockets that have not connected, per node; beyond it upgrades get 503"`
	// MaxInflight is the number of requests one connection may have in
	// progress at once; further frames wait (back-pressure on the socket).
	MaxInflight int `koanf:"max_inflight" help:"requests one connection may have in progress; further frames wait"`
	// RatePerConn and BurstPerConn bound the requests of one connection
	// (token bucket: sustained per second, and burst). Beyond them a request
	// gets 429 with data.retryAfterMs. The burst is sized so that a client
	// catching up (thousands of acks at once) is not refused.
	RatePerConn  float64 `koanf:"rate_per_conn" help:"requests per second per connection (sustained)"`
	BurstPerConn int     `koanf:"burst_per_conn" help:"request burst per connection"`
	// RatePerUser and BurstPerUser bound the requests of all of one user's
	// connections on this node together.
	RatePerUser  float64 `koanf:"rate_per_user" help:"requests per second per user, all connections on this node"`
	BurstPerUser int     `koanf:"burst_per_user" help:"request burst per user"`
	// MaxConnsPerUser bounds one user's open connections on this node; a
	// connect beyond it gets 429 and the socket is closed.
	MaxConnsPerUser int `koanf:"max_conns_per_user" help:"open connections per user on this node"`
	// MaxGroupMembers bounds a group's members (403 beyond it).
	MaxGroupMembers int `koanf:"max_group_members" help:"members per group"`
	// RequestTimeout bounds one request's work; a request that runs out of
	// it (a stalled store) gets 503 and may be retried.
	RequestTimeout time.Duration `koanf:"request_timeout" help:"bound on one request's work; beyond it the request gets 503"`
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout" help:"bound on a graceful shutdown"`

	// PostgresURL, if set, selects the PostgreSQL store (internal/store/
	// pgstore) in place of the embedded one; Data then holds no store.
	// Alone it makes one node on PostgreSQL with the in-process bus; with
	// NATSURL, a cluster node (docs/cluster.md). It may hold a password.
	PostgresURL string `koanf:"postgres_url" secret:"true" help:"PostgreSQL connection URL: the store of a node, or of every node of a cluster (docs/cluster.md); empty: the embedded store in data"`
	// NATSURL, if set, selects the NATS bus between nodes; it needs
	// PostgresURL. Several URLs, comma-separated, name a NATS cluster. It
	// may hold credentials.
	NATSURL string `koanf:"nats_url" secret:"true" help:"NATS URL(s), comma-separated, of the bus between cluster nodes; needs postgres_url; empty: a single node"`

	// StoreCacheBytes and StoreMemtableBytes size the embedded store.
	StoreCacheBytes    int64  `koanf:"store_cache_bytes" help:"embedded store block cache, bytes"`
	StoreMemtableBytes uint64 `koanf:"store_memtable_bytes" help:"embedded store memtable, bytes"`

	// EngineMemory bounds the receipt engines a node keeps in memory, by
	// their estimated bytes; beyond it the least recently used are
	// unloaded and rebuilt from the store when next needed. 0: no bound.
	EngineMemory int64 `koanf:"engine_memory" help:"bytes of receipt engines kept in memory; the least recently used beyond it are reloaded from the store when needed; 0: no bound"`

	Receipts Receipts `koanf:"receipts"`
	Webhooks Webhooks `koanf:"webhooks"`
}

// Receipts is the receipt policy.
type Receipts struct {
	// TTL is the validity window of group receipts; 0 means never expires.
	TTL time.Duration `koanf:"ttl" help:"validity window of group receipts; 0: never expires"`
	// MaxGroupSize is the largest group whose messages may ask for receipts.
	MaxGroupSize int `koanf:"max_group_size" help:"largest group whose messages may ask for receipts"`
	// WhoMayRequest is "all" or "admins": who may ask for receipts in a
	// group (message.send with receipt: true, and receipt.request).
	WhoMayRequest string `koanf:"who_may_request" help:"who may ask for receipts in a group, at send time and by receipt.request: all | admins"`
	// Visibility is "sender" or "members": who may query a receipt.
	Visibility string `koanf:"visibility" help:"who may query a receipt: sender | members"`
	// GroupTypes lists the group types with receipts; "*" means all.
	GroupTypes []string `koanf:"group_types" help:"group types with receipts, comma list; * for all"`
	// Coalesce is the window over which receipt.changed events to one
	// sender in one conversation are merged.
	Coalesce time.Duration `koanf:"coalesce" help:"window over which receipt.changed events to one sender are merged"`
	// RequireSharing lists the group types where reads are always shared:
	// a read there moves what senders see whatever the reader's shareReads,
	// and a message.read or conversation.read with private: true is
	// refused (403). "*" means every group; empty (the default) none.
	RequireSharing []string `koanf:"require_sharing" help:"group types where reads are always shared and private reads are refused (403), comma list; * for all groups; empty: none"`
	// Reciprocal makes read receipts a two-way deal: a user whose
	// shareReads is false may not see others' reads of its own messages
	// (receipt.query and receipt.members answer 403) and gets no
	// receipt.read or receipt.changed events.
	Reciprocal bool `koanf:"reciprocal" help:"users who hide their reads see no read receipts (403 from receipt.query and receipt.members, no receipt.read / receipt.changed)"`
}

// Default returns the defaults documented in docs/protocol.md.
func Default() Config {
	return Config{
		Listen:             "127.0.0.1:8080",
		Demo:               "auto",
		Data:               "seen-data",
		LogLevel:           "info",
		LogFormat:          "text",
		MaxFrameBytes:      64 << 10,
		MaxBodyBytes:       32 << 10,
		PingInterval:       25 * time.Second,
		IdleTimeout:        60 * time.Second,
		ConnectTimeout:     10 * time.Second,
		WriteTimeout:       10 * time.Second,
		SendQueue:          256,
		MaxQueueBytes:      1 << 20,
		MaxUnauthenticated: 1024,
		MaxInflight:        64,
		RatePerConn:        1000,
		BurstPerConn:       4000,
		RatePerUser:        2000,
		BurstPerUser:       8000,
		MaxConnsPerUser:    32,
		MaxGroupMembers:    200000,
		ShutdownTimeout:    10 * time.Second,
		RequestTimeout:     10 * time.Second,
		StoreCacheBytes:    64 << 20,
		StoreMemtableBytes: 32 << 20,
		EngineMemory:       512 << 20,
		Receipts: Receipts{
			TTL:           0,
			MaxGroupSize:  100000,
			WhoMayRequest: "all",
			Visibility:    "sender",
			GroupTypes:    []string{"*"},
			Coalesce:      200 * time.Millisecond,
		},
		Webhooks: defaultWebhooks(),
	}
}

// Validate reports every problem with c at once, naming each setting by
// its key (receipts.ttl).
func (c *Config) Validate() error { return c.ValidateNamed(nil) }

// ValidateNamed is Validate with each setting named by name(key): cmd/seen
// passes the name the user set it by (SEEN_RECEIPTS_TTL, --receipts-ttl, or
// the key in the config file), so that an error points at what to change.
// Each problem is one line "config: <name>: <problem>".
func (c *Config) ValidateNamed(name func(key string) string) error {
	if name == nil {
		name = func(key string) string { return key }
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: "+format, append([]any{name(key)}, args...)...))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q: %v", c.Listen, err)
	}
	if c.AdminListen != "" {
		if _, _, err := net.SplitHostPort(c.AdminListen); err != nil {
			bad("admin_listen", "%q: %v", c.AdminListen, err)
		}
	}
	if c.Demo != "auto" && c.Demo != "on" && c.Demo != "off" {
		bad("demo", "must be auto, on or off, got %q", c.Demo)
	}
	if c.Data == "" {
		bad("data", "the data directory is empty")
	}
	if c.TokenSecret != "" && len(c.TokenSecret) < 16 {
		bad("token_secret", "shorter than 16 bytes")
	}
	if c.NATSURL != "" && c.PostgresURL == "" {
		bad("nats_url", "is set without %s: cluster nodes share one PostgreSQL store, and a node on its embedded store has nothing to share with the others", name("postgres_url"))
	}
	if c.PostgresURL != "" {
		// A node on PostgreSQL keeps no secret files: each node would
		// create its own, and a token or key from one would fail on the
		// others.
		if c.TokenSecret == "" {
			bad("token_secret", "must be set with %s: every node on one database needs the same secret, and a node must not create its own", name("postgres_url"))
		}
		if c.AdminKey == "" {
			bad("admin_key", "must be set with %s: every node on one database needs the same key, and a node must not create its own", name("postgres_url"))
		}
	}
	for _, p := range c.AllowedOrigins {
		// The same matcher coder/websocket uses, so a pattern that passes
		// here cannot fail a handshake later.
		if _, err := path.Match(strings.ToLower(p), ""); err != nil || p == "" {
			bad("allowed_origins", "bad host pattern %q", p)
		}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("log_level", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log_format", "must be text or json, got %q", c.LogFormat)
	}
	if c.MaxFrameBytes < 1024 {
		bad("max_frame_bytes", "%d is below 1024", c.MaxFrameBytes)
	}
	if c.MaxBodyBytes < 1 || int64(c.MaxBodyBytes) > c.MaxFrameBytes {
		bad("max_body_bytes", "%d must be between 1 and %s (%d)", c.MaxBodyBytes, name("max_frame_bytes"), c.MaxFrameBytes)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"ping_interval", c.PingInterval}, {"idle_timeout", c.IdleTimeout},
		{"connect_timeout", c.ConnectTimeout}, {"write_timeout", c.WriteTimeout},
		{"request_timeout", c.RequestTimeout}, {"shutdown_timeout", c.ShutdownTimeout},
	} {
		if d.v <= 0 {
			bad(d.key, "must be positive, got %v", d.v)
		}
	}
	if c.IdleTimeout <= c.PingInterval {
		bad("idle_timeout", "must exceed %s (%v <= %v)", name("ping_interval"), c.IdleTimeout, c.PingInterval)
	}
	positive := []struct {
		key string
		v   int64
		min int64
	}{
		{"send_queue", int64(c.SendQueue), 1},
		{"max_queue_bytes", c.MaxQueueBytes, 4096},
		{"max_unauthenticated", int64(c.MaxUnauthenticated), 1},
		{"max_inflight", int64(c.MaxInflight), 1},
		{"burst_per_conn", int64(c.BurstPerConn), 1},
		{"burst_per_user", int64(c.BurstPerUser), 1},
		{"max_conns_per_user", int64(c.MaxConnsPerUser), 1},
		{"max_group_members", int64(c.MaxGroupMembers), 2},
		{"store_cache_bytes", c.StoreCacheBytes, 0},
		{"engine_memory", c.EngineMemory, 0},
		{"receipts.max_group_size", int64(c.Receipts.MaxGroupSize), 1},
	}
	for _, p := range positive {
		if p.v < p.min {
			bad(p.key, "must be at least %d, got %d", p.min, p.v)
		}
	}
	if c.RatePerConn <= 0 {
		bad("rate_per_conn", "must be positive, got %v", c.RatePerConn)
	}
	if c.RatePerUser <= 0 {
		bad("rate_per_user", "must be positive, got %v", c.RatePerUser)
	}
	r := c.Receipts
	if r.TTL < 0 {
		bad("receipts.ttl", "must not be negative, got %v", r.TTL)
	}
	if r.WhoMayRequest != "all" && r.WhoMayRequest != "admins" {
		bad("receipts.who_may_request", "must be all or admins, got %q", r.WhoMayRequest)
	}
	if r.Visibility != "sender" && r.Visibility != "members" {
		bad("receipts.visibility", "must be sender or members, got %q", r.Visibility)
	}
	if len(r.GroupTypes) == 0 {
		bad("receipts.group_types", "is empty (use * for all)")
	}
	if r.Coalesce <= 0 {
		bad("receipts.coalesce", "must be positive, got %v", r.Coalesce)
	}
	c.Webhooks.validate(bad, name)

	return errors.Join(errs...)
}

// SharingRequired reports whether reads in groups of type t are always
// shared.
func (r Receipts) SharingRequired(t string) bool {
	for _, g := range r.RequireSharing {
		// An empty entry (SEEN_RECEIPTS_REQUIRE_SHARING="") names no type.
		if g == "*" || (g != "" && strings.EqualFold(g, t)) {
			return true
		}
	}
	return false
}

// ReceiptsForType reports whether groups of type t may use receipts.
func (r Receipts) ReceiptsForType(t string) bool {
	for _, g := range r.GroupTypes {
		if g == "*" || strings.EqualFold(g, t) {
			return true
		}
	}
	return false
}

// Clustered reports whether the node shares its store and bus with other
// nodes (NATSURL set), rather than being the only node on its store.
func (c *Config) Clustered() bool { return c.NATSURL != "" }

// DemoEnabled reports whether the demo token endpoint is on.
func (c *Config) DemoEnabled() bool {
	switch c.Demo {
	case "on":
		return true
	case "auto":
		host, _, err := net.SplitHostPort(c.Listen)
		if err != nil {
			return false
		}
		if host == "localhost" {
			return true
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	}
	return false
}
