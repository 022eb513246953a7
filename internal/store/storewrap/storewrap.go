// Package storewrap wraps any store.Store so that every call runs through
// one hook: the server uses it to time store calls into Prometheus, tests
// to inject failures and stalls. One wrapper keeps the list of methods in
// one place.
package storewrap

import (
	"context"

	"github.com/seen-im/seen/internal/store"
)

// Around runs one store call: op names it ("append", "ack_one", ...) and
// call performs it. It must either call call once and return its error, or
// not call it and return an error of its own.
type Around func(ctx context.Context, op string, call func() error) error

// Store is a store.Store whose every call goes through an Around hook.
type Store struct {
	next   store.Store
	around Around
}

var _ store.Store = (*Store)(nil)

// Wrap returns next with every call run through around.
func Wrap(next store.Store, around Around) *Store {
	return &Store{next: next, around: around}
}

// PutUser implements store.Store.
func (s *Store) PutUser(ctx context.Context, u store.User) (created bool, err error) {
	err = s.around(ctx, "put_user", func() error {
		created, err = s.next.PutUser(ctx, u)
		return err
	})
	return
}

// GetUser implements store.Store.
func (s *Store) GetUser(ctx context.Context, id string) (u store.User, err error) {
	err = s.around(ctx, "get_user", func() error {
		u, err = s.next.GetUser(ctx, id)
		return err
	})
	return
}

// CreateGroup implements store.Store.
func (s *Store) CreateGroup(ctx context.Context, g store.Group, members []store.Member) (err error) {
	err = s.around(ctx, "create_group", func() error {
		err = s.next.CreateGroup(ctx, g, members)
		return err
	})
	return
}

// GetGroup implements store.Store.
func (s *Store) GetGroup(ctx context.Context, id string) (g store.Group, err error) {
	err = s.around(ctx, "get_group", func() error {
		g, err = s.next.GetGroup(ctx, id)
		return err
	})
	return
}

// DeleteGroup implements store.Store.
func (s *Store) DeleteGroup(ctx context.Context, id string) (err error) {
	err = s.around(ctx, "delete_group", func() error {
		err = s.next.DeleteGroup(ctx, id)
		return err
	})
	return
}

// AddMembers implements store.Store.
func (s *Store) AddMembers(ctx context.Context, conv store.ConvID, members []store.Member) (added []store.Member, err error) {
	err = s.around(ctx, "add_members", func() error {
		added, err = s.next.AddMembers(ctx, conv, members)
		return err
	})
	return
}

// RemoveMember implements store.Store.
func (s *Store) RemoveMember(ctx context.Context, conv store.ConvID, userID string) (err error) {
	err = s.around(ctx, "remove_member", func() error {
		err = s.next.RemoveMember(ctx, conv, userID)
		return err
	})
	return
}

// SetRole implements store.Store.
func (s *Store) SetRole(ctx context.Context, conv store.ConvID, userID, role string) (err error) {
	err = s.around(ctx, "set_role", func() error {
		err = s.next.SetRole(ctx, conv, userID, role)
		return err
	})
	return
}

// GetMember implements store.Store.
func (s *Store) GetMember(ctx context.Context, conv store.ConvID, userID string) (m store.Member, err error) {
	err = s.around(ctx, "get_member", func() error {
		m, err = s.next.GetMember(ctx, conv, userID)
		return err
	})
	return
}

// ListMembers implements store.Store.
func (s *Store) ListMembers(ctx context.Context, conv store.ConvID, after string, limit int) (ms []store.Member, err error) {
	err = s.around(ctx, "list_members", func() error {
		ms, err = s.next.ListMembers(ctx, conv, after, limit)
		return err
	})
	return
}

// CountMembers implements store.Store.
func (s *Store) CountMembers(ctx context.Context, conv store.ConvID) (n int, err error) {
	err = s.around(ctx, "count_members", func() error {
		n, err = s.next.CountMembers(ctx, conv)
		return err
	})
	return
}

// ConversationsActivity implements store.Store.
func (s *Store) ConversationsActivity(ctx context.Context, userID string) (out []store.ConvActivity, err error) {
	err = s.around(ctx, "conversations_activity", func() error {
		out, err = s.next.ConversationsActivity(ctx, userID)
		return err
	})
	return
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, m store.Message) (stored store.Message, existed bool, err error) {
	err = s.around(ctx, "append", func() error {
		stored, existed, err = s.next.Append(ctx, m)
		return err
	})
	return
}

// GetMessage implements store.Store.
func (s *Store) GetMessage(ctx context.Context, msgID string) (m store.Message, err error) {
	err = s.around(ctx, "get_message", func() error {
		m, err = s.next.GetMessage(ctx, msgID)
		return err
	})
	return
}

// MessagesAt implements store.Store.
func (s *Store) MessagesAt(ctx context.Context, refs []store.MsgRef) (ms []store.Message, err error) {
	err = s.around(ctx, "messages_at", func() error {
		ms, err = s.next.MessagesAt(ctx, refs)
		return err
	})
	return
}

// GetMembers implements store.Store.
func (s *Store) GetMembers(ctx context.Context, refs []store.MemberRef) (ms []store.Member, err error) {
	err = s.around(ctx, "get_members", func() error {
		ms, err = s.next.GetMembers(ctx, refs)
		return err
	})
	return
}

// GetMessages implements store.Store.
func (s *Store) GetMessages(ctx context.Context, ids []string) (ms []store.Message, err error) {
	err = s.around(ctx, "get_messages", func() error {
		ms, err = s.next.GetMessages(ctx, ids)
		return err
	})
	return
}

// Find implements store.Store.
func (s *Store) Find(ctx context.Context, q store.Lookup) (f store.Found, err error) {
	err = s.around(ctx, "find", func() error {
		f, err = s.next.Find(ctx, q)
		return err
	})
	return
}

// History implements store.Store.
func (s *Store) History(ctx context.Context, conv store.ConvID, beforeSeq, minSeq uint64, limit int) (ms []store.Message, err error) {
	err = s.around(ctx, "history", func() error {
		ms, err = s.next.History(ctx, conv, beforeSeq, minSeq, limit)
		return err
	})
	return
}

// LastSeq implements store.Store.
func (s *Store) LastSeq(ctx context.Context, conv store.ConvID) (seq uint64, err error) {
	err = s.around(ctx, "last_seq", func() error {
		seq, err = s.next.LastSeq(ctx, conv)
		return err
	})
	return
}

// MessageAt implements store.Store.
func (s *Store) MessageAt(ctx context.Context, conv store.ConvID, seq uint64) (m store.Message, err error) {
	err = s.around(ctx, "message_at", func() error {
		m, err = s.next.MessageAt(ctx, conv, seq)
		return err
	})
	return
}

// AdvanceRead implements store.Store.
func (s *Store) AdvanceRead(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (m store.Member, changed bool, err error) {
	err = s.around(ctx, "advance_read", func() error {
		m, changed, err = s.next.AdvanceRead(ctx, conv, userID, seq, at)
		return err
	})
	return
}

// AdvanceDelivered implements store.Store.
func (s *Store) AdvanceDelivered(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (m store.Member, changed bool, err error) {
	err = s.around(ctx, "advance_delivered", func() error {
		m, changed, err = s.next.AdvanceDelivered(ctx, conv, userID, seq, at)
		return err
	})
	return
}

// AckOne implements store.Store.
func (s *Store) AckOne(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (m store.Member, changed bool, err error) {
	err = s.around(ctx, "ack_one", func() error {
		m, changed, err = s.next.AckOne(ctx, conv, userID, seq, at)
		return err
	})
	return
}

// AckMany implements store.Store.
func (s *Store) AckMany(ctx context.Context, conv store.ConvID, userID string, seqs []uint64, at int64) (m store.Member, changed []bool, err error) {
	err = s.around(ctx, "ack_many", func() error {
		m, changed, err = s.next.AckMany(ctx, conv, userID, seqs, at)
		return err
	})
	return
}

// AdvanceOwnRead implements store.Store.
func (s *Store) AdvanceOwnRead(ctx context.Context, conv store.ConvID, userID string, seq uint64, at int64) (m store.Member, changed bool, err error) {
	err = s.around(ctx, "advance_own_read", func() error {
		m, changed, err = s.next.AdvanceOwnRead(ctx, conv, userID, seq, at)
		return err
	})
	return
}

// AckManyOwn implements store.Store.
func (s *Store) AckManyOwn(ctx context.Context, conv store.ConvID, userID string, seqs []uint64, at int64) (m store.Member, changed []bool, err error) {
	err = s.around(ctx, "ack_many_own", func() error {
		m, changed, err = s.next.AckManyOwn(ctx, conv, userID, seqs, at)
		return err
	})
	return
}

// GetSettings implements store.Store.
func (s *Store) GetSettings(ctx context.Context, userID string) (st store.Settings, err error) {
	err = s.around(ctx, "get_settings", func() error {
		st, err = s.next.GetSettings(ctx, userID)
		return err
	})
	return
}

// UpdateSettings implements store.Store.
func (s *Store) UpdateSettings(ctx context.Context, userID string, shareReads, shareDelivery *bool) (st store.Settings, err error) {
	err = s.around(ctx, "update_settings", func() error {
		st, err = s.next.UpdateSettings(ctx, userID, shareReads, shareDelivery)
		return err
	})
	return
}

// RequestReceipt implements store.Store.
func (s *Store) RequestReceipt(ctx context.Context, conv store.ConvID, seq uint64, at int64) (m store.Message, changed bool, err error) {
	err = s.around(ctx, "request_receipt", func() error {
		m, changed, err = s.next.RequestReceipt(ctx, conv, seq, at)
		return err
	})
	return
}

// SettleReceipt implements store.Store.
func (s *Store) SettleReceipt(ctx context.Context, conv store.ConvID, seq uint64, frozen *store.Frozen) (err error) {
	err = s.around(ctx, "settle_receipt", func() error {
		err = s.next.SettleReceipt(ctx, conv, seq, frozen)
		return err
	})
	return
}

// LiveReceipts implements store.Store.
func (s *Store) LiveReceipts(ctx context.Context, conv store.ConvID) (ms []store.Message, err error) {
	err = s.around(ctx, "live_receipts", func() error {
		ms, err = s.next.LiveReceipts(ctx, conv)
		return err
	})
	return
}

// Close closes the wrapped store; it does not go through the hook.
func (s *Store) Close() error { return s.next.Close() }
