package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/internal/auth"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/metrics"
)

// inlineServer serves h on a loopback socket the way the server does:
// through Listener, so that writes batch and reads are counted.
func inlineServer(t *testing.T, h *Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ConnContext: ConnContext}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(Listener(l, 5*time.Second))
	}()
	t.Cleanup(func() {
		_ = h.Shutdown(context.Background())
		_ = srv.Close()
		<-done
	})
	return "ws://" + l.Addr().String()
}

// call writes a request and reads until its answer.
func call(t *testing.T, c *websocket.Conn, id int, method, params string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`, id, method, params)
	if err := c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`"id":%d,`, id)
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if strings.Contains(string(b), want) {
			if strings.Contains(string(b), `"error"`) {
				t.Fatalf("%s: %s", method, b)
			}
			return
		}
	}
}

// connectAs dials url and connects as user with a token of tokens; the
// connection is closed when t ends.
func connectAs(t *testing.T, url string, tokens *auth.Tokens, user string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	tok, _, err := tokens.Mint(user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	call(t, c, 0, "connect", `{"token":"`+tok+`"}`)
	return c
}

// A client that acks one request at a time has its acks run by the
// connection's reader, not handed to a worker.
// Pings go back and forth meanwhile: the pongs the library reads by itself
// are counted with the frames, or the reader would think more was waiting
// and hand the requests off.
func TestSequentialAcksRunOnTheReader(t *testing.T) {
	w := newFrameWorld(t, t.TempDir())
	defer w.close()
	cfg := config.Default()
	cfg.PingInterval = 20 * time.Millisecond
	tokens := auth.New("test-token-secret-0123456789abcdef", nil)
	h := New(Options{Service: w.svc, Tokens: tokens, Bus: w.bus, Config: cfg, Metrics: metrics.New()})
	url := inlineServer(t, h)

	c := connectAs(t, url, tokens, "a")
	// Long enough for several pings (the client answers them as it reads),
	// paced so that a fast machine stays within the rate limits.
	start, n := time.Now(), 0
	for n < 20 || time.Since(start) < 10*cfg.PingInterval {
		n++
		call(t, c, n, "conversation.read", `{"conversation":{"type":"peer","id":"b"}}`)
		time.Sleep(cfg.PingInterval / 20)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.conns) != 1 {
		t.Fatalf("%d connections, want 1", len(h.conns))
	}
	for sc := range h.conns {
		// A pong that arrives with a request is read ahead of it: that
		// request goes to a worker (nothing is counted short that way).
		if got := sc.handoffs.Load(); got > int64(n/10) {
			t.Errorf("of %d sequential conversation.read, %d went to workers, want at most %d: the reader runs them", n, got, n/10)
		}
		if read, had := sc.stream.bc.rbytes.Load(), sc.stream.consumed.Load(); read != had {
			t.Errorf("the socket's bytes read (%d) and the frames counted (%d) disagree", read, had)
		}
	}
}

// readFrameInto reads a frame whole, in as many reads as it comes in, into
// the buffer given (grown as needed), and stops one byte past the limit.
func TestReadFrameInto(t *testing.T) {
	frame := bytes.Repeat([]byte("0123456789"), 130) // 1,300 bytes: past the first buffer
	for _, tc := range []struct {
		limit int64
		want  int
	}{{2000, 1300}, {1300, 1300}, {1299, 1300}, {10, 11}} {
		buf := make([]byte, 0, 512)
		got, err := readFrameInto(iotest.OneByteReader(bytes.NewReader(frame)), buf, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want || !bytes.Equal(got, frame[:tc.want]) {
			t.Errorf("limit %d: got %d bytes, want the frame's first %d", tc.limit, len(got), tc.want)
		}
		if &got[0] != &buf[:1][0] && tc.want <= 512 {
			t.Errorf("limit %d: a frame that fits was not read into the buffer given", tc.limit)
		}
	}
	boom := errors.New("boom")
	if _, err := readFrameInto(iotest.ErrReader(boom), nil, 100); !errors.Is(err, boom) {
		t.Errorf("a failing read: err %v, want %v", err, boom)
	}
}

// Pipelined acks go to workers, and each worker puts its frame's buffer
// back for the next frame once the ack is answered: every answer must
// still be its own request's. Odd requests read a peer chat that exists,
// even ones name a user that does not, whose error names it back: a
// buffer reused while its request still read from it would mix them up.
func TestPipelinedAcksOnWorkersAnswerTheirOwnRequests(t *testing.T) {
	w := newFrameWorld(t, t.TempDir())
	defer w.close()
	cfg := config.Default()
	cfg.RatePerConn, cfg.BurstPerConn = 1e9, 1<<30
	cfg.RatePerUser, cfg.BurstPerUser = 1e9, 1<<30
	tokens := auth.New("test-token-secret-0123456789abcdef", nil)
	h := New(Options{Service: w.svc, Tokens: tokens, Bus: w.bus, Config: cfg, Metrics: metrics.New()})
	url := inlineServer(t, h)
	c := connectAs(t, url, tokens, "a")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 2000
	// All at once, from another goroutine, while this one reads answers.
	wrote := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			peer := "b"
			if i%2 == 0 {
				peer = fmt.Sprintf("nobody-%d", i)
			}
			req := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"conversation.read","params":{"conversation":{"type":"peer","id":%q}}}`, i, peer)
			if err := c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	for got := 0; got < n; {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var res struct {
			ID    int `json:"id"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(b, &res); err != nil || res.ID == 0 {
			continue // an event
		}
		got++
		switch {
		case res.ID%2 == 1 && res.Error != nil:
			t.Fatalf("request %d (peer b) answered %s", res.ID, b)
		case res.ID%2 == 0 && (res.Error == nil || !strings.Contains(res.Error.Message, fmt.Sprintf("%q", fmt.Sprintf("nobody-%d", res.ID)))):
			t.Fatalf("request %d (peer nobody-%d) answered %s", res.ID, res.ID, b)
		}
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for sc := range h.conns {
		if sc.handoffs.Load() == 0 {
			t.Fatal("no ack went to a worker: the test did not pipeline")
		}
	}
}
