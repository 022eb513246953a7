package service

import (
	"encoding/binary"
	"math/bits"

	"github.com/seen-im/seen/internal/wordscan"
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
	return objectFast(b, func(key []byte, i int) (int, bool) {
		switch {
		case string(key) == "conversation" && !seenConv:
			seenConv = true
			return conversationFast(b, i, &p.Conversation)
		case string(key) == "msgIds" && !seenIDs:
			seenIDs = true
			return stringsFast(b, i, &p.MsgIDs)
		case string(key) == "private" && !seenPrivate:
			seenPrivate = true
			return boolFast(b, i, &p.Private)
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
	return objectFast(b, func(key []byte, i int) (int, bool) {
		switch {
		case string(key) == "conversation" && !seenConv:
			seenConv = true
			return conversationFast(b, i, &p.Conversation)
		case string(key) == "seq" && !seenSeq:
			seenSeq = true
			return uintFast(b, i, &p.Seq)
		}
		return 0, false
	})
}

// decodeConversationReadParamsFast is decodeReadParamsFast for
// conversation.read: {"conversation":{..},"seq":n,"private":b}.
func decodeConversationReadParamsFast(b []byte, p *protocol.ConversationReadParams) bool {
	*p = protocol.ConversationReadParams{}
	var seenConv, seenSeq, seenPrivate bool
	return objectFast(b, func(key []byte, i int) (int, bool) {
		switch {
		case string(key) == "conversation" && !seenConv:
			seenConv = true
			return conversationFast(b, i, &p.Conversation)
		case string(key) == "seq" && !seenSeq:
			seenSeq = true
			return uintFast(b, i, &p.Seq)
		case string(key) == "private" && !seenPrivate:
			seenPrivate = true
			return boolFast(b, i, &p.Private)
		}
		return 0, false
	})
}

// objectFast walks the object that is the whole of b: for each key, in
// order, field decodes the value at index i and returns the index after
// it, or false to give up (an unknown or repeated key, a value it does not
// take).
func objectFast(b []byte, field func(key []byte, i int) (int, bool)) bool {
	i := wordscan.SkipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = wordscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return wordscan.SkipSpace(b, i+1) == len(b)
	}
	for {
		key, j, ok := plainBytes(b, i)
		if !ok {
			return false
		}
		if i = wordscan.SkipSpace(b, j); i >= len(b) || b[i] != ':' {
			return false
		}
		if i, ok = field(key, wordscan.SkipSpace(b, i+1)); !ok {
			return false
		}
		i = wordscan.SkipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = wordscan.SkipSpace(b, i+1)
		case '}':
			return wordscan.SkipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// boolFast reads true or false at b[i] into *v.
func boolFast(b []byte, i int, v *bool) (int, bool) {
	switch {
	case hasAt(b, i, "true"):
		*v = true
		return i + 4, true
	case hasAt(b, i, "false"):
		*v = false
		return i + 5, true
	}
	return 0, false
}

// uintFast reads a plain non-negative integer at b[i] into *v: 0, or a
// digit 1-9 and at most 18 more digits (so it cannot overflow). Fractions,
// exponents, signs and longer numbers are left to encoding/json.
func uintFast(b []byte, i int, v *uint64) (int, bool) {
	if i >= len(b) || b[i] < '0' || b[i] > '9' {
		return 0, false
	}
	if b[i] == '0' {
		*v = 0
		i++
	} else {
		var n uint64
		j := i
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			if j-i == 19 {
				return 0, false
			}
			n = n*10 + uint64(b[j]-'0')
			j++
		}
		*v, i = n, j
	}
	// A number runs into its delimiter: "1.5", "1e3", "01" are not ours.
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E' || (b[i] >= '0' && b[i] <= '9')) {
		return 0, false
	}
	return i, true
}

// conversationFast decodes {"type":"..","id":".."} (either order, each
// once, nothing else) at b[i:] into c; it returns the index after it.
func conversationFast(b []byte, i int, c *protocol.Conversation) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	var seenType, seenID bool
	i = wordscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		key, j, ok := plainBytes(b, i)
		if !ok {
			return 0, false
		}
		if i = wordscan.SkipSpace(b, j); i >= len(b) || b[i] != ':' {
			return 0, false
		}
		val, j, ok := plainBytes(b, wordscan.SkipSpace(b, i+1))
		if !ok {
			return 0, false
		}
		switch {
		case string(key) == "type" && !seenType:
			seenType, c.Type = true, convType(val)
		case string(key) == "id" && !seenID:
			seenID, c.ID = true, string(val)
		default:
			return 0, false
		}
		i = wordscan.SkipSpace(b, j)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = wordscan.SkipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// stringsFast decodes an array of plain strings at b[i:] into *out; it
// returns the index after it. An empty array is an empty, non-nil slice,
// as encoding/json makes it.
func stringsFast(b []byte, i int, out *[]string) (int, bool) {
	if i >= len(b) || b[i] != '[' {
		return 0, false
	}
	s := make([]string, 0, 1)
	i = wordscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		*out = s
		return i + 1, true
	}
	for {
		v, j, ok := plainString(b, i)
		if !ok {
			return 0, false
		}
		s = append(s, v)
		i = wordscan.SkipSpace(b, j)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = wordscan.SkipSpace(b, i+1)
		case ']':
			*out = s
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// plainString reads a string at b[i] made of printable ASCII other than
// '\\' (so no escapes, nothing encoding/json would replace or reject),
// and returns it and the index after its closing quote.
func plainString(b []byte, i int) (string, int, bool) {
	v, j, ok := plainBytes(b, i)
	return string(v), j, ok
}

// plainBytes is plainString without the string: a key compared in place,
// or a value that need not be copied, costs no allocation.
func plainBytes(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	j := i + 1
	// Eight bytes at a time to the first that is not printable ASCII
	// other than '\\' and '"': ids are long runs of plain bytes.
	for ; len(b)-j >= 8; j += 8 {
		if m := wordscan.NotPlain(binary.LittleEndian.Uint64(b[j:])); m != 0 {
			j += bits.TrailingZeros64(m) >> 3
			break
		}
	}
	for ; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// convType returns a conversation's type, the protocol's constant for the
// types there are: no string allocated per request for them.
func convType(b []byte) string {
	switch string(b) {
	case protocol.ConvGroup:
		return protocol.ConvGroup
	case protocol.ConvPeer:
		return protocol.ConvPeer
	}
	return string(b)
}

// hasAt reports whether b holds lit at i.
func hasAt(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}
