// Package storemetrics wraps any store.Store so that every call's latency
// and outcome lands in a Prometheus histogram.
package storemetrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seen-im/seen/internal/store"
)

// Store is an instrumented store.Store.
type Store struct {
	next store.Store
	hist *prometheus.HistogramVec // labels: op, result
}

var _ store.Store = (*Store)(nil)

// Wrap instruments next; hist must have the labels "op" and "result".
func Wrap(next store.Store, hist *prometheus.HistogramVec) *Store {
	return &Store{next: next, hist: hist}
}

func (s *Store) observe(op string, start time.Time, err error) {
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, store.ErrNotFound):
		result = "not_found"
	case errors.Is(err, store.ErrExists):
		result = "exists"
	default:
		result = "error"
	}
	s.hist.WithLabelValues(op, result).Observe(time.Since(start).Seconds())
}

func (s *Store) PutUser(ctx context.Context, u store.User) (created bool, err error) {
	defer func(t time.Time) { s.observe("put_user", t, err) }(time.Now())
	return s.next.PutUser(ctx, u)
}

func (s *Store) GetUser(ctx context.Context, id string) (u store.User, err error) {
	defer func(t time.Time) { s.observe("get_user", t, err) }(time.Now())
	return s.next.GetUser(ctx, id)
}

func (s *Store) CreateGroup(ctx context.Context, g store.Group, members []store.Member) (err error) {
	defer func(t time.Time) { s.observe("create_group", t, err) }(time.Now())
	return s.next.CreateGroup(ctx, g, members)
}

func (s *Store) GetGroup(ctx context.Context, id string) (g store.Group, err error) {
	defer func(t time.Time) { s.observe("get_group", t, err) }(time.Now())
	return s.next.GetGroup(ctx, id)
}

func (s *Store) AddMembers(ctx context.Context, conv store.ConvID, members []store.Member) (added []store.Member, err error) {
	defer func(t time.Time) { s.observe("add_members", t, err) }(time.Now())
	return s.next.AddMembers(ctx, conv, members)
}

func (s *Store) RemoveMember(ctx context.Context, conv store.ConvID, userID string) (err error) {
	defer func(t time.Time) { s.observe("remove_member", t, err) }(time.Now())
	return s.next.RemoveMember(ctx, conv, userID)
}

func (s *Store) SetRole(ctx context.Context, conv store.ConvID, userID, role string) (err error) {
	defer func(t time.Time) { s.observe("set_role", t, err) }(time.Now())
	return s.next.SetRole(ctx, conv, userID, role)
}

func (s *Store) GetMember(ctx context.Context, conv store.ConvID, userID string) (m store.Member, err error) {
	defer func(t time.Time) { s.observe("get_member", t, err) }(time.Now())
	return s.next.GetMember(ctx, conv, userID)
}

func (s *Store) ListMembers(ctx context.Context, conv store.ConvID, after string, limit int) (ms []store.Member, err error) {
	defer func(t time.Time) { s.observe("list_members", t, err) }(time.Now())
	return s.next.ListMembers(ctx, conv, after, limit)
}

func (s *Store) CountMembers(ctx context.Context, conv store.ConvID) (n int, err error) {
	defer func(t time.Time) { s.observe("count_members", t, err) }(time.Now())
	return s.next.CountMembers(ctx, conv)
}

func (s *Store) ConversationsOf(ctx context.Context, userID string, after store.ConvID, limit int) (ids []store.ConvID, err error) {
	defer func(t time.Time) { s.observe("conversations_of", t, err) }(time.Now())
	return s.next.ConversationsOf(ctx, userID, after, limit)
}

func (s *Store) Append(ctx context.Context, m store.Message) (stored store.Message, existed bool, err error) {
	defer func(t time.Time) { s.observe("append", t, err) }(time.Now())
	return s.next.Append(ctx, m)
}

func (s *Store) GetMessage(ctx context.Context, msgID string) (m store.Message, err error) {
	defer func(t time.Time) { s.observe("get_message", t, err) }(time.Now())
	return s.next.GetMessage(ctx, msgID)
}

func (s *Store) History(ctx context.Context, conv store.ConvID, beforeSeq, minSeq uint64, limit int) (ms []store.Message, err error) {
	defer func(t time.Time) { s.observe("history", t, err) }(time.Now())
	return s.next.History(ctx, conv, beforeSeq, minSeq, limit)
}

func (s *Store) LastSeq(ctx context.Context, conv store.ConvID) (seq uint64, err error) {
	defer func(t time.Time) { s.observe("last_seq", t, err) }(time.Now())
	return s.next.LastSeq(ctx, conv)
}

func (s *Store) AdvanceRead(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (m store.Member, changed bool, err error) {
	defer func(t time.Time) { s.observe("advance_read", t, err) }(time.Now())
	return s.next.AdvanceRead(ctx, conv, userID, seq, at)
}

func (s *Store) AdvanceDelivered(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (m store.Member, changed bool, err error) {
	defer func(t time.Time) { s.observe("advance_delivered", t, err) }(time.Now())
	return s.next.AdvanceDelivered(ctx, conv, userID, seq, at)
}

func (s *Store) Close() error { return s.next.Close() }

func (s *Store) AckOne(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (m store.Member, changed bool, err error) {
	defer func(t time.Time) { s.observe("ack_one", t, err) }(time.Now())
	return s.next.AckOne(ctx, conv, userID, seq, at)
}

func (s *Store) MessageAt(ctx context.Context, conv store.ConvID, seq uint64) (m store.Message, err error) {
	defer func(t time.Time) { s.observe("message_at", t, err) }(time.Now())
	return s.next.MessageAt(ctx, conv, seq)
}

func (s *Store) RequestReceipt(ctx context.Context, conv store.ConvID, seq uint64, at int64) (m store.Message, changed bool, err error) {
	defer func(t time.Time) { s.observe("request_receipt", t, err) }(time.Now())
	return s.next.RequestReceipt(ctx, conv, seq, at)
}

func (s *Store) SettleReceipt(ctx context.Context, conv store.ConvID, seq uint64, frozen *store.Frozen) (err error) {
	defer func(t time.Time) { s.observe("settle_receipt", t, err) }(time.Now())
	return s.next.SettleReceipt(ctx, conv, seq, frozen)
}

func (s *Store) LiveReceipts(ctx context.Context, conv store.ConvID) (ms []store.Message, err error) {
	defer func(t time.Time) { s.observe("live_receipts", t, err) }(time.Now())
	return s.next.LiveReceipts(ctx, conv)
}
