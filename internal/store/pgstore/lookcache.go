package pgstore

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/seen-im/seen/internal/store"
)

// The lookup cache answers point lookups (Find) from memory on a node that
// writes its database alone.
//
// Every message.read and message.delivered looks up its group, the
// caller's member row and the acked messages before it writes: in the
// mixed benchmark about half of PostgreSQL's transactions were these
// lookups, each a round trip. The embedded store answers them from
// memory. A node that holds the node lock exclusively (LockNode(false))
// is the only writer of its database, so it can too, provided it knows of
// every write: every write path of this package brackets its write with
// begin and end, naming what it writes (a member row, a conversation's
// last seq, a message by seq, or a whole conversation).
//
// Exactness. A slot (one record) is answered from only while no writer
// of it, or of its whole conversation, is between begin and end; and a
// writer's end comes after its commit. So an answer from the cache is the
// committed row at the moment of the answer. A lookup that misses reads
// the database and fills the cache only if no writer of the slot began
// or ended since just before the read (the epoch it snapped): otherwise
// what it read may be older than a commit already made. A writer that
// knows the row it committed leaves it in the slot at its end, unless
// another writer of the slot overlapped it (then the order of their
// commits is unknown, and the slot is emptied). Rows absent from the
// database are never cached, so an insert needs no bracket of its own.
//
// A write whose outcome is unknown (its connection failed: the commit may
// still land) empties the cache and pauses it for cachePause: no answer
// and no fill until a commit that was in flight has long landed. A node
// whose lock's session is lost (the database restarted) may no longer be
// the only writer: the watchdog (node.go) turns the cache off for good.
//
// Clusters never cache: other nodes write the same rows.

// Bounds: the cache holds at most maxCacheSlots records; past it, idle
// conversations are dropped whole until a quarter is free.
const (
	maxCacheSlots = 1 << 18
	cachePause    = 2 * time.Second
)

// slot is one cached record and its writers.
type slot[V any] struct {
	v       V
	ok      bool   // v is the committed record
	busy    int    // writers between begin and end
	touched uint64 // epoch of the last begin or end
}

// fillable reports whether a read that snapped the epoch snap may fill s.
func (s *slot[V]) fillable(snap uint64) bool { return s.busy == 0 && s.touched <= snap }

// cachedConv is one conversation's records. wide is the conversation as a
// whole: a writer of it (a membership change, a group's deletion) holds
// every record of the conversation.
type cachedConv struct {
	wide    slot[struct{}]
	group   slot[store.Group]
	last    slot[uint64]
	members map[string]*slot[store.Member]
	msgs    map[uint64]*slot[store.Message]
}

func (c *cachedConv) slots() int { return 2 + len(c.members) + len(c.msgs) }

// idle reports whether no writer holds a record of c.
func (c *cachedConv) idle() bool {
	if c.wide.busy > 0 || c.group.busy > 0 || c.last.busy > 0 {
		return false
	}
	for _, s := range c.members {
		if s.busy > 0 {
			return false
		}
	}
	for _, s := range c.msgs {
		if s.busy > 0 {
			return false
		}
	}
	return true
}

// lookCache is the cache. Make it with newLookCache; it is off until
// enable.
type lookCache struct {
	mu     sync.Mutex
	on     bool
	verify bool      // tests: every answer is checked against the database
	paused time.Time // no answer and no fill before it
	epoch  uint64    // advanced by every begin and end
	floor  uint64    // fills that snapped an epoch before it are refused
	convs  map[store.ConvID]*cachedConv
	byID   map[string]settleKey // the cached messages' conversation and seq
	n      int                  // slots held
	now    func() time.Time
	// answered counts the lookups answered from the cache.
	answered int64
	// ended, if not nil, is closed at the next end of a write: a lookup
	// that found its records being written waits for it.
	ended chan struct{}
}

// newLookCache returns a cache, off until enable; verify: every answer
// is to be checked against the database.
func newLookCache(verify bool) *lookCache {
	return &lookCache{convs: make(map[store.ConvID]*cachedConv), byID: make(map[string]settleKey), now: time.Now, verify: verify}
}

// enable turns the cache on: the node is the database's only writer.
func (c *lookCache) enable() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = true
}

// LookupCacheStat is the lookup cache's state (lookcache.go): whether the
// node answers lookups from memory, the records it holds, and the lookups
// it answered.
type LookupCacheStat struct {
	On       bool
	Records  int
	Answered int64
}

// LookupCacheStat returns the lookup cache's state.
func (s *Store) LookupCacheStat() LookupCacheStat {
	c := s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	return LookupCacheStat{On: c.on, Records: c.n, Answered: c.answered}
}

// disable turns the cache off for good and drops what it holds.
func (c *lookCache) disable() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	c.dropIdleLocked()
}

// live reports whether the cache may answer and fill now.
func (c *lookCache) liveLocked() bool {
	return c.on && (c.paused.IsZero() || !c.now().Before(c.paused))
}

// dropIdleLocked drops every conversation no writer holds, and every
// record of the others, and refuses the fills of reads already made.
func (c *lookCache) dropIdleLocked() {
	c.refuseFillsLocked()
	for id, cv := range c.convs {
		if cv.idle() {
			c.dropConvLocked(id, cv)
			continue
		}
		cv.group.ok, cv.last.ok = false, false
		for _, s := range cv.members {
			s.ok = false
		}
		for _, s := range cv.msgs {
			if s.ok {
				delete(c.byID, s.v.ID)
			}
			s.ok = false
		}
	}
}

// refuseFillsLocked refuses the fills of every read already made: records
// are about to be dropped, and with them what writers did to them.
func (c *lookCache) refuseFillsLocked() {
	c.epoch++
	c.floor = c.epoch
}

func (c *lookCache) dropConvLocked(id store.ConvID, cv *cachedConv) {
	for _, s := range cv.msgs {
		if s.ok {
			delete(c.byID, s.v.ID)
		}
	}
	c.n -= cv.slots()
	delete(c.convs, id)
}

func (c *lookCache) conv(id store.ConvID) *cachedConv {
	cv := c.convs[id]
	if cv == nil {
		cv = &cachedConv{members: make(map[string]*slot[store.Member]), msgs: make(map[uint64]*slot[store.Message])}
		c.convs[id] = cv
		c.n += cv.slots()
	}
	return cv
}

func (c *lookCache) member(cv *cachedConv, user string) *slot[store.Member] {
	return slotIn(c, cv.members, user)
}

func (c *lookCache) msg(cv *cachedConv, seq uint64) *slot[store.Message] {
	return slotIn(c, cv.msgs, seq)
}

// slotIn returns the slot of k in m, made (and counted) if missing.
func slotIn[K comparable, V any](c *lookCache, m map[K]*slot[V], k K) *slot[V] {
	s := m[k]
	if s == nil {
		s = &slot[V]{}
		m[k] = s
		c.n++
	}
	return s
}

// boundLocked drops idle conversations while the cache holds more than
// maxCacheSlots records.
func (c *lookCache) boundLocked() {
	if c.n <= maxCacheSlots {
		return
	}
	c.refuseFillsLocked()
	for id, cv := range c.convs {
		if c.n <= maxCacheSlots*3/4 {
			return
		}
		if cv.idle() {
			c.dropConvLocked(id, cv)
		}
	}
}

// cacheKeys are what one write writes: whole conversations, member rows,
// conversations' last seqs, and messages by conversation and seq.
type cacheKeys struct {
	wide    []store.ConvID
	members []memberKey
	lasts   []store.ConvID
	msgs    []settleKey
}

// cacheWrite is one write between begin and end. The clean lists record,
// per whole conversation, member and last-seq slot, that the write was its
// only writer at begin.
type cacheWrite struct {
	c           *lookCache
	epoch       uint64
	k           cacheKeys
	wideClean   []bool
	memberClean []bool
	lastClean   []bool
}

// begin marks k as being written. The write calls end once it committed
// or failed.
func (c *lookCache) begin(k cacheKeys) *cacheWrite {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	w := &cacheWrite{c: c, epoch: c.epoch, k: k}
	w.wideClean = make([]bool, len(k.wide))
	for i, id := range k.wide {
		cv := c.conv(id)
		w.wideClean[i] = cv.wide.busy == 0
		cv.wide.busy++
		cv.wide.touched = c.epoch
	}
	w.memberClean = make([]bool, len(k.members))
	for i, mk := range k.members {
		s := c.member(c.conv(mk.conv), mk.user)
		w.memberClean[i] = s.busy == 0
		s.busy++
		s.touched = c.epoch
	}
	w.lastClean = make([]bool, len(k.lasts))
	for i, id := range k.lasts {
		s := &c.conv(id).last
		w.lastClean[i] = s.busy == 0
		s.busy++
		s.touched = c.epoch
	}
	for _, mk := range k.msgs {
		s := c.msg(c.conv(mk.conv), mk.seq)
		s.busy++
		s.touched = c.epoch
	}
	return w
}

// cacheResult is what a write committed and knows exactly: member rows
// and last seqs to leave in their slots, and new messages; and the member
// rows it turned out not to write, whose slots it leaves as they are. A
// key of the write left out of it is emptied.
type cacheResult struct {
	// group, with members, is a group the write created (as a write of
	// the whole conversation): what it holds is left in the cache.
	group     *store.Group
	members   map[memberKey]*store.Member
	unwritten map[memberKey]bool
	lasts     map[store.ConvID]uint64
	fresh     []store.Message
}

// end ends w, whose write returned err. If it committed, the records of
// res are left in their slots where w was their only writer throughout;
// every other slot of w is emptied. If its outcome is not known (the
// commit may still land: outcomeUnknown), the cache empties and pauses
// for cachePause.
func (w *cacheWrite) end(err error, res cacheResult) {
	committed := err == nil
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	e := c.epoch
	for i, id := range w.k.wide {
		cv := c.convs[id]
		alone := w.wideClean[i] && cv.wide.busy == 1 && cv.wide.touched == w.epoch
		cv.wide.busy--
		cv.wide.touched = e
		// Every record of the conversation may have changed.
		cv.group.ok, cv.last.ok = false, false
		for u, s := range cv.members {
			s.ok = false
			if s.busy == 0 {
				delete(cv.members, u)
				c.n--
			}
		}
		for seq, s := range cv.msgs {
			if s.ok {
				delete(c.byID, s.v.ID)
			}
			s.ok = false
			if s.busy == 0 {
				delete(cv.msgs, seq)
				c.n--
			}
		}
		// A group the write created, alone: nobody could read its rows
		// before the commit.
		if g := res.group; g != nil && committed && alone && store.GroupConv(g.ID) == id && c.liveLocked() {
			cv.group = slot[store.Group]{v: *g, ok: true, touched: e}
			for mk, m := range res.members {
				if mk.conv == id {
					if s := c.member(cv, mk.user); s.busy == 0 {
						s.v, s.ok, s.touched = ownMember(*m), true, e
					}
				}
			}
		}
	}
	// keep reports whether w may leave its record in s: it was s's only
	// writer from begin to end, and no writer of the whole conversation
	// began or ended meanwhile.
	keep := func(cv *cachedConv, busy int, touched uint64, clean bool) bool {
		return committed && clean && busy == 1 && touched == w.epoch && cv.wide.busy == 0 && cv.wide.touched < w.epoch
	}
	for i, mk := range w.k.members {
		cv := c.convs[mk.conv]
		s := cv.members[mk.user]
		m := res.members[mk]
		switch {
		case committed && res.unwritten[mk]:
		case m != nil && c.liveLocked() && keep(cv, s.busy, s.touched, w.memberClean[i]):
			s.v, s.ok = ownMember(*m), true
		default:
			s.ok = false
		}
		s.busy--
		s.touched = e
	}
	for i, id := range w.k.lasts {
		cv := c.convs[id]
		s := &cv.last
		last, has := res.lasts[id]
		if has && c.liveLocked() && keep(cv, s.busy, s.touched, w.lastClean[i]) {
			s.v, s.ok = last, true
		} else {
			s.ok = false
		}
		s.busy--
		s.touched = e
	}
	for _, mk := range w.k.msgs {
		cv := c.convs[mk.conv]
		s := cv.msgs[mk.seq]
		if s.ok {
			delete(c.byID, s.v.ID)
		}
		s.ok = false
		s.busy--
		s.touched = e
	}
	// New messages: nobody could read them before the commit, so no
	// slot holds them; one that does (a fill since) holds the same row.
	if committed && c.liveLocked() {
		for _, m := range res.fresh {
			cv := c.conv(m.Conv)
			if cv.wide.busy > 0 || cv.wide.touched >= w.epoch {
				continue
			}
			if _, held := cv.msgs[m.Seq]; held {
				continue
			}
			s := c.msg(cv, m.Seq)
			m.Hooks = nil
			s.v, s.ok, s.touched = m, true, e
			c.byID[m.ID] = settleKey{m.Conv, m.Seq}
		}
	}
	if outcomeUnknown(err) && c.on {
		c.paused = c.now().Add(cachePause)
		c.dropIdleLocked()
	}
	c.boundLocked()
	if c.ended != nil {
		close(c.ended)
		c.ended = nil
	}
}

// snap returns the epoch a read about to be sent snaps, and whether the
// cache may be filled from it at all.
func (c *lookCache) snap() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch, c.liveLocked()
}

// fill leaves in the cache the rows of a read that snapped snap.
func (c *lookCache) fill(snap uint64, rs rows) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.liveLocked() || snap < c.floor {
		return
	}
	open := func(id store.ConvID) *cachedConv {
		cv := c.conv(id)
		if !cv.wide.fillable(snap) {
			return nil
		}
		return cv
	}
	for id, g := range rs.Groups {
		if cv := open(store.GroupConv(id)); cv != nil && cv.group.fillable(snap) {
			cv.group.v, cv.group.ok = g, true
		}
	}
	for mr, m := range rs.Members {
		if cv := open(mr.Conv); cv != nil {
			if s := c.member(cv, mr.UserID); s.fillable(snap) {
				s.v, s.ok = ownMember(m), true
			}
		}
	}
	for id, last := range rs.LastSeqs {
		if cv := open(id); cv != nil && cv.last.fillable(snap) {
			cv.last.v, cv.last.ok = last, true
		}
	}
	for id, m := range rs.Messages {
		if cv := open(m.Conv); cv != nil {
			if s := c.msg(cv, m.Seq); s.fillable(snap) {
				s.v, s.ok = m, true
				c.byID[id] = settleKey{m.Conv, m.Seq}
			}
		}
	}
	c.boundLocked()
}

// An answer's outcome: every record held; one not held, which a read
// must fetch; or none missing but some being written, which the caller
// may wait for (a writer leaves what it committed in the slot at its end).
const (
	answerHit = iota
	answerMiss
	answerBusy
)

// answer returns the rows of q (users aside: the user cache has them) if
// the cache holds every one, with the epoch of the answer and whether
// answers are to be verified. Otherwise it says whether a record is
// missing, or being written: then ended is closed at the next end of a
// write. A record absent from the database is never held, so a lookup of
// one always reads.
func (c *lookCache) answer(q store.Lookup) (f store.Found, epoch uint64, outcome int, verify bool, ended <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.liveLocked() || len(q.Groups)+len(q.Members)+len(q.Messages)+len(q.LastSeqs) == 0 {
		return store.Found{}, 0, answerMiss, false, nil
	}
	f, outcome = c.answerLocked(q)
	switch outcome {
	case answerHit:
		c.answered++
	case answerBusy:
		if c.ended == nil {
			c.ended = make(chan struct{})
		}
		ended = c.ended
	}
	return f, c.epoch, outcome, c.verify, ended
}

func (c *lookCache) answerLocked(q store.Lookup) (store.Found, int) {
	busy := false
	var rs store.Found
	var ok [4]bool
	rs.Groups, ok[0] = collect(q.Groups, &busy, func(id string) (*cachedConv, *slot[store.Group]) {
		cv := c.convs[store.GroupConv(id)]
		if cv == nil {
			return nil, nil
		}
		return cv, &cv.group
	}, itself)
	rs.Members, ok[1] = collect(q.Members, &busy, func(mr store.MemberRef) (*cachedConv, *slot[store.Member]) {
		cv := c.convs[mr.Conv]
		if cv == nil {
			return nil, nil
		}
		return cv, cv.members[mr.UserID]
	}, ownMember)
	rs.LastSeqs, ok[2] = collect(q.LastSeqs, &busy, func(id store.ConvID) (*cachedConv, *slot[uint64]) {
		cv := c.convs[id]
		if cv == nil {
			return nil, nil
		}
		return cv, &cv.last
	}, itself)
	rs.Messages, ok[3] = collect(q.Messages, &busy, func(id string) (*cachedConv, *slot[store.Message]) {
		k, held := c.byID[id]
		cv := c.convs[k.conv]
		if !held || cv == nil {
			return nil, nil
		}
		// The id is checked too: a seq is reused by a group deleted
		// and created again.
		if s := cv.msgs[k.seq]; s != nil && (!s.ok || s.v.ID == id) {
			return cv, s
		}
		return nil, nil
	}, ownMessage)
	switch {
	case !ok[0] || !ok[1] || !ok[2] || !ok[3]:
		return store.Found{}, answerMiss
	case busy:
		return store.Found{}, answerBusy
	}
	return rs, answerHit
}

// collect answers the keys ks of one kind, in their order, as Find
// returns them: find gives a key's conversation and slot (nil if the
// cache has none), own copies a record. It reports false at the first
// record neither held nor being written, which a read must fetch, and sets
// busy if one is being written. (A map by key, as a read's rows are, cost
// a kilobyte or more for a key or two: a fifth of all a node's allocation
// in a mixed load.)
func collect[K comparable, V any](ks []K, busy *bool, find func(K) (*cachedConv, *slot[V]), own func(V) V) ([]V, bool) {
	if len(ks) == 0 {
		return nil, true
	}
	out := make([]V, len(ks))
	for i, k := range ks {
		cv, s := find(k)
		switch {
		case cv == nil || s == nil:
			return nil, false
		case cv.wide.busy > 0 || s.busy > 0:
			*busy = true
		case s.ok:
			out[i] = own(s.v)
		default:
			return nil, false
		}
	}
	return out, true
}

// sameFound reports, for the verify mode of tests, whether the cache's
// answer and the database's hold the same records, or what differs.
// Records are compared as JSON, which makes no difference between a nil
// and an empty list.
func sameFound(cached, read store.Found) error {
	flat := func(f store.Found) ([]byte, error) {
		return json.Marshal([]any{f.Groups, f.Members, f.Messages, f.LastSeqs})
	}
	a, err := flat(cached)
	if err != nil {
		return err
	}
	b, err := flat(read)
	if err != nil {
		return err
	}
	if !slices.Equal(a, b) {
		return fmt.Errorf("pgstore: the lookup cache answered %s where the database holds %s", a, b)
	}
	return nil
}
