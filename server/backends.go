package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/bus/natsbus"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/internal/store/pgstore"
)

// openTimeout bounds connecting to PostgreSQL (and migrating) and to NATS
// at start-up.
const openTimeout = 30 * time.Second

// openStore opens the store the configuration names: PostgreSQL if
// PostgresURL is set, with the node lock that says how this node shares the
// database, else the embedded store in the data directory.
func (s *Server) openStore() (store.Store, error) {
	if s.cfg.PostgresURL == "" {
		if err := os.MkdirAll(s.cfg.Data, 0o700); err != nil {
			return nil, fmt.Errorf("server: data directory: %w", err)
		}
		st, err := pebblestore.Open(filepath.Join(s.cfg.Data, "store"), pebblestore.Options{
			CacheBytes:    s.cfg.StoreCacheBytes,
			MemtableBytes: s.cfg.StoreMemtableBytes,
			Logger:        s.log,
			Observer:      &s.metrics.Pipeline,
			OnFatal: func(err error) {
				select {
				case s.fatal <- err:
				default:
				}
			},
		})
		if err != nil {
			return nil, fmt.Errorf("server: open store: %w", err)
		}
		return st, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	pg, err := pgstore.Open(ctx, s.cfg.PostgresURL, pgstore.Options{Logger: s.log, Observer: &s.metrics.Pipeline,
		CheckCachedLookups: s.checkLookups})
	if err != nil {
		return nil, fmt.Errorf("server: open the PostgreSQL store: %w", err)
	}
	if err := pg.LockNode(ctx, s.cfg.Clustered()); err != nil {
		_ = pg.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	s.pg = pg
	s.pgHealth = newPingCache(pg.Ping, time.Second, func(err error) {
		if err != nil {
			s.log.Warn("postgresql does not answer: /healthz answers 503", "err", err)
		} else {
			s.log.Info("postgresql answers again")
		}
	})
	s.metrics.Registry.MustRegister(poolCollector(pg))
	return pg, nil
}

// openBus connects to NATS if NATSURL is set, else gives the in-process
// bus. The service, made next, sets itself as the bus's sync receiver.
func (s *Server) openBus() (bus.Bus, error) {
	if s.cfg.NATSURL == "" {
		return local.New(), nil
	}
	reconnects := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "seen_nats_reconnects_total", Help: "Times the node's NATS connection came back after a loss.",
	})
	host, _ := os.Hostname()
	nb, err := natsbus.New(natsbus.Options{
		URL: s.cfg.NATSURL,
		// The node's id among the live nodes: unique even for nodes of
		// one process (tests run several).
		Name: "seen " + host + " pid " + strconv.Itoa(os.Getpid()) + " " + rand.Text()[:8],
		// The bus tells the service itself (bus.SyncReceiver) when other
		// nodes' messages may have been lost: a reconnect, a full queue,
		// a node gone silent. Its engines reload from the store.
		OnReconnect: func() { reconnects.Inc() },
		Log:         s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("server: connect to NATS: %w", err)
	}
	s.nats = nb
	s.metrics.Registry.MustRegister(reconnects,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "seen_nats_connected", Help: "1 while the node is connected to NATS, else 0.",
		}, func() float64 {
			if nb.Connected() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "seen_nats_dropped_total",
			Help: "Events from other nodes lost on this node (delivery queue full, or undecodable).",
		}, func() float64 { return float64(nb.Dropped()) }),
	)
	return nb, nil
}

// health names what the node cannot reach now (PostgreSQL, NATS), or
// returns nil. The embedded store and the in-process bus are always there.
// The names go to whoever asks /healthz; the causes go to the log only
// (an address is nobody else's business).
func (s *Server) health(ctx context.Context) []string {
	var down []string
	if s.pgHealth != nil && s.pgHealth.check(ctx) != nil {
		down = append(down, "postgresql")
	}
	if s.nats != nil && !s.nats.Connected() {
		down = append(down, "nats")
	}
	return down
}

// pingCache keeps a ping's result for a while, so that /healthz, which load
// balancers call often, costs at most one round trip per period.
type pingCache struct {
	ping    func(context.Context) error
	every   time.Duration
	changed func(err error) // told when the ping starts or stops failing

	mu   chan struct{} // a one-slot lock, so a waiting check can give up with its context
	at   time.Time     // guarded by mu
	last error         // guarded by mu
}

func newPingCache(ping func(context.Context) error, every time.Duration, changed func(error)) *pingCache {
	return &pingCache{ping: ping, every: every, changed: changed, mu: make(chan struct{}, 1)}
}

// check returns the last ping's result if it is recent, else pings.
func (p *pingCache) check(ctx context.Context) error {
	select {
	case p.mu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.mu }()
	if !p.at.IsZero() && time.Since(p.at) < p.every {
		return p.last
	}
	// Not the request's context: a client that hangs up must not record
	// a failed ping for everyone else.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.every)
	defer cancel()
	err := p.ping(pctx)
	if (err == nil) != (p.last == nil) || p.at.IsZero() && err != nil {
		p.changed(err)
	}
	p.last, p.at = err, time.Now()
	return p.last
}

// poolCollector exports the PostgreSQL pool's figures at scrape time.
func poolCollector(pg *pgstore.Store) prometheus.Collector {
	return &poolStats{pg: pg}
}

type poolStats struct{ pg *pgstore.Store }

var (
	poolAcquired = prometheus.NewDesc("seen_postgres_pool_acquired_conns", "PostgreSQL connections in use.", nil, nil)
	poolIdle     = prometheus.NewDesc("seen_postgres_pool_idle_conns", "PostgreSQL connections idle in the pool.", nil, nil)
	poolTotal    = prometheus.NewDesc("seen_postgres_pool_total_conns", "PostgreSQL connections open (in use, idle, being opened).", nil, nil)
	poolMax      = prometheus.NewDesc("seen_postgres_pool_max_conns", "The pool's bound on connections.", nil, nil)
	poolWaits    = prometheus.NewDesc("seen_postgres_pool_empty_acquires_total", "Acquires that had to wait for a connection.", nil, nil)
	poolWaitSecs = prometheus.NewDesc("seen_postgres_pool_acquire_wait_seconds_total", "Time spent waiting for a connection, across acquires that waited.", nil, nil)
	poolAcquires = prometheus.NewDesc("seen_postgres_pool_acquires_total", "Connections taken from the pool.", nil, nil)
	cacheOn      = prometheus.NewDesc("seen_postgres_lookup_cache_on", "1 while the node, the database's only writer, answers lookups from memory; 0 on a cluster node, or once its node lock was lost.", nil, nil)
	cacheRecords = prometheus.NewDesc("seen_postgres_lookup_cache_records", "Records (members, groups, last seqs, messages) the lookup cache holds.", nil, nil)
	cacheAnswers = prometheus.NewDesc("seen_postgres_lookup_cache_answers_total", "Lookups answered from memory, without a database round trip.", nil, nil)
)

func (p *poolStats) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolAcquired, poolIdle, poolTotal, poolMax, poolWaits, poolWaitSecs, poolAcquires, cacheOn, cacheRecords, cacheAnswers} {
		ch <- d
	}
}

func (p *poolStats) Collect(ch chan<- prometheus.Metric) {
	st := p.pg.Stat()
	ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(st.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(st.IdleConns()))
	ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(st.TotalConns()))
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(st.MaxConns()))
	ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(st.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWaitSecs, prometheus.CounterValue, st.EmptyAcquireWaitTime().Seconds())
	ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(st.AcquireCount()))
	cs := p.pg.LookupCacheStat()
	on := 0.0
	if cs.On {
		on = 1
	}
	ch <- prometheus.MustNewConstMetric(cacheOn, prometheus.GaugeValue, on)
	ch <- prometheus.MustNewConstMetric(cacheRecords, prometheus.GaugeValue, float64(cs.Records))
	ch <- prometheus.MustNewConstMetric(cacheAnswers, prometheus.CounterValue, float64(cs.Answered))
}
