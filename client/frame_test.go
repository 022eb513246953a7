package client

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/seen-im/seen/protocol"
)

func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    inbound
		wantErr bool
	}{
		{
			name: "result",
			in:   `{"jsonrpc":"2.0","id":7,"result":{"msgId":"m1","seq":3,"sentAt":1}}`,
			want: inbound{kind: frameResponse, id: 7, result: json.RawMessage(`{"msgId":"m1","seq":3,"sentAt":1}`)},
		},
		{
			name: "empty result",
			in:   `{"jsonrpc":"2.0","id":8,"result":{}}`,
			want: inbound{kind: frameResponse, id: 8, result: json.RawMessage(`{}`)},
		},
		{
			name: "error with field",
			in:   `{"jsonrpc":"2.0","id":9,"error":{"code":-32602,"message":"bad","data":{"field":"limit"}}}`,
			want: inbound{kind: frameResponse, id: 9, err: &protocol.Error{Code: -32602, Message: "bad", Data: map[string]any{"field": "limit"}}},
		},
		{
			name: "string id",
			in:   `{"jsonrpc":"2.0","id":"10","result":{}}`,
			want: inbound{kind: frameResponse, id: 10, result: json.RawMessage(`{}`)},
		},
		{
			name: "event",
			in:   `{"jsonrpc":"2.0","method":"message.new","params":{"message":{}}}`,
			want: inbound{kind: frameEvent, method: "message.new", params: json.RawMessage(`{"message":{}}`)},
		},
		{
			name: "event without params",
			in:   `{"jsonrpc":"2.0","method":"x.ping"}`,
			want: inbound{kind: frameEvent, method: "x.ping"},
		},
		{
			name: "error with null id",
			in:   `{"jsonrpc":"2.0","id":null,"error":{"code":413,"message":"frame too large"}}`,
			want: inbound{kind: frameOrphan, err: &protocol.Error{Code: 413, Message: "frame too large"}},
		},
		{name: "not json", in: `{"jsonrpc":`, wantErr: true},
		{name: "neither id nor method", in: `{"jsonrpc":"2.0","result":{}}`, wantErr: true},
		{name: "server request", in: `{"jsonrpc":"2.0","id":1,"method":"x","params":{}}`, wantErr: true},
		{name: "foreign id", in: `{"jsonrpc":"2.0","id":"abc","result":{}}`, wantErr: true},
		{name: "negative id", in: `{"jsonrpc":"2.0","id":-1,"result":{}}`, wantErr: true},
	}
	for _, tt := range tests {
		got, err := decodeFrame([]byte(tt.in))
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: got %+v, want an error", tt.name, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: got error %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	conv := protocol.Conversation{Type: protocol.ConvGroup, ID: "g1"}
	tests := []struct {
		method string
		params string
		want   any
	}{
		{
			protocol.EventReceiptDelivered,
			`{"conversation":{"type":"group","id":"g1"},"userId":"bob","seq":4}`,
			protocol.ReceiptDeliveredEvent{Conversation: conv, UserID: "bob", Seq: 4},
		},
		{
			protocol.EventReceiptRead,
			`{"conversation":{"type":"group","id":"g1"},"userId":"bob","msgIds":["a","b"]}`,
			protocol.ReceiptReadEvent{Conversation: conv, UserID: "bob", MsgIDs: []string{"a", "b"}},
		},
		{
			protocol.EventConversationRead,
			`{"conversation":{"type":"group","id":"g1"},"userId":"bob","seq":9}`,
			protocol.ConversationReadEvent{Conversation: conv, UserID: "bob", Seq: 9},
		},
		{
			protocol.EventReceiptChanged,
			`{"conversation":{"type":"group","id":"g1"},"receipts":[{"msgId":"m","status":"pending","readCount":1,"unreadCount":2,"deliveredCount":3,"newReaders":["bob"]}]}`,
			protocol.ReceiptChangedEvent{Conversation: conv, Receipts: []protocol.ChangedReceipt{{
				Receipt:    protocol.Receipt{MsgID: "m", Status: protocol.StatusPending, ReadCount: 1, UnreadCount: 2, DeliveredCount: 3},
				NewReaders: []string{"bob"},
			}}},
		},
		{
			protocol.EventReceiptRequested,
			`{"conversation":{"type":"group","id":"g1"},"msgId":"m","sender":"alice"}`,
			protocol.ReceiptRequestedEvent{Conversation: conv, MsgID: "m", Sender: "alice"},
		},
		{
			protocol.EventGroupMember,
			`{"conversation":{"type":"group","id":"g1"},"userId":"bob","action":"removed","by":"alice"}`,
			protocol.GroupMemberEvent{Conversation: conv, UserID: "bob", Action: protocol.ActionRemoved, By: "alice"},
		},
		{"some.future.event", `{"x":1}`, nil},
	}
	for _, tt := range tests {
		got, err := decodeEvent(tt.method, json.RawMessage(tt.params))
		if err != nil {
			t.Errorf("%s: got error %v", tt.method, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.method, got, tt.want)
		}
	}
	if _, err := decodeEvent(protocol.EventReceiptDelivered, json.RawMessage(`{"seq":"x"}`)); err == nil {
		t.Error("bad params: got no error, want one")
	}
}

func TestDecodeMessageReceipt(t *testing.T) {
	tests := []struct {
		name    string
		params  string
		receipt *protocol.Receipt
		ack     *protocol.AckState
	}{
		{
			name:    "own message",
			params:  `{"message":{"msgId":"m","seq":1,"conversation":{"type":"peer","id":"bob"},"sender":"alice","body":{"t":"x"},"sentAt":5,"receipt":{"msgId":"m","status":"done","readCount":1,"unreadCount":0,"deliveredCount":1}}}`,
			receipt: &protocol.Receipt{MsgID: "m", Status: protocol.StatusDone, ReadCount: 1, DeliveredCount: 1},
		},
		{
			name:   "someone else's",
			params: `{"message":{"msgId":"m","seq":1,"conversation":{"type":"peer","id":"bob"},"sender":"bob","body":1,"sentAt":5,"receipt":{"read":false,"delivered":true}}}`,
			ack:    &protocol.AckState{Delivered: true},
		},
		{
			name:   "no receipt",
			params: `{"message":{"msgId":"m","seq":1,"conversation":{"type":"peer","id":"bob"},"sender":"bob","body":"hi","sentAt":5}}`,
		},
	}
	for _, tt := range tests {
		v, err := decodeEvent(protocol.EventMessageNew, json.RawMessage(tt.params))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		m := v.(protocol.MessageNewEvent).Message
		if got := MessageReceipt(m); !reflect.DeepEqual(got, tt.receipt) {
			t.Errorf("%s: receipt: got %+v, want %+v", tt.name, got, tt.receipt)
		}
		if got := MessageAckState(m); !reflect.DeepEqual(got, tt.ack) {
			t.Errorf("%s: ack state: got %+v, want %+v", tt.name, got, tt.ack)
		}
	}
}

func TestProtocolErrorSurvivesWrapping(t *testing.T) {
	f, err := decodeFrame([]byte(`{"jsonrpc":"2.0","id":1,"error":{"code":429,"message":"slow down","data":{"retryAfterMs":250}}}`))
	if err != nil {
		t.Fatal(err)
	}
	var pe *protocol.Error
	if !errors.As(error(f.err), &pe) || pe.Code != protocol.CodeRateLimited || pe.Data["retryAfterMs"] != float64(250) {
		t.Errorf("got %#v, want code 429 with retryAfterMs 250", f.err)
	}
}

func TestEncodeRequest(t *testing.T) {
	b, err := encodeRequest(42, protocol.MethodMessageHistory, json.RawMessage(`{"limit":5}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"jsonrpc":"2.0","id":42,"method":"message.history","params":{"limit":5}}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	b, err = encodeRequest(1, "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"jsonrpc":"2.0","id":1,"method":"x"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := encodeRequest(1, "x", json.RawMessage(`{oops`)); err == nil {
		t.Error("invalid params: got no error, want one")
	}
}
