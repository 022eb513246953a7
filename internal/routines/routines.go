// Package routines owns long-lived goroutines. Every such goroutine of a
// component is started through its Group, which counts it by name, so the
// component's shutdown can join all of them, within a deadline, and say
// which ones did not end (as nats-server's startGoRoutine and grWG do).
//
// # Concurrency
//
// A Group is safe for concurrent use. Its zero value is ready.
package routines

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Group counts the goroutines it started until they return.
type Group struct {
	mu      sync.Mutex
	running map[string]int // guarded by mu: live goroutines by name
	total   int            // guarded by mu: sum of running
	idle    chan struct{}  // guarded by mu: closed when total drops to 0
	stopped bool           // guarded by mu: Go refuses new goroutines
}

// Go runs f on a new goroutine counted under name, unless the group is
// stopped; it reports whether it started f.
func (g *Group) Go(name string, f func()) bool {
	if !g.add(name) {
		return false
	}
	go func() {
		defer g.done(name)
		f()
	}()
	return true
}

// Add counts one goroutine the caller starts some other way (a timer's
// callback, say), unless the group is stopped; the goroutine must call
// the returned function when it ends. ok is false, and nothing counted,
// once the group is stopped.
func (g *Group) Add(name string) (done func(), ok bool) {
	if !g.add(name) {
		return nil, false
	}
	var once sync.Once
	return func() { once.Do(func() { g.done(name) }) }, true
}

func (g *Group) add(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	if g.running == nil {
		g.running = make(map[string]int)
	}
	if g.total == 0 {
		g.idle = make(chan struct{})
	}
	g.running[name]++
	g.total++
	return true
}

func (g *Group) done(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.running[name]--; g.running[name] == 0 {
		delete(g.running, name)
	}
	if g.total--; g.total == 0 {
		close(g.idle)
	}
}

// Stop makes Go and Add refuse new goroutines from now on. Those running
// go on; Wait joins them.
func (g *Group) Stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}

// Running is the number of goroutines counted now.
func (g *Group) Running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

// Wait blocks until no counted goroutine runs, or ctx ends; then it
// returns an error naming those still running. Goroutines started while
// it waits are waited for too.
func (g *Group) Wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		if g.total == 0 {
			g.mu.Unlock()
			return nil
		}
		idle := g.idle
		g.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return fmt.Errorf("routines: %w; still running: %s", ctx.Err(), g.describe())
		}
	}
}

// describe lists the running goroutines as "name×n, ...", by name.
func (g *Group) describe() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	names := slices.Collect(maps.Keys(g.running))
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s×%d", n, g.running[n])
	}
	return strings.Join(parts, ", ")
}
