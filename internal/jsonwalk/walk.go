package jsonwalk

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/seen-im/seen/protocol"
)

// The decoders of plain values. Each reads the value at b[i] (no space
// before it) and returns the index just past it, or false for anything it
// does not take.

// Object walks the object that is the whole of b (space around it
// allowed): for each key, in order, field decodes the value at index i and
// returns the index after it, or false to give up (an unknown or repeated
// key, a value it does not take).
func Object(b []byte, field func(key []byte, i int) (int, bool)) bool {
	i, ok := ObjectAt(b, SkipSpace(b, 0), field)
	return ok && SkipSpace(b, i) == len(b)
}

// ObjectAt is Object for the object that starts at b[i], inside a larger
// text; it returns the index after its closing brace. Keys are plain
// strings (PlainBytes): an escaped or non-ASCII key gives up.
func ObjectAt(b []byte, i int, field func(key []byte, i int) (int, bool)) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		key, j, ok := PlainBytes(b, i)
		if !ok {
			return 0, false
		}
		if i = SkipSpace(b, j); i >= len(b) || b[i] != ':' {
			return 0, false
		}
		if i, ok = field(key, SkipSpace(b, i+1)); !ok {
			return 0, false
		}
		i = SkipSpace(b, i)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// Bool reads true or false at b[i] into *v.
func Bool(b []byte, i int, v *bool) (int, bool) {
	switch {
	case HasAt(b, i, "true"):
		*v = true
		return i + 4, true
	case HasAt(b, i, "false"):
		*v = false
		return i + 5, true
	}
	return 0, false
}

// Uint reads a plain non-negative integer at b[i] into *v: 0, or a
// digit 1-9 and at most 18 more digits (so it cannot overflow). Fractions,
// exponents, signs and longer numbers are left to encoding/json.
func Uint(b []byte, i int, v *uint64) (int, bool) {
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

// Int reads a plain integer at b[i] into *v: Uint's form, with an
// optional minus sign.
func Int(b []byte, i int, v *int64) (int, bool) {
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	var u uint64
	j, ok := Uint(b, i, &u)
	if !ok || u > math.MaxInt64 {
		return 0, false
	}
	*v = int64(u)
	if neg {
		*v = -*v
	}
	return j, true
}

// Skip steps over the value at b[i] whatever it is, checking its grammar
// as Value does; it gives up where Value does.
func Skip(b []byte, i int) (int, bool) {
	j := Value(b, i, 1)
	return j, j >= 0
}

// Conversation decodes {"type":"..","id":".."} (either order, each
// once, nothing else) at b[i:] into c; it returns the index after it.
func Conversation(b []byte, i int, c *protocol.Conversation) (int, bool) {
	var seenType, seenID bool
	return ObjectAt(b, i, func(key []byte, i int) (int, bool) {
		val, j, ok := PlainBytes(b, i)
		switch {
		case !ok:
			return 0, false
		case string(key) == "type" && !seenType:
			seenType, c.Type = true, ConvType(val)
		case string(key) == "id" && !seenID:
			seenID, c.ID = true, string(val)
		default:
			return 0, false
		}
		return j, true
	})
}

// Strings decodes an array of plain strings at b[i:] into *out; it
// returns the index after it. An empty array is an empty, non-nil slice,
// as encoding/json makes it.
func Strings(b []byte, i int, out *[]string) (int, bool) {
	if i >= len(b) || b[i] != '[' {
		return 0, false
	}
	s := make([]string, 0, 1)
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		*out = s
		return i + 1, true
	}
	for {
		v, j, ok := PlainString(b, i)
		if !ok {
			return 0, false
		}
		s = append(s, v)
		i = SkipSpace(b, j)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = SkipSpace(b, i+1)
		case ']':
			*out = s
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// PlainString reads a string at b[i] made of printable ASCII other than
// '\\' (so no escapes, nothing encoding/json would replace or reject),
// and returns it and the index after its closing quote.
func PlainString(b []byte, i int) (string, int, bool) {
	v, j, ok := PlainBytes(b, i)
	return string(v), j, ok
}

// PlainBytes is PlainString without the string: a key compared in place,
// or a value that need not be copied, costs no allocation.
func PlainBytes(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	j := i + 1
	// Eight bytes at a time to the first that is not printable ASCII
	// other than '\\' and '"': ids are long runs of plain bytes.
	for ; len(b)-j >= 8; j += 8 {
		if m := NotPlain(binary.LittleEndian.Uint64(b[j:])); m != 0 {
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

// ConvType returns a conversation's type, the protocol's constant for the
// types there are: no string allocated per request for them.
func ConvType(b []byte) string {
	return Intern(b, protocol.ConvGroup, protocol.ConvPeer)
}

// HasAt reports whether b holds lit at i.
func HasAt(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// Intern returns b as a string: the one of known it equals, without
// allocating, or else a copy. The decoders use it for names and statuses a
// frame repeats (a method, an event, a receipt's status, a conversation
// type).
func Intern(b []byte, known ...string) string {
	for _, k := range known {
		if string(b) == k {
			return k
		}
	}
	return string(b)
}
