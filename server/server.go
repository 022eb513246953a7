// Package server assembles a Seen node: store, bus, service, the client
// WebSocket endpoint, the admin API, health and metrics. cmd/seen is a thin
// shell around it; tests and embedding programs use it directly.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seen-im/seen/internal/auth"
	"github.com/seen-im/seen/internal/buildinfo"
	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/bus/natsbus"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/metrics"
	"github.com/seen-im/seen/internal/routines"
	"github.com/seen-im/seen/internal/service"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pgstore"
	"github.com/seen-im/seen/internal/store/storewrap"
	"github.com/seen-im/seen/internal/transport/admin"
	"github.com/seen-im/seen/internal/transport/ws"
	"github.com/seen-im/seen/internal/webhook"
	"github.com/seen-im/seen/web"
)

// Server is one Seen node.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	metrics *metrics.Metrics
	store   store.Store
	bus     bus.Bus
	tokens  *auth.Tokens
	svc     *service.Service
	ws      *ws.Handler
	// hooks delivers the webhook outbox.
	hooks *webhook.Dispatcher

	// pg and nats are the PostgreSQL store and the NATS bus when the
	// configuration chose them, else nil; pgHealth pings pg for /healthz.
	pg       *pgstore.Store
	pgHealth *pingCache
	nats     *natsbus.Bus

	storeHook storewrap.Hook // nil: none
	// checkLookups: WithCheckedLookups.
	checkLookups bool
	build        buildinfo.Info

	httpSrv  *http.Server
	adminSrv *http.Server // nil unless AdminListen is set

	fatal chan error // buffered 1: the store failed for good

	// routines owns the server's own goroutines: the listeners' Serve
	// loops and the store's close. Shutdown joins them.
	routines routines.Group
	// base is the HTTP requests' base context; cancelBase ends it when
	// Shutdown runs out of time, so that requests still running (an admin
	// call stuck on the store) give up.
	base       context.Context
	cancelBase context.CancelFunc

	mu       sync.Mutex
	ln       net.Listener // guarded by mu; set by Start
	adminLn  net.Listener // guarded by mu
	serveErr chan error   // one per running listener
	stopOnce sync.Once
	stopErr  error
}

// Config is the server's configuration, for programs that embed the
// server: start from DefaultConfig, change what you need, pass it to New.
// PostgresURL and NATSURL choose the store and the bus (docs/cluster.md).
type Config = config.Config

// Receipts is Config's receipt policy section.
type Receipts = config.Receipts

// DefaultConfig returns the documented defaults: one node on the embedded
// store in ./seen-data.
func DefaultConfig() Config { return config.Default() }

// Option changes how New builds the server.
type Option func(*Server)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithBuildInfo sets what seen_build_info reports (default: the running
// binary's build info).
func WithBuildInfo(i buildinfo.Info) Option { return func(s *Server) { s.build = i } }

// WithStoreHook runs every store call through hook, inside the metrics
// (tests inject faults with it).
func WithStoreHook(hook storewrap.Hook) Option { return func(s *Server) { s.storeHook = hook } }

// WithCheckedLookups makes a single node on PostgreSQL, which answers
// lookups from memory as the database's only writer, check every such
// answer against the database; a difference fails the request. For tests:
// it costs a database read per answer.
func WithCheckedLookups() Option { return func(s *Server) { s.checkLookups = true } }

// New validates cfg, opens the store and builds the node. Nothing listens
// until Start.
func New(cfg Config, opts ...Option) (*Server, error) {
	s := &Server{cfg: cfg, log: slog.New(slog.DiscardHandler), fatal: make(chan error, 1), build: buildinfo.Read("")}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	for _, o := range opts {
		o(s)
	}
	if err := s.cfg.Validate(); err != nil {
		return nil, err
	}
	// Validate refused a node on PostgreSQL without its secrets: only
	// an embedded node keeps (and creates) them in its data directory.
	var err error
	if s.cfg.PostgresURL == "" {
		if err := os.MkdirAll(s.cfg.Data, 0o700); err != nil {
			return nil, fmt.Errorf("server: data directory: %w", err)
		}
		if s.cfg.TokenSecret == "" {
			if s.cfg.TokenSecret, err = loadOrCreateSecret(filepath.Join(s.cfg.Data, "token-secret")); err != nil {
				return nil, err
			}
		}
		if s.cfg.AdminKey == "" {
			if s.cfg.AdminKey, err = loadOrCreateSecret(filepath.Join(s.cfg.Data, "admin-key")); err != nil {
				return nil, err
			}
		}
	}
	s.metrics = metrics.New()
	if err := s.metrics.Registry.Register(s.build.Collector()); err != nil {
		return nil, fmt.Errorf("server: build info metric: %w", err)
	}
	st, err := s.openStore()
	if err != nil {
		return nil, err
	}
	var wrapped store.Store = st
	if s.storeHook != nil {
		wrapped = storewrap.Wrap(wrapped, s.storeHook)
	}
	s.store = storewrap.Wrap(wrapped, s.metrics.StoreHook())
	if s.bus, err = s.openBus(); err != nil {
		return nil, errors.Join(err, st.Close())
	}
	ctx, cancel := context.WithTimeout(s.base, s.cfg.RequestTimeout)
	err = syncStaticWebhook(ctx, s.store, s.cfg.Webhooks, time.Now())
	cancel()
	if err != nil {
		return nil, errors.Join(err, s.bus.Close(), st.Close())
	}
	s.hooks = webhook.New(webhook.Options{
		Store: s.store, Settings: webhookSettings(s.cfg.Webhooks), Logger: s.log, Metrics: &s.metrics.Webhooks,
	})
	s.tokens = auth.New(s.cfg.TokenSecret, nil)
	// Deliveries enqueued go out at once, not at the dispatcher's next poll.
	svc := service.New(service.Options{Store: s.store, Bus: s.bus, Config: s.cfg, Logger: s.log, Metrics: s.metrics, WebhookNotify: s.hooks.Notify})
	s.svc = svc
	if s.nats != nil {
		// The service exists after its bus: other nodes' events to a
		// large group are resolved to this node's members by it.
		s.nats.SetResolver(svc.ConvMembers)
	}
	s.ws = ws.New(ws.Options{
		Service: svc, Tokens: s.tokens, Bus: s.bus, Config: s.cfg, Metrics: s.metrics, Logger: s.log,
		OriginPatterns: s.cfg.AllowedOrigins,
	})
	adminAPI := logAdmin(s.log, admin.New(admin.Options{
		Service: svc, Tokens: s.tokens, Key: s.cfg.AdminKey, Logger: s.log,
		Metrics: promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}),
	}))

	mux := http.NewServeMux()
	mux.Handle("GET /v1/ws", logConns(s.log, s.ws))
	mux.HandleFunc("GET /healthz", s.healthz)
	// The browser demo: its pages always, its token endpoint in demo mode only.
	mux.Handle("/", http.FileServerFS(web.Static()))
	if s.cfg.DemoEnabled() {
		mux.Handle("POST /v1/demo/token", demoToken(svc, s.tokens))
	}
	// /metrics goes with the admin API, behind its key.
	if s.cfg.AdminListen == "" {
		mux.Handle("/v1/admin/", adminAPI)
		mux.Handle("GET /metrics", adminAPI)
	} else {
		amux := http.NewServeMux()
		amux.Handle("/v1/admin/", adminAPI)
		amux.Handle("GET /metrics", adminAPI)
		amux.HandleFunc("GET /healthz", s.healthz)
		s.adminSrv = &http.Server{Handler: amux, ReadHeaderTimeout: 10 * time.Second, BaseContext: s.baseContext}
	}
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ConnContext: ws.ConnContext, BaseContext: s.baseContext}
	return s, nil
}

func (s *Server) baseContext(net.Listener) context.Context { return s.base }

// Config returns the configuration in force, secrets filled in.
func (s *Server) Config() Config { return s.cfg }

// Tokens returns the token minter, for tests and the token subcommand.
func (s *Server) Tokens() *auth.Tokens { return s.tokens }

// Start listens and serves in the background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return errors.New("server: already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("server: listen: %w", err)
	}
	s.serveErr = make(chan error, 2)
	if s.adminSrv != nil {
		aln, err := net.Listen("tcp", s.cfg.AdminListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("server: admin listen: %w", err)
		}
		s.adminLn = aln
		s.routines.Go("admin listener", func() { s.serveErr <- s.adminSrv.Serve(aln) })
	}
	s.ln = ln
	// Webhook timers fire once the node serves (those due while it was
	// down at once); the service's Close stops them.
	s.svc.StartTimers()
	s.hooks.Start()
	// Connections from this listener can batch WebSocket frames into one
	// system call (see ws.Listener).
	s.routines.Go("client listener", func() { s.serveErr <- s.httpSrv.Serve(ws.Listener(ln, s.cfg.WriteTimeout)) })
	where := []any{"data", s.cfg.Data}
	if s.pg != nil {
		where = []any{"store", "postgresql", "bus", map[bool]string{true: "nats", false: "in-process"}[s.nats != nil]}
	}
	s.log.Info("seen serving", append([]any{"addr", ln.Addr().String(), "demo", s.cfg.DemoEnabled()}, where...)...)
	if s.cfg.DemoEnabled() {
		s.log.Warn("demo tokens are ON: anyone who reaches "+ln.Addr().String()+
			" can get a token for a new user name (POST /v1/demo/token); set SEEN_DEMO=off for a real deployment",
			"demo", s.cfg.Demo)
	}
	for _, p := range s.cfg.AllowedOrigins {
		if p == "*" || p == "*://*" {
			s.log.Warn("allowed_origins has "+p+": pages on any web site may open WebSockets to this server (see docs/security.md)",
				"allowed_origins", s.cfg.AllowedOrigins)
		}
	}
	return nil
}

// Addr is the client listener's address once started.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// AdminAddr is the admin listener's address: Addr unless AdminListen is set.
func (s *Server) AdminAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.adminLn != nil {
		return s.adminLn.Addr().String()
	}
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Run starts the server and serves until ctx ends, then shuts down.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		defer cancel()
		return errors.Join(err, s.closeBackends(ctx))
	}
	var cause error
	select {
	case <-ctx.Done():
	case err := <-s.serveErr:
		s.log.Error("listener failed", "err", err)
		cause = err
	case err := <-s.fatal:
		// Durability can no longer be promised: stop. A restart replays
		// the log to what was made durable.
		s.log.Error("stopping: the store failed", "err", err)
		cause = err
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(cause, s.Shutdown(sctx))
}

// Shutdown stops taking connections, lets requests in progress finish,
// closes every socket with 1001, sends pending receipt.changed events, then
// closes the bus and the store, and joins the server's goroutines. It
// returns by the time ctx ends, even if the store stalls: what is still
// running then is cancelled, named in the error, and left to end when its
// store call returns. It is safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		var errs []error
		// Out of time, requests still running are cancelled, so that
		// their store calls give up.
		stop := context.AfterFunc(ctx, s.cancelBase)
		defer stop()
		defer s.cancelBase()
		// http.Server.Shutdown closes the listeners and idle HTTP
		// connections; hijacked WebSockets are the ws handler's to drain.
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
		if s.adminSrv != nil {
			if err := s.adminSrv.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("admin shutdown: %w", err))
			}
		}
		// The ws handler aborts its sockets when ctx ends, then waits for
		// their request goroutines, which a store call that ignores its
		// context can hold: it is waited for until ctx ends, no longer.
		wsDone := make(chan error, 1)
		s.routines.Go("websocket shutdown", func() { wsDone <- s.ws.Shutdown(ctx) })
		select {
		case err := <-wsDone:
			if err != nil {
				errs = append(errs, fmt.Errorf("websocket shutdown: %w", err))
			}
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("websocket shutdown: %w", ctx.Err()))
		}
		errs = append(errs, s.closeBackends(ctx))
		// The Serve loops have returned once their listeners closed.
		if err := s.routines.Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("server: %w", err))
		}
		s.stopErr = errors.Join(errs...)
		if s.stopErr != nil {
			s.log.Error("seen stopped", "err", s.stopErr)
		} else {
			s.log.Info("seen stopped")
		}
	})
	return s.stopErr
}

// closeBackends closes the service, the bus and the store, in that order,
// until ctx ends.
func (s *Server) closeBackends(ctx context.Context) error {
	var errs []error
	// Webhook calls in flight are cancelled and handed back to the store
	// before it closes.
	if s.hooks != nil {
		errs = append(errs, s.hooks.Close(ctx))
	}
	// Pending receipt.changed events go out before the bus closes.
	errs = append(errs, s.svc.Close(ctx), s.bus.Close())
	// The store's Close waits for its calls in flight, which a stalled
	// disk can hold for ever: it runs on a goroutine of its own, waited
	// for until ctx ends.
	closed := make(chan error, 1)
	s.routines.Go("store close", func() { closed <- s.store.Close() })
	select {
	case err := <-closed:
		errs = append(errs, err)
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("server: store close did not finish: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

// healthz answers 200 while the node can serve, and 503, naming what it
// cannot reach, while PostgreSQL does not answer or NATS is away: a load
// balancer then sends new clients to another node.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	if down := s.health(r.Context()); len(down) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("unreachable: " + strings.Join(down, ", ") + "\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// loadOrCreateSecret reads a secret from path, creating a random one on
// first start. The file is private to the server's user.
func loadOrCreateSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if v := strings.TrimSpace(string(b)); len(v) >= 16 {
			return v, nil
		}
		return "", fmt.Errorf("server: %s holds fewer than 16 bytes", path)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("server: read %s: %w", path, err)
	}
	var r [32]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("server: random secret: %w", err)
	}
	v := hex.EncodeToString(r[:])
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("server: write %s: %w", path, err)
	}
	return v, nil
}
