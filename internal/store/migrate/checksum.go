package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"github.com/seen-im/seen/internal/store"
)

// Checksum is SHA-256 over a canonical encoding of everything st holds for
// conv, read through the store interface: its last seq and member count,
// each member record in user id order, each message record newest first.
// Two stores that answer every read of conv alike give the same checksum,
// whatever their own encodings.
func Checksum(ctx context.Context, st store.Store, conv store.ConvID) ([sha256.Size]byte, error) {
	h := enc{h: sha256.New()}
	h.str(string(conv))
	last, err := st.LastSeq(ctx, conv)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	h.u64(last)
	count, err := st.CountMembers(ctx, conv)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	h.u64(uint64(count))
	for after := ""; ; {
		ms, err := st.ListMembers(ctx, conv, after, batch)
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		for _, m := range ms {
			h.member(m)
		}
		if len(ms) < batch {
			break
		}
		after = ms[len(ms)-1].UserID
	}
	for before := uint64(0); ; {
		ms, err := st.History(ctx, conv, before, 0, batch)
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		for _, m := range ms {
			h.message(m)
		}
		if len(ms) < batch {
			break
		}
		before = ms[len(ms)-1].Seq
	}
	var sum [sha256.Size]byte
	h.h.Sum(sum[:0])
	return sum, nil
}

// enc writes fields unambiguously: numbers fixed-width, strings and bytes
// length-prefixed, so no two records encode alike.
type enc struct {
	h   hash.Hash
	buf [8]byte
}

func (e *enc) u64(v uint64) {
	binary.BigEndian.PutUint64(e.buf[:], v)
	e.h.Write(e.buf[:])
}

func (e *enc) i64(v int64) { e.u64(uint64(v)) }

func (e *enc) bool(b bool) {
	if b {
		e.u64(1)
	} else {
		e.u64(0)
	}
}

func (e *enc) str(s string) {
	e.u64(uint64(len(s)))
	e.h.Write([]byte(s))
}

func (e *enc) member(m store.Member) {
	e.str("member")
	e.str(m.UserID)
	e.str(m.Role)
	e.u64(m.JoinSeq)
	e.u64(m.ReadSeq)
	e.u64(m.DeliveredSeq)
	e.i64(m.ReadAt)
	e.i64(m.DeliveredAt)
	e.i64(m.JoinedAt)
	e.u64(uint64(len(m.Acks)))
	for _, a := range m.Acks {
		e.u64(a.Seq)
		e.i64(a.At)
	}
	// The own read state, where it differs from the shared one (both
	// stores return it so).
	e.bool(m.Own != nil)
	if o := m.Own; o != nil {
		e.u64(o.ReadSeq)
		e.i64(o.ReadAt)
		e.u64(uint64(len(o.Acks)))
		for _, a := range o.Acks {
			e.u64(a.Seq)
			e.i64(a.At)
		}
	}
}

func (e *enc) message(m store.Message) {
	e.str("message")
	e.str(m.ID)
	e.str(string(m.Conv))
	e.u64(m.Seq)
	e.str(m.Sender)
	e.str(m.ClientMsgID)
	e.str(string(m.Body)) // byte for byte
	e.i64(m.SentAt)
	e.bool(m.Receipt)
	e.i64(m.ReceiptAt)
	e.bool(m.Settled)
	e.bool(m.Frozen != nil)
	if f := m.Frozen; f != nil {
		e.i64(int64(f.Read))
		e.i64(int64(f.Unread))
		e.i64(int64(f.Delivered))
	}
}
