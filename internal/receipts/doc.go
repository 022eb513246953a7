// Package receipts is Seen's receipt engine: per-conversation read and
// delivery state kept as watermarks, from which read, unread and delivered
// counts and member lists of any message are answered in O(log members).
//
// The engine is pure: it imports only the standard library, does no I/O,
// starts no goroutines and never reads the clock (times are passed in as
// Unix milliseconds). The caller loads members with [Conv.Restore] and
// tracked messages with [Conv.Track], applies acks, persists the member
// states and frozen counts the engine returns, then publishes.
//
// # Model
//
// Each member has a joinSeq (the first seq it can see), a read watermark
// readSeq (every message up to it is read; it starts at joinSeq-1), a
// delivery watermark deliveredSeq (>= readSeq: a read implies delivered),
// and a small sparse set of single-message read acks above readSeq. When
// readSeq reaches or passes sparse acks they are folded in and dropped, and
// readSeq+1 is never a sparse ack. For message s sent by u, the eligible
// members are those with joinSeq <= s, u excluded, and
//
//	read(s)      = #{joinSeq <= s} - #{readSeq < s} + #{sparse acks at s}
//	delivered(s) = #{joinSeq <= s} - #{deliveredSeq < s} + #{sparse acks at s above deliveredSeq}
//
// minus u's own share. (A member with readSeq < s has joinSeq <= s, so the
// subtraction never counts a late joiner.) Each term is a rank query in a
// counted B+ tree.
//
// # Concurrency
//
// A Conv is not safe for concurrent use: the caller holds one lock per
// conversation around every call, reads included (listing walks the
// indexes).
package receipts
