package service

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/bus"
	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/protocol"
)

// A read tells the reader's other devices (conversation.read); a reader
// with none, the usual case, is not sent the event at all (it is not even
// encoded), and one with a second device still gets it there.
func TestReadTellsOtherDevicesOnly(t *testing.T) {
	ctx := context.Background()
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	b := local.New()
	svc := New(Options{Store: st, Bus: b, Config: config.Default()})
	t.Cleanup(func() { _ = svc.Close(context.Background()); _ = b.Close(); _ = st.Close() })
	for _, u := range []string{"s", "r"} {
		if err := svc.EnsureUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu  sync.Mutex
		got = map[string][]string{} // connection -> methods handed to it
	)
	subscribe := func(conn string) {
		t.Helper()
		if _, err := b.SubscribeConn("r", conn, func(ev bus.Event) {
			var n struct{ Method string }
			_ = json.Unmarshal(ev.Data, &n)
			mu.Lock()
			got[conn] = append(got[conn], n.Method)
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	handed := func(conn string) string {
		mu.Lock()
		defer mu.Unlock()
		s := strings.Join(got[conn], ",")
		delete(got, conn)
		return s
	}
	subscribe("r1")
	toR := protocol.Conversation{Type: protocol.ConvPeer, ID: "r"}
	toS := protocol.Conversation{Type: protocol.ConvPeer, ID: "s"}
	read := func(n int) {
		t.Helper()
		m, err := svc.Send(ctx, Caller{UserID: "s", ConnID: "s1"}, protocol.SendParams{
			Conversation: toR, ClientMsgID: fmt.Sprint("m", n), Body: json.RawMessage(`"hi"`),
		})
		if err != nil {
			t.Fatal(err)
		}
		handed("r1") // the message itself
		handed("r2")
		if _, err := svc.Read(ctx, Caller{UserID: "r", ConnID: "r1"}, protocol.ReadParams{Conversation: toS, MsgIDs: []string{m.MsgID}}); err != nil {
			t.Fatal(err)
		}
	}
	for n := 1; n <= 3; n++ {
		read(n)
		if h := handed("r1"); h != "" {
			t.Errorf("read %d: the reading connection, r's only one, was handed %q, want nothing", n, h)
		}
	}
	subscribe("r2")
	read(4)
	if h := handed("r1"); h != "" {
		t.Errorf("the reading connection was handed %q, want nothing", h)
	}
	if h := handed("r2"); h != protocol.EventConversationRead {
		t.Errorf("r's other device was handed %q, want %s", h, protocol.EventConversationRead)
	}
}
