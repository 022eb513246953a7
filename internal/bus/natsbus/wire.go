package natsbus

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/seen-im/seen/internal/bus"
)

// What a message on the bus's subjects carries. A message on a user's
// subject names its user by the subject; the broadcast subject carries
// either a list of users or a conversation's audience.
const (
	kindUser byte = 1 // on <prefix>.u.<user>: the event
	kindList byte = 2 // on <prefix>.all: users, the event
	kindConv byte = 3 // on <prefix>.all: conv, also, except, the event
	kindSync byte = 4 // on <prefix>.sync: a sync message, as the event's data
)

// message is one decoded bus message.
type message struct {
	kind  byte
	users []string     // kindList, to encode
	list  []byte       // kindList, decoded: the encoded users, read by eachUser
	aud   bus.Audience // kindConv, without Members
	ev    bus.Event
}

var errMalformed = errors.New("natsbus: malformed message")

// userSubject is the subject of userID's events. User ids may hold dots
// (a subject's token separator) and other characters NATS gives meaning
// to, so the id is base64url-encoded: one token, and distinct ids never
// share a subject or match each other's.
func userSubject(prefix, userID string) string {
	return prefix + ".u." + base64.RawURLEncoding.EncodeToString([]byte(userID))
}

// subjectUser is the inverse of userSubject.
func subjectUser(prefix, subject string) (string, bool) {
	tok, ok := strings.CutPrefix(subject, prefix+".u.")
	if !ok {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", false
	}
	return string(b), true
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// encode renders m: the kind, ExceptConn, the kind's fields, then the
// event's data to the end (not length-prefixed, so it is never copied
// again on the receiving side).
func encode(m message) []byte {
	n := 1 + 2*binary.MaxVarintLen64 + len(m.ev.ExceptConn) + len(m.ev.Data) + len(m.aud.Conv)
	for _, s := range m.users {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, m.kind)
	b = appendString(b, m.ev.ExceptConn)
	switch m.kind {
	case kindList:
		b = appendStrings(b, m.users)
	case kindConv:
		b = appendString(b, m.aud.Conv)
		b = appendStrings(b, m.aud.Also)
		b = appendStrings(b, m.aud.Except)
	}
	return append(b, m.ev.Data...)
}

// reader decodes what encode wrote; the first error sticks.
type reader struct {
	b   []byte
	err error
}

// bytes reads one length-prefixed string without copying it.
func (r *reader) bytes() []byte {
	if r.err != nil {
		return nil
	}
	n, k := binary.Uvarint(r.b)
	if k <= 0 || n > uint64(len(r.b)-k) {
		r.err = errMalformed
		return nil
	}
	s := r.b[k : k+int(n)]
	r.b = r.b[k+int(n):]
	return s
}

func (r *reader) string() string { return string(r.bytes()) }

// count reads the number of strings that follow.
func (r *reader) count() uint64 {
	if r.err != nil {
		return 0
	}
	n, k := binary.Uvarint(r.b)
	// Each string takes at least one byte: a count beyond the rest is a
	// lie, and must not size an allocation.
	if k <= 0 || n > uint64(len(r.b)-k) {
		r.err = errMalformed
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *reader) strings() []string {
	n := r.count()
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.string())
	}
	return out
}

// eachUser calls fn with each user of a decoded list; u is valid only
// during the call.
func eachUser(list []byte, fn func(u []byte)) {
	r := reader{b: list}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		fn(r.bytes())
	}
}

// decode parses a message. The event's data aliases p, which the caller
// hands over (nats.go gives each message its own payload).
func decode(p []byte) (message, error) {
	if len(p) == 0 {
		return message{}, errMalformed
	}
	m := message{kind: p[0]}
	r := reader{b: p[1:]}
	m.ev.ExceptConn = r.string()
	switch m.kind {
	case kindUser, kindSync:
	case kindList:
		// The users are not decoded into strings: a node looks each up
		// among its own, which needs no allocation from bytes, and
		// most are not its own.
		start := r.b
		n := r.count()
		for range n {
			r.bytes()
		}
		if r.err == nil {
			m.list = start[:len(start)-len(r.b)]
		}
	case kindConv:
		m.aud.Conv = r.string()
		m.aud.Also = r.strings()
		m.aud.Except = r.strings()
	default:
		return message{}, fmt.Errorf("%w: kind %d", errMalformed, m.kind)
	}
	if r.err != nil {
		return message{}, r.err
	}
	m.ev.Data = r.b
	return m, nil
}
