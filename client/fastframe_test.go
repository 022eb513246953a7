package client

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/seen-im/seen/protocol"
)

// fastFrameCases are frames the fast path must decode as encoding/json
// does, or leave to it.
var fastFrameCases = []string{
	`{"jsonrpc":"2.0","id":7,"result":{"read":1}}`,
	`{"jsonrpc":"2.0","id":0,"result":{}}`,
	` { "jsonrpc" : "2.0" , "id" : 18446744073709551615 , "result" : null } `,
	`{"id":7,"result":{"read":1},"jsonrpc":"2.0","extra":[1,{"a":"\u00e9"}]}`,
	`{"jsonrpc":"2.0","id":"7","result":{}}`,
	`{"jsonrpc":"2.0","id":07,"result":{}}`,
	`{"jsonrpc":"2.0","id":-7,"result":{}}`,
	`{"jsonrpc":"2.0","id":7.0,"result":{}}`,
	`{"jsonrpc":"2.0","ID":7,"result":{}}`,
	`{"jsonrpc":"2.0","id":7,"id":8,"result":{}}`,
	`{"jsonrpc":"2.0","id":7,"error":{"code":404,"message":"no"}}`,
	`{"jsonrpc":"2.0","id":null,"error":{"code":413,"message":"too large"}}`,
	`{"jsonrpc":"2.0","id":7,"method":"x","result":{}}`,
	`{"jsonrpc":"1.0","id":7,"result":{}}`,
	`{"jsonrpc":2,"id":7,"result":{}}`,
	`{"jsonrpc":"2.0","method":"receipt.changed","params":{"conversation":{"type":"group","id":"g"}}}`,
	`{"jsonrpc":"2.0","method":"","params":{}}`,
	`{"jsonrpc":"2.0","method":"a\u002eb","params":{}}`,
	`{"jsonrpc":"2.0","method":"message.new","params":{"message":{}},"id":null}`,
	`{"jsonrpc":"2.0","method":"message.new","params":{"message":{}},"result":1}`,
	"{\"jsonrpc\":\"2.0\",\"method\":\"message.new\",\"params\":\"\xff\"}",
	`{"jsonrpc":"2.0","id":7,"result":{"read":1}`,
	`{"jsonrpc":"2.0","id":7,"result":{"read":1}} x`,
	`[]`, ``, `null`,
}

// messageNewTaken are message.new params the fast path decodes.
var messageNewTaken = []string{
	`{"message":{"msgId":"m1","seq":3,"conversation":{"type":"group","id":"g"},"sender":"s","body":{"t":1,"text":"hi"},"sentAt":17,"receipt":{"read":false,"delivered":true}}}`,
	`{"message":{"msgId":"m1","seq":3,"conversation":{"type":"peer","id":"p"},"sender":"s","body":"x","sentAt":-17,"receipt":{"msgId":"m1","status":"pending","readCount":2,"unreadCount":1,"deliveredCount":3,"expiresAt":9007199254740992}}}`,
	`{"message":{"receipt":{"status":"done"}}}`,
	`{"message":{"receipt":{}}}`,
	`{"message":{"receipt":{"readCount":4}}}`,
	`{"message":{"receipt":{"read":true,"status":"done"}}}`,
	`{"message":{"sentAt":9223372036854775807}}`,
	`{"message":{"body":null,"future":{"a":[1,2]}},"also":"x"}`,
	`{}`,
}

// messageNewLeft are message.new params the fast path leaves to
// encoding/json.
var messageNewLeft = []string{
	`{"message":{"receipt":{"readCount":9007199254740993,"status":"done"}}}`,
	`{"message":{"receipt":{"readCount":1.0,"status":"done"}}}`,
	`{"message":{"receipt":{"Status":"done"}}}`,
	`{"message":{"receipt":{"read":true,"read":false}}}`,
	`{"message":{"receipt":{"read":1}}}`,
	`{"message":{"receipt":null}}`,
	`{"message":{"receipt":true}}`,
	`{"message":{"msgId":null}}`,
	`{"message":{"msgId":"\u006d"}}`,
	`{"message":{"MsgID":"m"}}`,
	`{"message":{"msgId":"a","msgId":"b"}}`,
	`{"message":{"seq":-1}}`,
	`{"message":{"seq":1e3}}`,
	`{"message":{"conversation":{"type":"group","id":"g","x":1}}}`,
	`{"Message":{}}`,
	`{"message":{},"message":{}}`,
	`null`, `[]`,
}

// goldenFrames returns the protocol's golden frames, which the fuzz tests
// start from.
func goldenFrames(t testing.TB) [][]byte {
	paths, err := filepath.Glob(filepath.Join("..", "protocol", "testdata", "frames", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("golden frames: %v (%d)", err, len(paths))
	}
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// checkFrame fails t if the fast path accepts data and decodes it other
// than encoding/json does; it reports whether the fast path accepted.
func checkFrame(t *testing.T, data []byte) bool {
	t.Helper()
	got, ok := decodeFrameFast(data)
	if !ok {
		return false
	}
	want, err := decodeFrameStd(data)
	if err != nil {
		t.Fatalf("fast path took %q, which encoding/json refuses: %v", data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nfast %+v\nstd  %+v", data, got, want)
	}
	return true
}

// checkMessageNew is checkFrame for message.new's params.
func checkMessageNew(t *testing.T, params []byte) bool {
	t.Helper()
	got, ok := decodeMessageNewFast(params)
	if !ok {
		return false
	}
	want, err := decodeEventStd(protocol.EventMessageNew, params)
	if err != nil {
		t.Fatalf("fast path took %q, which encoding/json refuses: %v", params, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nfast %#v\nstd  %#v", params, got, want)
	}
	return true
}

// The fast path decodes what the server sends, the golden frames and the
// frames of an ack, as encoding/json does; and it leaves to encoding/json
// what it must.
func TestFastFrameMatchesStd(t *testing.T) {
	fast := 0
	for _, b := range goldenFrames(t) {
		if checkFrame(t, b) {
			fast++
		}
		f, err := decodeFrameStd(b)
		if err == nil && f.method == protocol.EventMessageNew && !checkMessageNew(t, f.params) {
			t.Errorf("the golden message.new went the slow way: %s", f.params)
		}
	}
	if fast == 0 {
		t.Error("no golden frame took the fast path")
	}
	refused := map[string]bool{
		`{"jsonrpc":"2.0","id":"7","result":{}}`:                       true,
		`{"jsonrpc":"2.0","ID":7,"result":{}}`:                         true,
		`{"jsonrpc":"2.0","id":7,"error":{"code":404,"message":"no"}}`: true,
		`{"jsonrpc":"2.0","method":"a\u002eb","params":{}}`:            true,
	}
	for _, c := range fastFrameCases {
		if checkFrame(t, []byte(c)) && refused[c] {
			t.Errorf("fast path took %s", c)
		}
	}
	for _, c := range []string{
		`{"jsonrpc":"2.0","id":7,"result":{"read":1}}`,
		`{"jsonrpc":"2.0","method":"message.new","params":{"message":{}},"id":null}`,
	} {
		if !checkFrame(t, []byte(c)) {
			t.Errorf("fast path refused %s", c)
		}
	}
	for _, c := range messageNewTaken {
		if !checkMessageNew(t, []byte(c)) {
			t.Errorf("fast path refused %s", c)
		}
	}
	for _, c := range messageNewLeft {
		if checkMessageNew(t, []byte(c)) {
			t.Errorf("fast path took %s", c)
		}
	}
}

// Raw members alias the frame but are capped: appending to a message's
// body cannot write over the bytes after it.
func TestFastBodyIsCapped(t *testing.T) {
	params := []byte(`{"message":{"body":{"a":1},"sender":"s"}}`)
	e, ok := decodeMessageNewFast(params)
	if !ok {
		t.Fatal("fast path refused")
	}
	_ = append(e.Message.Body, "xxxxxxxx"...)
	if string(params) != `{"message":{"body":{"a":1},"sender":"s"}}` {
		t.Fatalf("frame overwritten: %s", params)
	}
}

// FuzzFastFrameMatchesStd: whatever frame the fast path accepts, it
// decodes as encoding/json does.
func FuzzFastFrameMatchesStd(f *testing.F) {
	for _, b := range goldenFrames(f) {
		f.Add(b)
	}
	for _, c := range fastFrameCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFrame(t, b) })
}

// FuzzFastMessageNewMatchesStd is FuzzFastFrameMatchesStd for the params
// of message.new.
func FuzzFastMessageNewMatchesStd(f *testing.F) {
	for _, c := range append(messageNewTaken, messageNewLeft...) {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkMessageNew(t, b) })
}

// requestCases are requests encodeRequestFast must write as json.Marshal
// does, or leave to it.
var requestCases = []struct {
	method, params string
	fast           bool
}{
	{protocol.MethodMessageRead, `{"conversation":{"type":"group","id":"g"},"msgIds":["01KA"]}`, true},
	{protocol.MethodMessageDelivered, `{"conversation":{"type":"peer","id":"p"},"seq":7}`, true},
	{"a method", `[1,true,null,"x",{"a":-1.5e3}]`, true},
	{protocol.MethodConnect, ``, true},
	{"x", `null`, true},
	{"x", `{"a": 1}`, false},
	{"x", `{"a":"<b>"}`, false},
	{"x", `{"a":"\u00e9"}`, true},
	{"x", `{"a":"é"}`, false},
	{"x", `{oops`, false},
	{"x", `{"a":1} `, false},
	{`q"uote`, `{}`, false},
	{"a&b", `{}`, false},
	{"tab\t", `{}`, false},
}

// The fast encoder writes json.Marshal's bytes, and takes the requests an
// ack makes.
func TestEncodeRequestMatchesStd(t *testing.T) {
	for _, c := range requestCases {
		if got := checkRequest(t, 42, c.method, []byte(c.params)); got != c.fast {
			t.Errorf("%s %s: fast %v, want %v", c.method, c.params, got, c.fast)
		}
	}
}

// checkRequest fails t if encodeRequestFast writes other than json.Marshal
// does; it reports whether the fast path took the request.
func checkRequest(t *testing.T, id uint64, method string, params []byte) bool {
	t.Helper()
	got, ok := encodeRequestFast(id, method, params)
	if !ok {
		return false
	}
	want, err := encodeRequestStd(id, method, params)
	if err != nil {
		t.Fatalf("fast path took %q %q, which json.Marshal refuses: %v", method, params, err)
	}
	if string(got) != string(want) {
		t.Fatalf("%q %q:\nfast %s\nstd  %s", method, params, got, want)
	}
	return true
}

// FuzzEncodeRequestMatchesStd: whatever request the fast encoder takes, it
// writes as json.Marshal does.
func FuzzEncodeRequestMatchesStd(f *testing.F) {
	for _, c := range requestCases {
		f.Add(uint64(7), c.method, []byte(c.params))
	}
	f.Fuzz(func(t *testing.T, id uint64, method string, params []byte) { checkRequest(t, id, method, params) })
}

// BenchmarkClientFrames times what a group member's client does per ack:
// decode the message.new frame and its params, decode the answer to its
// message.read and its result, encode its next message.read's params and
// frame; the fast path beside encoding/json.
//
//	go test ./client -run '^$' -bench ClientFrames -benchmem
func BenchmarkClientFrames(b *testing.B) {
	msgNew := []byte(`{"jsonrpc":"2.0","method":"message.new","params":{"message":{"msgId":"01M8T3Q78BJMPA3123FNYZGCF9","seq":42,` +
		`"conversation":{"type":"group","id":"bench-g"},"sender":"bench-s","body":{"t":1764633600000000000,"text":"hello"},` +
		`"sentAt":1764633600000,"receipt":{"read":false,"delivered":false}}}}`)
	answer := []byte(`{"jsonrpc":"2.0","id":1234,"result":{"read":1}}`)
	read := protocol.ReadParams{Conversation: protocol.Conversation{Type: protocol.ConvGroup, ID: "bench-g"},
		MsgIDs: []string{"01M8T3Q78BJMPA3123FNYZGCF9"}}
	for _, c := range []struct {
		name   string
		frame  func([]byte) (inbound, error)
		event  func(string, json.RawMessage) (any, error)
		result func([]byte, any) error
		params func(any) ([]byte, error)
		encode func(uint64, string, json.RawMessage) ([]byte, error)
	}{
		{"fast", decodeFrame, decodeEvent, unmarshalResult, marshalParams, encodeRequest},
		{"std", decodeFrameStd, decodeEventStd, json.Unmarshal, json.Marshal, encodeRequestStd},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				f, err := c.frame(msgNew)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.event(f.method, f.params); err != nil {
					b.Fatal(err)
				}
				a, err := c.frame(answer)
				if err != nil {
					b.Fatal(err)
				}
				var res protocol.ReadResult
				if err := c.result(a.result, &res); err != nil || res.Read != 1 {
					b.Fatal(res, err)
				}
				params, err := c.params(read)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.encode(1234, protocol.MethodMessageRead, params); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
