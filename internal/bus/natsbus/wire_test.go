package natsbus

import (
	"fmt"
	"testing"

	"github.com/seen-im/seen/internal/bus"
)

func TestWireRoundTrip(t *testing.T) {
	ev := bus.Event{Data: []byte(`{"jsonrpc":"2.0"}`), ExceptConn: "conn-1"}
	for _, m := range []message{
		{kind: kindUser, ev: ev},
		{kind: kindUser, ev: bus.Event{Data: []byte(`{}`)}},
		{kind: kindList, users: []string{"alice", "", "alice.smith"}, ev: ev},
		{kind: kindConv, aud: bus.Audience{Conv: "g/team", Also: []string{"dave"}, Except: []string{"bob", "carol"}}, ev: ev},
	} {
		got, err := decode(encode(m))
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", m, err)
		}
		var users []string
		eachUser(got.list, func(u []byte) { users = append(users, string(u)) })
		if string(got.ev.Data) != string(m.ev.Data) || got.ev.ExceptConn != m.ev.ExceptConn ||
			fmt.Sprint(users) != fmt.Sprint(m.users) || fmt.Sprint(got.aud) != fmt.Sprint(m.aud) {
			t.Errorf("round trip of %+v gave %+v (users %v)", m, got, users)
		}
	}
}

// A truncated or forged message is refused, never a panic or a huge
// allocation.
func TestWireMalformed(t *testing.T) {
	// No data: the message ends with its last list, so every shorter
	// prefix cuts a field.
	full := encode(message{kind: kindConv, aud: bus.Audience{Conv: "g/team", Also: []string{"dave"}, Except: []string{"bob"}},
		ev: bus.Event{ExceptConn: "conn-1"}})
	for i := range len(full) {
		if _, err := decode(full[:i]); err == nil {
			t.Errorf("decode of the first %d of %d bytes succeeded", i, len(full))
		}
	}
	if _, err := decode(full); err != nil {
		t.Errorf("decode of the whole message: %v", err)
	}
	for _, p := range [][]byte{nil, {9}, {kindList, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, {kindConv, 0, 5, 'g'}} {
		if _, err := decode(p); err == nil {
			t.Errorf("decode(%q) succeeded", p)
		}
	}
}
