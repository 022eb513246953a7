package receipts

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
)

// Filter selects which members of a message Members lists.
type Filter uint8

// The filters of receipt.members.
const (
	FilterRead Filter = iota + 1
	FilterUnread
	FilterDelivered
	FilterUndelivered
)

// String is the filter's protocol name.
func (f Filter) String() string {
	switch f {
	case FilterRead:
		return "read"
	case FilterUnread:
		return "unread"
	case FilterDelivered:
		return "delivered"
	case FilterUndelivered:
		return "undelivered"
	}
	return "invalid"
}

// ParseFilter maps a protocol filter name to its Filter.
func ParseFilter(s string) (Filter, bool) {
	for f := FilterRead; f <= FilterUndelivered; f++ {
		if f.String() == s {
			return f, true
		}
	}
	return 0, false
}

// Entry is one member in a Members page.
type Entry struct {
	UserID string
	// At is when the ack that covers the message for this member was
	// recorded, where known, else 0 (always 0 in unread and undelivered
	// lists).
	At int64
}

// A listing runs through up to two phases, each an ascending scan of one
// index: for read and delivered, first the sparse acks at the message
// (phaseSparse), then the watermarks at or above it (phaseMark); for unread
// and undelivered, the watermarks below it (phaseMark).
const (
	phaseSparse uint8 = iota
	phaseMark
)

// Members lists a page of the eligible members of message seq sent by
// sender (who is never listed) that match filter, resuming after cursor
// ("" starts), with at most limit entries (a limit below 1 is taken as 1).
// It returns the next cursor and done, true when nothing remains after this
// page (next is then ""). A cursor made for another message or filter, or
// not made by Members at all, gets ErrBadCursor.
//
// Pages come in index order and resume strictly after the last listed key,
// so a member whose state did not change between pages is neither repeated
// nor skipped; a member whose state changed may be listed twice or not at
// all.
//
// Cost: O(log members + page) for unread and undelivered (plus the members
// with a single-message ack at seq, skipped); read and delivered first list
// the single-message acks at seq, sorted by user id, then scan the
// watermarks at or above seq, skipping members who joined after the message
// (their watermarks start above it): that skip is the one cost not bounded
// by the page, proportional to the late joiners crossed.
//
// At is, for read and delivered, the time of the member's single-message
// ack while it is sparse; otherwise the time of the recorded watermark move
// that covered seq (a folded single-message ack keeps its own time); 0 when
// the move is older than the last 8 kept per watermark.
func (c *Conv) Members(seq uint64, sender string, filter Filter, cursor string, limit int) (entries []Entry, next string, done bool, err error) {
	if filter < FilterRead || filter > FilterUndelivered {
		return nil, "", false, ErrBadFilter
	}
	limit = max(limit, 1)
	above := filter == FilterRead || filter == FilterDelivered
	phase, from := phaseMark, key{}
	if above {
		phase, from = phaseSparse, key{seq: seq}
	}
	if cursor != "" {
		var last key
		phase, last, err = decodeCursor(cursor, filter, seq)
		if err != nil {
			return nil, "", false, err
		}
		from = last.after()
	}

	var (
		lastKey   key
		lastPhase uint8
		more      bool
	)
	entries = make([]Entry, 0, min(limit, 128))
	emit := func(ph uint8, k key, at int64) bool {
		if len(entries) == limit {
			more = true
			return false
		}
		entries = append(entries, Entry{UserID: k.id, At: at})
		lastKey, lastPhase = k, ph
		return true
	}

	reads := filter == FilterRead || filter == FilterUnread
	sparse, marks := c.sparseDeliv, c.deliv
	if reads {
		sparse, marks = c.sparseRead, c.read
	}
	if above {
		if phase == phaseSparse {
			stopped := false
			sparse.ascend(from, func(k key) bool {
				if k.seq != seq {
					return false
				}
				if k.id == sender {
					return true
				}
				a, _ := c.members[k.id].ack(seq)
				if !emit(phaseSparse, k, a.At) {
					stopped = true
					return false
				}
				return true
			})
			if stopped {
				return c.page(entries, more, filter, seq, lastPhase, lastKey)
			}
			from = key{seq: seq}
		}
		marks.ascend(from, func(k key) bool {
			if k.id == sender {
				return true
			}
			m := c.members[k.id]
			if m.join > seq {
				return true
			}
			h := &m.delivHist
			if reads {
				h = &m.readHist
			}
			return emit(phaseMark, k, h.lookup(seq))
		})
		return c.page(entries, more, filter, seq, lastPhase, lastKey)
	}
	checkAcks := c.sparseRead.countEq(seq) > 0
	marks.ascend(from, func(k key) bool {
		if k.seq >= seq {
			return false
		}
		if k.id == sender {
			return true
		}
		if checkAcks {
			if _, ok := c.members[k.id].ack(seq); ok {
				return true
			}
		}
		return emit(phaseMark, k, 0)
	})
	return c.page(entries, more, filter, seq, lastPhase, lastKey)
}

func (c *Conv) page(entries []Entry, more bool, f Filter, seq uint64, ph uint8, last key) ([]Entry, string, bool, error) {
	if !more {
		return entries, "", true, nil
	}
	return entries, encodeCursor(f, seq, ph, last), false, nil
}

const cursorVersion = 1

// A cursor is base64url of: version, filter, phase, uvarint message seq,
// uvarint key seq, key user id, then a CRC-32 of all that, so that a
// mistyped or made-up cursor is refused rather than misread.
func encodeCursor(f Filter, seq uint64, phase uint8, k key) string {
	b := make([]byte, 0, 3+2*binary.MaxVarintLen64+len(k.id)+4)
	b = append(b, cursorVersion, byte(f), phase)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, k.seq)
	b = append(b, k.id...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, f Filter, seq uint64) (uint8, key, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 3+1+1+4 {
		return 0, key{}, ErrBadCursor
	}
	body, sum := b[:len(b)-4], b[len(b)-4:]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(sum) {
		return 0, key{}, ErrBadCursor
	}
	if body[0] != cursorVersion || Filter(body[1]) != f {
		return 0, key{}, ErrBadCursor
	}
	phase := body[2]
	body = body[3:]
	s1, n := binary.Uvarint(body)
	if n <= 0 || s1 != seq {
		return 0, key{}, ErrBadCursor
	}
	body = body[n:]
	ks, n := binary.Uvarint(body)
	if n <= 0 {
		return 0, key{}, ErrBadCursor
	}
	k := key{seq: ks, id: string(body[n:])}
	above := f == FilterRead || f == FilterDelivered
	switch {
	case phase == phaseSparse && above && ks == seq:
	case phase == phaseMark && above && ks >= seq:
	case phase == phaseMark && !above && ks < seq:
	default:
		return 0, key{}, ErrBadCursor
	}
	return phase, k, nil
}
