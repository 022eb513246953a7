// Package storewrap wraps any store.Store so that every call runs through
// one hook: the server uses it to time store calls into Prometheus, tests
// to inject failures and stalls. One wrapper keeps the list of methods in
// one place.
package storewrap

import (
	"context"
	"time"

	"github.com/seen-im/seen/internal/store"
)

// Hook runs around every store call. It is two methods, not one taking
// the call as a closure: a closure capturing a call's results sends them
// to the heap, about a dozen allocations per read ack, every ack.
type Hook interface {
	// Before is called ahead of the call op ("append", "ack_one", ...).
	// An error is returned in place of making the call; After is called
	// with it all the same.
	Before(ctx context.Context, op string) (Call, error)
	// After is called with the call's error (or Before's) and returns
	// what the call returns.
	After(c Call, err error) error
}

// Call is what Before hands to After about one call.
type Call struct {
	Op    string
	Start time.Time
	// Ref is the hook's own, for After: what Before looked up for op
	// (the metrics' instruments), so After need not look it up again.
	// A pointer costs no allocation here.
	Ref any
}

// BeforeFunc is a Hook that runs a function ahead of every call, for tests
// and fault injection: its error is returned in place of the call's.
type BeforeFunc func(ctx context.Context, op string) error

// Before implements Hook.
func (f BeforeFunc) Before(ctx context.Context, op string) (Call, error) {
	return Call{Op: op}, f(ctx, op)
}

// After implements Hook.
func (BeforeFunc) After(_ Call, err error) error { return err }

// Store is a store.Store whose every call goes through a Hook.
type Store struct {
	next store.Store
	hook Hook
}

var _ store.Store = (*Store)(nil)

// Wrap returns next with every call run through hook.
func Wrap(next store.Store, hook Hook) *Store {
	return &Store{next: next, hook: hook}
}

// PutUser implements store.Store.
func (s *Store) PutUser(ctx context.Context, u store.User) (created bool, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "put_user"); err == nil {
		created, err = s.next.PutUser(ctx, u)
	}
	err = s.hook.After(c, err)
	return
}

// GetUser implements store.Store.
func (s *Store) GetUser(ctx context.Context, id string) (u store.User, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "get_user"); err == nil {
		u, err = s.next.GetUser(ctx, id)
	}
	err = s.hook.After(c, err)
	return
}

// CreateGroup implements store.Store.
func (s *Store) CreateGroup(ctx context.Context, g store.Group, members []store.Member) (err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "create_group"); err == nil {
		err = s.next.CreateGroup(ctx, g, members)
	}
	err = s.hook.After(c, err)
	return
}

// GetGroup implements store.Store.
func (s *Store) GetGroup(ctx context.Context, id string) (g store.Group, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "get_group"); err == nil {
		g, err = s.next.GetGroup(ctx, id)
	}
	err = s.hook.After(c, err)
	return
}

// DeleteGroup implements store.Store.
func (s *Store) DeleteGroup(ctx context.Context, id string) (err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "delete_group"); err == nil {
		err = s.next.DeleteGroup(ctx, id)
	}
	err = s.hook.After(c, err)
	return
}

// AddMembers implements store.Store.
func (s *Store) AddMembers(ctx context.Context, conv store.ConvID, members []store.Member) (added []store.Member, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "add_members"); err == nil {
		added, err = s.next.AddMembers(ctx, conv, members)
	}
	err = s.hook.After(c, err)
	return
}

// RemoveMember implements store.Store.
func (s *Store) RemoveMember(ctx context.Context, conv store.ConvID, userID string) (err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "remove_member"); err == nil {
		err = s.next.RemoveMember(ctx, conv, userID)
	}
	err = s.hook.After(c, err)
	return
}

// SetRole implements store.Store.
func (s *Store) SetRole(ctx context.Context, conv store.ConvID, userID, role string) (err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "set_role"); err == nil {
		err = s.next.SetRole(ctx, conv, userID, role)
	}
	err = s.hook.After(c, err)
	return
}

// GetMember implements store.Store.
func (s *Store) GetMember(ctx context.Context, conv store.ConvID, userID string) (m store.Member, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "get_member"); err == nil {
		m, err = s.next.GetMember(ctx, conv, userID)
	}
	err = s.hook.After(c, err)
	return
}

// ListMembers implements store.Store.
func (s *Store) ListMembers(ctx context.Context, conv store.ConvID, after string, limit int) (ms []store.Member, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "list_members"); err == nil {
		ms, err = s.next.ListMembers(ctx, conv, after, limit)
	}
	err = s.hook.After(c, err)
	return
}

// CountMembers implements store.Store.
func (s *Store) CountMembers(ctx context.Context, conv store.ConvID) (n int, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "count_members"); err == nil {
		n, err = s.next.CountMembers(ctx, conv)
	}
	err = s.hook.After(c, err)
	return
}

// ConversationsActivity implements store.Store.
func (s *Store) ConversationsActivity(ctx context.Context, userID string) (out []store.ConvActivity, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "conversations_activity"); err == nil {
		out, err = s.next.ConversationsActivity(ctx, userID)
	}
	err = s.hook.After(c, err)
	return
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, m store.Message) (stored store.Message, existed bool, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "append"); err == nil {
		stored, existed, err = s.next.Append(ctx, m)
	}
	err = s.hook.After(c, err)
	return
}

// GetMessage implements store.Store.
func (s *Store) GetMessage(ctx context.Context, msgID string) (m store.Message, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "get_message"); err == nil {
		m, err = s.next.GetMessage(ctx, msgID)
	}
	err = s.hook.After(c, err)
	return
}

// MessagesAt implements store.Store.
func (s *Store) MessagesAt(ctx context.Context, refs []store.MsgRef) (ms []store.Message, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "messages_at"); err == nil {
		ms, err = s.next.MessagesAt(ctx, refs)
	}
	err = s.hook.After(c, err)
	return
}

// GetMembers implements store.Store.
func (s *Store) GetMembers(ctx context.Context, refs []store.MemberRef) (ms []store.Member, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "get_members"); err == nil {
		ms, err = s.next.GetMembers(ctx, refs)
	}
	err = s.hook.After(c, err)
	return
}

// GetMessages implements store.Store.
func (s *Store) GetMessages(ctx context.Context, ids []string) (ms []store.Message, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "get_messages"); err == nil {
		ms, err = s.next.GetMessages(ctx, ids)
	}
	err = s.hook.After(c, err)
	return
}

// Find implements store.Store.
func (s *Store) Find(ctx context.Context, q store.Lookup) (f store.Found, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "find"); err == nil {
		f, err = s.next.Find(ctx, q)
	}
	err = s.hook.After(c, err)
	return
}

// History implements store.Store.
func (s *Store) History(ctx context.Context, conv store.ConvID, beforeSeq, minSeq uint64, limit int) (ms []store.Message, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "history"); err == nil {
		ms, err = s.next.History(ctx, conv, beforeSeq, minSeq, limit)
	}
	err = s.hook.After(c, err)
	return
}

// LastSeq implements store.Store.
func (s *Store) LastSeq(ctx context.Context, conv store.ConvID) (seq uint64, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "last_seq"); err == nil {
		seq, err = s.next.LastSeq(ctx, conv)
	}
	err = s.hook.After(c, err)
	return
}

// MessageAt implements store.Store.
func (s *Store) MessageAt(ctx context.Context, conv store.ConvID, seq uint64) (m store.Message, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "message_at"); err == nil {
		m, err = s.next.MessageAt(ctx, conv, seq)
	}
	err = s.hook.After(c, err)
	return
}

// AdvanceRead implements store.Store.
func (s *Store) AdvanceRead(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (m store.Member, changed bool, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "advance_read"); err == nil {
		m, changed, err = s.next.AdvanceRead(ctx, conv, userID, seq, at)
	}
	err = s.hook.After(c, err)
	return
}

// AdvanceDelivered implements store.Store.
func (s *Store) AdvanceDelivered(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (m store.Member, changed bool, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "advance_delivered"); err == nil {
		m, changed, err = s.next.AdvanceDelivered(ctx, conv, userID, seq, at)
	}
	err = s.hook.After(c, err)
	return
}

// AckOne implements store.Store.
func (s *Store) AckOne(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (m store.Member, changed bool, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "ack_one"); err == nil {
		m, changed, err = s.next.AckOne(ctx, conv, userID, seq, at)
	}
	err = s.hook.After(c, err)
	return
}

// AckMany implements store.Store.
func (s *Store) AckMany(ctx context.Context, conv store.ConvID, userID string, seqs []uint64, at int64) (m store.Member, changed []bool, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "ack_many"); err == nil {
		m, changed, err = s.next.AckMany(ctx, conv, userID, seqs, at)
	}
	err = s.hook.After(c, err)
	return
}

// AdvanceOwnRead implements store.Store.
func (s *Store) AdvanceOwnRead(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (m store.Member, changed bool, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "advance_own_read"); err == nil {
		m, changed, err = s.next.AdvanceOwnRead(ctx, conv, userID, seq, at)
	}
	err = s.hook.After(c, err)
	return
}

// AckManyOwn implements store.Store.
func (s *Store) AckManyOwn(ctx context.Context, conv store.ConvID, userID string, seqs []uint64, at int64) (m store.Member, changed []bool, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "ack_many_own"); err == nil {
		m, changed, err = s.next.AckManyOwn(ctx, conv, userID, seqs, at)
	}
	err = s.hook.After(c, err)
	return
}

// GetSettings implements store.Store.
func (s *Store) GetSettings(ctx context.Context, userID string) (st store.Settings, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "get_settings"); err == nil {
		st, err = s.next.GetSettings(ctx, userID)
	}
	err = s.hook.After(c, err)
	return
}

// UpdateSettings implements store.Store.
func (s *Store) UpdateSettings(ctx context.Context, userID string, shareReads, shareDelivery *bool) (st store.Settings, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "update_settings"); err == nil {
		st, err = s.next.UpdateSettings(ctx, userID, shareReads, shareDelivery)
	}
	err = s.hook.After(c, err)
	return
}

// RequestReceipt implements store.Store.
func (s *Store) RequestReceipt(ctx context.Context, conv store.ConvID, seq uint64, at int64) (m store.Message, changed bool, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "request_receipt"); err == nil {
		m, changed, err = s.next.RequestReceipt(ctx, conv, seq, at)
	}
	err = s.hook.After(c, err)
	return
}

// SettleReceipt implements store.Store.
func (s *Store) SettleReceipt(ctx context.Context, conv store.ConvID, seq uint64, frozen *store.Frozen) (err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "settle_receipt"); err == nil {
		err = s.next.SettleReceipt(ctx, conv, seq, frozen)
	}
	err = s.hook.After(c, err)
	return
}

// SettleDone implements store.Store.
func (s *Store) SettleDone(ctx context.Context, conv store.ConvID, seqs []uint64) (err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "settle_done"); err == nil {
		err = s.next.SettleDone(ctx, conv, seqs)
	}
	err = s.hook.After(c, err)
	return
}

// LiveReceipts implements store.Store.
func (s *Store) LiveReceipts(ctx context.Context, conv store.ConvID) (ms []store.Message, err error) {
	var c Call
	if c, err = s.hook.Before(ctx, "live_receipts"); err == nil {
		ms, err = s.next.LiveReceipts(ctx, conv)
	}
	err = s.hook.After(c, err)
	return
}

// Close closes the wrapped store; it does not go through the hook.
func (s *Store) Close() error { return s.next.Close() }
