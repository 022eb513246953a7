// Package pgstore is Seen's PostgreSQL storage backend: store.Store on a
// database that several `seen serve` nodes share.
//
// # Consistency
//
// Every mutating call is one transaction, acknowledged once it commits with
// synchronous_commit on (set on every connection of the pool). A
// conversation's row in the conversations table is its lock: appends,
// membership changes and group deletion take it FOR UPDATE first, so a
// conversation's seqs and join positions are allocated gap-free and unique
// whichever node (connection) writes, and a clientMsgId checked under it is
// checked against every committed message. Watermark writes lock member rows
// only, in user id order, and never the conversation row, so they do not
// wait for appends.
//
// On a cluster node nothing is cached between calls but user records,
// which never change once written (usercache.go): every other read asks
// the database, so what one node commits is what every node reads next.
// Point lookups are combined (lookups.go): each waits for a query sent
// after it was asked. A single node, which holds the node lock
// exclusively and so is the database's only writer, answers point
// lookups from memory too (lookcache.go), exact because every write of
// this package tells the cache what it writes.
//
// # Combining
//
// Appends (appends.go) are combined per conversation: one combiner
// goroutine per busy conversation takes what is queued and writes it in one
// transaction, committed once, sent as two pipelined batches (pipeline.go),
// whatever the number of operations it carries. Reads, deliveries and acks
// (watermarks.go) are combined the same way, a round carrying every
// conversation queued, and point lookups (lookups.go) one round trip per
// round, whatever the kinds of keys queued.
//
// # Concurrency
//
// A Store is safe for concurrent use. Store.mu is held for reading by every
// call and for writing by Close, so the pool is never used after Close.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seen-im/seen/internal/routines"
	"github.com/seen-im/seen/internal/store"
)

// Options configures Open. Zero values get the defaults below.
type Options struct {
	// MaxConns bounds the pool's connections. Default: pool_max_conns in
	// the URL if it has one, else defaultMaxConns. Each busy conversation's
	// combiner holds one connection for a round, so pgxpool's own default
	// (4 on a small machine) would let only 4 conversations commit at once.
	MaxConns int32
	// Logger receives the store's own log lines. Default: discarded.
	Logger *slog.Logger
	// Observer is told of the watermark combiner's queue and batches.
	// Default: store.NopObserver.
	Observer store.Observer
	// CheckCachedLookups makes a node that answers lookups from memory
	// (LockNode(false), lookcache.go) check every answer against the
	// database, failing the call on a difference. For tests.
	CheckCachedLookups bool
}

// defaultMaxConns is the pool size when neither Options nor the URL set
// one: three nodes stay well inside PostgreSQL's default max_connections
// (100).
const defaultMaxConns = 16

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = store.NopObserver{}
	}
	return o
}

// errClosed is returned by every call after Close.
var errClosed = fmt.Errorf("pgstore: closed: %w", store.ErrUnavailable)

// Store is store.Store on PostgreSQL. Create it with Open.
type Store struct {
	// The Watermarks methods; Run is s.watermarks.
	store.WatermarkFront

	pool *pgxpool.Pool
	// lookPool is the combined lookups' connection (lookups.go), wmPool
	// the watermark rounds' (watermarks.go); see keyedPool.
	lookPool, wmPool *pgxpool.Pool
	log              *slog.Logger
	obs              store.Observer

	// ctx is canceled when Close starts: the combiners' transactions run
	// under it (no caller's context is theirs alone), so a combiner stuck
	// on an unreachable database lets Close proceed.
	ctx    context.Context
	cancel context.CancelFunc

	// mu guards closed. Every call holds it for reading from start to end
	// and Close holds it for writing, so Close waits for calls in flight.
	mu     sync.RWMutex
	closed bool

	// wmMu guards wm, the watermark queues of conversations that have
	// operations queued or in a round (a queue is dropped when its round
	// ends with nothing queued, so the map holds only busy conversations),
	// wmReady, the conversations with operations queued and none in a
	// round, in arrival order, settles, the SettleReceipt calls queued for
	// the next round (settles.go), and wmRounds, the round goroutines
	// running (watermarks.go).
	wmMu     sync.Mutex
	wm       map[store.ConvID]*wmQueue
	wmReady  []store.ConvID
	settles  []*settleOp
	wmRounds int

	// apMu guards ap, the append queues of busy conversations, as wmMu
	// guards wm.
	apMu sync.Mutex
	ap   map[store.ConvID]*appendQueue

	// lockConn is the session that holds the node lock (LockNode), out of
	// the pool; nil until then. Set once by LockNode; closed by Close with mu held for writing.
	lockMu   sync.Mutex
	lockConn *pgx.Conn // guarded by lockMu

	// look combines the point lookups (lookups.go).
	look *finder
	// users keeps the user records read (usercache.go).
	users *userCache
	// cache answers lookups from memory while this node writes the
	// database alone (lookcache.go).
	cache *lookCache
	// amemo keeps the rows this node's appends and watermark rounds
	// wrote, for rounds written without reading them (appendmemo.go).
	amemo     *appendMemo
	memoStats memoStats

	// routines owns the watermark, append and lookup combiners; Close
	// joins them.
	routines routines.Group
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (a PostgreSQL connection URL or
// key=value string), applies the embedded migrations under an advisory lock
// (so nodes starting together migrate once), and returns the store. A
// database that cannot be reached gives an error wrapping
// store.ErrUnavailable.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The URL may hold a password: say what is wrong, not the URL.
		return nil, fmt.Errorf("pgstore: parse connection URL: %w", err)
	}
	// A write is acknowledged only once it is durable: never trust the
	// server's or the role's default for that.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, classify("open", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, classify("connect", err)
	}
	if err := migrate(ctx, pool, opts.Logger); err != nil {
		pool.Close()
		return nil, err
	}
	// The combined lookups (lookups.go) and the watermark rounds
	// (watermarks.go) run one at a time, each on a connection of its own
	// (keyedPool): every statement they send is a probe by key.
	lookPool, err := keyedPool(ctx, cfg)
	if err != nil {
		pool.Close()
		return nil, classify("open", err)
	}
	wmPool, err := keyedPool(ctx, cfg)
	if err != nil {
		lookPool.Close()
		pool.Close()
		return nil, classify("open", err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &Store{
		pool:     pool,
		log:      opts.Logger,
		obs:      opts.Observer,
		ctx:      sctx,
		cancel:   cancel,
		wm:       make(map[store.ConvID]*wmQueue),
		ap:       make(map[store.ConvID]*appendQueue),
		look:     newFinder(lookPool),
		users:    newUserCache(maxCachedUsers),
		cache:    newLookCache(opts.CheckCachedLookups),
		amemo:    newAppendMemo(),
		lookPool: lookPool,
		wmPool:   wmPool,
	}
	s.WatermarkFront.Run = s.watermarks
	return s, nil
}

// Close waits for calls in flight, joins the combiners and closes the
// pool. Later calls return an error wrapping store.ErrUnavailable.
func (s *Store) Close() error {
	// Before taking mu: a combiner blocked on the database fails now, so
	// the callers waiting for it return and release mu.
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.closed = true
	// Every caller has returned, so a combiner left is finishing its last,
	// empty round.
	_ = s.routines.Wait(context.Background())
	s.closeLockConn()
	s.lookPool.Close()
	s.wmPool.Close()
	s.pool.Close()
	return nil
}

// keyedPool opens a pool of one connection, configured like cfg, for
// statements that probe tables by key only, with generic plans forced and
// sequential scans ruled out.
//
// Their keys come in arrays. PostgreSQL's default chose a custom plan for
// most executions (each array makes a new one: its estimate for a generic
// plan's array is ten elements, for a custom one the array's length), and
// planning cost it about as much as running them. A generic plan is the
// same probe for any array.
//
// A generic plan is made once per connection, from the statistics of that
// moment: made while a table is nearly empty (a new database), it scans
// the table whole (the watermark UPDATE's join on its array became a scan
// of members), and keeps doing so for every execution as the table grows,
// until an ANALYZE invalidates it. No statement sent here needs a scan, so
// sequential scans are ruled out on these connections, and so are the
// joins that read one side whole: a hash or merge join of a few keys with
// a table reads the table (or a whole index, or a bitmap of every row a
// partial index holds: the settles' UPDATE, planned as a hash join on the
// live receipts, cost PostgreSQL 380 µs for a row or two). A nested loop
// probes the table once per key.
func keyedPool(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	kcfg := cfg.Copy()
	kcfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	kcfg.ConnConfig.RuntimeParams["enable_seqscan"] = "off"
	kcfg.ConnConfig.RuntimeParams["enable_hashjoin"] = "off"
	kcfg.ConnConfig.RuntimeParams["enable_mergejoin"] = "off"
	kcfg.ConnConfig.RuntimeParams["enable_bitmapscan"] = "off"
	kcfg.ConnConfig.RuntimeParams["enable_material"] = "off"
	kcfg.MaxConns, kcfg.MinConns = 1, 0
	return pgxpool.NewWithConfig(ctx, kcfg)
}

// acquire starts a call: it checks ctx and takes s.mu for reading. On
// success the caller must call s.mu.RUnlock().
func (s *Store) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	return nil
}

// inTx runs fn in one transaction and commits it. A sentinel error fn
// returns passes through as it is; others are classified.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, fn)
	if err == nil || isDomain(err) {
		return err
	}
	return classify(op, err)
}

// isDomain reports whether err is one of the store's own answers rather
// than a database failure.
func isDomain(err error) bool {
	for _, e := range []error{store.ErrNotFound, store.ErrExists, store.ErrNotEmpty, store.ErrTooManyAcks, store.ErrUnavailable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// validConv rejects ids that are neither "g/<id>" nor "p/<a>/<b>".
func validConv(conv store.ConvID) error {
	switch {
	case conv.IsGroup():
		if id := conv.GroupID(); id != "" && !strings.Contains(id, "/") {
			return nil
		}
	case conv.IsPeer():
		a, b := conv.Peers()
		if a != "" && b != "" && a <= b && !strings.Contains(b, "/") {
			return nil
		}
	}
	return fmt.Errorf("pgstore: invalid conversation id %q", conv)
}

// notFound returns an error wrapping store.ErrNotFound.
func notFound(format string, args ...any) error {
	return fmt.Errorf("pgstore: "+format+": %w", append(args, store.ErrNotFound)...)
}

func errorsExists(groupID string) error {
	return fmt.Errorf("pgstore: create group %q: %w", groupID, store.ErrExists)
}

func errorsNotEmpty(groupID string, members int64) error {
	return fmt.Errorf("pgstore: delete group %q: %d members: %w", groupID, members, store.ErrNotEmpty)
}
