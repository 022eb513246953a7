package client

import (
	"encoding/json"
	"testing"

	"github.com/seen-im/seen/protocol"
)

// paramsCases are ack params marshalParamsFast must write as json.Marshal
// does (fast) or leave to it.
var paramsCases = []struct {
	params any
	fast   bool
}{
	{protocol.ReadParams{Conversation: protocol.Conversation{Type: "group", ID: "g"}, MsgIDs: []string{"01KA"}}, true},
	{protocol.ReadParams{Conversation: protocol.Conversation{Type: "peer", ID: "bob"}, MsgIDs: []string{"a", "b", "c"}, Private: true}, true},
	{protocol.ReadParams{Conversation: protocol.Conversation{Type: "group", ID: "g"}, MsgIDs: []string{}}, true},
	{protocol.ReadParams{Conversation: protocol.Conversation{Type: "group", ID: "g"}}, false},
	{protocol.ReadParams{Conversation: protocol.Conversation{Type: "group", ID: "<g>"}, MsgIDs: []string{"a"}}, false},
	{protocol.ReadParams{Conversation: protocol.Conversation{Type: "group", ID: "g"}, MsgIDs: []string{"a\"b"}}, false},
	{protocol.ReadParams{Conversation: protocol.Conversation{Type: "group", ID: "é"}, MsgIDs: []string{"a"}}, false},
	{protocol.ReadParams{Conversation: protocol.Conversation{Type: "", ID: "with space"}, MsgIDs: []string{""}}, true},
	{protocol.DeliveredParams{Conversation: protocol.Conversation{Type: "peer", ID: "p"}, Seq: 7}, true},
	{protocol.DeliveredParams{Conversation: protocol.Conversation{Type: "group", ID: "g"}}, true},
	{protocol.DeliveredParams{Conversation: protocol.Conversation{Type: "group", ID: "a\\b"}, Seq: 1}, false},
	{protocol.ConversationReadParams{Conversation: protocol.Conversation{Type: "group", ID: "g"}}, true},
	{protocol.ConversationReadParams{Conversation: protocol.Conversation{Type: "group", ID: "g"}, Seq: 18446744073709551615, Private: true}, true},
	{protocol.ConversationReadParams{Conversation: protocol.Conversation{Type: "group", ID: "g&h"}, Seq: 3}, false},
	{&protocol.ReadParams{Conversation: protocol.Conversation{Type: "group", ID: "g"}, MsgIDs: []string{"a"}}, false},
	{protocol.SendParams{Conversation: protocol.Conversation{Type: "group", ID: "g"}}, false},
}

// The fast encoder writes json.Marshal's bytes, and takes the params of
// the acks clients make.
func TestMarshalParamsMatchesStd(t *testing.T) {
	for _, c := range paramsCases {
		if got := checkParams(t, c.params); got != c.fast {
			t.Errorf("%#v: fast %v, want %v", c.params, got, c.fast)
		}
	}
}

// checkParams fails t if marshalParamsFast writes other than json.Marshal
// does; it reports whether the fast path took params.
func checkParams(t *testing.T, params any) bool {
	t.Helper()
	got, ok := marshalParamsFast(params)
	if !ok {
		return false
	}
	want, err := json.Marshal(params)
	if err != nil {
		t.Fatalf("fast path took %#v, which json.Marshal refuses: %v", params, err)
	}
	if string(got) != string(want) {
		t.Fatalf("%#v:\nfast %s\nstd  %s", params, got, want)
	}
	return true
}

// FuzzFastParamsMatchStd: whatever ack params the fast encoder takes, it
// writes as json.Marshal does.
func FuzzFastParamsMatchStd(f *testing.F) {
	f.Add("group", "g", "01KA", "01KB", uint64(7), true)
	f.Add("peer", "<p>", "a\"b", "", uint64(0), false)
	f.Add("", "é", "\x7f", " ", uint64(1)<<63, true)
	f.Fuzz(func(t *testing.T, typ, id, m1, m2 string, seq uint64, private bool) {
		conv := protocol.Conversation{Type: typ, ID: id}
		checkParams(t, protocol.ReadParams{Conversation: conv, MsgIDs: []string{m1, m2}, Private: private})
		checkParams(t, protocol.ReadParams{Conversation: conv, MsgIDs: []string{m1}})
		checkParams(t, protocol.DeliveredParams{Conversation: conv, Seq: seq})
		checkParams(t, protocol.ConversationReadParams{Conversation: conv, Seq: seq, Private: private})
	})
}

// readResultCases are results decodeReadResultFast must decode as
// json.Unmarshal does (fast) or leave to it.
var readResultCases = []struct {
	res  string
	fast bool
}{
	{`{"read":1}`, true},
	{`{"read":0}`, true},
	{` { "read" : 100 } `, true},
	{`{"read":-3}`, true},
	{`{"read":-0}`, true},
	{`{"read":9223372036854775807}`, true},
	{`{"read":9223372036854775808}`, false},
	{`{"read":1.0}`, false},
	{`{"read":1e2}`, false},
	{`{"read":01}`, false},
	{`{"read":"1"}`, false},
	{`{"read":null}`, false},
	{`{"Read":1}`, false},
	{`{"read":1,"read":2}`, false},
	{`{"read":1,"other":2}`, false},
	{`{}`, false},
	{`{"read":1}x`, false},
	{`{"read":1`, false},
	{`null`, false},
	{``, false},
}

// The fast decoder decodes message.read's result as json.Unmarshal does.
func TestReadResultMatchesStd(t *testing.T) {
	for _, c := range readResultCases {
		if got := checkReadResult(t, []byte(c.res)); got != c.fast {
			t.Errorf("%s: fast %v, want %v", c.res, got, c.fast)
		}
	}
}

// checkReadResult fails t if decodeReadResultFast decodes b other than
// json.Unmarshal does; it reports whether the fast path took b.
func checkReadResult(t *testing.T, b []byte) bool {
	t.Helper()
	var got protocol.ReadResult
	if !decodeReadResultFast(b, &got) {
		if got != (protocol.ReadResult{}) {
			t.Fatalf("%q: the fast path gave up but changed the result to %+v", b, got)
		}
		return false
	}
	var want protocol.ReadResult
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("fast path took %q, which json.Unmarshal refuses: %v", b, err)
	}
	if got != want {
		t.Fatalf("%q: fast %+v, std %+v", b, got, want)
	}
	return true
}

// FuzzFastReadResultMatchesStd: whatever result the fast decoder takes, it
// decodes as json.Unmarshal does.
func FuzzFastReadResultMatchesStd(f *testing.F) {
	for _, c := range readResultCases {
		f.Add([]byte(c.res))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkReadResult(t, b) })
}
