package jsonwalk

// Whitespace skipped, and the bytes that end a plain string found eight at
// a time, a word per step, not a byte.

// Bytes repeated in every byte of a word.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// Special returns a mask of the eight bytes of v (little-endian: the first
// is the lowest) whose lowest set bit is the high bit of the first quote,
// backslash or byte below 0x20, and zero if there is none. (x - ones) &^ x
// has a byte's high bit set where x has a zero byte, and (v - 0x20*ones)
// &^ v where v has a byte below 0x20; a borrow can set bits above a byte
// found, never below the first.
func Special(v uint64) uint64 {
	q := v ^ ('"' * ones)
	s := v ^ ('\\' * ones)
	return ((q-ones)&^q | (s-ones)&^s | (v-0x20*ones)&^v) & highs
}

// NotPlain is Special that also stops at DEL and at any byte above 0x7e
// (so at the first byte of a multi-byte UTF-8 sequence): (v + ones) | v
// flags the bytes above 0x7e; a carry can flag bytes above one found,
// never below the first.
func NotPlain(v uint64) uint64 {
	return Special(v) | ((v+ones)|v)&highs
}

// SkipSpace returns the index of the first byte of b at or after i that is
// not JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
