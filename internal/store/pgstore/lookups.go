package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seen-im/seen/internal/store"
)

// Point lookups are combined as the watermark writes are. Every
// message.read and message.delivered resolves its conversation first (the
// group, the caller's member row, the acked messages or the last seq):
// asked one statement at a time, those lookups were most of the
// statements PostgreSQL executed per ack, each a round trip, a pool
// acquire and a transaction of its own. Here a caller queues its keys and
// one goroutine per kind of lookup runs one query for every key queued,
// across conversations, a round at a time.
//
// Exactness: a lookup queued while a round is in flight waits for the next
// round, which is sent after the one in flight has answered, so after the
// call was made: it sees every write committed before the call, as a
// query of its own would. Nothing is kept after a round: "nothing is
// cached between calls" (pgstore.go) still holds, on one node or many.

// lookupReq is one caller's keys and, once done is closed, the round's
// answer: rows holds the rows of every key of the round (absent: no row),
// shared by the round's callers and never written after done is closed.
type lookupReq[K comparable, V any] struct {
	keys []K
	done chan struct{}
	rows map[K]V
	err  error
}

// combiner is the queue of one kind of lookup.
type combiner[K comparable, V any] struct {
	// name says what is looked up, in errors and the goroutine's name.
	name string
	// query fetches the rows of keys (distinct) in one statement.
	query func(ctx context.Context, keys []K) (map[K]V, error)

	mu      sync.Mutex
	queue   []*lookupReq[K, V] // guarded by mu
	running bool               // guarded by mu: a goroutine is draining queue
}

// lookup queues keys on c and returns the rows of its round. The caller
// holds s.mu for reading (acquire), so the goroutine is never started
// after Close, which joins it. The rows are shared: a value that holds a
// slice or pointer must be copied before the caller may change it.
func lookup[K comparable, V any](ctx context.Context, s *Store, c *combiner[K, V], keys ...K) (map[K]V, error) {
	r := &lookupReq[K, V]{keys: keys, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, r)
	start := !c.running
	c.running = true
	c.mu.Unlock()
	if start {
		s.routines.Go("pgstore "+c.name+" lookups", func() { c.drain(s) })
	}
	// A caller that gives up leaves its keys in the round; the round runs
	// under the store's context, for the callers that still wait.
	select {
	case <-r.done:
		return r.rows, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("pgstore: %s: %w", c.name, ctx.Err())
	}
}

// drain runs rounds until the queue is empty.
func (c *combiner[K, V]) drain(s *Store) {
	for {
		c.mu.Lock()
		reqs := c.queue
		c.queue = nil
		if len(reqs) == 0 {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		var keys []K
		seen := make(map[K]bool)
		for _, r := range reqs {
			for _, k := range r.keys {
				if !seen[k] {
					seen[k] = true
					keys = append(keys, k)
				}
			}
		}
		rows, err := c.query(s.ctx, keys)
		if err != nil {
			if errors.Is(err, context.Canceled) && s.ctx.Err() != nil {
				err = errClosed
			} else {
				err = classify(c.name, err)
			}
		}
		for _, r := range reqs {
			r.rows, r.err = rows, err
			close(r.done)
		}
	}
}

// lookups are the store's combined point lookups.
type lookups struct {
	members  *combiner[store.MemberRef, store.Member]
	groups   *combiner[string, store.Group]
	users    *combiner[string, store.User]
	settings *combiner[string, store.Settings]
	lastSeqs *combiner[store.ConvID, uint64]
	messages *combiner[string, store.Message]
}

// newLookups returns the combiners of pool's point lookups, one statement
// per round each: the keys go in as arrays, probed through the primary
// key.
func newLookups(pool *pgxpool.Pool) lookups {
	return lookups{
		members: &combiner[store.MemberRef, store.Member]{name: "get member", query: func(ctx context.Context, refs []store.MemberRef) (map[store.MemberRef]store.Member, error) {
			convs, users := make([]string, len(refs)), make([]string, len(refs))
			for i, r := range refs {
				convs[i], users[i] = string(r.Conv), r.UserID
			}
			rows, err := pool.Query(ctx, membersByKey(false), convs, users)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			out := make(map[store.MemberRef]store.Member, len(refs))
			for rows.Next() {
				var conv string
				m, err := scanMember(convRow{&conv, rows})
				if err != nil {
					return nil, err
				}
				out[store.MemberRef{Conv: store.ConvID(conv), UserID: m.UserID}] = m
			}
			return out, rows.Err()
		}},
		groups: &combiner[string, store.Group]{name: "get group", query: func(ctx context.Context, ids []string) (map[string]store.Group, error) {
			rows, err := pool.Query(ctx, `SELECT id, type, created_by, created_at FROM groups WHERE id = ANY($1)`, ids)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			out := make(map[string]store.Group, len(ids))
			for rows.Next() {
				var g store.Group
				if err := rows.Scan(&g.ID, &g.Type, &g.CreatedBy, &g.CreatedAt); err != nil {
					return nil, err
				}
				out[g.ID] = g
			}
			return out, rows.Err()
		}},
		users: &combiner[string, store.User]{name: "get user", query: func(ctx context.Context, ids []string) (map[string]store.User, error) {
			rows, err := pool.Query(ctx, `SELECT id, name, created_at, demo FROM users WHERE id = ANY($1)`, ids)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			out := make(map[string]store.User, len(ids))
			for rows.Next() {
				var u store.User
				if err := rows.Scan(&u.ID, &u.Name, &u.CreatedAt, &u.Demo); err != nil {
					return nil, err
				}
				out[u.ID] = u
			}
			return out, rows.Err()
		}},
		settings: &combiner[string, store.Settings]{name: "get settings", query: func(ctx context.Context, ids []string) (map[string]store.Settings, error) {
			// The user's row, the defaults if it has none; no row at all:
			// no such user.
			rows, err := pool.Query(ctx, `SELECT u.id, st.share_reads, st.share_delivery
				FROM users u LEFT JOIN user_settings st ON st.user_id = u.id WHERE u.id = ANY($1)`, ids)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			out := make(map[string]store.Settings, len(ids))
			for rows.Next() {
				var id string
				var reads, delivery *bool
				if err := rows.Scan(&id, &reads, &delivery); err != nil {
					return nil, err
				}
				st := store.DefaultSettings()
				if reads != nil && delivery != nil {
					st.ShareReads, st.ShareDelivery = *reads, *delivery
				}
				out[id] = st
			}
			return out, rows.Err()
		}},
		lastSeqs: &combiner[store.ConvID, uint64]{name: "last seq", query: func(ctx context.Context, convs []store.ConvID) (map[store.ConvID]uint64, error) {
			ids := make([]string, len(convs))
			for i, c := range convs {
				ids[i] = string(c)
			}
			rows, err := pool.Query(ctx, `SELECT conv, last_seq FROM conversations WHERE conv = ANY($1)`, ids)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			out := make(map[store.ConvID]uint64, len(convs))
			for rows.Next() {
				var conv string
				var last int64
				if err := rows.Scan(&conv, &last); err != nil {
					return nil, err
				}
				out[store.ConvID(conv)] = uint64(last)
			}
			return out, rows.Err()
		}},
		messages: &combiner[string, store.Message]{name: "get messages", query: func(ctx context.Context, ids []string) (map[string]store.Message, error) {
			ms, err := queryMessages(ctx, pool, `SELECT `+messageCols+` FROM messages WHERE id = ANY($1)`, ids)
			if err != nil {
				return nil, err
			}
			out := make(map[string]store.Message, len(ms))
			for _, m := range ms {
				out[m.ID] = m
			}
			return out, nil
		}},
	}
}
