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
	svc := newLocalService(t, "s", "r")
	b := svc.bus.(*local.Bus)
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

// syncCountBus is the in-process bus with its PublishSync and Barrier
// calls counted, and SingleNode answering as told: with false it stands
// for a bus whose other nodes must hear of every engine change.
type syncCountBus struct {
	*local.Bus
	single   bool
	mu       sync.Mutex
	syncs    int
	barriers int
}

func (b *syncCountBus) SingleNode() bool { return b.single }

func (b *syncCountBus) PublishSync(ctx context.Context, data []byte) error {
	b.mu.Lock()
	b.syncs++
	b.mu.Unlock()
	return b.Bus.PublishSync(ctx, data)
}

func (b *syncCountBus) Barrier(ctx context.Context) error {
	b.mu.Lock()
	b.barriers++
	b.mu.Unlock()
	return b.Bus.Barrier(ctx)
}

// On a bus that connects no other node, a read encodes no engine change
// for other nodes and waits at no barrier; on one that may, it does both,
// and the read's result is the same.
func TestSingleNodeSendsNoSyncOps(t *testing.T) {
	for _, single := range []bool{true, false} {
		t.Run(fmt.Sprint("single=", single), func(t *testing.T) {
			ctx := context.Background()
			st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			b := &syncCountBus{Bus: local.New(), single: single}
			svc := New(Options{Store: st, Bus: b, Config: config.Default()})
			t.Cleanup(func() { _ = svc.Close(context.Background()); _ = b.Close(); _ = st.Close() })
			for _, u := range []string{"s", "r"} {
				if err := svc.EnsureUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			m, err := svc.Send(ctx, Caller{UserID: "s", ConnID: "s1"}, protocol.SendParams{
				Conversation: protocol.Conversation{Type: protocol.ConvPeer, ID: "r"}, ClientMsgID: "m1",
				Body: json.RawMessage(`"hi"`), Receipt: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			b.mu.Lock()
			b.syncs, b.barriers = 0, 0
			b.mu.Unlock()
			res, pe := svc.Dispatch(ctx, Caller{UserID: "r", ConnID: "r1"}, protocol.MethodMessageRead,
				json.RawMessage(`{"conversation":{"type":"peer","id":"s"},"msgIds":["`+m.MsgID+`"]}`))
			if pe != nil {
				t.Fatal(pe)
			}
			if got := res.(protocol.ReadResult).Read; got != 1 {
				t.Errorf("read %d, want 1", got)
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if single && (b.syncs != 0 || b.barriers != 0) {
				t.Errorf("single node: %d sync messages, %d barriers, want none", b.syncs, b.barriers)
			}
			if !single && b.syncs == 0 {
				t.Error("other nodes may exist: no sync message for the read's engine change")
			}
		})
	}
}
