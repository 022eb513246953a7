package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/seen-im/seen/internal/store"
)

// ErrNotEmptyDatabase is what BeginImport returns for a database that
// already holds a user, a group, a conversation, a member or a message:
// an import copies records as they are (ids, seqs) and would collide with
// or silently merge into what is there.
var ErrNotEmptyDatabase = errors.New("pgstore: the database already holds data; import needs an empty one")

// Importer writes records as they are — ids, seqs, watermarks, receipt
// state — into an empty database, for `seen migrate`. Nothing is allocated
// (unlike Append, which takes the next seq and a new id). Everything goes
// into one transaction, so a failed or interrupted import leaves the
// database as empty as it found it and can simply be run again.
//
// An Importer is used by one goroutine. It holds the store open (Close
// waits) until Commit or Rollback.
type Importer struct {
	s    *Store
	ctx  context.Context
	tx   pgx.Tx
	once sync.Once
}

// BeginImport starts an import. It locks the tables against every other
// writer for the rest of the transaction, then checks that they are empty:
// two imports started at once serialize, and the second finds the first's
// data and returns ErrNotEmptyDatabase.
func (s *Store) BeginImport(ctx context.Context) (*Importer, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		s.mu.RUnlock()
		return nil, classify("begin import", err)
	}
	im := &Importer{s: s, ctx: ctx, tx: tx}
	if _, err := tx.Exec(ctx, `LOCK TABLE users, groups, conversations, members, messages IN EXCLUSIVE MODE`); err != nil {
		_ = im.Rollback()
		return nil, classify("lock tables for import", err)
	}
	var used bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM groups)
		OR EXISTS (SELECT 1 FROM conversations) OR EXISTS (SELECT 1 FROM members) OR EXISTS (SELECT 1 FROM messages)`).Scan(&used); err != nil {
		_ = im.Rollback()
		return nil, classify("check the database is empty", err)
	}
	if used {
		_ = im.Rollback()
		return nil, ErrNotEmptyDatabase
	}
	return im, nil
}

// Users writes users as they are.
func (im *Importer) Users(us []store.User) error {
	return im.copy("users", []string{"id", "name", "created_at", "demo"}, len(us), func(i int) []any {
		u := us[i]
		return []any{u.ID, u.Name, u.CreatedAt, u.Demo}
	})
}

// UserSettings is one user's stored settings, for Importer.Settings.
type UserSettings struct {
	UserID   string
	Settings store.Settings
}

// Settings writes users' settings as they are; the users are written
// already (Users).
func (im *Importer) Settings(ss []UserSettings) error {
	return im.copy("user_settings", []string{"user_id", "share_reads", "share_delivery"}, len(ss), func(i int) []any {
		return []any{ss[i].UserID, ss[i].Settings.ShareReads, ss[i].Settings.ShareDelivery}
	})
}

// Groups writes group records as they are. Their conversations are written
// by Conversation.
func (im *Importer) Groups(gs []store.Group) error {
	return im.copy("groups", []string{"id", "type", "created_by", "created_at"}, len(gs), func(i int) []any {
		g := gs[i]
		return []any{g.ID, g.Type, g.CreatedBy, g.CreatedAt}
	})
}

// Conversation writes conv's row: its last seq, the SentAt of the message
// at that seq (0 if none) and its member count, which must match the
// members and messages written for it.
func (im *Importer) Conversation(conv store.ConvID, lastSeq uint64, lastAt int64, members int) error {
	if err := validConv(conv); err != nil {
		return err
	}
	if _, err := im.tx.Exec(im.ctx, `INSERT INTO conversations (conv, last_seq, last_at, members) VALUES ($1, $2, $3, $4)`,
		string(conv), int64(lastSeq), lastAt, int64(members)); err != nil {
		return classify("import conversation "+string(conv), err)
	}
	return nil
}

// Members writes conv's members as they are: role, join seq, watermarks
// and their times, single-message acks, and the own read state.
func (im *Importer) Members(conv store.ConvID, ms []store.Member) error {
	cols := append([]string{"conv"}, strings.Split(memberCols, ", ")...)
	return im.copy("members", cols, len(ms), func(i int) []any {
		return append([]any{string(conv)}, memberArgs(ms[i])...)
	})
}

// Messages writes messages as they are: id, conversation, seq, body byte
// for byte, clientMsgId, receipt state and frozen counts.
func (im *Importer) Messages(ms []store.Message) error {
	cols := []string{"id", "conv", "seq", "sender", "client_msg_id", "body", "sent_at", "receipt", "receipt_at", "settled",
		"frozen_read", "frozen_unread", "frozen_delivered"}
	return im.copy("messages", cols, len(ms), func(i int) []any {
		m := ms[i]
		fr, fu, fd := frozenCols(m.Frozen)
		var body []byte
		if len(m.Body) > 0 {
			// Empty is stored as NULL, which reads back as nil, as the
			// embedded store returns an empty body.
			body = m.Body
		}
		return []any{m.ID, string(m.Conv), int64(m.Seq), m.Sender, m.ClientMsgID, body, m.SentAt, m.Receipt, m.ReceiptAt,
			m.Settled, fr, fu, fd}
	})
}

// copy writes n rows with COPY, the fastest way in.
func (im *Importer) copy(table string, cols []string, n int, row func(i int) []any) error {
	if n == 0 {
		return nil
	}
	_, err := im.tx.CopyFrom(im.ctx, pgx.Identifier{table}, cols, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
		return row(i), nil
	}))
	if err != nil {
		return classify("import "+table, err)
	}
	return nil
}

// Commit makes the import durable and releases the store.
func (im *Importer) Commit() error {
	err := classify("commit import", im.tx.Commit(im.ctx))
	im.release()
	return err
}

// Rollback abandons the import, leaving the database as it was, and
// releases the store. After Commit it does nothing.
func (im *Importer) Rollback() error {
	err := im.tx.Rollback(context.WithoutCancel(im.ctx))
	im.release()
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return classify("roll back import", err)
}

func (im *Importer) release() { im.once.Do(im.s.mu.RUnlock) }

// Counts are how many records of each kind a database holds.
type Counts struct {
	Users, Settings, Groups, Conversations, Members, Messages int64
}

// Counts returns how many records of each kind the database holds, for
// checking an import.
func (s *Store) Counts(ctx context.Context) (Counts, error) {
	if err := s.acquire(ctx); err != nil {
		return Counts{}, err
	}
	defer s.mu.RUnlock()
	var c Counts
	err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM user_settings), (SELECT count(*) FROM groups),
		(SELECT count(*) FROM conversations), (SELECT count(*) FROM members), (SELECT count(*) FROM messages)`).
		Scan(&c.Users, &c.Settings, &c.Groups, &c.Conversations, &c.Members, &c.Messages)
	if err != nil {
		return Counts{}, classify("count records", err)
	}
	return c, nil
}

// Conversations returns the id of every conversation, in id order.
func (s *Store) Conversations(ctx context.Context) ([]store.ConvID, error) {
	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	rows, err := s.pool.Query(ctx, `SELECT conv FROM conversations ORDER BY conv`)
	if err != nil {
		return nil, classify("list conversations", err)
	}
	convs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.ConvID, error) {
		var c string
		err := r.Scan(&c)
		return store.ConvID(c), err
	})
	if err != nil {
		return nil, fmt.Errorf("pgstore: list conversations: %w", classify("scan", err))
	}
	return convs, nil
}
