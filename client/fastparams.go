package client

import (
	"encoding/json"
	"strconv"

	"github.com/seen-im/seen/internal/jsonwalk"
	"github.com/seen-im/seen/protocol"
)

// The params of the acks (message.read, message.delivered,
// conversation.read) and the result of message.read are what a reading
// client encodes and decodes most after the frames themselves; with
// encoding/json's reflection they were about a twelfth of a group
// member's CPU in `seen bench group`. They are written and read here
// without it, under the same rule as the frames (fastframe.go): the fast
// path writes exactly json.Marshal's bytes and decodes exactly what
// json.Unmarshal decodes, or gives the value to encoding/json.
// FuzzFastParamsMatchStd and FuzzFastReadResultMatchesStd hold it to that.

// marshalParams encodes a call's params as json.Marshal does.
func marshalParams(params any) ([]byte, error) {
	if b, ok := marshalParamsFast(params); ok {
		return b, nil
	}
	return json.Marshal(params)
}

// marshalParamsFast encodes the params of an ack when every string in
// them is one json.Marshal copies as it is (copiedAsIs); it reports false
// for anything else.
func marshalParamsFast(params any) ([]byte, bool) {
	switch p := params.(type) {
	case protocol.ReadParams:
		if p.MsgIDs == nil || !plainConv(p.Conversation) {
			return nil, false
		}
		n := 64 + len(p.Conversation.ID)
		for _, id := range p.MsgIDs {
			if !copiedAsIs(id, false) {
				return nil, false
			}
			n += len(id) + 3
		}
		b := appendConv(make([]byte, 0, n), p.Conversation)
		b = append(b, `,"msgIds":[`...)
		for i, id := range p.MsgIDs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, id...)
			b = append(b, '"')
		}
		b = append(b, ']')
		if p.Private {
			b = append(b, `,"private":true`...)
		}
		return append(b, '}'), true
	case protocol.DeliveredParams:
		if !plainConv(p.Conversation) {
			return nil, false
		}
		b := appendConv(make([]byte, 0, 80+len(p.Conversation.ID)), p.Conversation)
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, p.Seq, 10)
		return append(b, '}'), true
	case protocol.ConversationReadParams:
		if !plainConv(p.Conversation) {
			return nil, false
		}
		b := appendConv(make([]byte, 0, 96+len(p.Conversation.ID)), p.Conversation)
		if p.Seq != 0 {
			b = append(b, `,"seq":`...)
			b = strconv.AppendUint(b, p.Seq, 10)
		}
		if p.Private {
			b = append(b, `,"private":true`...)
		}
		return append(b, '}'), true
	}
	return nil, false
}

// plainConv reports whether json.Marshal copies c's strings as they are.
func plainConv(c protocol.Conversation) bool {
	return copiedAsIs(c.Type, false) && copiedAsIs(c.ID, false)
}

// appendConv appends `{"conversation":{...}`: the params' opening brace
// and their first member, which every ack's params start with.
func appendConv(b []byte, c protocol.Conversation) []byte {
	b = append(b, `{"conversation":{"type":"`...)
	b = append(b, c.Type...)
	b = append(b, `","id":"`...)
	b = append(b, c.ID...)
	return append(b, `"}`...)
}

// unmarshalResult decodes a call's result into result as json.Unmarshal
// does.
func unmarshalResult(res []byte, result any) error {
	if r, ok := result.(*protocol.ReadResult); ok && decodeReadResultFast(res, r) {
		return nil
	}
	return json.Unmarshal(res, result)
}

// decodeReadResultFast decodes {"read":N} into r: one member, exactly
// that key, a plain integer that fits an int. It reports false, leaving r
// as it was, for anything else.
func decodeReadResultFast(b []byte, r *protocol.ReadResult) bool {
	var (
		n    int64
		seen bool
	)
	ok := jsonwalk.Object(b, func(key []byte, i int) (int, bool) {
		if seen || string(key) != "read" {
			return 0, false
		}
		seen = true
		return jsonwalk.Int(b, i, &n)
	})
	if !ok || !seen || int64(int(n)) != n {
		return false
	}
	r.Read = int(n)
	return true
}
