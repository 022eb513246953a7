package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/seen-im/seen/internal/auth"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/metrics"
	"github.com/seen-im/seen/internal/service"
	"github.com/seen-im/seen/protocol"
)

// slowConn is a server socket on a slow link: each write takes as long as
// its bytes need at rate bytes per second, and always completes.
type slowConn struct {
	net.Conn
	rate int
}

func (c slowConn) Write(p []byte) (int, error) {
	time.Sleep(time.Duration(len(p)) * time.Second / time.Duration(c.rate)) // the link's speed
	return c.Conn.Write(p)
}

type slowListener struct {
	net.Listener
	rate int
}

func (l slowListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return slowConn{Conn: c, rate: l.rate}, nil
}

// A client on a slow link that pipelines responses larger than its budget
// is never dropped by a write timing out (each frame goes out well within
// it), but its queue stays over the budget; once that has lasted the write
// timeout, the connection is dropped.
func TestQueueOverBudgetPastWriteTimeoutIsDropped(t *testing.T) {
	w := newFrameWorld(t, t.TempDir())
	defer w.close()
	ctx := context.Background()
	// 100 messages of ~8 KiB: a history page is ~800 KB, 0.4 s on the link.
	body, _ := json.Marshal(map[string]string{"t": strings.Repeat("x", 8000)})
	for i := range 100 {
		_, err := w.svc.Send(ctx, service.Caller{UserID: "a", ConnID: "seed", Device: "d"}, protocol.SendParams{
			Conversation: protocol.Conversation{Type: protocol.ConvPeer, ID: "b"}, ClientMsgID: fmt.Sprint("big", i), Body: body,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.MaxQueueBytes = 64 << 10
	cfg.MaxInflight = 8
	cfg.WriteTimeout = 1500 * time.Millisecond // eight pages take ~3.2 s
	m := metrics.New()
	tokens := auth.New("test-token-secret-0123456789abcdef", nil)
	h := New(Options{Service: w.svc, Tokens: tokens, Bus: w.bus, Config: cfg, Metrics: m})
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = slowListener{Listener: srv.Listener, rate: 2 << 20}
	srv.Start()
	defer srv.Close()
	defer func() { _ = h.Shutdown(ctx) }()

	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(-1)
	tok, _, err := tokens.Mint("b", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(dctx, websocket.MessageText, []byte(`{"jsonrpc":"2.0","id":0,"method":"connect","params":{"token":"`+tok+`"}}`)); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= cfg.MaxInflight; i++ {
		req := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"message.history","params":{"conversation":{"type":"peer","id":"a"},"limit":100}}`, i)
		if err := c.Write(dctx, websocket.MessageText, []byte(req)); err != nil {
			t.Fatal(err)
		}
	}
	// The client reads as fast as the link allows, until it is dropped.
	read := 0
	for {
		if _, _, err := c.Read(dctx); err != nil {
			break
		}
		read++
	}
	if read > cfg.MaxInflight {
		t.Fatalf("read %d frames (the connect result and all %d pages), want the client dropped before the last", read, cfg.MaxInflight)
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "seen_slow_client_drops_total" {
			got = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if got != 1 {
		t.Fatalf("slow client drops = %v, want 1 (the queue stayed over its budget past the write timeout)", got)
	}
}
