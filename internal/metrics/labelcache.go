package metrics

import (
	"sync"
	"sync/atomic"
)

// LabelCache keeps instruments found by label, for paths that look the
// same few up on every request. A sync.Map did this before, at about 200
// instructions a lookup (the key hashed as an interface, the trie walked,
// compared as interfaces), several times per read ack; a map read through
// an atomic pointer takes a string hash and a probe. Writes copy the map:
// the label sets cached are small and bounded, and written once each.
//
// The zero value is empty and ready for use.
type LabelCache[V any] struct {
	m  atomic.Pointer[map[string]V] // read without a lock; replaced whole
	mu sync.Mutex                   // serialises writers
}

// Get returns label's value, made with mk and kept on the first call for
// label. Two first calls may both run mk; one result is kept and returned
// to both, so mk must be safe to call twice (a vector's WithLabelValues
// hands back the same series).
func (c *LabelCache[V]) Get(label string, mk func() V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[label]; ok {
			return v
		}
	}
	v := mk()
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if got, ok := (*old)[label]; ok {
			return got
		}
	}
	next := make(map[string]V, 1)
	if old != nil {
		for k, x := range *old {
			next[k] = x
		}
	}
	next[label] = v
	c.m.Store(&next)
	return v
}
