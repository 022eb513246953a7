package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/jsonwalk"
	"github.com/seen-im/seen/protocol"
)

// readFrame is a message.read of one id as the Go SDK sends it: the
// request a read ack costs.
var readFrame = []byte(`{"jsonrpc":"2.0","id":12345,"method":"message.read","params":{"conversation":{"type":"group","id":"ipa-g"},"msgIds":["01JDXQ4Z8K2M3N4P5Q6R7S8T9V"]}}`)

// The envelope of a read ack is read without reflection and without an
// allocation: the method's name is one of the protocol's constants
// (encoding/json's Unmarshal of the envelope and the method allocated
// several times per request).
func TestParseRequestOfAReadDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	var pe *protocol.Error
	got := testing.AllocsPerRun(100, func() { _, _, pe = parseRequest(readFrame) })
	if pe != nil {
		t.Fatalf("parseRequest(%s): %v", readFrame, pe)
	}
	if got > 0 {
		t.Errorf("parseRequest of a message.read: %v allocations, want none", got)
	}
}

// The answer to a read ack is encoded into one buffer: no reflective
// Marshal of the envelope nor of the result.
func TestEncodeResponseOfAReadAllocatesOnce(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	id := json.RawMessage("12345")
	res := any(protocol.ReadResult{Read: 1})
	var err error
	got := testing.AllocsPerRun(100, func() { _, err = encodeResponse(id, res, nil) })
	if err != nil {
		t.Fatal(err)
	}
	if got > 1 {
		t.Errorf("encodeResponse of a message.read result: %v allocations, want 1", got)
	}
}

// A request's answer is encoded into the room its context has for it
// (requestCtx.resp): an ack's takes no allocation of its own, and is the
// same frame; one that does not fit gets a buffer of its own.
func TestEncodeResponseIntoTheRequestsRoom(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ctx := newRequestCtx(context.Background(), time.Minute)
	id := json.RawMessage("12345")
	for _, res := range []any{protocol.ReadResult{Read: 1}, protocol.ConversationReadResult{ReadSeq: 1 << 60}, protocol.Empty{}} {
		want, err := encodeResponse(id, res, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		allocs := testing.AllocsPerRun(100, func() { got, err = encodeResponseTo(ctx.resp[:0], id, res, nil) })
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("encodeResponseTo(%T) = %s, %v; want %s", res, got, err, want)
		}
		if allocs != 0 || &got[0] != &ctx.resp[0] {
			t.Errorf("encodeResponseTo(%T): %v allocations, in the context's room %v; want 0 and true", res, allocs, &got[0] == &ctx.resp[0])
		}
	}
	long := json.RawMessage(`"` + strings.Repeat("x", respRoom) + `"`)
	got, err := encodeResponseTo(ctx.resp[:0], long, protocol.ReadResult{Read: 1}, nil)
	want, _ := encodeResponse(long, protocol.ReadResult{Read: 1}, nil)
	if err != nil || !bytes.Equal(got, want) || &got[0] == &ctx.resp[0] {
		t.Errorf("an answer longer than the room: %s, %v (in the room: %v); want %s in a buffer of its own", got, err, &got[0] == &ctx.resp[0], want)
	}
}

// The acks' results written without reflection are the bytes
// encoding/json writes, and their structs have the fields written: a
// field added to one fails here until appendResultFast writes it too.
func TestResultFastMatchesEncodingJSON(t *testing.T) {
	for _, res := range []any{
		protocol.ReadResult{}, protocol.ReadResult{Read: 3}, protocol.ReadResult{Read: -1},
		protocol.ReadResult{Read: math.MaxInt}, protocol.ConversationReadResult{},
		protocol.ConversationReadResult{ReadSeq: 42}, protocol.ConversationReadResult{ReadSeq: math.MaxUint64},
		protocol.Empty{},
	} {
		got, ok := appendResultFast([]byte("x"), res)
		want, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || string(got) != "x"+string(want) {
			t.Errorf("%#v: fast path wrote %q (%v), encoding/json %q", res, got, ok, want)
		}
	}
	if got, ok := appendResultFast(nil, nil); !ok || string(got) != `{}` {
		t.Errorf("nil result: %q, want {} as for protocol.Empty", got)
	}
	if _, ok := appendResultFast(nil, protocol.SendResult{}); ok {
		t.Error("a result it does not know went the fast path")
	}
	for _, tc := range []struct {
		typ    reflect.Type
		fields []string // name, Go type, tag of each field
	}{
		{reflect.TypeFor[protocol.ReadResult](), []string{`Read int json:"read"`}},
		{reflect.TypeFor[protocol.ConversationReadResult](), []string{`ReadSeq uint64 json:"readSeq"`}},
		{reflect.TypeFor[protocol.Empty](), nil},
	} {
		var got []string
		for f := range tc.typ.Fields() {
			got = append(got, fmt.Sprintf("%s %s %s", f.Name, f.Type, f.Tag))
		}
		if !reflect.DeepEqual(got, tc.fields) {
			t.Errorf("%s has fields %q, appendResultFast writes %q", tc.typ, got, tc.fields)
		}
	}
}

// FuzzEnvelopeMatchesEncodingJSON holds the envelope's fast path to the
// encoding/json one: for any frame, parseRequest answers as
// parseRequestStd does, and for any id it accepts, encodeResponse writes
// the bytes that encodeResponseStd writes.
func FuzzEnvelopeMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		string(readFrame),
		`{"jsonrpc":"2.0","id":"a","method":"connect","params":{"token":"x"}}`,
		` {"jsonrpc" : "2.0" , "id" : -1.5e3 , "method" : "m" , "params" : [ "}" , {"a":"\"]"} ] }` + "\r\n",
		`{"jsonrpc":"2.0","id":1,"method":"m","params":null}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","method":"n","id":"2"}`,
		`{"JSONRPC":"2.0","ID":2,"METHOD":"m","id":3}`,
		`{"jſonrpc":"2.0","id":2,"method":"m"}`,
		`{"jsonrpc":"2.0","\u0069d":2,"method":"m"}`,
		`{"jsonrpc":"2.0","id":2,"method":"m\u002e"}`,
		`{"jsonrpc":"2.0","id":"<&>","method":"m"}`,
		"{\"jsonrpc\":\"2.0\",\"id\":\"a\u2028b\",\"method\":\"m\"}",
		`{"jsonrpc":"2.0","id":"\u003c","method":"m"}`,
		`{"jsonrpc":"2.0","id":1,"method":"","x":{}}`,
		`{"jsonrpc":"2.0","id":1,"method":7}`,
		`{"jsonrpc":"2.0","id":{},"method":"m"}`,
		`{"jsonrpc":"2.0 ","id":1,"method":"m"}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","other":[1,{"id":2}],"params":{}}`,
		`{}`, `[]`, `"x"`, ``, "\xff",
	} {
		f.Add([]byte(s))
	}
	frames, _ := filepath.Glob(filepath.Join("..", "..", "..", "protocol", "testdata", "frames", "request.*.json"))
	for _, name := range frames {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	results := []any{nil, protocol.Empty{}, protocol.ReadResult{Read: 3}, map[string]string{"html": "<a&b>", "ls": "\u2028"}, json.RawMessage(` { "a" : [1, 2] } `)}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		id, req, pe := parseRequest(data)
		wantID, wantReq, wantPE := parseRequestStd(in)
		if !bytes.Equal(id, wantID) || !reflect.DeepEqual(pe, wantPE) || !sameRequest(req, wantReq) {
			t.Fatalf("parseRequest(%q) = %s, %+v, %v; encoding/json: %s, %+v, %v", data, id, req, pe, wantID, wantReq, wantPE)
		}
		if !bytes.Equal(in, data) {
			t.Fatalf("parseRequest changed its input: %q -> %q", in, data)
		}
		for _, res := range results {
			got, err := encodeResponse(id, res, nil)
			want, wantErr := encodeResponseStd(id, res, nil)
			if !bytes.Equal(got, want) || (err == nil) != (wantErr == nil) {
				t.Fatalf("encodeResponse(%s, %v) = %s, %v; encoding/json: %s, %v", id, res, got, err, want, wantErr)
			}
		}
	})
}

// sameRequest compares requests by their bytes: a RawMessage absent and
// one empty are the same on the wire.
func sameRequest(a, b protocol.Request) bool {
	return a.JSONRPC == b.JSONRPC && a.Method == b.Method && bytes.Equal(a.ID, b.ID) && bytes.Equal(a.Params, b.Params) &&
		(a.Params == nil) == (b.Params == nil)
}

// A request whose params nest deeper than the scanner follows is left to
// encoding/json, which takes it.
func TestDeepParamsLeftToEncodingJSON(t *testing.T) {
	deep := strings.Repeat("[", jsonwalk.MaxDepth+1) + strings.Repeat("]", jsonwalk.MaxDepth+1)
	frame := `{"jsonrpc":"2.0","id":1,"method":"m","params":` + deep + `}`
	id, req, pe := parseRequest([]byte(frame))
	if pe != nil || string(id) != "1" || req.Method != "m" || string(req.Params) != deep {
		t.Errorf("a deep request: id %s, method %q, error %v", id, req.Method, pe)
	}
}
