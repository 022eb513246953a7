// Package bench is the load generator behind `seen bench`: scenarios that
// drive a running Seen server through the Go SDK (client package) and the
// admin API, and measure throughput, latency, events and errors.
//
// A run never starts a server. Several processes may split one run with
// Options.Shard/Shards: shard 0 creates the users and groups and hosts the
// senders; every shard connects its slice of the members.
//
// # Concurrency
//
// Scenarios run many goroutines (one per client, plus the SDK's own); all
// shared measurements go through Recorder, which is safe for concurrent
// use. Every client a scenario dials is closed before the scenario
// returns.
package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/auth"
)

// Options are the settings every scenario shares.
type Options struct {
	// URL is the server's HTTP base URL (http://127.0.0.1:8080); the
	// WebSocket URL is derived from it. Several comma-separated URLs name
	// the nodes of a cluster: the run's sockets take turns over them
	// (the first to the first node, the second to the second, ...), so
	// events must cross the bus between nodes as they would in production.
	URL string
	// AdminURL is the admin API's base URL when it listens apart; default
	// the first URL. Admin calls go to this one place: setup is not what
	// a cluster run measures.
	AdminURL string
	// AdminKey authenticates the admin API.
	AdminKey string
	// TokenSecret, when set, mints user tokens locally (HS256) instead of
	// asking the admin API for each.
	TokenSecret string
	// Prefix names the run's users and groups; a fresh prefix per run keeps
	// runs on one server apart.
	Prefix string
	// Shard and Shards split a run over processes (shard Shard of Shards).
	Shard, Shards int
	// SourceIPs is how many loopback source addresses (127.0.0.2, ...) the
	// sockets are spread over; 0 lets the kernel choose.
	SourceIPs int
	// DialConcurrency and AdminConcurrency bound parallel connects and
	// admin calls.
	DialConcurrency  int
	AdminConcurrency int
	// Timeout bounds waiting for the expected final state.
	Timeout time.Duration
	// ServerPID, when set, samples the server's VmRSS before and after.
	ServerPID int
	// Log receives progress lines; nil discards them.
	Log *slog.Logger
}

// env is what a scenario runs with: options, recorder, HTTP clients and a
// token source.
type env struct {
	o      Options
	log    *slog.Logger
	rec    *Recorder
	wsURLs []string // one per node, in --url order
	admin  *http.Client
	tokens *auth.Tokens // nil: ask the admin API
	dialer []*http.Client
	next   int
	mu     sync.Mutex
	// nextNode picks the node of the next socket, round robin.
	nextNode atomic.Uint64
	// ackDeadline bounds each ack's requests (callTimeout).
	ackDeadline *sharedDeadline
}

func newEnv(o Options) (*env, error) {
	bases, wsURLs, hosts, err := parseURLs(o.URL)
	if err != nil {
		return nil, err
	}
	if o.AdminURL == "" {
		o.AdminURL = bases[0]
	}
	o.AdminURL = strings.TrimRight(o.AdminURL, "/")
	if o.Shards < 1 {
		o.Shards = 1
	}
	if o.Shard < 0 || o.Shard >= o.Shards {
		return nil, fmt.Errorf("bench: shard %d/%d out of range", o.Shard, o.Shards)
	}
	if o.DialConcurrency < 1 {
		o.DialConcurrency = 128
	}
	if o.AdminConcurrency < 1 {
		o.AdminConcurrency = 32
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Minute
	}
	if o.Prefix == "" {
		o.Prefix = "bench"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	e := &env{
		o:           o,
		log:         o.Log,
		rec:         NewRecorder(),
		wsURLs:      wsURLs,
		ackDeadline: newSharedDeadline(callTimeout, time.Second),
		admin: &http.Client{
			Timeout: 2 * time.Minute,
			Transport: &http.Transport{
				MaxIdleConns:        o.AdminConcurrency,
				MaxIdleConnsPerHost: o.AdminConcurrency,
				IdleConnTimeout:     30 * time.Second,
			},
		},
	}
	if o.TokenSecret != "" {
		e.tokens = auth.New(o.TokenSecret, nil)
	}
	e.dialer = dialers(hosts, o.SourceIPs)
	return e, nil
}

// parseURLs turns --url, one base URL or several comma-separated, into the
// base URL, the WebSocket URL and the host of each node.
func parseURLs(list string) (bases, wsURLs, hosts []string, err error) {
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, nil, nil, fmt.Errorf("bench: --url %q: want http://host:port, or several comma-separated", raw)
		}
		ws := *u
		ws.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
		ws.Path = strings.TrimRight(u.Path, "/") + "/v1/ws"
		bases = append(bases, raw)
		wsURLs = append(wsURLs, ws.String())
		hosts = append(hosts, u.Hostname())
	}
	if len(wsURLs) == 0 {
		return nil, nil, nil, errors.New("bench: --url is required")
	}
	return bases, wsURLs, hosts, nil
}

// nodeURL returns the WebSocket URL of the next socket's node.
func (e *env) nodeURL() string {
	i := e.nextNode.Add(1) - 1
	return e.wsURLs[i%uint64(len(e.wsURLs))]
}

// dialers returns one HTTP client per source address for the WebSocket
// handshakes. Every loopback address is on lo, and each has its own range
// of ephemeral ports, so spreading sockets over them lifts the ~28,000
// sockets one source address can hold to one server port. A 127.0.0.x
// source cannot reach another host, so any host off IPv4 loopback turns
// the spreading off.
func dialers(hosts []string, n int) []*http.Client {
	for _, host := range hosts {
		ip := net.ParseIP(host)
		if host == "localhost" {
			ip = net.IPv4(127, 0, 0, 1)
		}
		if n <= 0 || ip == nil || !ip.IsLoopback() || ip.To4() == nil {
			return []*http.Client{{Transport: &http.Transport{}}}
		}
	}
	out := make([]*http.Client, n)
	for i := range n {
		src := net.IPv4(127, 0, byte((i+2)>>8), byte((i+2)&0xff))
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 15 * time.Second}
		out[i] = &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	return out
}

// httpClient returns the next handshake client, round robin.
func (e *env) httpClient() *http.Client {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.dialer[e.next%len(e.dialer)]
	e.next++
	return c
}

// token returns a token for user.
func (e *env) token(ctx context.Context, user string) (string, error) {
	if e.tokens != nil {
		tok, _, err := e.tokens.Mint(user, 24*time.Hour)
		return tok, err
	}
	var res struct {
		Token string `json:"token"`
	}
	if err := e.adminCall(ctx, "POST", "/v1/admin/tokens", map[string]any{"userId": user}, &res); err != nil {
		return "", err
	}
	return res.Token, nil
}

// dial connects user with the bench's defaults: no automatic delivered
// acks (the scenarios send and time their own), a small event queue
// (4096 entries cost ~230 KiB per client), and no reconnecting, so a drop
// shows up as an error instead of being hidden.
func (e *env) dial(ctx context.Context, user string, queue int, h client.Handlers) (*client.Client, error) {
	tok, err := e.token(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("token for %s: %w", user, err)
	}
	c, err := client.Dial(ctx, e.nodeURL(), tok,
		client.WithHTTPClient(e.httpClient()),
		client.WithAutoDelivered(false),
		client.WithReconnect(false),
		// One message.read per Read: the scenarios measure the server's
		// cost of an ack; --mark-read opts into shared requests.
		client.WithReadBatching(false),
		client.WithEventQueueSize(queue),
		client.WithDevice("bench"),
		client.WithHandlers(h),
	)
	if err != nil {
		e.rec.ErrorCode("connect:" + ErrorCode(err))
		return nil, fmt.Errorf("connect %s: %w", user, err)
	}
	return c, nil
}

// dialAll connects users in parallel (DialConcurrency at a time);
// handlers builds each user's handlers, given where its client will be
// (see await). On error it closes what it opened.
func (e *env) dialAll(ctx context.Context, users []string, queue int,
	handlers func(i int, self *atomic.Pointer[client.Client]) client.Handlers) ([]*client.Client, error) {
	out := make([]*client.Client, len(users))
	err := parallel(ctx, len(users), e.o.DialConcurrency, func(ctx context.Context, i int) error {
		self := new(atomic.Pointer[client.Client])
		c, err := e.dial(ctx, users[i], queue, handlers(i, self))
		if c != nil {
			self.Store(c)
		}
		out[i] = c
		return err
	})
	if err != nil {
		closeAll(out)
		return nil, err
	}
	return out, nil
}

// await returns the client a handler runs for. A handler can run before
// Dial returned it; it then waits the moment until it is stored.
func await(self *atomic.Pointer[client.Client]) *client.Client {
	for {
		if c := self.Load(); c != nil {
			return c
		}
		time.Sleep(time.Millisecond)
	}
}

// closeAll closes every client, in parallel.
func closeAll(cs []*client.Client) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, c := range cs {
		if c == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.Close()
		}()
	}
	wg.Wait()
}

// parallel runs f for 0..n-1, at most width at a time; it stops at the
// first error and returns it.
func parallel(ctx context.Context, n, width int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, width))
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(ctx, i); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// ---- file descriptors ----

// RaiseNoFile raises the soft RLIMIT_NOFILE to the hard limit and returns
// the soft limit in force.
func RaiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("bench: getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("bench: raise RLIMIT_NOFILE to %d: %w", lim.Max, err)
		}
	}
	return lim.Cur, nil
}

// fdReserve is what a process needs besides its sockets: stdio, the
// admin connections, the runtime's poller, files.
const fdReserve = 100

// CheckSockets fails with a clear error when n sockets do not fit in the
// open-file limit after raising it.
func CheckSockets(n int) error {
	lim, err := RaiseNoFile()
	if err != nil {
		return err
	}
	if uint64(n+fdReserve) > lim {
		return fmt.Errorf("bench: %d sockets (+%d reserve) exceed this process's open-file limit %d (RLIMIT_NOFILE); "+
			"split the run over processes with --shard i/n (e.g. %d shards)",
			n, fdReserve, lim, (n+fdReserve)/int(max(1, lim-fdReserve))+1)
	}
	return nil
}

// ---- server memory ----

// RSSKiB returns VmRSS of pid in KiB, from /proc/pid/status.
func RSSKiB(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmRSS(f)
}

func parseVmRSS(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, errors.New("bench: no VmRSS line")
}
