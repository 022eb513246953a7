// Package pebblestore is Seen's embedded storage backend: store.Store on a
// local pebble database, for a single `seen serve` with no external service.
//
// # Durability
//
// Every mutating call returns only once its write is synced to the WAL.
// Writes use group commit: a call enqueues its batch with
// ApplyNoSyncWait while it holds its conversation's mutex (so seqs are
// allocated and applied in order), releases the mutex, then waits for the
// sync. Pebble's WAL is sequential, so many concurrent writers share one
// fsync, and seq N+1 durable implies seq N durable.
//
// # Concurrency
//
// A Store is safe for concurrent use. Each conversation has its own mutex
// (see convState); there is no lock across all conversations on the write
// path. The conversation table is bounded (convtable.go): a caller pins a
// conversation's state while it uses it, and only idle states are dropped. Store.mu is held for reading by every call and for writing by Close,
// so the pebble DB is never used after Close.
//
// A pebble directory is owned by one process (pebble locks it), which is why
// the in-memory per-conversation state (last seq, member count) may be
// trusted: nothing else writes the directory while the Store is open.
package pebblestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/seen-im/seen/internal/store"
)

// schemaVersion is the layout described in keys.go. Open refuses any other,
// but upgrades version 1: version 2 added the settings keys and a member's
// own read state after its acks (store.OwnRead), both absent until a user
// uses them, so a version 1 store is a valid version 2 store as it stands
// (its members decode with own state = shared state) and only the version
// key changes. A version 1 binary would ignore both and is refused once
// the version is 2.
const schemaVersion = 2

// Options configures Open. Zero values get the defaults below.
type Options struct {
	// CacheBytes is the size of pebble's block cache. Default 64 MiB.
	CacheBytes int64
	// MemtableBytes is the size of one memtable. Default 16 MiB.
	MemtableBytes uint64
	// Logger receives pebble's own log lines. Default: discarded.
	Logger *slog.Logger
	// OnFatal is called once when the store fails for good: a WAL sync
	// failed, so what was written can no longer be promised durable. The
	// store refuses every call from then on; the owner must stop and
	// restart, which replays the WAL to what was made durable. A failed
	// fsync is never retried: after one, the kernel may have dropped the
	// dirty pages, and a retry that succeeds would lie.
	OnFatal func(error)
	// FS is the file system; default the OS's. Tests inject faults with it.
	FS vfs.FS
	// Observer is told of the watermark combiner's queue and batches,
	// and, if it implements ConvTableObserver, of the conversation
	// table's size. Default: store.NopObserver.
	Observer store.Observer
	// ConvTableBytes bounds the estimated bytes of the in-memory
	// conversation table (convtable.go); idle conversations beyond it,
	// least recently used first, are dropped and reloaded when next
	// used. Default 64 MiB.
	ConvTableBytes int64
}

const (
	defaultCacheBytes    = 64 << 20
	defaultMemtableBytes = 16 << 20
	// convShards spreads the conversation table over this many maps so that
	// finding a conversation's state contends only within a shard.
	convShards = 64
	// userStripes serializes PutUser per user id hash.
	userStripes = 64
)

func (o Options) withDefaults() Options {
	if o.CacheBytes <= 0 {
		o.CacheBytes = defaultCacheBytes
	}
	if o.MemtableBytes == 0 {
		o.MemtableBytes = defaultMemtableBytes
	}
	if o.Logger == nil {
		// No global logger: a caller that wants pebble's messages passes one.
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Observer == nil {
		o.Observer = store.NopObserver{}
	}
	if o.ConvTableBytes <= 0 {
		o.ConvTableBytes = defaultConvTableBytes
	}
	return o
}

// errClosed is returned by every call after Close.
var errClosed = fmt.Errorf("pebblestore: closed: %w", store.ErrUnavailable)

// Store is store.Store on pebble. Create it with Open.
type Store struct {
	// The Watermarks methods; Run is s.watermarks.
	store.WatermarkFront

	db   *pebble.DB
	lock *pebble.Lock
	log  *slog.Logger
	seed maphash.Seed

	// mu guards closed. Every call holds it for reading from start to end
	// and Close holds it for writing, so Close waits for calls in flight.
	// Never acquire it twice in one goroutine (a waiting Close would
	// deadlock a recursive RLock).
	mu     sync.RWMutex
	closed bool

	convs      [convShards]convShard
	tableBytes int64 // bound of the conversation table, from Options

	// groups caches group records (string -> store.Group): the read path
	// asks for the group of every group request. Only groups that exist
	// are cached; a record changes only by DeleteGroup, which drops it
	// under the conversation's mutex, and a miss fills it under the same
	// mutex (see GetGroup).
	groups sync.Map

	// msgs caches recently appended messages by id (see msgMemo).
	msgs msgMemo

	// userLocks make PutUser's check-then-write atomic per user.
	userLocks [userStripes]sync.Mutex

	failed   atomic.Pointer[error] // set once a WAL sync failed; never cleared
	onFatal  func(error)
	fatalOne sync.Once

	obs store.Observer // the watermark combiner's queue and batches

	// hooks serializes the webhook tables' read-modify-writes (webhooks.go).
	hooks hookState
}

var _ store.Store = (*Store)(nil)

// convState is the in-memory state of one conversation. mu serializes every
// write to the conversation (appends, member changes, watermark moves), so
// a seq or join position is taken atomically with the write that uses it.
type convState struct {
	mu sync.Mutex
	// slot is cs's place in the conversation table (convtable.go).
	slot convSlot
	// loaded, lastSeq, members and groupExists are guarded by mu and valid
	// once loaded is true.
	loaded      bool
	lastSeq     uint64
	members     uint64
	groupExists bool

	// unsynced counts this conversation's batches that were applied but
	// whose WAL sync has not yet been waited for. It rises under mu, before
	// the state the batch wrote becomes readable; a call that writes
	// nothing but reports state it read (an idempotent resend, a watermark
	// already high enough) syncs the WAL first when it is non-zero, so it
	// never acknowledges state that is not yet durable.
	unsynced atomic.Int32

	// wm queues watermark writes for the conversation's combiner.
	wm wmQueue

	// memo caches member records as the last applied write left them, so
	// the read path (every request checks the caller's membership) and
	// the combiner skip a pebble lookup. Writers fill it, under mu and
	// after their batch is applied, in apply order; a write site that does
	// not know the new record forgets it instead. Readers never fill it,
	// so a read cannot put back a value a concurrent write replaced.
	memoMu sync.RWMutex
	memo   map[string]store.Member // guarded by memoMu
	// memoBytes estimates memo (memberBytes); guarded by memoMu.
	memoBytes int64
}

// remember records m as userID's record; the caller holds cs.mu and has
// applied the batch that wrote it.
func (cs *convState) remember(m store.Member) {
	m.Acks = slices.Clone(m.Acks)
	if m.Own != nil {
		own := m.OwnState()
		m.Own = &own
	}
	cs.memoMu.Lock()
	cs.memoSetLocked(m)
	cs.memoMu.Unlock()
}

// forget drops userID's cached record; the caller holds cs.mu.
func (cs *convState) forget(userID string) {
	cs.memoMu.Lock()
	if m, ok := cs.memo[userID]; ok {
		cs.memoDeleteLocked(userID, m)
	}
	cs.memoMu.Unlock()
}

// recall returns userID's cached record, if any, as a copy.
func (cs *convState) recall(userID string) (store.Member, bool) {
	cs.memoMu.RLock()
	m, ok := cs.memo[userID]
	cs.memoMu.RUnlock()
	m.Acks = slices.Clone(m.Acks)
	if m.Own != nil {
		own := m.OwnState()
		m.Own = &own
	}
	return m, ok
}

// Open opens or creates the store in dir. A directory already open, in this
// process or another, is refused.
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("pebblestore: open %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("pebblestore: open %s: %w", dir, err)
	}
	// Taking the lock ourselves, rather than inside pebble.Open, is how a
	// second open gets an error that says what is wrong.
	lock, err := pebble.LockDirectory(abs, opts.FS)
	if err != nil {
		return nil, fmt.Errorf("pebblestore: open %s: directory is in use by another open store: %w", dir, err)
	}
	cache := pebble.NewCache(opts.CacheBytes)
	defer cache.Unref() // the DB holds its own reference
	bg := &openWatch{log: opts.Logger, failed: make(chan error, 1)}
	popts := &pebble.Options{
		Cache:              cache,
		MemTableSize:       opts.MemtableBytes,
		Logger:             pebbleLogger{opts.Logger},
		Lock:               lock,
		FormatMajorVersion: pebble.FormatNewest,
		FS:                 opts.FS,
		EventListener:      &pebble.EventListener{BackgroundError: bg.backgroundError},
	}
	db, err := bg.open(abs, popts, lock)
	if err != nil {
		return nil, fmt.Errorf("pebblestore: open %s: %w", dir, err)
	}
	s := &Store{db: db, lock: lock, log: opts.Logger, seed: maphash.MakeSeed(), onFatal: opts.OnFatal, obs: opts.Observer}
	s.WatermarkFront.Run = s.watermarks
	s.WatermarkFront.LazyDone = true
	s.tableBytes = opts.ConvTableBytes
	if obs, ok := opts.Observer.(ConvTableObserver); ok {
		for i := range s.convs {
			s.convs[i].obs = obs
		}
	}
	if err := s.checkSchema(); err != nil {
		_ = db.Close()
		_ = lock.Close()
		return nil, fmt.Errorf("pebblestore: open %s: %w", dir, err)
	}
	return s, nil
}

// checkSchema writes the schema version into a new, empty database and
// refuses a database with another version or none.
func (s *Store) checkSchema() error {
	var version uint64
	found, err := s.getWith(schemaKey, func(v []byte) error {
		r := byteReader{b: v}
		version = r.uvarint()
		return r.err
	})
	if err != nil {
		return err
	}
	if found && version == 1 {
		if err := s.db.Set(schemaKey, binary.AppendUvarint(nil, schemaVersion), pebble.Sync); err != nil {
			return fmt.Errorf("pebblestore: upgrade schema version 1 to %d: %w", schemaVersion, err)
		}
		s.log.Info("store: schema upgraded: private reading (nothing rewritten)", "from", 1, "to", schemaVersion)
		return nil
	}
	if found {
		if version != schemaVersion {
			return fmt.Errorf("pebblestore: schema version %d unknown (this build reads %d)", version, schemaVersion)
		}
		return nil
	}
	it, err := s.db.NewIter(nil)
	if err != nil {
		return fmt.Errorf("pebblestore: %w", err)
	}
	nonEmpty := it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return fmt.Errorf("pebblestore: %w", err)
	}
	if nonEmpty {
		return errors.New("pebblestore: database has data but no schema version; not a seen store")
	}
	v := binary.AppendUvarint(nil, schemaVersion)
	if err := s.db.Set(schemaKey, v, pebble.Sync); err != nil {
		return fmt.Errorf("pebblestore: write schema version: %w", err)
	}
	return nil
}

// Close flushes and releases the store. It waits for calls in flight; later
// calls return an error wrapping store.ErrUnavailable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	s.closed = true
	// Every caller has returned (Close holds s.mu), and watermark rounds
	// run only on callers: nothing is left to join.
	err := s.db.Close()
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("pebblestore: close: %w", err)
	}
	return nil
}

// acquire starts a call: it checks ctx and takes s.mu for reading. On
// success the caller must s.mu.RUnlock().
func (s *Store) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pebblestore: %w", err)
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	if errp := s.failed.Load(); errp != nil {
		s.mu.RUnlock()
		return *errp
	}
	return nil
}

// fail puts the store out of service after a durability failure and tells
// the owner, once. It returns the error every later call gets.
func (s *Store) fail(cause error) error {
	err := fmt.Errorf("pebblestore: write-ahead log sync failed, store out of service: %v: %w", cause, store.ErrUnavailable)
	s.failed.CompareAndSwap(nil, &err)
	s.fatalOne.Do(func() {
		s.log.Error("store failed: a WAL sync failed; stop and restart the server", "err", cause)
		if s.onFatal != nil {
			s.onFatal(err)
		}
	})
	return *s.failed.Load()
}

// lockConv returns conv's loaded state with its mutex held, pinned (see
// conv): once the mutex is released and any sync waited for, the caller
// must unpinConv it.
func (s *Store) lockConv(conv store.ConvID) (*convState, error) {
	cs := s.conv(conv)
	cs.mu.Lock()
	if !cs.loaded {
		if err := s.loadConvLocked(conv, cs); err != nil {
			cs.mu.Unlock()
			s.unpinConv(cs)
			return nil, err
		}
	}
	return cs, nil
}

// acquireConv acquires the store for a call (acquire), then locks conv's
// state (lockConv). The caller unlocks cs.mu itself, and calls
// releaseConv once it is done, any sync waited for.
func (s *Store) acquireConv(ctx context.Context, conv store.ConvID) (*convState, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	cs, err := s.lockConv(conv)
	if err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	return cs, nil
}

// releaseConv undoes acquireConv, but for cs.mu: it unpins cs and
// releases the store.
func (s *Store) releaseConv(cs *convState) {
	s.unpinConv(cs)
	s.mu.RUnlock()
}

// loadConvLocked reads conv's last seq, member count and group existence.
// cs.mu must be held.
func (s *Store) loadConvLocked(conv store.ConvID, cs *convState) error {
	last, err := s.readLastSeq(conv)
	if err != nil {
		return err
	}
	var members uint64
	if _, err := s.getWith(memberCountKey(conv), func(v []byte) error {
		r := byteReader{b: v}
		members = r.uvarint()
		return r.err
	}); err != nil {
		return err
	}
	groupExists := false
	if conv.IsGroup() {
		if groupExists, err = s.getWith(groupKey(conv.GroupID()), nil); err != nil {
			return err
		}
	}
	cs.lastSeq, cs.members, cs.groupExists, cs.loaded = last, members, groupExists, true
	return nil
}

// readLastSeq reads the seq of conv's last message from the database.
func (s *Store) readLastSeq(conv store.ConvID) (uint64, error) {
	prefix := messagePrefix(conv)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, fmt.Errorf("pebblestore: last seq of %s: %w", conv, err)
	}
	var last uint64
	if it.Last() {
		last = seqFromMessageKey(it.Key())
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return 0, fmt.Errorf("pebblestore: last seq of %s: %w", conv, err)
	}
	return last, nil
}

// getWith looks key up and, if found, calls fn (when non-nil) with its
// value, which is valid only during the call.
func (s *Store) getWith(key []byte, fn func(v []byte) error) (bool, error) {
	return getFrom(s.db, key, fn)
}

// getFrom is getWith on r: the database, or a snapshot when several reads
// must see one state.
func getFrom(r pebble.Reader, key []byte, fn func(v []byte) error) (bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pebblestore: get: %w", err)
	}
	defer closer.Close()
	if fn != nil {
		if err := fn(v); err != nil {
			return true, err
		}
	}
	return true, nil
}

// getMember reads conv's member userID; found is false if there is none.
func (s *Store) getMember(conv store.ConvID, userID string) (m store.Member, found bool, err error) {
	if cs := s.peekConv(conv); cs != nil {
		if m, ok := cs.recall(userID); ok {
			return m, true, nil
		}
	}
	found, err = s.getWith(memberKey(conv, userID), func(v []byte) error {
		m, err = decodeMember(userID, v)
		return err
	})
	return m, found, err
}

// applyLocked applies b with a sync requested but not waited for. The
// caller holds cs.mu and, once it has released it, must call s.wait(cs, b).
// On error b is closed and wait must not be called.
func (s *Store) applyLocked(cs *convState, b *pebble.Batch) error {
	if err := s.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		_ = b.Close()
		return fmt.Errorf("pebblestore: apply: %w", err)
	}
	cs.unsynced.Add(1)
	return nil
}

// wait waits for the WAL sync of a batch applied by applyLocked, sharing
// the fsync with every other writer waiting at the same time.
func (s *Store) wait(cs *convState, b *pebble.Batch) error {
	err := b.SyncWait()
	cs.unsynced.Add(-1)
	if err != nil {
		return s.fail(err)
	}
	_ = b.Close()
	return nil
}

// syncIfPending makes every write of conv applied so far durable before a
// call reports state it read but did not write. It is a no-op (no fsync)
// when nothing of conv is waiting for a sync.
func (s *Store) syncIfPending(cs *convState) error {
	if cs.unsynced.Load() == 0 {
		return nil
	}
	// The WAL is sequential: syncing an empty record syncs all before it.
	if err := s.db.LogData(nil, pebble.Sync); err != nil {
		return s.fail(err)
	}
	return nil
}

// pebbleLogger adapts slog to pebble's Logger. Pebble's Infof is its
// routine chatter (flushes, compactions, WAL recycling): debug, so that an
// operator's info log is about Seen.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf must not return (pebble's contract). A panic rather than os.Exit
// lets the process's own handlers see it.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble", "fatal", true)
	panic("pebblestore: pebble fatal: " + msg)
}
