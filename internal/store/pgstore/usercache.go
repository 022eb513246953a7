package pgstore

import (
	"sync"

	"github.com/seen-im/seen/internal/store"
)

// A user's record is written once and never changes nor goes: PutUser
// leaves an existing user as it is, and no call deletes one. So a record
// read once is exact for ever, on every node, and the lookups keep the
// ones they read: a peer conversation's every ack names its peer, whose
// record was one statement of most lookup rounds (3,900 of the 30,000
// statements of a ten-second mixed pass). Nothing else is kept to answer
// a lookup: the other records change.

// maxCachedUsers bounds a node's user records: about 100 bytes each.
const maxCachedUsers = 1 << 16

// userCache is the user records a node has read, at most max of them:
// when full, an arbitrary one makes room for the next.
type userCache struct {
	max   int
	mu    sync.RWMutex
	users map[string]store.User // guarded by mu
}

func newUserCache(max int) *userCache {
	return &userCache{max: max, users: make(map[string]store.User)}
}

// get returns the record of id, if kept.
func (c *userCache) get(id string) (store.User, bool) {
	c.mu.RLock()
	u, ok := c.users[id]
	c.mu.RUnlock()
	return u, ok
}

// missing returns the ids of ids not kept, nil if every one is.
func (c *userCache) missing(ids []string) []string {
	var out []string
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, id := range ids {
		if _, ok := c.users[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

// add keeps the records of us, read from the database.
func (c *userCache) add(us map[string]store.User) {
	if len(us) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, u := range us {
		if _, ok := c.users[id]; ok {
			continue
		}
		if len(c.users) >= c.max {
			for old := range c.users {
				delete(c.users, old)
				break
			}
		}
		c.users[id] = u
	}
}
