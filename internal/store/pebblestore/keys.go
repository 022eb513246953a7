package pebblestore

import (
	"encoding/binary"
	"fmt"

	"github.com/seen-im/seen/internal/store"
)

// Key layout. Every key starts with a one-byte table prefix. When a key has
// two variable-length components, the first is uvarint-length-prefixed so
// that no id can run into the next component whatever bytes it holds; the
// last component is raw so that keys sharing the prefix sort by it. Seqs are
// 8-byte big-endian so that byte order is numeric order.
//
//	meta       0x01 name                          -> value (schema version: uvarint)
//	user       0x02 userID                        -> encodeUser
//	group      0x03 groupID                       -> encodeGroup
//	message    0x04 lp(conv) seq                  -> encodeMessage (conv and seq from the key)
//	msgID      0x05 msgID                         -> lp(conv) seq
//	clientID   0x06 lp(conv) lp(sender) clientID  -> seq
//	member     0x07 lp(conv) userID               -> encodeMember (userID from the key)
//	userConv   0x08 lp(userID) conv               -> empty
//	memberCnt  0x09 conv                          -> uvarint count of members
//	live       0x0A lp(conv) seq                  -> empty: a live receipt message
//	settings   0x0B userID                        -> one byte of flags (settings.go)
//	0x0C-0x11: the webhook tables (hookkeys.go)
//
// The last seq of a conversation is not stored: it is the seq of its last
// message key, so an append writes no extra key.
const (
	prefixMeta      byte = 0x01
	prefixUser      byte = 0x02
	prefixGroup     byte = 0x03
	prefixMessage   byte = 0x04
	prefixMsgID     byte = 0x05
	prefixClientID  byte = 0x06
	prefixMember    byte = 0x07
	prefixUserConv  byte = 0x08
	prefixMemberCnt byte = 0x09
	prefixLive      byte = 0x0A
	prefixSettings  byte = 0x0B
)

var schemaKey = []byte{prefixMeta, 's', 'c', 'h', 'e', 'm', 'a'}

func appendLP(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendSeq(b []byte, seq uint64) []byte { return binary.BigEndian.AppendUint64(b, seq) }

func userKey(id string) []byte {
	return append([]byte{prefixUser}, id...)
}

func groupKey(id string) []byte {
	return append([]byte{prefixGroup}, id...)
}

// messagePrefix is the prefix of every message key of conv.
func messagePrefix(conv store.ConvID) []byte {
	return convPrefix(prefixMessage, conv, 8)
}

func convPrefix(prefix byte, conv store.ConvID, extra int) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(conv)+extra)
	b = append(b, prefix)
	return appendLP(b, string(conv))
}

func messageKey(conv store.ConvID, seq uint64) []byte {
	return appendSeq(convPrefix(prefixMessage, conv, 8), seq)
}

func msgIDKey(id string) []byte {
	return append([]byte{prefixMsgID}, id...)
}

func clientIDKey(conv store.ConvID, sender, clientMsgID string) []byte {
	b := convPrefix(prefixClientID, conv, binary.MaxVarintLen64+len(sender)+len(clientMsgID))
	b = appendLP(b, sender)
	return append(b, clientMsgID...)
}

func memberKey(conv store.ConvID, userID string) []byte {
	return append(convPrefix(prefixMember, conv, len(userID)), userID...)
}

// appendMemberKey appends memberKey's bytes to b.
func appendMemberKey(b []byte, conv store.ConvID, userID string) []byte {
	b = append(b, prefixMember)
	return append(appendLP(b, string(conv)), userID...)
}

func userConvKey(userID string, conv store.ConvID) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(userID)+len(conv))
	b = append(b, prefixUserConv)
	b = appendLP(b, userID)
	return append(b, conv...)
}

func userConvPrefix(userID string) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(userID))
	b = append(b, prefixUserConv)
	return appendLP(b, userID)
}

func liveKey(conv store.ConvID, seq uint64) []byte {
	return appendSeq(convPrefix(prefixLive, conv, 8), seq)
}

func memberCountKey(conv store.ConvID) []byte {
	return append([]byte{prefixMemberCnt}, conv...)
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

// after returns the smallest key whose last component is strictly greater
// than s: appending a zero byte is the immediate successor in byte order.
func afterKey(prefix []byte, s string) []byte {
	b := make([]byte, 0, len(prefix)+len(s)+1)
	b = append(b, prefix...)
	b = append(b, s...)
	return append(b, 0)
}

// byteReader decodes the compact values below. It records the first error
// and returns zero values afterwards, so decoders check once at the end.
type byteReader struct {
	b   []byte
	err error
}

func (r *byteReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("pebblestore: corrupt value: bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *byteReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("pebblestore: corrupt value: bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *byteReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if uint64(len(r.b)) < n {
		r.err = fmt.Errorf("pebblestore: corrupt value: short string")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *byteReader) byte1() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.err = fmt.Errorf("pebblestore: corrupt value: short")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// Value encodings start with a format byte so that a later schema can add
// fields without a migration of every value.
const valueV1 byte = 1

// encodeMember encodes m without its UserID, which is in the key. Members
// are rewritten on every watermark move, so they are kept small.
func encodeMember(m store.Member) []byte {
	return appendMember(make([]byte, 0, 1+6*binary.MaxVarintLen64+len(m.Role)), m)
}

// appendMember appends encodeMember's bytes to b.
func appendMember(b []byte, m store.Member) []byte {
	b = append(b, valueV1)
	b = binary.AppendUvarint(b, m.JoinSeq)
	b = binary.AppendUvarint(b, m.ReadSeq)
	b = binary.AppendUvarint(b, m.DeliveredSeq)
	b = binary.AppendVarint(b, m.ReadAt)
	b = binary.AppendVarint(b, m.DeliveredAt)
	b = binary.AppendVarint(b, m.JoinedAt)
	b = appendLP(b, m.Role)
	// Acks, delta-encoded: a few bytes each, none for a member who reads
	// in order. Then the own read state, only where it differs from the
	// shared one (store.OwnRead): a member who never read privately costs
	// no byte more, and records from before private reading decode with
	// own = shared.
	if len(m.Acks) > 0 || m.Own != nil {
		b = appendAcks(b, m.ReadSeq, m.Acks)
	}
	if o := m.Own; o != nil {
		b = binary.AppendUvarint(b, o.ReadSeq-m.ReadSeq)
		b = binary.AppendVarint(b, o.ReadAt)
		b = appendAcks(b, o.ReadSeq, o.Acks)
	}
	return b
}

func appendAcks(b []byte, readSeq uint64, acks []store.Ack) []byte {
	b = binary.AppendUvarint(b, uint64(len(acks)))
	prev := readSeq
	for _, a := range acks {
		b = binary.AppendUvarint(b, a.Seq-prev)
		b = binary.AppendVarint(b, a.At)
		prev = a.Seq
	}
	return b
}

func (r *byteReader) acks(readSeq uint64) []store.Ack {
	n := r.uvarint()
	if n > store.MaxAcks {
		r.err = fmt.Errorf("pebblestore: corrupt value: %d acks", n)
	}
	var acks []store.Ack
	prev := readSeq
	for i := uint64(0); i < n && r.err == nil; i++ {
		a := store.Ack{Seq: prev + r.uvarint(), At: r.varint()}
		acks = append(acks, a)
		prev = a.Seq
	}
	return acks
}

func decodeMember(userID string, v []byte) (store.Member, error) {
	r := byteReader{b: v}
	if f := r.byte1(); r.err == nil && f != valueV1 {
		return store.Member{}, fmt.Errorf("pebblestore: member value format %d unknown", f)
	}
	m := store.Member{UserID: userID}
	m.JoinSeq = r.uvarint()
	m.ReadSeq = r.uvarint()
	m.DeliveredSeq = r.uvarint()
	m.ReadAt = r.varint()
	m.DeliveredAt = r.varint()
	m.JoinedAt = r.varint()
	m.Role = r.str()
	if r.err == nil && len(r.b) > 0 {
		m.Acks = r.acks(m.ReadSeq)
	}
	if r.err == nil && len(r.b) > 0 {
		o := &store.OwnRead{ReadSeq: m.ReadSeq + r.uvarint(), ReadAt: r.varint()}
		o.Acks = r.acks(o.ReadSeq)
		m.Own = o
	}
	if r.err != nil {
		return store.Member{}, fmt.Errorf("pebblestore: member %q: %w", userID, r.err)
	}
	return m, nil
}

const (
	msgFlagReceipt byte = 1 << 0
	msgFlagSettled byte = 1 << 1
	msgFlagFrozen  byte = 1 << 2
)

// encodeMessage encodes m without Conv and Seq, which are in the key. The
// body goes last and raw, so it round-trips byte for byte (nil stays nil).
func encodeMessage(m store.Message) []byte {
	b := make([]byte, 0, 2+4*binary.MaxVarintLen64+len(m.ID)+len(m.Sender)+len(m.ClientMsgID)+len(m.Body))
	b = append(b, valueV1)
	var flags byte
	if m.Receipt {
		flags |= msgFlagReceipt
	}
	if m.Settled {
		flags |= msgFlagSettled
	}
	if m.Frozen != nil {
		flags |= msgFlagFrozen
	}
	b = append(b, flags)
	b = appendLP(b, m.ID)
	b = appendLP(b, m.Sender)
	b = appendLP(b, m.ClientMsgID)
	b = binary.AppendVarint(b, m.SentAt)
	if m.Receipt {
		b = binary.AppendVarint(b, m.ReceiptAt)
	}
	if f := m.Frozen; f != nil {
		b = binary.AppendUvarint(b, uint64(f.Read))
		b = binary.AppendUvarint(b, uint64(f.Unread))
		b = binary.AppendUvarint(b, uint64(f.Delivered))
	}
	return append(b, m.Body...)
}

func decodeMessage(conv store.ConvID, seq uint64, v []byte) (store.Message, error) {
	r := byteReader{b: v}
	if f := r.byte1(); r.err == nil && f != valueV1 {
		return store.Message{}, fmt.Errorf("pebblestore: message value format %d unknown", f)
	}
	m := store.Message{Conv: conv, Seq: seq}
	flags := r.byte1()
	m.Receipt = flags&msgFlagReceipt != 0
	m.Settled = flags&msgFlagSettled != 0
	m.ID = r.str()
	m.Sender = r.str()
	m.ClientMsgID = r.str()
	m.SentAt = r.varint()
	if m.Receipt {
		m.ReceiptAt = r.varint()
	}
	if flags&msgFlagFrozen != 0 {
		m.Frozen = &store.Frozen{Read: int(r.uvarint()), Unread: int(r.uvarint()), Delivered: int(r.uvarint())}
	}
	if r.err != nil {
		return store.Message{}, fmt.Errorf("pebblestore: message %s/%d: %w", conv, seq, r.err)
	}
	if len(r.b) > 0 {
		m.Body = append([]byte(nil), r.b...)
	}
	return m, nil
}

// messageSentAt reads the SentAt of an encoded message without decoding
// (or copying) the rest.
func messageSentAt(v []byte) (int64, error) {
	r := byteReader{b: v}
	if f := r.byte1(); r.err == nil && f != valueV1 {
		return 0, fmt.Errorf("pebblestore: message value format %d unknown", f)
	}
	r.byte1()     // flags
	for range 3 { // id, sender, clientMsgId
		n := r.uvarint()
		if r.err == nil && uint64(len(r.b)) < n {
			r.err = fmt.Errorf("pebblestore: corrupt value: short string")
		}
		if r.err == nil {
			r.b = r.b[n:]
		}
	}
	at := r.varint()
	return at, r.err
}

// encodeMsgRef is the value of a msgID key: where the message lives.
func encodeMsgRef(conv store.ConvID, seq uint64) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(conv)+8)
	return appendSeq(appendLP(b, string(conv)), seq)
}

func decodeMsgRef(v []byte) (store.ConvID, uint64, error) {
	r := byteReader{b: v}
	conv := r.str()
	if r.err != nil || len(r.b) != 8 {
		return "", 0, fmt.Errorf("pebblestore: corrupt message reference")
	}
	return store.ConvID(conv), binary.BigEndian.Uint64(r.b), nil
}

// seqFromMessageKey returns the seq at the end of a message key.
func seqFromMessageKey(k []byte) uint64 {
	return binary.BigEndian.Uint64(k[len(k)-8:])
}

func encodeUser(u store.User) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64*2+len(u.Name))
	b = append(b, valueV1)
	b = binary.AppendVarint(b, u.CreatedAt)
	b = appendLP(b, u.Name)
	// Flags are a trailing byte, written only when set: records written
	// before it existed read as no flags.
	if u.Demo {
		b = append(b, userFlagDemo)
	}
	return b
}

// userFlagDemo marks a user created by the demo token endpoint.
const userFlagDemo byte = 1

func decodeUser(id string, v []byte) (store.User, error) {
	r := byteReader{b: v}
	if f := r.byte1(); r.err == nil && f != valueV1 {
		return store.User{}, fmt.Errorf("pebblestore: user value format %d unknown", f)
	}
	u := store.User{ID: id}
	u.CreatedAt = r.varint()
	u.Name = r.str()
	if r.err == nil && len(r.b) > 0 {
		u.Demo = r.byte1()&userFlagDemo != 0
	}
	if r.err != nil {
		return store.User{}, fmt.Errorf("pebblestore: user %q: %w", id, r.err)
	}
	return u, nil
}

func encodeGroup(g store.Group) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64*3+len(g.Type)+len(g.CreatedBy))
	b = append(b, valueV1)
	b = binary.AppendVarint(b, g.CreatedAt)
	b = appendLP(b, g.Type)
	return appendLP(b, g.CreatedBy)
}

func decodeGroup(id string, v []byte) (store.Group, error) {
	r := byteReader{b: v}
	if f := r.byte1(); r.err == nil && f != valueV1 {
		return store.Group{}, fmt.Errorf("pebblestore: group value format %d unknown", f)
	}
	g := store.Group{ID: id}
	g.CreatedAt = r.varint()
	g.Type = r.str()
	g.CreatedBy = r.str()
	if r.err != nil {
		return store.Group{}, fmt.Errorf("pebblestore: group %q: %w", id, r.err)
	}
	return g, nil
}
