package pebblestore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/seen-im/seen/internal/store"
)

// Webhook keys (store.Webhooks), after the tables of keys.go:
//
//	webhook     0x0C id                                  -> valueV1 + JSON of store.Webhook
//	delivery    0x0D lp(endpoint) eventID                -> encodeDelivery
//	deliveryDue 0x0E time(nextAt) lp(endpoint) eventID   -> empty: a pending delivery
//	timer       0x0F lp(conv) seq kind                   -> encodeTimer
//	timerDue    0x10 time(dueAt) lp(conv) seq kind       -> empty: a timer
//	track       0x11 ord(conv) seq                       -> encodeTrack
//
// The due indexes are what a claim scans, oldest first; each index key is
// written and deleted in the same batch as its row, and its tail after the
// time is the row key's tail, so a claim finds the row without decoding.
// time() is 8 bytes big-endian with the sign bit flipped, so byte order is
// numeric order for any int64. Tracks are listed in (Conv, Seq) order, so
// their conversation is ord() encoded (order-preserving), not
// length-prefixed: lp() would sort short ids before long ones.
//
// The tables need no schema version change: a store without them is a
// store with no webhooks.
const (
	prefixWebhook     byte = 0x0C
	prefixDelivery    byte = 0x0D
	prefixDeliveryDue byte = 0x0E
	prefixTimer       byte = 0x0F
	prefixTimerDue    byte = 0x10
	prefixTrack       byte = 0x11
)

func appendTime(b []byte, t int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(t)^(1<<63))
}

func readTime(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// appendOrd appends s so that byte order of the result is the order of s
// and nothing can follow s without being told apart: 0x00 is escaped as
// 0x00 0xFF and the end is 0x00 0x01.
func appendOrd(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		b = append(b, s[i])
		if s[i] == 0 {
			b = append(b, 0xFF)
		}
	}
	return append(b, 0, 1)
}

// readOrd decodes appendOrd's encoding at the start of b and returns the
// rest.
func readOrd(b []byte) (string, []byte, error) {
	var s []byte
	for i := 0; i < len(b); i++ {
		if b[i] != 0 {
			s = append(s, b[i])
			continue
		}
		if i+1 >= len(b) {
			break
		}
		switch b[i+1] {
		case 0xFF:
			s = append(s, 0)
			i++
		case 1:
			return string(s), b[i+2:], nil
		default:
			return "", nil, fmt.Errorf("pebblestore: corrupt key: bad escape")
		}
	}
	return "", nil, fmt.Errorf("pebblestore: corrupt key: unterminated string")
}

func webhookKey(id string) []byte { return append([]byte{prefixWebhook}, id...) }

func deliveryPrefix(endpoint string) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(endpoint))
	return appendLP(append(b, prefixDelivery), endpoint)
}

func deliveryKey(endpoint, eventID string) []byte {
	return append(deliveryPrefix(endpoint), eventID...)
}

func deliveryDueKey(nextAt int64, endpoint, eventID string) []byte {
	b := make([]byte, 0, 9+binary.MaxVarintLen64+len(endpoint)+len(eventID))
	b = appendTime(append(b, prefixDeliveryDue), nextAt)
	return append(appendLP(b, endpoint), eventID...)
}

// rowKeyOfDue turns a due index key into its row's key: the row's prefix
// and the index key's tail after its time.
func rowKeyOfDue(rowPrefix byte, due []byte) []byte {
	return append([]byte{rowPrefix}, due[9:]...)
}

// splitDeliveryKey returns the endpoint and event id of a delivery key.
func splitDeliveryKey(k []byte) (endpoint, eventID string, err error) {
	r := byteReader{b: k[1:]}
	endpoint = r.str()
	if r.err != nil {
		return "", "", fmt.Errorf("pebblestore: corrupt delivery key %x: %w", k, r.err)
	}
	return endpoint, string(r.b), nil
}

func timerKey(conv store.ConvID, seq uint64, kind string) []byte {
	return append(appendSeq(convPrefix(prefixTimer, conv, 8+len(kind)), seq), kind...)
}

func timerDueKey(t store.Timer) []byte {
	b := make([]byte, 0, 9+binary.MaxVarintLen64+len(t.Conv)+8+len(t.Kind))
	b = appendTime(append(b, prefixTimerDue), t.DueAt)
	b = appendSeq(appendLP(b, string(t.Conv)), t.Seq)
	return append(b, t.Kind...)
}

// splitTimerKey returns the conversation, seq and kind of a timer key.
func splitTimerKey(k []byte) (store.ConvID, uint64, string, error) {
	r := byteReader{b: k[1:]}
	conv := r.str()
	if r.err != nil || len(r.b) < 8 {
		return "", 0, "", fmt.Errorf("pebblestore: corrupt timer key %x", k)
	}
	return store.ConvID(conv), binary.BigEndian.Uint64(r.b), string(r.b[8:]), nil
}

func trackPrefix(conv store.ConvID) []byte {
	b := make([]byte, 0, 1+len(conv)+2+8)
	return appendOrd(append(b, prefixTrack), string(conv))
}

func trackKey(conv store.ConvID, seq uint64) []byte { return appendSeq(trackPrefix(conv), seq) }

func splitTrackKey(k []byte) (store.ConvID, uint64, error) {
	conv, rest, err := readOrd(k[1:])
	if err != nil || len(rest) != 8 {
		return "", 0, fmt.Errorf("pebblestore: corrupt track key %x", k)
	}
	return store.ConvID(conv), binary.BigEndian.Uint64(rest), nil
}

// Endpoints are few and rarely written: JSON keeps their slices simple.
func encodeWebhook(w store.Webhook) ([]byte, error) {
	j, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("pebblestore: encode webhook %q: %w", w.ID, err)
	}
	return append([]byte{valueV1}, j...), nil
}

func decodeWebhook(v []byte) (store.Webhook, error) {
	var w store.Webhook
	if len(v) == 0 || v[0] != valueV1 {
		return w, fmt.Errorf("pebblestore: webhook value format unknown")
	}
	if err := json.Unmarshal(v[1:], &w); err != nil {
		return w, fmt.Errorf("pebblestore: corrupt webhook: %w", err)
	}
	return w, nil
}

// encodeDelivery encodes d without Endpoint and EventID, which are in the
// key. The payload goes last and raw: it is signed as stored, so it must
// come back byte for byte.
func encodeDelivery(d store.Delivery) []byte {
	b := make([]byte, 0, 1+6*binary.MaxVarintLen64+len(d.Type)+len(d.State)+len(d.LastError)+len(d.Payload))
	b = append(b, valueV1)
	b = appendLP(b, d.Type)
	b = appendLP(b, d.State)
	b = binary.AppendUvarint(b, uint64(max(d.Attempts, 0)))
	b = binary.AppendVarint(b, d.NextAt)
	b = binary.AppendVarint(b, d.LeaseUntil)
	b = appendLP(b, d.LastError)
	b = binary.AppendVarint(b, d.CreatedAt)
	b = binary.AppendVarint(b, d.UpdatedAt)
	return append(b, d.Payload...)
}

func decodeDelivery(endpoint, eventID string, v []byte) (store.Delivery, error) {
	r := byteReader{b: v}
	if f := r.byte1(); r.err == nil && f != valueV1 {
		return store.Delivery{}, fmt.Errorf("pebblestore: delivery value format %d unknown", f)
	}
	d := store.Delivery{Endpoint: endpoint, EventID: eventID}
	d.Type = r.str()
	d.State = r.str()
	d.Attempts = int(r.uvarint())
	d.NextAt = r.varint()
	d.LeaseUntil = r.varint()
	d.LastError = r.str()
	d.CreatedAt = r.varint()
	d.UpdatedAt = r.varint()
	if r.err != nil {
		return store.Delivery{}, fmt.Errorf("pebblestore: delivery %s/%s: %w", endpoint, eventID, r.err)
	}
	if len(r.b) > 0 {
		d.Payload = append(json.RawMessage(nil), r.b...)
	}
	return d, nil
}

func encodeTimer(t store.Timer) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64)
	b = append(b, valueV1)
	b = binary.AppendVarint(b, t.DueAt)
	return binary.AppendVarint(b, t.LeaseUntil)
}

func decodeTimer(conv store.ConvID, seq uint64, kind string, v []byte) (store.Timer, error) {
	r := byteReader{b: v}
	if f := r.byte1(); r.err == nil && f != valueV1 {
		return store.Timer{}, fmt.Errorf("pebblestore: timer value format %d unknown", f)
	}
	t := store.Timer{Conv: conv, Seq: seq, Kind: kind}
	t.DueAt = r.varint()
	t.LeaseUntil = r.varint()
	if r.err != nil {
		return store.Timer{}, fmt.Errorf("pebblestore: timer %s/%d/%s: %w", conv, seq, kind, r.err)
	}
	return t, nil
}

func encodeTrack(t store.HookTrack) []byte {
	b := make([]byte, 0, 1+3*binary.MaxVarintLen64+len(t.MsgID)+4*len(t.Fired))
	b = append(b, valueV1)
	b = appendLP(b, t.MsgID)
	b = binary.AppendUvarint(b, uint64(max(t.Reported, 0)))
	b = binary.AppendVarint(b, t.ReportedAt)
	b = binary.AppendUvarint(b, uint64(len(t.Fired)))
	for _, f := range t.Fired {
		b = appendLP(b, f)
	}
	return b
}

func decodeTrack(conv store.ConvID, seq uint64, v []byte) (store.HookTrack, error) {
	r := byteReader{b: v}
	if f := r.byte1(); r.err == nil && f != valueV1 {
		return store.HookTrack{}, fmt.Errorf("pebblestore: track value format %d unknown", f)
	}
	t := store.HookTrack{Conv: conv, Seq: seq}
	t.MsgID = r.str()
	t.Reported = int(r.uvarint())
	t.ReportedAt = r.varint()
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("pebblestore: corrupt value: %d thresholds", n)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		t.Fired = append(t.Fired, r.str())
	}
	if r.err != nil {
		return store.HookTrack{}, fmt.Errorf("pebblestore: track %s/%d: %w", conv, seq, r.err)
	}
	return t, nil
}
