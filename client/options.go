package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Defaults of the options.
const (
	DefaultBackoffMin     = 200 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultDeliveredDelay = 50 * time.Millisecond
	DefaultReadLimit      = 16 << 20 // a full history page of large bodies fits
	DefaultEventQueue     = 4096
	DefaultConnectTimeout = 15 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
)

// An Option configures a Client at Dial.
type Option func(*config)

// config is what Dial was given, with defaults filled in. It does not change
// after Dial.
type config struct {
	url            string
	token          string
	tokenProvider  func(context.Context) (string, error)
	device         string
	logger         *slog.Logger
	reconnect      bool
	backoffMin     time.Duration
	backoffMax     time.Duration
	autoDelivered  bool
	readBatching   bool
	deliveredDelay time.Duration
	readLimit      int64
	eventQueue     int
	connectTimeout time.Duration
	writeTimeout   time.Duration
	header         http.Header
	httpClient     *http.Client
	writeDeadlines bool // httpClient's sockets bound every write (deadline.go)
	handlers       []Handlers
}

func newConfig(url, token string, opts []Option) (config, error) {
	cfg := config{
		url:            url,
		token:          token,
		reconnect:      true,
		backoffMin:     DefaultBackoffMin,
		backoffMax:     DefaultBackoffMax,
		autoDelivered:  true,
		readBatching:   true,
		deliveredDelay: DefaultDeliveredDelay,
		readLimit:      DefaultReadLimit,
		eventQueue:     DefaultEventQueue,
		connectTimeout: DefaultConnectTimeout,
		writeTimeout:   DefaultWriteTimeout,
	}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.url == "" {
		return cfg, errors.New("client: empty url")
	}
	if cfg.token == "" && cfg.tokenProvider == nil {
		return cfg, errors.New("client: no token and no token provider")
	}
	if cfg.backoffMin <= 0 || cfg.backoffMax < cfg.backoffMin {
		return cfg, fmt.Errorf("client: bad backoff %v..%v", cfg.backoffMin, cfg.backoffMax)
	}
	if cfg.deliveredDelay < 0 {
		return cfg, fmt.Errorf("client: negative delivered delay %v", cfg.deliveredDelay)
	}
	if cfg.eventQueue < 1 {
		return cfg, fmt.Errorf("client: event queue size %d, want at least 1", cfg.eventQueue)
	}
	if cfg.connectTimeout <= 0 || cfg.writeTimeout <= 0 {
		return cfg, errors.New("client: timeouts must be positive")
	}
	cfg.httpClient, cfg.writeDeadlines = deadlineClient(cfg.httpClient, cfg.writeTimeout)
	return cfg, nil
}

// WithDevice names this device in connect. Without it the server picks a
// name, and reconnects reuse the name the server answered.
func WithDevice(name string) Option { return func(c *config) { c.device = name } }

// WithLogger sets the logger. The default discards everything.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithReconnect turns reconnecting after an unexpected drop on or off
// (default on).
func WithReconnect(on bool) Option { return func(c *config) { c.reconnect = on } }

// WithBackoff sets the bounds of the reconnect delay (default 200ms..30s).
// The delay doubles per failed attempt from min up to max; each wait is drawn
// uniformly from the upper half of the current step (jitter).
func WithBackoff(min, max time.Duration) Option {
	return func(c *config) { c.backoffMin, c.backoffMax = min, max }
}

// WithAutoDelivered turns automatic message.delivered acks on or off
// (default on).
func WithAutoDelivered(on bool) Option { return func(c *config) { c.autoDelivered = on } }

// WithReadBatching turns the sharing of message.read requests by Read on or
// off (default on): see Read. Off, every Read sends its own request.
// MarkRead always shares.
func WithReadBatching(on bool) Option { return func(c *config) { c.readBatching = on } }

// WithDeliveredDelay sets how long delivered acks are collected before one
// ack per conversation is sent (default 50ms).
func WithDeliveredDelay(d time.Duration) Option { return func(c *config) { c.deliveredDelay = d } }

// WithReadLimit sets the largest frame the client accepts (default 16 MiB;
// -1 for no limit). A larger frame drops the connection.
func WithReadLimit(n int64) Option { return func(c *config) { c.readLimit = n } }

// WithEventQueueSize sets how many events may wait for the handlers
// (default 4096). See the package documentation for what happens when the
// queue is full.
func WithEventQueueSize(n int) Option { return func(c *config) { c.eventQueue = n } }

// WithTokenProvider sets a function that gives the client a token: before
// every connect (Dial's included; Dial's token may then be empty) and,
// while connected, before the current token expires, when the client hands
// the new token to the server with connect.refresh on the live socket. It
// is called at about three quarters of the token's remaining lifetime, and
// at least RefreshLead before its exp when the lifetime allows.
//
// An error from it, or a refresh the server refuses, is retried with
// backoff (WithBackoff) while the connection lasts; if the token runs out
// first, the server closes the socket (close code 4001) and the client
// reconnects with a token from the provider. Without a provider, the token
// given to Dial serves every connect, and a connection closed for its
// expiry reconnects with it only to be refused (401): the client stops.
func WithTokenProvider(f func(context.Context) (string, error)) Option {
	return func(c *config) { c.tokenProvider = f }
}

// WithTokenSource is WithTokenProvider.
//
// Deprecated: use WithTokenProvider; the name says what it now does too
// (refresh before expiry).
func WithTokenSource(f func(context.Context) (string, error)) Option {
	return WithTokenProvider(f)
}

// WithConnectTimeout bounds one dial plus connect (default 15s).
func WithConnectTimeout(d time.Duration) Option { return func(c *config) { c.connectTimeout = d } }

// WithWriteTimeout bounds writing one frame (default 10s). A write that
// times out drops the connection, as a socket that cannot take one frame in
// that time is dead.
func WithWriteTimeout(d time.Duration) Option { return func(c *config) { c.writeTimeout = d } }

// WithHTTPHeader adds headers to the WebSocket handshake request.
func WithHTTPHeader(h http.Header) Option { return func(c *config) { c.header = h.Clone() } }

// WithHTTPClient sets the HTTP client used for the WebSocket handshake.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithHandlers registers event handlers before the connection exists, so no
// event can arrive before they are in place. Nil fields are ignored; the
// option may be given more than once.
func WithHandlers(h Handlers) Option {
	return func(c *config) { c.handlers = append(c.handlers, h) }
}
