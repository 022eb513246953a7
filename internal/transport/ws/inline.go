package ws

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/seen-im/seen/protocol"
)

// A client that acks as it reads sends one request, waits for the answer,
// then sends the next. Handing each such request from the reader to a
// worker costs a wake-up of another thread (futex, or the runtime's
// spinning: nanosleep) and the scheduling on both sides, while the reader
// has nothing to do but wait for the client's next frame, which comes only
// after the answer. So the reader runs a cheap request itself when nothing
// more has been read from the socket: no frame waits behind it. When more
// is read (a client that pipelines, a burst), requests go to the workers
// as before, so they still run and group their durable writes together; a
// burst that reaches the socket only after the reader started a request
// waits for that one request at most.
//
// The cost: frames that reach the socket while the reader runs a request
// wait for it, one durable write normally, RequestTimeout at most if the
// store stalls. And the reader answers the pings' pongs, so while it runs
// a request it does not; inline runs are allowed only when a request ends
// (RequestTimeout) well before a ping goes unanswered (IdleTimeout -
// PingInterval).
//
// Whether more has been read: the library reads frames through a buffer it
// does not expose, and reads it on other goroutines too (the closing
// handshake), so its fill cannot be asked. Instead the bytes read from the
// socket (batchConn counts them) are compared with the bytes of the frames
// the reader has had: equal, nothing is waiting. A frame counted short (a
// message in several fragments) leaves them unequal for good, and that
// connection's requests all go to workers, as before: never the other way.

// isCheapMethod reports whether method may run on the reader: the acks,
// small and bounded, whose durable write is their only wait.
func isCheapMethod(method string) bool {
	return method == protocol.MethodMessageRead || method == protocol.MethodMessageDelivered ||
		method == protocol.MethodConversationRead
}

// inlineAllowed reports whether the configuration lets the reader run
// requests: a request must end before an unanswered ping drops the client.
func (h *Handler) inlineAllowed() bool {
	cfg := h.o.Config
	return cfg.RequestTimeout > 0 && cfg.RequestTimeout < cfg.IdleTimeout-cfg.PingInterval
}

// runInline reports whether the reader may run req itself: a cheap method,
// with no byte read from the socket that is not part of a frame the reader
// has had. Called on the reader goroutine.
func (c *conn) runInline(req protocol.Request) bool {
	return c.stream != nil && c.h.inline && isCheapMethod(req.Method) && c.stream.drained()
}

// streamCount counts the bytes of a connection's frames against the bytes
// read from its socket.
type streamCount struct {
	bc       *batchConn
	consumed atomic.Int64 // bytes read before the first frame, then of every frame had
}

// frameBytes is the size on the wire of a client's single frame with n
// bytes of payload: the header, its extended length and the mask key.
func frameBytes(n int) int64 {
	switch {
	case n <= 125:
		return int64(2 + 4 + n)
	case n <= 65535:
		return int64(2 + 2 + 4 + n)
	}
	return int64(2 + 8 + 4 + n)
}

// frame counts a data message of n bytes read by the reader.
func (s *streamCount) frame(n int) { s.consumed.Add(frameBytes(n)) }

// ping and pong count the control frames the library reads (and answers)
// by itself; they are its OnPingReceived and OnPongReceived.
func (s *streamCount) ping(_ context.Context, p []byte) bool {
	s.consumed.Add(frameBytes(len(p)))
	return true
}

func (s *streamCount) pong(_ context.Context, p []byte) { s.consumed.Add(frameBytes(len(p))) }

// drained reports whether every byte read from the socket belongs to a
// frame already had, and the last read found the socket emptied (a read
// that filled the library's buffer, as in a burst, probably left more).
func (s *streamCount) drained() bool {
	return s.bc.rbytes.Load() == s.consumed.Load() && !s.bc.rfull.Load()
}

// hijackWatch is the ResponseWriter handed to the WebSocket library: when
// the library takes the connection over, it counts what was read of the
// socket up to the first frame (the HTTP request), which is what the HTTP
// server read less what it read ahead.
type hijackWatch struct {
	http.ResponseWriter
	stream *streamCount
}

// Hijack implements http.Hijacker.
func (w *hijackWatch) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.stream.consumed.Store(w.stream.bc.rbytes.Load() - int64(brw.Reader.Buffered()))
	}
	return nc, brw, err
}

// Unwrap lets http.ResponseController reach the original writer.
func (w *hijackWatch) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// A frame is read into a pooled buffer: a request the reader runs itself
// leaves nothing that points into its frame once answered (params are
// decoded into fresh strings, the response is encoded into bytes of its
// own), so the buffer serves the next frame instead of a fresh one being
// allocated and collected for each (io.ReadAll: a buffer, the reader
// wrapping, the growth). A frame handed to a worker keeps its buffer;
// only buffers of ordinary size go back to the pool.
var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooledFrame bounds the buffers kept for reuse: a large frame's
// buffer is left to the collector, not held by the pool.
const maxPooledFrame = 16 << 10

// readFrameInto reads r to its end into buf, or up to limit+1 bytes: a frame
// longer than limit is returned with limit+1 bytes, for the caller to
// refuse.
func readFrameInto(r io.Reader, buf []byte, limit int64) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 512)
		}
		room := buf[len(buf):cap(buf)]
		if left := limit + 1 - int64(len(buf)); int64(len(room)) > left {
			room = room[:left]
		}
		n, err := r.Read(room)
		buf = buf[:len(buf)+n]
		if err == io.EOF || int64(len(buf)) > limit {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
