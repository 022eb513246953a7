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

var seqParamsSeeds = []string{
	`{"conversation":{"type":"group","id":"g1"},"seq":42}`,
	`{"seq":0,"conversation":{"id":"bob","type":"peer"},"private":true}`,
	`{"seq":18446744073709551615}`,
	`{"seq":18446744073709551616}`,
	`{"seq":9999999999999999999}`,
	`{"seq":-1}`,
	`{"seq":1.5}`,
	`{"seq":1e3}`,
	`{"seq":01}`,
	`{"seq":"1"}`,
	`{"seq":null}`,
	`{"seq":1,"seq":2}`,
	`{"Seq":1}`,
	`{"private":false}`,
}

// TestSeqParamsFastPath: message.delivered's and conversation.read's plain
// params take the fast path; numbers encoding/json treats specially do not.
func TestSeqParamsFastPath(t *testing.T) {
	var d protocol.DeliveredParams
	if !decodeDeliveredParamsFast([]byte(seqParamsSeeds[0]), &d) || d.Seq != 42 || d.Conversation.ID != "g1" {
		t.Errorf("plain delivered params: got %+v, ok false, want seq 42 in g1 on the fast path", d)
	}
	var c protocol.ConversationReadParams
	if !decodeConversationReadParamsFast([]byte(seqParamsSeeds[1]), &c) || !c.Private || c.Conversation.ID != "bob" {
		t.Errorf("plain conversation.read params: got %+v, want private in bob on the fast path", c)
	}
	for _, s := range []string{`{"seq":-1}`, `{"seq":1.5}`, `{"seq":1e3}`, `{"seq":01}`, `{"seq":"1"}`, `{"seq":null}`, `{"seq":18446744073709551616}`, `{"seq":1,"seq":2}`, `{"Seq":1}`} {
		if decodeDeliveredParamsFast([]byte(s), &d) {
			t.Errorf("%s: took the fast path, want encoding/json", s)
		}
	}
}

// fuzzFastMatches holds a fast decoder to encoding/json's value wherever
// it accepts.
func fuzzFastMatches[P any](f *testing.F, seeds []string, fast func([]byte, *P) bool) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got P
		if !fast(b, &got) {
			return
		}
		var std P
		if err := json.Unmarshal(b, &std); err != nil {
			t.Fatalf("%q: fast path accepted, encoding/json: %v", b, err)
		}
		if !reflect.DeepEqual(got, std) {
			t.Fatalf("%q: fast path %#v, encoding/json %#v", b, got, std)
		}
	})
}

func FuzzDeliveredParamsFastMatchesEncodingJSON(f *testing.F) {
	fuzzFastMatches(f, seqParamsSeeds, decodeDeliveredParamsFast)
}

func FuzzConversationReadParamsFastMatchesEncodingJSON(f *testing.F) {
	fuzzFastMatches(f, seqParamsSeeds, decodeConversationReadParamsFast)
}

// A read ack's params cost the strings and the list the result holds and
// nothing more: keys are compared in place and a conversation's type is
// the protocol's constant.
func TestReadParamsFastAllocatesOnlyTheResult(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	raw := []byte(`{"conversation":{"type":"group","id":"ipa-g"},"msgIds":["01JDXQ4Z8K2M3N4P5Q6R7S8T9V"]}`)
	var p protocol.ReadParams
	got := testing.AllocsPerRun(100, func() {
		if !decodeReadParamsFast(raw, &p) {
			t.Fatal("plain params left the fast path")
		}
	})
	// The conversation's id, the list of ids, the one id.
	if got > 3 {
		t.Errorf("decoding a read ack's params: %v allocations, want at most 3", got)
	}
}
