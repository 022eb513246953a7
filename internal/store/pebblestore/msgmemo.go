package pebblestore

import (
	"sync"

	"github.com/seen-im/seen/internal/store"
)

// Every read ack looks its message up by id (two pebble lookups: the id's
// reference, then the message). Acks go to recent messages, so the store
// keeps the messages it appended lately in a msgMemo.
//
// The memo is filled by Append, under the conversation's mutex after the
// batch is applied, and a write that changes a message (a receipt
// requested or settled) puts the new version under the same mutex, so it
// never holds a value older than what is on disk. Readers never fill it.
//
// It also finds a message by its conversation and seq (bySeq), the lookup
// of a coalescing window's flush and of a receipt settled: a pebble read
// and a decode each, once per message read by a group.

const (
	// msgMemoEntries bounds the memo: two generations of half as many.
	msgMemoEntries = 1 << 15
	// msgMemoMaxBody keeps large messages out, so the memo stays within
	// a few tens of megabytes.
	msgMemoMaxBody = 1 << 10
)

// msgMemo is a two-generation cache of messages by id: when the current
// generation is full it becomes the previous one and the oldest is
// dropped, which approximates least-recently-added eviction at the cost of
// one map swap.
type msgMemo struct {
	mu        sync.RWMutex
	cur, prev map[string]store.Message // guarded by mu
	// curSeq and prevSeq give the id of a message of cur and prev by its
	// place: an entry whose id was forgotten, or whose message is not at
	// that place (getSeq checks), is a miss.
	curSeq, prevSeq map[msgPlace]string // guarded by mu
}

// msgPlace is a message's conversation and seq.
type msgPlace struct {
	conv store.ConvID
	seq  uint64
}

func (mm *msgMemo) put(m store.Message) {
	if len(m.Body) > msgMemoMaxBody {
		return
	}
	if m.Frozen != nil {
		f := *m.Frozen // the memo's own: get hands out copies too
		m.Frozen = &f
	}
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if len(mm.cur) >= msgMemoEntries/2 {
		mm.prev, mm.cur = mm.cur, nil
		mm.prevSeq, mm.curSeq = mm.curSeq, nil
	}
	if mm.cur == nil {
		mm.cur = make(map[string]store.Message)
		mm.curSeq = make(map[msgPlace]string)
	}
	mm.cur[m.ID] = m
	mm.curSeq[msgPlace{m.Conv, m.Seq}] = m.ID
}

// getSeq returns a copy of message seq of conv, as get does.
func (mm *msgMemo) getSeq(conv store.ConvID, seq uint64) (store.Message, bool) {
	p := msgPlace{conv, seq}
	mm.mu.RLock()
	id, ok := mm.curSeq[p]
	if !ok {
		id, ok = mm.prevSeq[p]
	}
	mm.mu.RUnlock()
	if !ok {
		return store.Message{}, false
	}
	m, ok := mm.get(id)
	if !ok || m.Conv != conv || m.Seq != seq {
		return store.Message{}, false
	}
	return m, true
}

func (mm *msgMemo) forget(id string) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	delete(mm.cur, id)
	delete(mm.prev, id)
}

// get returns a copy of the message; its Body is shared and must not be
// modified.
func (mm *msgMemo) get(id string) (store.Message, bool) {
	mm.mu.RLock()
	m, ok := mm.cur[id]
	if !ok {
		m, ok = mm.prev[id]
	}
	mm.mu.RUnlock()
	if ok && m.Frozen != nil {
		f := *m.Frozen
		m.Frozen = &f
	}
	return m, ok
}
