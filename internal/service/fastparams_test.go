package service

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/seen-im/seen/protocol"
)

var readParamsSeeds = []string{
	`{"conversation":{"type":"group","id":"g1"},"msgIds":["m-1"]}`,
	`{"msgIds":["a","b"],"private":true,"conversation":{"id":"bob","type":"peer"}}`,
	` { "conversation" : { "type" : "peer" , "id" : "x" } , "msgIds" : [ ] , "private" : false } `,
	`{}`,
	`{"conversation":{}}`,
	`{"msgIds":null}`,
	`{"msgIds":["a\u0062"]}`,
	`{"MsgIds":["a"]}`,
	`{"msgIds":["a"],"msgIds":["b"]}`,
	`{"conversation":{"type":"peer","id":"a","id":"b"}}`,
	`{"private":1}`,
	`{"msgIds":[1]}`,
	`{"extra":1,"msgIds":["a"]}`,
	`{"msgIds":["é"]}`,
	`{"msgIds":["a"]}x`,
	`{"msgIds":["a",]}`,
	`null`,
	`[]`,
	`{"private":truex}`,
}

// TestReadParamsFastPath: the plain form decodes on the fast path, and
// anything unusual is left to encoding/json.
func TestReadParamsFastPath(t *testing.T) {
	var p protocol.ReadParams
	want := protocol.ReadParams{Conversation: protocol.Conversation{Type: "peer", ID: "bob"}, MsgIDs: []string{"a", "b"}, Private: true}
	if !decodeReadParamsFast([]byte(readParamsSeeds[1]), &p) || !reflect.DeepEqual(p, want) {
		t.Errorf("plain params: got %+v, want %+v on the fast path", p, want)
	}
	for _, s := range []string{`{"msgIds":null}`, `{"msgIds":["a\u0062"]}`, `{"MsgIds":["a"]}`, `{"msgIds":["a"],"msgIds":["b"]}`, `{"extra":1}`, `{"msgIds":["é"]}`} {
		if decodeReadParamsFast([]byte(s), &p) {
			t.Errorf("%s: took the fast path, want encoding/json", s)
		}
	}
}

// FuzzReadParamsFastMatchesEncodingJSON: wherever the fast path accepts
// params, encoding/json accepts them too and decodes the same value.
func FuzzReadParamsFastMatchesEncodingJSON(f *testing.F) {
	for _, s := range readParamsSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast protocol.ReadParams
		if !decodeReadParamsFast(b, &fast) {
			return
		}
		var std protocol.ReadParams
		if err := json.Unmarshal(b, &std); err != nil {
			t.Fatalf("%q: fast path accepted, encoding/json: %v", b, err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("%q: fast path %#v, encoding/json %#v", b, fast, std)
		}
	})
}

// TestAdaptFallsBackWithZeroParams: params the fast path gives up on
// part-way are decoded from zero by encoding/json, not on top of what the
// fast path had filled in.
func TestAdaptFallsBackWithZeroParams(t *testing.T) {
	var got protocol.ReadParams
	h := adapt(func(_ context.Context, _ Caller, p protocol.ReadParams) (protocol.ReadResult, error) {
		got = p
		return protocol.ReadResult{}, nil
	})
	// "private" first fills the fast path's value; the escaped id then
	// sends it to encoding/json, which must not see that private.
	if _, err := h(context.Background(), Caller{}, json.RawMessage(`{"private":true,"msgIds":["a\u0062"],"private":false}`)); err != nil {
		t.Fatal(err)
	}
	want := protocol.ReadParams{MsgIDs: []string{"ab"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
