package service

import (
	"github.com/seen-im/seen/internal/jsonwalk"
	"github.com/seen-im/seen/protocol"
)

// decodeReadParamsFast decodes message.read's params, the request every
// ack makes, without reflection, for the plain form clients send:
// {"conversation":{"type":"..","id":".."},"msgIds":["..",..],"private":b}
// in any key order, with ASCII strings free of escapes. It reports false,
// having possibly written to p, for anything else (unknown or repeated
// keys, escapes, non-ASCII, null, another type, bad JSON), which then goes
// through DecodeParams and encoding/json as before, with its errors.
// FuzzReadParamsFastMatchesEncodingJSON holds it to encoding/json's
// result wherever it accepts.
func decodeReadParamsFast(b []byte, p *protocol.ReadParams) bool {
	*p = protocol.ReadParams{}
	var seenConv, seenIDs, seenPrivate bool
	return jsonwalk.Object(b, func(key []byte, i int) (int, bool) {
		switch {
		case string(key) == "conversation" && !seenConv:
			seenConv = true
			return jsonwalk.Conversation(b, i, &p.Conversation)
		case string(key) == "msgIds" && !seenIDs:
			seenIDs = true
			return jsonwalk.Strings(b, i, &p.MsgIDs)
		case string(key) == "private" && !seenPrivate:
			seenPrivate = true
			return jsonwalk.Bool(b, i, &p.Private)
		}
		return 0, false
	})
}

// decodeDeliveredParamsFast is decodeReadParamsFast for message.delivered,
// which clients send for every message they receive:
// {"conversation":{..},"seq":n}.
func decodeDeliveredParamsFast(b []byte, p *protocol.DeliveredParams) bool {
	*p = protocol.DeliveredParams{}
	var seenConv, seenSeq bool
	return jsonwalk.Object(b, func(key []byte, i int) (int, bool) {
		switch {
		case string(key) == "conversation" && !seenConv:
			seenConv = true
			return jsonwalk.Conversation(b, i, &p.Conversation)
		case string(key) == "seq" && !seenSeq:
			seenSeq = true
			return jsonwalk.Uint(b, i, &p.Seq)
		}
		return 0, false
	})
}

// decodeConversationReadParamsFast is decodeReadParamsFast for
// conversation.read: {"conversation":{..},"seq":n,"private":b}.
func decodeConversationReadParamsFast(b []byte, p *protocol.ConversationReadParams) bool {
	*p = protocol.ConversationReadParams{}
	var seenConv, seenSeq, seenPrivate bool
	return jsonwalk.Object(b, func(key []byte, i int) (int, bool) {
		switch {
		case string(key) == "conversation" && !seenConv:
			seenConv = true
			return jsonwalk.Conversation(b, i, &p.Conversation)
		case string(key) == "seq" && !seenSeq:
			seenSeq = true
			return jsonwalk.Uint(b, i, &p.Seq)
		case string(key) == "private" && !seenPrivate:
			seenPrivate = true
			return jsonwalk.Bool(b, i, &p.Private)
		}
		return 0, false
	})
}
