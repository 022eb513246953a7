package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/seen-im/seen/client"
)

// IdleParams configure the idle scenario.
type IdleParams struct {
	// Conns is how many idle connections to open, over all shards.
	Conns int
	// Settle is how long to hold them before sampling the server's memory.
	Settle time.Duration
	Setup  bool
}

// Idle opens Conns connections that do nothing and reports the server's
// memory per connection (with Options.ServerPID): RSS after minus RSS
// before, divided by the connections. The number includes the kernel's
// socket buffers only as far as they are charged to the process.
func Idle(ctx context.Context, o Options, p IdleParams) (*Report, error) {
	e, err := newEnv(o)
	if err != nil {
		return nil, err
	}
	if p.Conns < 1 {
		return nil, errors.New("bench: --conns must be at least 1")
	}
	lo, hi := shardRange(p.Conns, e.o.Shard, e.o.Shards)
	if err := CheckSockets(hi - lo); err != nil {
		return nil, err
	}
	rep := e.newReport("idle", map[string]any{"conns": p.Conns, "localConns": hi - lo, "settle": p.Settle.String()})
	users := make([]string, hi-lo)
	for i := range users {
		users[i] = fmt.Sprintf("%s-i%d", e.o.Prefix, lo+i)
	}
	if p.Setup {
		if err := e.createUsers(ctx, rep, users); err != nil {
			return nil, err
		}
	}
	doneRSS := e.sampleRSS(rep)
	start := time.Now()
	var drops atomic.Int64
	clients, err := e.dialAll(ctx, users, 16, func(int, *atomic.Pointer[client.Client]) client.Handlers {
		return client.Handlers{Disconnect: func(error) { drops.Add(1) }}
	})
	if err != nil {
		return nil, err
	}
	defer closeAll(clients)
	rep.Setup = append(rep.Setup, Step{Name: "connect", N: len(users), Sec: time.Since(start).Seconds()})
	select {
	case <-time.After(p.Settle):
	case <-ctx.Done():
	}
	doneRSS()
	if m := rep.Server; m != nil && len(users) > 0 {
		m.PerConnBytes = float64(m.RSSAfterK-m.RSSBeforeK) * 1024 / float64(len(users))
	}
	rep.AddCheck("no connection dropped while idle", drops.Load() == 0, fmt.Sprintf("%d drops", drops.Load()))
	return e.finish(rep), nil
}
