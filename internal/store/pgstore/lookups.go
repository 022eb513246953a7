package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seen-im/seen/internal/store"
)

// Point lookups are combined as the watermark writes are. Every
// message.read and message.delivered resolves its conversation first (the
// group or the peer, the caller's member row, the acked messages or the
// last seq): asked one statement at a time, those lookups were most of
// the statements PostgreSQL executed per ack, each a round trip, a pool
// acquire and a transaction of its own. Here a caller queues its keys,
// of every kind at once (Find), and one goroutine runs a round at a time:
// one statement per kind of key queued, across callers and
// conversations, all sent in one batch, so one round trip and one
// implicit transaction, whatever the number of callers and kinds. A
// round trip, not a statement, is what costs PostgreSQL most here: three
// primary-key reads sent apart cost it about three times the CPU of the
// same three pipelined (pgbench, docs/benchmarks.md).
//
// Exactness: a lookup queued while a round is in flight waits for the next
// round, which is sent after the one in flight has answered, so after the
// call was made: it sees every write committed before the call, as a
// query of its own would. On a cluster node nothing is kept after a round
// but the user records, which never change (usercache.go); a single node,
// the database's only writer, also keeps what rounds read in its lookup
// cache, and answers from it first (lookcache.go).

// keys are the records one caller, or one round, reads.
type keys struct {
	store.Lookup
	Settings []string
}

// rows are a round's answer: the rows of every key of the round (absent:
// no row), shared by its callers and never written after it.
type rows struct {
	Users    map[string]store.User
	Groups   map[string]store.Group
	Members  map[store.MemberRef]store.Member
	Messages map[string]store.Message
	LastSeqs map[store.ConvID]uint64
	Settings map[string]store.Settings
}

// findReq is one caller's keys and, once done is closed, the round's rows.
type findReq struct {
	keys keys
	// deadline is the caller's, if it has one: the round gives up at its
	// callers' latest (roundContext).
	deadline    time.Time
	hasDeadline bool
	done        chan struct{}
	rows        rows
	err         error
}

// finder is the queue of point lookups.
type finder struct {
	// round reads the rows of k (distinct keys) in one round trip.
	round func(ctx context.Context, k keys) (rows, error)

	mu      sync.Mutex
	queue   []*findReq // guarded by mu
	running bool       // guarded by mu: a goroutine is draining queue
}

// find queues k and returns the rows of its round. The caller holds s.mu
// for reading (acquire), so the goroutine is never started after Close,
// which joins it. The rows are shared: what holds a slice or pointer must
// be copied before the caller may change it (own.go's helpers below).
//
// The caller waits for its round, not for its context: a request's
// context makes a channel and a timer the first time it is asked for
// Done, three allocations and a timer per lookup, most of what the
// lookups allocated per ack besides the rows. The round gives up instead
// at the latest deadline of its callers (roundContext): a caller whose
// database does not answer gets its error at its deadline, or within the
// few milliseconds between its own and the latest of its round's; a
// caller canceled early waits for its round.
func (s *Store) find(ctx context.Context, k keys) (rows, error) {
	if err := ctx.Err(); err != nil {
		return rows{}, fmt.Errorf("pgstore: lookup: %w", err)
	}
	f := s.look
	r := &findReq{keys: k, done: make(chan struct{})}
	r.deadline, r.hasDeadline = ctx.Deadline()
	f.mu.Lock()
	f.queue = append(f.queue, r)
	start := !f.running
	f.running = true
	f.mu.Unlock()
	if start {
		s.routines.Go("pgstore lookups", func() { f.drain(s) })
	}
	<-r.done
	return r.rows, r.err
}

// roundContext is the context of a round for reqs: the store's, ended at
// the latest deadline of those that have one. A caller without one (a
// background task) shares the round's end; a round of such callers alone
// runs until the store closes.
func roundContext(parent context.Context, reqs []*findReq) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, r := range reqs {
		if r.hasDeadline && r.deadline.After(latest) {
			latest = r.deadline
		}
	}
	if latest.IsZero() {
		return parent, func() {}
	}
	return context.WithDeadline(parent, latest)
}

// drain runs rounds until the queue is empty.
func (f *finder) drain(s *Store) {
	for {
		f.mu.Lock()
		reqs := f.queue
		f.queue = nil
		if len(reqs) == 0 {
			f.running = false
			f.mu.Unlock()
			return
		}
		f.mu.Unlock()
		var k keys
		for _, r := range reqs {
			k.Users = appendNew(k.Users, r.keys.Users)
			k.Groups = appendNew(k.Groups, r.keys.Groups)
			k.Members = appendNew(k.Members, r.keys.Members)
			k.Messages = appendNew(k.Messages, r.keys.Messages)
			k.LastSeqs = appendNew(k.LastSeqs, r.keys.LastSeqs)
			k.Settings = appendNew(k.Settings, r.keys.Settings)
		}
		ctx, cancel := roundContext(s.ctx, reqs)
		snap, fill := s.cache.snap()
		rs, err := f.round(ctx, k)
		cancel()
		if err == nil {
			s.users.add(rs.Users)
			if fill {
				s.cache.fill(snap, rs)
			}
		}
		if err != nil {
			switch {
			case errors.Is(err, context.Canceled) && s.ctx.Err() != nil:
				err = errClosed
			case ctx.Err() != nil:
				err = fmt.Errorf("pgstore: lookup: %w", ctx.Err())
			default:
				err = classify("lookup", err)
			}
		}
		for _, r := range reqs {
			r.rows, r.err = rs, err
			close(r.done)
		}
	}
}

// appendNew appends to dst the keys of add it does not hold yet. A round
// holds a few dozen keys of a kind, so a scan beats a map.
func appendNew[K comparable](dst, add []K) []K {
	for _, k := range add {
		if !slices.Contains(dst, k) {
			dst = append(dst, k)
		}
	}
	return dst
}

// Find implements store.Finder: one round trip for every key of q, and of
// the calls combined with it.
func (s *Store) Find(ctx context.Context, q store.Lookup) (store.Found, error) {
	if err := s.acquire(ctx); err != nil {
		return store.Found{}, err
	}
	defer s.mu.RUnlock()
	read := q
	read.Users = s.users.missing(q.Users)
	var (
		rs             rows
		f              store.Found
		cached, verify bool
		epoch          uint64
	)
	if len(read.Users) == 0 {
		var err error
		if f, epoch, cached, verify, err = s.cachedAnswer(ctx, read); err != nil {
			return store.Found{}, err
		}
	}
	switch {
	case cached && verify:
		if err := s.verifyCached(ctx, read, f, epoch); err != nil {
			return store.Found{}, err
		}
	case cached:
	case len(read.Users) > 0 || len(read.Groups) > 0 || len(read.Members) > 0 || len(read.Messages) > 0 || len(read.LastSeqs) > 0:
		var err error
		if rs, err = s.find(ctx, keys{Lookup: read}); err != nil {
			return store.Found{}, err
		}
	}
	if len(q.Users) > 0 {
		f.Users = make([]store.User, len(q.Users))
		for i, id := range q.Users {
			if u, ok := s.users.get(id); ok {
				f.Users[i] = u
			} else {
				f.Users[i] = rs.Users[id] // the zero User if there is none
			}
		}
	}
	if !cached { // the cache's answer is in f already
		f.Groups = pick(q.Groups, rs.Groups, itself)
		f.Members = pick(q.Members, rs.Members, ownMember)
		f.Messages = pick(q.Messages, rs.Messages, ownMessage)
		f.LastSeqs = pick(q.LastSeqs, rs.LastSeqs, itself)
	}
	return f, nil
}

// maxCacheWaits bounds how many ends of writes a lookup waits for before
// it reads the database.
const maxCacheWaits = 64

// cachedAnswer answers q from the cache if it can (lookcache.go). While a
// record of q is being written, it waits for the write to end, as a read
// of the database would be about as long and cost PostgreSQL a round
// trip: a reader's delivered ack and its read ack of one message come in
// quick succession, the second while the first is being written.
func (s *Store) cachedAnswer(ctx context.Context, q store.Lookup) (store.Found, uint64, bool, bool, error) {
	for range maxCacheWaits {
		f, epoch, outcome, verify, ended := s.cache.answer(q)
		switch outcome {
		case answerHit:
			return f, epoch, true, verify, nil
		case answerMiss:
			return store.Found{}, 0, false, false, nil
		}
		select {
		case <-ended:
		case <-ctx.Done():
			return store.Found{}, 0, false, false, fmt.Errorf("pgstore: lookup: %w", ctx.Err())
		}
	}
	return store.Found{}, 0, false, false, nil
}

// verifyCached checks the cache's answer f to q against the database,
// for tests (lookCache.verify). A write begun or ended since the answer
// (at epoch) may make them differ rightly: then nothing is checked.
func (s *Store) verifyCached(ctx context.Context, q store.Lookup, f store.Found, epoch uint64) error {
	read, err := s.find(ctx, keys{Lookup: q})
	if err != nil {
		return err
	}
	if now, _ := s.cache.snap(); now != epoch {
		return nil
	}
	// The round's rows hold other callers' keys too: q's, in its order.
	mine := store.Found{
		Groups:   pick(q.Groups, read.Groups, itself),
		Members:  pick(q.Members, read.Members, itself),
		Messages: pick(q.Messages, read.Messages, itself),
		LastSeqs: pick(q.LastSeqs, read.LastSeqs, itself),
	}
	return sameFound(f, mine)
}

// itself is a record as it is, for pick and collect.
func itself[V any](v V) V { return v }

// pick copies, through own, the rows of a round that the caller asked for,
// aligned with its keys (a zero entry for a key with no row).
func pick[K comparable, V any](ks []K, all map[K]V, own func(V) V) []V {
	if len(ks) == 0 {
		return nil
	}
	out := make([]V, len(ks))
	for i, k := range ks {
		if v, ok := all[k]; ok {
			out[i] = own(v)
		}
	}
	return out
}

// ownMember copies what m shares with the other callers of its round, or
// with the append memo (appendmemo.go): the acks.
func ownMember(m store.Member) store.Member {
	m.Acks = slices.Clone(m.Acks)
	if m.Own != nil {
		own := *m.Own
		own.Acks = slices.Clone(own.Acks)
		m.Own = &own
	}
	return m
}

// newFinder returns the finder of pool's point lookups: the keys of each
// kind go in as arrays, probed through the primary key, one statement per
// kind, in one batch.
func newFinder(pool *pgxpool.Pool) *finder {
	return &finder{round: func(ctx context.Context, k keys) (rows, error) {
		return readRound(ctx, pool, k)
	}}
}

// The statements of a round, one per kind of key (membersByKey(false) for
// members): each probes a primary or unique key by an array of keys.
const (
	groupsByID = `SELECT id, type, created_by, created_at FROM groups WHERE id = ANY($1)`
	usersByID  = `SELECT id, name, created_at, demo FROM users WHERE id = ANY($1)`
	// A user's settings row, the defaults if it has none; no row at all:
	// no such user.
	settingsByID = `SELECT u.id, st.share_reads, st.share_delivery
		FROM users u LEFT JOIN user_settings st ON st.user_id = u.id WHERE u.id = ANY($1)`
	lastSeqsByConv = `SELECT conv, last_seq FROM conversations WHERE conv = ANY($1)`
	messagesByID   = `SELECT ` + messageCols + ` FROM messages WHERE id = ANY($1)`
)

// readRound reads the rows of k in one batch.
func readRound(ctx context.Context, pool *pgxpool.Pool, k keys) (rows, error) {
	var out rows
	b := &pgx.Batch{}
	if len(k.Members) > 0 {
		convs, users := make([]string, len(k.Members)), make([]string, len(k.Members))
		for i, r := range k.Members {
			convs[i], users[i] = string(r.Conv), r.UserID
		}
		out.Members = make(map[store.MemberRef]store.Member, len(k.Members))
		b.Queue(membersByKey(false), convs, users).Query(func(rs pgx.Rows) error {
			var conv string
			sc := newMemberScanner(&conv)
			return forEachRow(rs, func() error {
				m, err := sc.scan(rs)
				if err != nil {
					return err
				}
				out.Members[store.MemberRef{Conv: store.ConvID(conv), UserID: m.UserID}] = m
				return nil
			})
		})
	}
	if len(k.Groups) > 0 {
		out.Groups = make(map[string]store.Group, len(k.Groups))
		b.Queue(groupsByID, k.Groups).Query(func(rs pgx.Rows) error {
			return forEachRow(rs, func() error {
				var g store.Group
				if err := rs.Scan(&g.ID, &g.Type, &g.CreatedBy, &g.CreatedAt); err != nil {
					return err
				}
				out.Groups[g.ID] = g
				return nil
			})
		})
	}
	if len(k.Users) > 0 {
		out.Users = make(map[string]store.User, len(k.Users))
		b.Queue(usersByID, k.Users).Query(func(rs pgx.Rows) error {
			return forEachRow(rs, func() error {
				var u store.User
				if err := rs.Scan(&u.ID, &u.Name, &u.CreatedAt, &u.Demo); err != nil {
					return err
				}
				out.Users[u.ID] = u
				return nil
			})
		})
	}
	if len(k.Settings) > 0 {
		out.Settings = make(map[string]store.Settings, len(k.Settings))
		b.Queue(settingsByID, k.Settings).Query(func(rs pgx.Rows) error {
			return forEachRow(rs, func() error {
				var id string
				var reads, delivery *bool
				if err := rs.Scan(&id, &reads, &delivery); err != nil {
					return err
				}
				st := store.DefaultSettings()
				if reads != nil && delivery != nil {
					st.ShareReads, st.ShareDelivery = *reads, *delivery
				}
				out.Settings[id] = st
				return nil
			})
		})
	}
	if len(k.LastSeqs) > 0 {
		ids := make([]string, len(k.LastSeqs))
		for i, c := range k.LastSeqs {
			ids[i] = string(c)
		}
		out.LastSeqs = make(map[store.ConvID]uint64, len(k.LastSeqs))
		b.Queue(lastSeqsByConv, ids).Query(func(rs pgx.Rows) error {
			return forEachRow(rs, func() error {
				var conv string
				var last int64
				if err := rs.Scan(&conv, &last); err != nil {
					return err
				}
				out.LastSeqs[store.ConvID(conv)] = uint64(last)
				return nil
			})
		})
	}
	if len(k.Messages) > 0 {
		out.Messages = make(map[string]store.Message, len(k.Messages))
		b.Queue(messagesByID, k.Messages).Query(func(rs pgx.Rows) error {
			return forEachRow(rs, func() error {
				m, err := scanMessage(rs)
				if err != nil {
					return err
				}
				out.Messages[m.ID] = m
				return nil
			})
		})
	}
	if b.Len() == 0 {
		return out, nil
	}
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return rows{}, err
	}
	return out, nil
}

// forEachRow calls fn on each row of rs, then closes it.
func forEachRow(rs pgx.Rows, fn func() error) error {
	defer rs.Close()
	for rs.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rs.Err()
}
