package service

import (
	"context"
	"sync"

	"github.com/seen-im/seen/internal/store"
)

// settingsCache keeps users' settings on a node that is the only one on its
// store (the embedded default, or PostgreSQL without NATS): every change then
// goes through this service, so the cache cannot go stale, and an ack need
// not read the store for the reader's settings (two lookups for a user who
// never changed them: the settings record, then the user). On a cluster node
// it is off: a switch flipped through another node must hold for the next
// ack here at once, so every ack reads the store.
//
// # Concurrency
//
// A read that misses records the generation before it reads the store and
// fills the cache only if no change was made meanwhile: a read racing an
// update never leaves the old value behind.
type settingsCache struct {
	on bool // set once by New

	mu  sync.Mutex
	gen uint64                    // guarded by mu; bumped by every change
	m   map[string]store.Settings // guarded by mu
}

// settingsCacheMax bounds the cache; past it, it starts again empty (a
// settings record is a few dozen bytes: about 10 MB at the bound).
const settingsCacheMax = 100_000

// singleNode is implemented by a bus that connects no other node.
type singleNode interface{ SingleNode() bool }

func (c *settingsCache) get(user string) (store.Settings, uint64, bool) {
	if !c.on {
		return store.Settings{}, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.m[user]
	return st, c.gen, ok
}

// put caches st for user, read at generation gen, unless a change came
// since.
func (c *settingsCache) put(user string, st store.Settings, gen uint64) {
	if !c.on {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= settingsCacheMax {
		c.m = make(map[string]store.Settings)
	}
	c.m[user] = st
}

// changed forgets user's settings: called after every store write of them
// (and before, so no read in between fills the cache with the old ones).
func (c *settingsCache) changed(user string) {
	if !c.on {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, user)
}

// cachedSettings is store.GetSettings through the cache.
func (s *Service) cachedSettings(ctx context.Context, user string) (store.Settings, error) {
	if st, _, ok := s.settings.get(user); ok {
		return st, nil
	}
	_, gen, _ := s.settings.get(user)
	st, err := s.store.GetSettings(ctx, user)
	if err != nil {
		return store.Settings{}, err
	}
	s.settings.put(user, st, gen)
	return st, nil
}
