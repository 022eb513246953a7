package service

import "github.com/seen-im/seen/protocol"

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
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipWS(b, i+1) == len(b)
	}
	for {
		key, j, ok := plainString(b, i)
		if !ok {
			return false
		}
		if i = skipWS(b, j); i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		switch key {
		case "conversation":
			if seenConv {
				return false
			}
			seenConv = true
			if i, ok = conversationFast(b, i, &p.Conversation); !ok {
				return false
			}
		case "msgIds":
			if seenIDs {
				return false
			}
			seenIDs = true
			if i, ok = stringsFast(b, i, &p.MsgIDs); !ok {
				return false
			}
		case "private":
			if seenPrivate {
				return false
			}
			seenPrivate = true
			switch {
			case hasAt(b, i, "true"):
				p.Private, i = true, i+4
			case hasAt(b, i, "false"):
				p.Private, i = false, i+5
			default:
				return false
			}
		default:
			return false
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return skipWS(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// conversationFast decodes {"type":"..","id":".."} (either order, each
// once, nothing else) at b[i:] into c; it returns the index after it.
func conversationFast(b []byte, i int, c *protocol.Conversation) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	var seenType, seenID bool
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		key, j, ok := plainString(b, i)
		if !ok {
			return 0, false
		}
		if i = skipWS(b, j); i >= len(b) || b[i] != ':' {
			return 0, false
		}
		val, j, ok := plainString(b, skipWS(b, i+1))
		if !ok {
			return 0, false
		}
		switch {
		case key == "type" && !seenType:
			seenType, c.Type = true, val
		case key == "id" && !seenID:
			seenID, c.ID = true, val
		default:
			return 0, false
		}
		i = skipWS(b, j)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
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
	i = skipWS(b, i+1)
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
		i = skipWS(b, j)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
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
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", 0, false
		}
	}
	return "", 0, false
}

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// hasAt reports whether b holds lit at i.
func hasAt(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}
