package wordscan

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"testing"
)

// Each finds the first byte it stops at in a word's eight bytes, whatever
// the bytes after it, and flags no byte before it.
func TestFindsTheFirstStop(t *testing.T) {
	for _, f := range []struct {
		name  string
		find  func(uint64) uint64
		stops func(c byte) bool
	}{
		{"Special", Special, func(c byte) bool { return c < 0x20 || c == '"' || c == '\\' }},
		{"NotPlain", NotPlain, func(c byte) bool { return c < 0x20 || c >= 0x7f || c == '"' || c == '\\' }},
	} {
		for pos := range 8 {
			for c := range 256 {
				for _, other := range []byte{'a', 0xff, 0x80, 0x7f, 0x7e, 0x20, '"', 0} {
					w := bytes.Repeat([]byte{'a'}, 8)
					for k := pos + 1; k < 8; k++ {
						w[k] = other // after pos: anything
					}
					w[pos] = byte(c)
					m := f.find(binary.LittleEndian.Uint64(w))
					stop := f.stops(byte(c))
					switch {
					case stop && (m == 0 || bits.TrailingZeros64(m)>>3 != pos):
						t.Fatalf("%s(%q) = %#x: first stop not found at %d", f.name, w, m, pos)
					case !stop && m != 0 && bits.TrailingZeros64(m)>>3 <= pos:
						t.Fatalf("%s(%q) = %#x: a plain byte at or before %d flagged", f.name, w, m, pos)
					}
				}
			}
		}
	}
}
