package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/seen-im/seen/internal/metrics"
	"github.com/seen-im/seen/internal/routines"
	"github.com/seen-im/seen/internal/store"
)

// Settings tune delivery. The server fills them from config.Webhooks; a
// zero field takes the default below.
type Settings struct {
	// RetryMin and RetryMax bound the delay before a retry (backoff).
	RetryMin, RetryMax time.Duration
	// MaxAttempts is the number of calls after which a failing delivery
	// is dead.
	MaxAttempts int
	// MaxAge kills a failing delivery older than this (from its
	// CreatedAt) whatever its attempts; 0: no age limit.
	MaxAge time.Duration
	// Concurrency is the most calls in flight to one endpoint.
	Concurrency int
	// Timeout bounds one call: connect, request, response.
	Timeout time.Duration
	// DenyPrivate refuses loopback, private and link-local targets.
	DenyPrivate bool
	// PollInterval is how often the outbox is claimed when Notify is not
	// called.
	PollInterval time.Duration
	// MaxHeld bounds the claimed deliveries this node holds, in flight or
	// queued behind their endpoint's limit, all endpoints together: with
	// their payloads, the dispatcher's memory.
	MaxHeld int
}

// The defaults. With them a delivery that keeps failing is retried
// after about 5-10 s, 10-20 s, 20-40 s, ... (doubling), 30-60 min from
// the 10th retry on, and dead after 30 attempts, roughly 11-21 hours
// after the first, or once it is 24 hours old, whichever comes first.
const (
	DefaultRetryMin     = 5 * time.Second
	DefaultRetryMax     = time.Hour
	DefaultMaxAttempts  = 30
	DefaultMaxAge       = 24 * time.Hour
	DefaultConcurrency  = 8
	DefaultTimeout      = 10 * time.Second
	DefaultPollInterval = 250 * time.Millisecond
	DefaultMaxHeld      = 1000
)

const (
	// leaseMargin is added to the calls a lease must cover: the call,
	// then FinishDelivery, must end within it, or another node may take
	// the delivery too (a duplicate with the same webhook-id, which
	// receivers deduplicate).
	leaseMargin = 5 * time.Second
	// claimBatch bounds the rows of one claim.
	claimBatch = 100
	// laneQueue is how many claimed deliveries wait behind one endpoint's
	// calls in flight. Rows beyond it are put back (see lane.deferFor).
	laneQueue = claimBatch
	// minDefer is the least a claimed delivery whose endpoint has no
	// room is put back by: later claims then reach other endpoints'
	// deliveries first, so a slow endpoint's backlog cannot hold them up.
	minDefer = time.Second
	// endpointsTTL is how long the endpoint list is trusted; a delivery
	// naming an endpoint not in it reloads it at once.
	endpointsTTL = time.Second
	// DeliveredRetention is how long a delivered row stays in the outbox
	// (and in the admin API's lists) before a prune deletes it: longer
	// than any retry of its enqueue can come, so a pruned event is never
	// enqueued again as new.
	DeliveredRetention = 24 * time.Hour
	// pruneInterval is how often a node prunes; every node does, which is
	// harmless: a prune deletes what is there.
	pruneInterval = 10 * time.Minute
	// storeTimeout bounds one store call of the dispatcher.
	storeTimeout = 10 * time.Second
	// maxResponseBytes is the most of a response body read (for
	// LastError, and to let the connection be reused).
	maxResponseBytes = 64 << 10
	// maxLastError bounds LastError as stored.
	maxLastError = 500
)

// lease is how long a claim holds its rows: a queued row waits for at
// most one call per slot ahead of it before its own; one that waited
// longer is put back before its call (lane.next), never called late.
func (s Settings) lease() time.Duration { return 2*s.Timeout + leaseMargin }

func (s Settings) withDefaults() Settings {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&s.RetryMin, DefaultRetryMin)
	def(&s.RetryMax, DefaultRetryMax)
	def(&s.Timeout, DefaultTimeout)
	def(&s.PollInterval, DefaultPollInterval)
	if s.RetryMax < s.RetryMin {
		s.RetryMax = s.RetryMin
	}
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = DefaultMaxAttempts
	}
	if s.Concurrency <= 0 {
		s.Concurrency = DefaultConcurrency
	}
	if s.MaxHeld <= 0 {
		s.MaxHeld = DefaultMaxHeld
	}
	return s
}

// Options build a Dispatcher.
type Options struct {
	Store    store.Webhooks
	Settings Settings
	Logger   *slog.Logger      // nil: discard
	Metrics  *metrics.Webhooks // nil: a private, unregistered set
	Now      func() time.Time  // nil: time.Now
}

// Dispatcher drains the outbox: it claims due deliveries, POSTs each to
// its endpoint, signed, and records the outcome. Several dispatchers, on
// one node or many, may share a store: a claim hands a delivery to one of
// them until its lease runs out.
//
// # Concurrency
//
// One claim goroutine (loop) claims deliveries and hands each to its
// endpoint's lane (lane.go): up to Concurrency worker goroutines per
// endpoint make the calls, one after another, from a bounded queue. Rows
// that find the queue full are put back in the store, due a little later.
// All goroutines are owned by routines and joined by Close. The endpoint
// cache is the claim goroutine's alone.
type Dispatcher struct {
	set    Settings
	store  store.Webhooks
	log    *slog.Logger
	met    *metrics.Webhooks
	now    func() time.Time
	client *http.Client

	ctx    context.Context // cancelled by Close: calls and store calls give up
	cancel context.CancelFunc
	wake   chan struct{} // buffered 1: Notify's non-blocking wake
	stop   chan struct{} // closed by Close
	once   sync.Once

	routines routines.Group

	mu      sync.Mutex
	lanes   map[string]*lane // guarded by mu: endpoints with deliveries held
	held    int              // guarded by mu: deliveries held, in flight or queued, all lanes
	closing bool             // guarded by mu: workers stop taking queued rows
	starved bool             // guarded by mu: a claim found MaxHeld held; a finishing worker wakes the loop

	// The endpoint cache, the claim goroutine's alone.
	eps   map[string]store.Webhook
	epsAt time.Time
}

// New returns a dispatcher; Start runs it.
func New(o Options) *Dispatcher {
	set := o.Settings.withDefaults()
	d := &Dispatcher{
		set: set, store: o.Store, log: o.Logger, met: o.Metrics, now: o.Now,
		client: newClient(set.Timeout, set.DenyPrivate),
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		lanes:  make(map[string]*lane),
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.met == nil {
		d.met = &metrics.New().Webhooks
	}
	if d.now == nil {
		d.now = time.Now
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

// Start runs the claim loop in the background.
func (d *Dispatcher) Start() {
	d.routines.Go("webhook claim loop", d.loop)
}

// Notify wakes the claim loop at once (deliveries were enqueued); it
// never blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Close stops claiming, cancels the calls in flight and joins every
// goroutine until ctx ends. A cancelled call's delivery is handed back
// unchanged, due at once: a restarted node, or another, delivers it (a
// receiver may see it twice, with the same webhook-id).
func (d *Dispatcher) Close(ctx context.Context) error {
	d.once.Do(func() {
		close(d.stop)
		d.routines.Stop()
		d.mu.Lock()
		d.closing = true
		d.mu.Unlock()
		d.cancel()
	})
	if err := d.routines.Wait(ctx); err != nil {
		return fmt.Errorf("webhook dispatcher: %w", err)
	}
	return nil
}

func (d *Dispatcher) loop() {
	t := time.NewTicker(d.set.PollInterval)
	defer t.Stop()
	var pruned time.Time
	for {
		if now := d.now(); now.Sub(pruned) >= pruneInterval {
			d.prune(now)
			pruned = now
		}
		full := d.pass()
		if !full {
			select {
			case <-d.stop:
				return
			case <-t.C:
			case <-d.wake:
			}
		}
		select {
		case <-d.stop:
			return
		default:
		}
	}
}

// prune deletes the delivered rows older than DeliveredRetention, so the
// outbox holds what is pending, dead, or recent.
func (d *Dispatcher) prune(now time.Time) {
	ctx, cancel := context.WithTimeout(d.ctx, storeTimeout)
	defer cancel()
	n, err := d.store.PruneDeliveries(ctx, now.Add(-DeliveredRetention).UnixMilli())
	if err != nil {
		if d.ctx.Err() == nil {
			d.log.Warn("webhook: prune delivered rows", "err", err)
		}
		return
	}
	if n > 0 {
		d.log.Info("webhook: pruned delivered rows", "rows", n)
	}
}

// pass claims what the lanes can take and hands it to them. It reports
// whether it took a full batch: more may be due at once.
func (d *Dispatcher) pass() (more bool) {
	d.mu.Lock()
	free := d.set.MaxHeld - d.held
	d.mu.Unlock()
	if free <= 0 {
		// A finishing worker wakes the loop (lane.go).
		d.mu.Lock()
		d.starved = true
		d.mu.Unlock()
		return false
	}
	limit := min(free, claimBatch)
	now := d.now()
	leaseUntil := now.Add(d.set.lease()).UnixMilli()
	ctx, cancel := context.WithTimeout(d.ctx, storeTimeout)
	rows, err := d.store.ClaimDeliveries(ctx, now.UnixMilli(), leaseUntil, limit)
	cancel()
	if err != nil {
		if d.ctx.Err() == nil {
			d.log.Warn("webhook: claim deliveries", "err", err)
		}
		return false
	}
	if len(rows) == 0 {
		return false
	}
	eps := d.endpoints(rows)
	taken := 0
	for _, r := range rows {
		ep, ok := eps[r.Endpoint]
		if !ok {
			d.gone(r, now)
			continue
		}
		r.LeaseUntil = leaseUntil
		if wait, ok := d.offer(ep, r); !ok {
			d.putBack(r, now.Add(wait))
			d.met.WebhookDeferred.Inc()
			continue
		}
		taken++
	}
	return len(rows) == limit && taken == len(rows)
}

// endpoints returns the endpoints by ID, reloaded when older than
// endpointsTTL or when a row names one it does not hold. On a store
// error it returns what it had.
func (d *Dispatcher) endpoints(rows []store.Delivery) map[string]store.Webhook {
	fresh := d.eps != nil && d.now().Sub(d.epsAt) < endpointsTTL
	for _, r := range rows {
		if _, ok := d.eps[r.Endpoint]; !ok {
			fresh = false
			break
		}
	}
	if fresh {
		return d.eps
	}
	ctx, cancel := context.WithTimeout(d.ctx, storeTimeout)
	defer cancel()
	list, err := d.store.ListWebhooks(ctx)
	if err != nil {
		d.log.Warn("webhook: list endpoints", "err", err)
		if d.eps == nil {
			// Nothing to go by: treat none as gone, deliver none.
			return map[string]store.Webhook{}
		}
		return d.eps
	}
	d.eps = make(map[string]store.Webhook, len(list))
	for _, w := range list {
		d.eps[w.ID] = w
	}
	d.epsAt = d.now()
	return d.eps
}

// gone handles a delivery whose endpoint is not in a fresh list: the
// endpoint was deleted, and DeleteWebhook deleted its deliveries, so
// FinishDelivery finds nothing (ErrNotFound). Should the row survive
// (the list failed to load), it is put back for later.
func (d *Dispatcher) gone(r store.Delivery, now time.Time) {
	if d.epsAt.IsZero() {
		d.putBack(r, now.Add(minDefer))
		return
	}
	r.State, r.LastError, r.UpdatedAt = store.DeliveryDead, "endpoint deleted", now.UnixMilli()
	if err := d.finish(r); err != nil && !errors.Is(err, store.ErrNotFound) {
		d.log.Warn("webhook: finish delivery of a deleted endpoint", "endpoint", r.Endpoint, "event", r.EventID, "err", err)
	}
	d.met.WebhookDeliveries.WithLabelValues("gone").Inc()
}

// putBack releases a claimed delivery without an attempt, due at `at`.
func (d *Dispatcher) putBack(r store.Delivery, at time.Time) {
	r.NextAt = at.UnixMilli()
	r.UpdatedAt = d.now().UnixMilli()
	if err := d.finish(r); err != nil && !errors.Is(err, store.ErrNotFound) {
		// The lease runs out and another claim takes it: nothing lost.
		d.log.Warn("webhook: hand back delivery", "endpoint", r.Endpoint, "event", r.EventID, "err", err)
	}
}

// finish records r, even while closing: a store call of its own, bounded.
func (d *Dispatcher) finish(r store.Delivery) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), storeTimeout)
	defer cancel()
	if err := d.store.FinishDelivery(ctx, r); err != nil {
		return fmt.Errorf("webhook: finish delivery: %w", err)
	}
	return nil
}
