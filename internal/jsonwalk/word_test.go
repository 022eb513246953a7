package jsonwalk

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

// SkipSpace stops at the first byte that is not JSON whitespace, or at
// the end.
func TestSkipSpace(t *testing.T) {
	for _, c := range []struct {
		in   string
		from int
		want int
	}{
		{"", 0, 0}, {" \t\r\n", 0, 4}, {" \t x", 0, 3}, {"a  b", 1, 3}, {"\v", 0, 0}, {"x", 1, 1},
	} {
		if got := SkipSpace([]byte(c.in), c.from); got != c.want {
			t.Errorf("SkipSpace(%q, %d) = %d, want %d", c.in, c.from, got, c.want)
		}
	}
}

func TestIntern(t *testing.T) {
	b := []byte("message.read")
	if got := Intern(b, "message.send", "message.read"); got != "message.read" {
		t.Fatalf("Intern = %q", got)
	}
	if got := Intern([]byte("other"), "message.read"); got != "other" {
		t.Fatalf("Intern of an unknown name = %q", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Intern(b, "message.send", "message.read") }); n != 0 {
		t.Fatalf("Intern of a known name allocates %v times", n)
	}
}
