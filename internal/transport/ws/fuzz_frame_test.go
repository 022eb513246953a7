package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/service"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/protocol"
)

// FuzzFrame is the hostile client in a fuzz target: it builds whole frames
// from the fuzz input — every client method with params whose fields are
// the protocol's, holding values of the right shape or any other: invalid
// UTF-8, lone surrogates, huge and fractional numbers, deep nesting, wrong
// types, truncated and padded frames — and runs each, and the raw input
// too, the way a connected socket does: parseRequest, then dispatch
// against a real service on an embedded store, then the response frame.
// Nothing panics; a frame that is not UTF-8 gets -32700; and every
// response is one UTF-8 JSON-RPC 2.0 response
// with the request's id (null where it could not be read) and either a
// result or an error with a documented code (500/503 count as failures:
// the store is healthy); -32602 names its field.
//
// Long mode: go test -run '^$' -fuzz '^FuzzFrame$' -fuzztime 1h ./internal/transport/ws
func FuzzFrame(f *testing.F) {
	base := f.TempDir()
	var w *frameWorld
	f.Cleanup(func() {
		if w != nil {
			w.close()
		}
	})
	for _, s := range frameSeeds {
		f.Add(s.method, s.caller, []byte(s.shape))
	}
	f.Fuzz(func(t *testing.T, method, caller byte, shape []byte) {
		if w == nil || w.calls >= frameWorldCalls {
			if w != nil {
				w.close()
			}
			w = newFrameWorld(t, base)
		}
		user := frameUsers[int(caller)%len(frameUsers)]
		g := &frameGen{in: shape}
		w.run(t, user, g.frame(frameMethods[int(method)%len(frameMethods)]))
		w.run(t, user, shape)
	})
}

// frameWorldCalls bounds how long one world serves before it is rebuilt,
// so that what fuzzing sends does not pile up in its store.
const frameWorldCalls = 2000

var frameUsers = []string{"a", "b", "c"}

var frameMethods = []string{
	protocol.MethodMessageSend, protocol.MethodMessageHistory, protocol.MethodMessageDelivered,
	protocol.MethodMessageRead, protocol.MethodConversationRead, protocol.MethodConversationList,
	protocol.MethodReceiptRequest, protocol.MethodReceiptQuery, protocol.MethodReceiptMembers,
	protocol.MethodGroupCreate, protocol.MethodGroupAdd, protocol.MethodGroupRemove,
	protocol.MethodGroupLeave, protocol.MethodGroupMembers, protocol.MethodConnect, "no.such", "",
}

// frameFields are every params field of the protocol.
var frameFields = []string{
	"conversation", "clientMsgId", "body", "receipt", "limit", "beforeSeq", "seq", "msgIds",
	"msgId", "cursor", "filter", "groupId", "type", "members", "userIds", "token", "device",
}

// frameCodes are the documented error codes (500 and 503 aside).
var frameCodes = map[int]bool{
	protocol.CodeParseError: true, protocol.CodeInvalidRequest: true, protocol.CodeMethodNotFound: true,
	protocol.CodeInvalidParams: true, protocol.CodeUnauthorized: true, protocol.CodeForbidden: true,
	protocol.CodeNotFound: true, protocol.CodeConflict: true, protocol.CodeGone: true,
	protocol.CodeTooLarge: true, protocol.CodeUnprocessable: true, protocol.CodeRateLimited: true,
}

// frameWorld is a service on its own store: users a, b and c, group g
// (a owner, b, c) with a receipt message, and a peer chat a-b.
type frameWorld struct {
	svc   *service.Service
	bus   *local.Bus
	close func()
	calls int
}

func newFrameWorld(t *testing.T, base string) *frameWorld {
	t.Helper()
	dir, err := os.MkdirTemp(base, "world")
	if err != nil {
		t.Fatal(err)
	}
	st, err := pebblestore.Open(dir, pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	b := local.New()
	svc := service.New(service.Options{Store: st, Bus: b, Config: config.Default()})
	w := &frameWorld{svc: svc, bus: b, close: func() {
		_ = svc.Close(context.Background())
		_ = b.Close()
		_ = st.Close()
		_ = os.RemoveAll(dir)
	}}
	ctx := context.Background()
	for _, u := range frameUsers {
		if _, err := svc.CreateUser(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.CreateGroup(ctx, "a", protocol.GroupCreateParams{GroupID: "g", Members: []string{"b", "c"}}); err != nil {
		t.Fatal(err)
	}
	as := func(u string) service.Caller { return service.Caller{UserID: u, ConnID: "seed", Device: "d"} }
	for i, s := range []struct {
		from string
		conv protocol.Conversation
	}{
		{"a", protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}},
		{"b", protocol.Conversation{Type: protocol.ConvPeer, ID: "a"}},
	} {
		_, err := svc.Send(ctx, as(s.from), protocol.SendParams{
			Conversation: s.conv, ClientMsgID: "seed" + strconv.Itoa(i), Body: json.RawMessage(`{"t":"héllo"}`), Receipt: true,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// run handles one frame as a connected socket would and checks the
// response frame.
func (w *frameWorld) run(t *testing.T, user string, frame []byte) {
	w.calls++
	id, req, pe := parseRequest(frame)
	var res any
	if pe == nil {
		res, pe = w.svc.Dispatch(context.Background(), service.Caller{UserID: user, ConnID: "fuzz", Device: "d"}, req.Method, req.Params)
	}
	out, err := responseFrame(id, res, pe)
	if err != nil {
		t.Fatalf("frame %q: result does not encode: %v", frame, err)
	}
	if !utf8.Valid(out) {
		t.Fatalf("frame %q: response is not UTF-8: %q", frame, out)
	}
	var r struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  json.RawMessage `json:"result"`
		Error   *protocol.Error `json:"error"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("frame %q: response %q is not JSON: %v", frame, out, err)
	}
	wantID := []byte("null")
	if id != nil {
		wantID = id
	}
	if r.JSONRPC != protocol.Version || !sameJSON(r.ID, wantID) {
		t.Fatalf("frame %q: response %q, want jsonrpc 2.0 and id %s", frame, out, wantID)
	}
	if (r.Result == nil) == (r.Error == nil) {
		t.Fatalf("frame %q: response %q has not exactly one of result and error", frame, out)
	}
	if !utf8.Valid(frame) && (r.Error == nil || r.Error.Code != protocol.CodeParseError) {
		t.Fatalf("frame %q is not UTF-8 but got %q, want -32700", frame, out)
	}
	if r.Error == nil {
		return
	}
	if !frameCodes[r.Error.Code] {
		t.Fatalf("frame %q: error %v, want a documented code (never 500/503 with a healthy store)", frame, r.Error)
	}
	if r.Error.Code == protocol.CodeInvalidParams {
		if field, _ := r.Error.Data["field"].(string); field == "" {
			t.Fatalf("frame %q: %v has no data.field", frame, r.Error)
		}
	}
}

// sameJSON reports whether a and b are the same JSON value; encoding may
// escape differently (encoding/json escapes <, > and &).
func sameJSON(a, b []byte) bool {
	decode := func(b []byte) (any, bool) {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v any
		return v, d.Decode(&v) == nil
	}
	va, oka := decode(a)
	vb, okb := decode(b)
	return oka && okb && reflect.DeepEqual(va, vb)
}

// frameGen builds a frame from fuzz input, one decision per byte; once the
// input is spent every decision is 0 (the plain, well-formed choice).
type frameGen struct {
	in  []byte
	out []byte
}

func (g *frameGen) next() int {
	if len(g.in) == 0 {
		return 0
	}
	b := g.in[0]
	g.in = g.in[1:]
	return int(b)
}

func (g *frameGen) frame(method string) []byte {
	g.out = append(g.out[:0], `{"jsonrpc":"2.0","id":`...)
	switch g.next() % 8 {
	case 0, 1, 2:
		g.out = strconv.AppendInt(g.out, int64(g.next()), 10)
	case 3:
		g.out = append(g.out, `"req-`...)
		g.str()
		g.out = append(g.out, '"')
	case 4:
		g.out = append(g.out, `1e999`...)
	case 5:
		g.out = append(g.out, `-0.5`...)
	default:
		g.value(0)
	}
	g.out = append(g.out, `,"method":`...)
	g.out = strconv.AppendQuote(g.out, method)
	g.out = append(g.out, `,"params":{`...)
	for i, n := 0, g.next()%6; i < n; i++ {
		if i > 0 {
			g.out = append(g.out, ',')
		}
		g.out = strconv.AppendQuote(g.out, frameFields[g.next()%len(frameFields)])
		g.out = append(g.out, ':')
		g.value(0)
	}
	g.out = append(g.out, "}}"...)
	switch g.next() % 16 {
	case 1: // truncated
		g.out = g.out[:len(g.out)*g.next()/256]
	case 2: // trailing garbage
		g.out = append(g.out, " }"...)
	case 3: // a byte that is never UTF-8, somewhere
		if len(g.out) > 0 {
			i := g.next() * len(g.out) / 256
			g.out = append(g.out[:i], append([]byte{0xff}, g.out[i:]...)...)
		}
	}
	return bytes.Clone(g.out)
}

// value appends one JSON value; depth bounds the ordinary recursion (deep
// nesting is a choice of its own).
func (g *frameGen) value(depth int) {
	c := g.next() % 20
	if depth > 4 && c >= 14 {
		c %= 14
	}
	switch c {
	case 0:
		g.out = append(g.out, `{"type":"group","id":"g"}`...)
	case 1:
		g.out = append(g.out, `{"type":"peer","id":"`...)
		g.out = append(g.out, frameUsers[g.next()%len(frameUsers)]...)
		g.out = append(g.out, `"}`...)
	case 2, 3:
		g.out = append(g.out, '"')
		g.str()
		g.out = append(g.out, '"')
	case 4:
		g.out = strconv.AppendInt(g.out, int64(g.next())-8, 10)
	case 5:
		g.out = append(g.out, []string{`1e400`, `-1e400`, `18446744073709551616`, `9223372036854775807`,
			`-9223372036854775809`, `1.5`, `-0`, `0.000000001`, `100`, `101`}[g.next()%10]...)
	case 6:
		g.out = append(g.out, []string{`true`, `false`, `null`}[g.next()%3]...)
	case 7: // invalid UTF-8 and surrogates inside a string
		g.out = append(g.out, '"')
		g.out = append(g.out, []string{"\xff", "\xc3\x28", "\xed\xa0\x80", "\xf0\x9f\x98", `\ud800`, `\udc00\ud800`, "\u2028"}[g.next()%7]...)
		g.str()
		g.out = append(g.out, '"')
	case 8: // deep nesting, up to ~12,000 levels
		n := 1 + g.next()*48
		open, closing := byte('['), byte(']')
		if g.next()%2 == 1 {
			open, closing = '{', '}'
		}
		for range n {
			if open == '{' {
				g.out = append(g.out, `{"a":`...)
			} else {
				g.out = append(g.out, open)
			}
		}
		g.out = append(g.out, '1')
		for range n {
			g.out = append(g.out, closing)
		}
	case 9: // a message id that exists somewhere
		g.out = append(g.out, `"`+"01"...)
		g.str()
		g.out = append(g.out, '"')
	case 10:
		g.out = append(g.out, `"`...)
		g.out = append(g.out, frameUsers[g.next()%len(frameUsers)]...)
		g.out = append(g.out, '"')
	case 11:
		g.out = append(g.out, `{}`...)
	case 12:
		g.out = append(g.out, `[]`...)
	case 13:
		g.out = append(g.out, `"g"`...)
	default: // arrays and objects of anything
		if c%2 == 0 {
			g.out = append(g.out, '[')
			for i, n := 0, g.next()%4; i < n; i++ {
				if i > 0 {
					g.out = append(g.out, ',')
				}
				g.value(depth + 1)
			}
			g.out = append(g.out, ']')
			return
		}
		g.out = append(g.out, '{')
		for i, n := 0, g.next()%4; i < n; i++ {
			if i > 0 {
				g.out = append(g.out, ',')
			}
			g.out = strconv.AppendQuote(g.out, frameFields[g.next()%len(frameFields)])
			g.out = append(g.out, ':')
			g.value(depth + 1)
		}
		g.out = append(g.out, '}')
	}
}

// str appends string content: a few bytes of input as they come (escaped
// where JSON needs it, but not checked for UTF-8).
func (g *frameGen) str() {
	for n := g.next() % 12; n > 0 && len(g.in) > 0; n-- {
		switch b := byte(g.next()); {
		case b == '"' || b == '\\':
			g.out = append(g.out, '\\', b)
		case b < 0x20:
			g.out = append(g.out, `\u00`...)
			g.out = append(g.out, "0123456789abcdef"[b>>4], "0123456789abcdef"[b&15])
		default:
			g.out = append(g.out, b)
		}
	}
}

// frameSeeds reach every method with well-formed and hostile params. shape
// is the generator's decision stream.
var frameSeeds = []struct {
	method, caller byte
	shape          string
}{
	{0, 0, "\x00\x01\x04\x00\x01\x00\x02\x02\x03\x05hello\x03\x06\x00"},       // message.send to g
	{0, 1, "\x00\x02\x03\x01\x01\x00\x02\x07\x00\x03\x06\x00"},                // body with invalid UTF-8
	{0, 0, "\x00\x03\x03\x00\x00\x02\x08\xff\x00"},                            // body nested ~12,000 deep
	{1, 2, "\x00\x04\x02\x00\x00\x04\x05\x08"},                                // history, limit 100
	{1, 0, "\x04\x02\x00\x00\x04\x05\x00"},                                    // huge id, limit 1e400
	{2, 1, "\x00\x05\x02\x00\x01\x00\x06\x04\x0c"},                            // delivered, seq
	{3, 0, "\x00\x06\x02\x00\x00\x07\x0e\x02\x09\x04abcd\x07\x02"},            // read, msgIds mixed
	{5, 2, "\x03\x04ab\xffc\x01\x04\x07\x01\x01"},                             // list, invalid UTF-8 id
	{8, 0, "\x00\x07\x04\x00\x00\x08\x09\x00\x0a\x02\x04x\x04\x04\x13"},       // receipt.members
	{9, 1, "\x00\x08\x03\x0b\x02\x02new\x0c\x10\x0d\x0e\x03\x0a\x01\x0a\x02"}, // group.create
	{10, 0, "\x00\x09\x02\x0b\x0d\x0e\x0f\x02\x0a\x01\x05\x09"},               // group.add, wrong types
	{14, 0, "\x00\x0a\x01\x0f\x02\x03\x02tk"},                                 // connect after connect
	{15, 0, "\x05\x00"}, // unknown method
	{0, 0, "\x00\x0b\x03\x00\x00\x02\x07\x04\x00\x01\x01\x80"},                         // truncated
	{0, 0, "\x00\x0c\x03\x00\x00\x02\x02\x03abc\x03\x03\x03\x80"},                      // a 0xff inside
	{13, 2, "\x06\x08\x20\x01\x01\x0b\x0d"},                                            // nested id
	{6, 0, "\x00\x0d\x02\x00\x00\x08\x09\x02\x01\x02"},                                 // receipt.request
	{7, 1, "\x00\x0e\x02\x00\x01\x00\x07\x0e\x01\x07\x04\x02ab"},                       // receipt.query
	{11, 0, "\x00\x0f\x02\x0b\x0d\x0e\x0e\x02\x0a\x01"},                                // group.remove
	{12, 2, "\x00\x10\x01\x0b\x0d"},                                                    // group.leave
	{4, 1, "\x00\x11\x02\x00\x01\x00\x06\x05\x02"},                                     // conversation.read
	{0, 0, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"message.send\",\"params\":{}}"}, // raw-looking input
}
