package e2e

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// device is one SDK connection with every event it receives collected.
type device struct {
	*client.Client
	t      *testing.T
	events chan any // typed event structs and protocol.Message for message.new
}

// dial connects user's device through the SDK.
func dial(t *testing.T, s *seentest.Server, user, name string, opts ...client.Option) *device {
	t.Helper()
	d := &device{t: t, events: make(chan any, 10000)}
	put := func(v any) { d.events <- v }
	h := client.Handlers{
		Message:          func(m protocol.Message) { put(m) },
		ReceiptDelivered: func(e protocol.ReceiptDeliveredEvent) { put(e) },
		ReceiptRead:      func(e protocol.ReceiptReadEvent) { put(e) },
		ConversationRead: func(e protocol.ConversationReadEvent) { put(e) },
		ReceiptChanged:   func(e protocol.ReceiptChangedEvent) { put(e) },
		ReceiptRequested: func(e protocol.ReceiptRequestedEvent) { put(e) },
		GroupMember:      func(e protocol.GroupMemberEvent) { put(e) },
		SettingsChanged:  func(e protocol.Settings) { put(e) },
	}
	opts = append([]client.Option{client.WithDevice(name), client.WithHandlers(h), client.WithBackoff(20*time.Millisecond, 200*time.Millisecond)}, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.WSURL(), s.Token(user), opts...)
	if err != nil {
		t.Fatalf("dial %s/%s: %v", user, name, err)
	}
	d.Client = c
	t.Cleanup(func() { c.Close() })
	return d
}

// next waits for the next event of type T, failing on any other event.
func next[T any](d *device) T {
	d.t.Helper()
	select {
	case v := <-d.events:
		e, ok := v.(T)
		if !ok {
			var want T
			d.t.Fatalf("got event %T %+v, want %T", v, v, want)
		}
		return e
	case <-time.After(10 * time.Second):
		var want T
		d.t.Fatalf("no %T event", want)
		panic("unreachable")
	}
}

// quiet checks that no event is waiting after a round trip to the server.
func (d *device) quiet() {
	d.t.Helper()
	if err := d.Settle(ctx(d.t)); err != nil {
		d.t.Fatal(err)
	}
	select {
	case v := <-d.events:
		d.t.Fatalf("unexpected event %T %+v", v, v)
	default:
	}
}

// say sends a text message.
func (d *device) say(conv protocol.Conversation, text string) protocol.SendResult {
	d.t.Helper()
	body, _ := json.Marshal(map[string]string{"text": text})
	res, err := d.Send(ctx(d.t), protocol.SendParams{Conversation: conv, ClientMsgID: client.NewClientMsgID(), Body: body})
	if err != nil {
		d.t.Fatalf("send %q: %v", text, err)
	}
	return res
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// unread returns the caller's unread count and readSeq in conv.
func (d *device) unread(conv protocol.Conversation) (uint64, uint64) {
	d.t.Helper()
	list, err := d.Conversations(ctx(d.t), protocol.ConversationListParams{Limit: 100})
	if err != nil {
		d.t.Fatal(err)
	}
	for _, c := range list.Conversations {
		if c.Conversation == conv {
			return c.UnreadCount, c.ReadSeq
		}
	}
	d.t.Fatalf("conversation %v not listed", conv)
	return 0, 0
}
