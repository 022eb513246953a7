package ws

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seen-im/seen/internal/writedeadline"
)

// The WebSocket library flushes every frame with its own write(2). Under
// load a connection's writer drains several frames at once (a response, a
// few message.new, a receipt.changed), and one system call per frame is
// then a large share of the server's CPU. A batchConn sits under the
// library: while the writer drains a batch it is corked and collects the
// bytes, and uncorking writes them with one system call.

// maxBatchBytes caps what a corked connection collects; a frame that would
// go past it is written through (after what was collected).
const maxBatchBytes = 64 << 10

// batchBufs holds collection buffers, so an idle connection keeps none.
var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// batchConn is a net.Conn whose writes can be held back and sent together.
// Every real write runs under a write deadline (writedeadline), so a peer
// that stops reading cannot hold a writer forever.
type batchConn struct {
	*writedeadline.Conn
	rbytes atomic.Int64 // bytes read, for streamCount (inline.go)
	rfull  atomic.Bool  // the last read filled its buffer: the socket may hold more

	mu     sync.Mutex
	corked bool    // guarded by mu
	buf    *[]byte // guarded by mu: collected bytes, nil while empty
	err    error   // guarded by mu: the first write error, returned from then on
}

// Read counts what it reads.
func (b *batchConn) Read(p []byte) (int, error) {
	n, err := b.Conn.Read(p)
	b.rbytes.Add(int64(n))
	b.rfull.Store(n == len(p))
	return n, err
}

// Write collects p while corked, and writes otherwise.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.corked && b.buffered()+len(p) <= maxBatchBytes {
		if b.buf == nil {
			b.buf = batchBufs.Get().(*[]byte)
		}
		*b.buf = append(*b.buf, p...)
		return len(p), nil
	}
	if err := b.flushLocked(); err != nil {
		return 0, err
	}
	return b.writeLocked(p)
}

// buffered is how many bytes are collected. b.mu is held.
func (b *batchConn) buffered() int {
	if b.buf == nil {
		return 0
	}
	return len(*b.buf)
}

// cork starts collecting writes.
func (b *batchConn) cork() {
	b.mu.Lock()
	b.corked = true
	b.mu.Unlock()
}

// uncork writes what was collected with one system call and stops
// collecting.
func (b *batchConn) uncork() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.corked = false
	return b.flushLocked()
}

func (b *batchConn) flushLocked() error {
	if b.buf == nil {
		return b.err
	}
	buf := b.buf
	b.buf = nil
	_, err := b.writeLocked(*buf)
	*buf = (*buf)[:0]
	if cap(*buf) <= 4*maxBatchBytes {
		batchBufs.Put(buf)
	}
	return err
}

func (b *batchConn) writeLocked(p []byte) (int, error) {
	n, err := b.Conn.Write(p)
	if err != nil {
		b.err = err
	}
	return n, err
}

// batchListener wraps every accepted connection in a batchConn.
type batchListener struct {
	net.Listener
	timeout time.Duration
}

func (l batchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &batchConn{Conn: writedeadline.New(c, l.timeout)}, nil
}

// Listener wraps l so that WebSocket connections served from it write
// several frames with one system call; writeTimeout bounds every write.
// Serve it with an http.Server whose ConnContext is ConnContext.
func Listener(l net.Listener, writeTimeout time.Duration) net.Listener {
	return batchListener{Listener: l, timeout: writeTimeout}
}

type connKey struct{}

// ConnContext is the http.Server ConnContext that lets the Handler find
// the batchConn under a request. Without it (or without Listener) frames
// are written one system call each.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if bc, ok := c.(*batchConn); ok {
		return context.WithValue(ctx, connKey{}, bc)
	}
	return ctx
}

func batchConnOf(ctx context.Context) *batchConn {
	bc, _ := ctx.Value(connKey{}).(*batchConn)
	return bc
}
