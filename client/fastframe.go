package client

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/seen-im/seen/internal/jsonwalk"
	"github.com/seen-im/seen/protocol"
)

// The frames a client receives most, responses and message.new events,
// are decoded here without reflection. encoding/json took a third of a
// group member's CPU in `seen bench group`: it validated each frame, then
// decoded the envelope, validated and decoded the params again, and
// turned the message's receipt into a map, encoded the map and decoded it
// once more to type it.
//
// The fast path only ever accepts: it returns what decodeFrameStd and
// decodeEventStd return, or reports false, and whatever it is not sure of
// (an escape, a non-ASCII string, a key that matches a field only by
// folding case, a repeated key, a null, a number with a fraction, an
// error frame) goes the encoding/json way. FuzzFastFrameMatchesStd and
// FuzzFastMessageNewMatchesStd hold the two to the same results.
//
// Raw members (params, result, a message's body) alias the frame, which
// the reader reads afresh for every frame and never changes.

// frameKeys are the envelope's members, in the order of their bits in
// decodeFrameFast's seen mask.
var frameKeys = [...]string{"jsonrpc", "id", "method", "params", "result", "error"}

// messageKeys are protocol.Message's members.
var messageKeys = [...]string{"msgId", "seq", "conversation", "sender", "body", "sentAt", "receipt"}

// receiptKeys are the members of a receipt: protocol.Receipt's, then
// protocol.AckState's.
var receiptKeys = [...]string{"msgId", "status", "readCount", "unreadCount", "deliveredCount", "expiresAt", "read", "delivered"}

// decodeFrameFast is decodeFrame for a well-formed response with a
// result, or an event; it reports false for anything else.
func decodeFrameFast(data []byte) (inbound, bool) {
	// encoding/json replaces invalid UTF-8 in the strings it decodes.
	if !utf8.Valid(data) {
		return inbound{}, false
	}
	var (
		f      inbound
		seen   uint
		rawID  json.RawMessage
		method []byte
	)
	ok := jsonwalk.Object(data, func(key []byte, i int) (int, bool) {
		k, known := keyIndex(key, frameKeys[:])
		if !known {
			return jsonwalk.Skip(data, i)
		}
		if k < 0 || seen&(1<<k) != 0 {
			return 0, false
		}
		seen |= 1 << k
		switch frameKeys[k] {
		case "jsonrpc":
			if !jsonwalk.HasAt(data, i, `"`+protocol.Version+`"`) {
				return 0, false
			}
			return i + len(protocol.Version) + 2, true
		case "id":
			return rawAt(data, i, &rawID)
		case "method":
			v, j, ok := jsonwalk.PlainBytes(data, i)
			method = v
			return j, ok
		case "params":
			return rawAt(data, i, &f.params)
		case "result":
			return rawAt(data, i, &f.result)
		}
		return 0, false // an error: encoding/json decodes it
	})
	if !ok {
		return inbound{}, false
	}
	switch {
	case rawID == nil || string(rawID) == "null":
		if len(method) == 0 {
			return inbound{}, false
		}
		f.kind, f.result = frameEvent, nil
		f.method = jsonwalk.Intern(method, protocol.EventMessageNew, protocol.EventReceiptChanged,
			protocol.EventReceiptRead, protocol.EventReceiptDelivered)
		return f, true
	case method != nil:
		return inbound{}, false
	}
	// A number; a quoted one is left to parseID.
	if j, ok := jsonwalk.Uint(rawID, 0, &f.id); !ok || j != len(rawID) {
		return inbound{}, false
	}
	f.kind, f.params = frameResponse, nil
	return f, true
}

// rawAt sets *raw to the value at b[i], as it is, capped so that an
// append to it cannot write into the frame.
func rawAt(b []byte, i int, raw *json.RawMessage) (int, bool) {
	j, ok := jsonwalk.Skip(b, i)
	if ok {
		*raw = b[i:j:j]
	}
	return j, ok
}

// keyIndex returns the index of key in keys. known is false for a key
// that is none of them, which the caller skips; an index below zero, with
// known true, for one encoding/json might match to a member by folding
// case, which the caller gives up on.
func keyIndex(key []byte, keys []string) (k int, known bool) {
	for i, name := range keys {
		if string(key) == name {
			return i, true
		}
	}
	for _, name := range keys {
		if len(key) == len(name) && bytes.EqualFold(key, []byte(name)) {
			return -1, true
		}
	}
	return 0, false
}

// decodeMessageNewFast decodes message.new's params,
// {"message":{...}}; it reports false for anything decodeEventStd might
// decode otherwise.
func decodeMessageNewFast(b []byte) (protocol.MessageNewEvent, bool) {
	var (
		e    protocol.MessageNewEvent
		seen bool
	)
	ok := jsonwalk.Object(b, func(key []byte, i int) (int, bool) {
		k, known := keyIndex(key, []string{"message"})
		switch {
		case !known:
			return jsonwalk.Skip(b, i)
		case k < 0 || seen:
			return 0, false
		}
		seen = true
		return messageAt(b, i, &e.Message)
	})
	return e, ok
}

// messageAt decodes the protocol.Message at b[i] into m.
func messageAt(b []byte, i int, m *protocol.Message) (int, bool) {
	var seen uint
	return jsonwalk.ObjectAt(b, i, func(key []byte, i int) (int, bool) {
		k, known := keyIndex(key, messageKeys[:])
		if !known {
			return jsonwalk.Skip(b, i)
		}
		if k < 0 || seen&(1<<k) != 0 {
			return 0, false
		}
		seen |= 1 << k
		switch messageKeys[k] {
		case "msgId":
			v, j, ok := jsonwalk.PlainString(b, i)
			m.MsgID = v
			return j, ok
		case "seq":
			return jsonwalk.Uint(b, i, &m.Seq)
		case "conversation":
			return jsonwalk.Conversation(b, i, &m.Conversation)
		case "sender":
			v, j, ok := jsonwalk.PlainString(b, i)
			m.Sender = v
			return j, ok
		case "body":
			return rawAt(b, i, &m.Body)
		case "sentAt":
			return jsonwalk.Int(b, i, &m.SentAt)
		}
		return receiptAt(b, i, &m.Receipt)
	})
}

// maxExact is the largest integer a float64 holds exactly. decodeEventStd
// reads a receipt through a map, whose numbers are float64: a count above
// this would come out rounded, so the fast path leaves it to that.
const maxExact = 1 << 53

// receiptAt decodes the receipt at b[i] as normalizeReceipt types it: a
// *protocol.Receipt when it has a status or a msgId, else a
// *protocol.AckState.
func receiptAt(b []byte, i int, out *any) (int, bool) {
	var (
		r    protocol.Receipt
		a    protocol.AckState
		seen uint
	)
	j, ok := jsonwalk.ObjectAt(b, i, func(key []byte, i int) (int, bool) {
		k := -1
		for n, name := range receiptKeys {
			if string(key) == name {
				k = n
			}
		}
		// An unknown key stays in the map and is dropped by the typed
		// decode after it; a repeated one replaces the first. Both are
		// rare enough to leave to encoding/json.
		if k < 0 || seen&(1<<k) != 0 {
			return 0, false
		}
		seen |= 1 << k
		switch receiptKeys[k] {
		case "msgId":
			v, j, ok := jsonwalk.PlainString(b, i)
			r.MsgID = v
			return j, ok
		case "status":
			v, j, ok := jsonwalk.PlainBytes(b, i)
			r.Status = jsonwalk.Intern(v, protocol.StatusPending, protocol.StatusDone, protocol.StatusExpired)
			return j, ok
		case "readCount":
			return exactInt(b, i, &r.ReadCount)
		case "unreadCount":
			return exactInt(b, i, &r.UnreadCount)
		case "deliveredCount":
			return exactInt(b, i, &r.DeliveredCount)
		case "expiresAt":
			var n int
			j, ok := exactInt(b, i, &n)
			r.ExpiresAt = int64(n)
			return j, ok
		case "read":
			return jsonwalk.Bool(b, i, &a.Read)
		}
		return jsonwalk.Bool(b, i, &a.Delivered)
	})
	if !ok {
		return 0, false
	}
	if seen&(1<<0|1<<1) != 0 { // a msgId or a status: the sender's receipt
		*out = &r
	} else {
		*out = &a
	}
	return j, true
}

// exactInt reads a plain integer no larger in magnitude than maxExact.
func exactInt(b []byte, i int, v *int) (int, bool) {
	var n int64
	j, ok := jsonwalk.Int(b, i, &n)
	if !ok || n > maxExact || n < -maxExact {
		return 0, false
	}
	*v = int(n)
	return j, true
}
