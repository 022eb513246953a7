// Package config holds the server's configuration: one documented struct,
// its defaults, and its validation. cmd/seen maps flags and SEEN_*
// environment variables onto it; tests build it directly.
package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Config is the whole server configuration. The zero value is not usable;
// start from Default and change what you need.
type Config struct {
	// Listen is the address of the client WebSocket and HTTP endpoints.
	Listen string `koanf:"listen"`
	// AdminListen, if set, serves the admin API on its own listener and
	// not on Listen.
	AdminListen string `koanf:"admin_listen"`
	// Data is the embedded store's directory.
	Data string `koanf:"data"`
	// AdminKey authenticates the admin API. Empty means the server uses
	// (and on first start creates) <Data>/admin-key.
	AdminKey string `koanf:"admin_key"`
	// Demo is "auto", "on" or "off": whether the browser demo may mint a
	// token for any user name (POST /v1/demo/token). "auto" turns it on only
	// when Listen is a loopback address, so a server reachable from other
	// machines never hands out tokens to whoever asks.
	Demo string `koanf:"demo"`
	// TokenSecret signs and verifies user tokens (HS256). Empty means the
	// server uses (and on first start creates) <Data>/token-secret.
	TokenSecret string `koanf:"token_secret"`

	// MaxFrameBytes is the largest WebSocket frame a client may send.
	MaxFrameBytes int64 `koanf:"max_frame_bytes"`
	// MaxBodyBytes is the largest message body, as encoded JSON.
	MaxBodyBytes int `koanf:"max_body_bytes"`
	// PingInterval is how often the server pings an idle client.
	PingInterval time.Duration `koanf:"ping_interval"`
	// IdleTimeout drops a client that has sent nothing, not even a pong,
	// for this long.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// ConnectTimeout drops a socket that has not sent connect in time.
	ConnectTimeout time.Duration `koanf:"connect_timeout"`
	// WriteTimeout drops a client whose socket does not take a frame
	// within this time.
	WriteTimeout time.Duration `koanf:"write_timeout"`
	// SendQueue is the number of events queued per connection; a client
	// that lets it fill is disconnected. MaxQueueBytes bounds the bytes.
	SendQueue int `koanf:"send_queue"`
	// MaxQueueBytes bounds the bytes waiting to be written to one
	// connection, responses and events together. While more is waiting the
	// server reads no more requests from it; a connection that stays over
	// it for longer than WriteTimeout is dropped, and an event that would
	// put more than MaxQueueBytes of events in the queue drops the client
	// at once. A single response larger than the budget (a history page
	// of large bodies) is still sent.
	MaxQueueBytes int64 `koanf:"max_queue_bytes"`
	// MaxUnauthenticated bounds the sockets, across the node, that are
	// open but have not completed connect; beyond it an upgrade gets 503.
	MaxUnauthenticated int `koanf:"max_unauthenticated"`
	// MaxInflight is the number of requests one connection may have in
	// progress at once; further frames wait (back-pressure on the socket).
	MaxInflight int `koanf:"max_inflight"`
	// RatePerConn and BurstPerConn bound the requests of one connection
	// (token bucket: sustained per second, and burst). Beyond them a request
	// gets 429 with data.retryAfterMs. The burst is sized so that a client
	// catching up (thousands of acks at once) is not refused.
	RatePerConn  float64 `koanf:"rate_per_conn"`
	BurstPerConn int     `koanf:"burst_per_conn"`
	// RatePerUser and BurstPerUser bound the requests of all of one user's
	// connections on this node together.
	RatePerUser  float64 `koanf:"rate_per_user"`
	BurstPerUser int     `koanf:"burst_per_user"`
	// MaxConnsPerUser bounds one user's open connections on this node; a
	// connect beyond it gets 429 and the socket is closed.
	MaxConnsPerUser int `koanf:"max_conns_per_user"`
	// MaxGroupMembers bounds a group's members (403 beyond it).
	MaxGroupMembers int `koanf:"max_group_members"`
	// RequestTimeout bounds one request's work; a request that runs out of
	// it (a stalled store) gets 503 and may be retried.
	RequestTimeout time.Duration `koanf:"request_timeout"`
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`

	// StoreCacheBytes and StoreMemtableBytes size the embedded store.
	StoreCacheBytes    int64  `koanf:"store_cache_bytes"`
	StoreMemtableBytes uint64 `koanf:"store_memtable_bytes"`

	Receipts Receipts `koanf:"receipts"`
}

// Receipts is the receipt policy.
type Receipts struct {
	// TTL is the validity window of group receipts; 0 means never expires.
	TTL time.Duration `koanf:"ttl"`
	// MaxGroupSize is the largest group whose messages may ask for receipts.
	MaxGroupSize int `koanf:"max_group_size"`
	// WhoMayRequest is "all" or "admins": who may ask for receipts in a
	// group (message.send with receipt: true, and receipt.request).
	WhoMayRequest string `koanf:"who_may_request"`
	// Visibility is "sender" or "members": who may query a receipt.
	Visibility string `koanf:"visibility"`
	// GroupTypes lists the group types with receipts; "*" means all.
	GroupTypes []string `koanf:"group_types"`
	// Coalesce is the window over which receipt.changed events to one
	// sender in one conversation are merged.
	Coalesce time.Duration `koanf:"coalesce"`
}

// Default returns the defaults documented in docs/protocol.md.
func Default() Config {
	return Config{
		Listen:             "127.0.0.1:8080",
		Demo:               "auto",
		Data:               "seen-data",
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
		Receipts: Receipts{
			TTL:           0,
			MaxGroupSize:  100000,
			WhoMayRequest: "all",
			Visibility:    "sender",
			GroupTypes:    []string{"*"},
			Coalesce:      200 * time.Millisecond,
		},
	}
}

// Validate reports every problem with c at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("config: "+format, args...)) }
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen %q: %v", c.Listen, err)
	}
	if c.AdminListen != "" {
		if _, _, err := net.SplitHostPort(c.AdminListen); err != nil {
			bad("admin_listen %q: %v", c.AdminListen, err)
		}
	}
	if c.Demo != "auto" && c.Demo != "on" && c.Demo != "off" {
		bad("demo must be auto, on or off, got %q", c.Demo)
	}
	if c.Data == "" {
		bad("data directory is empty")
	}
	if c.TokenSecret != "" && len(c.TokenSecret) < 16 {
		bad("token_secret is shorter than 16 bytes")
	}
	if c.MaxFrameBytes < 1024 {
		bad("max_frame_bytes %d is below 1024", c.MaxFrameBytes)
	}
	if c.MaxBodyBytes < 1 || int64(c.MaxBodyBytes) > c.MaxFrameBytes {
		bad("max_body_bytes %d must be between 1 and max_frame_bytes", c.MaxBodyBytes)
	}
	for name, d := range map[string]time.Duration{
		"ping_interval": c.PingInterval, "idle_timeout": c.IdleTimeout,
		"connect_timeout": c.ConnectTimeout, "write_timeout": c.WriteTimeout,
		"shutdown_timeout": c.ShutdownTimeout, "request_timeout": c.RequestTimeout,
	} {
		if d <= 0 {
			bad("%s must be positive, got %v", name, d)
		}
	}
	if c.IdleTimeout <= c.PingInterval {
		bad("idle_timeout %v must exceed ping_interval %v", c.IdleTimeout, c.PingInterval)
	}
	if c.SendQueue < 1 {
		bad("send_queue must be at least 1")
	}
	if c.MaxQueueBytes < 4096 {
		bad("max_queue_bytes %d is below 4096", c.MaxQueueBytes)
	}
	if c.MaxUnauthenticated < 1 {
		bad("max_unauthenticated must be at least 1")
	}
	if c.MaxInflight < 1 {
		bad("max_inflight must be at least 1")
	}
	if c.RatePerConn <= 0 || c.BurstPerConn < 1 || c.RatePerUser <= 0 || c.BurstPerUser < 1 {
		bad("rate limits must be positive")
	}
	if c.MaxConnsPerUser < 1 {
		bad("max_conns_per_user must be at least 1")
	}
	if c.MaxGroupMembers < 2 {
		bad("max_group_members must be at least 2")
	}
	r := c.Receipts
	if r.TTL < 0 {
		bad("receipts.ttl must not be negative")
	}
	if r.MaxGroupSize < 1 {
		bad("receipts.max_group_size must be at least 1")
	}
	if r.WhoMayRequest != "all" && r.WhoMayRequest != "admins" {
		bad("receipts.who_may_request must be all or admins, got %q", r.WhoMayRequest)
	}
	if r.Visibility != "sender" && r.Visibility != "members" {
		bad("receipts.visibility must be sender or members, got %q", r.Visibility)
	}
	if len(r.GroupTypes) == 0 {
		bad("receipts.group_types is empty (use * for all)")
	}
	if r.Coalesce <= 0 {
		bad("receipts.coalesce must be positive")
	}
	return errors.Join(errs...)
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
