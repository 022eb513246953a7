package seentest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// Node is a cluster node run as a child process of the built binary, so a
// test can kill it with SIGKILL and start it again on the same address.
type Node struct {
	*Proc
	t    testing.TB
	addr string
	dir  string
	env  []string
}

// StartNodes runs n cluster nodes (`seen serve` processes) on the
// PostgreSQL database at pgURL and the NATS at natsURL, each on its own
// loopback address, and waits until every one serves.
func StartNodes(t testing.TB, n int, pgURL, natsURL string) []*Node {
	t.Helper()
	env := []string{"SEEN_POSTGRES_URL=" + pgURL, "SEEN_NATS_URL=" + natsURL, "SEEN_DEMO=off"}
	nodes := make([]*Node, n)
	for i := range nodes {
		nd := &Node{t: t, addr: FreeAddr(t), dir: t.TempDir(), env: env}
		nd.Proc = StartProc(t, nd.dir, nd.addr, env...)
		nodes[i] = nd
	}
	return nodes
}

// Restart starts the node again, after Kill or Term, on the same address
// and settings, and waits until it serves.
func (n *Node) Restart() {
	n.t.Helper()
	n.Proc = StartProc(n.t, n.dir, n.addr, n.env...)
}

// URL is the node's HTTP base URL (the admin API shares its listener).
func (n *Node) URL() string { return "http://" + n.addr }

// AdminCall calls the admin API at base with the test admin key and returns
// the status and body, or the error of a node that could not be reached.
// Unlike Admin it does not fail the test, so load goroutines can call it
// while a node is being killed.
func AdminCall(ctx context.Context, base, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, nil, fmt.Errorf("seentest: marshal: %w", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("seentest: request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+AdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("seentest: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("seentest: %s %s: read body: %w", method, path, err)
	}
	return resp.StatusCode, data, nil
}

// Proxy is a loopback TCP proxy to one address that a test can cut off and
// restore: while cut, every connection through it is closed and new ones
// are accepted and closed at once, so whoever dials through it sees the
// target as unreachable, and nothing else using the target is touched.
type Proxy struct {
	t      testing.TB
	target string
	ln     net.Listener
	wg     sync.WaitGroup // the accept loop and every copy goroutine

	mu    sync.Mutex
	cut   bool                  // guarded by mu
	conns map[net.Conn]struct{} // both ends of every open pair; guarded by mu
}

// StartProxy listens on a loopback port and forwards to target until the
// test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("seentest: proxy listen: %v", err)
	}
	p := &Proxy{t: t, target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's address, to put in place of the target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every connection through the proxy and refuses new ones until
// Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		_ = c.Close()
	}
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return // closed when the test ends
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			_ = in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		if p.cut { // cut while dialling
			p.mu.Unlock()
			_ = in.Close()
			_ = out.Close()
			continue
		}
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// pipe copies from src to dst; when either side ends, both close, so the
// other direction's copy ends too.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}
