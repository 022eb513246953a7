// Package migrate copies an embedded data directory (pebblestore) into an
// empty PostgreSQL database (pgstore) as it is — ids, seqs, watermarks,
// acks, receipt state — and verifies the copy: counts per kind, every user
// and group record, and a checksum per conversation computed the same way
// from both stores through the store interface. It is what `seen migrate`
// runs, for a deployment that outgrows one node.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/internal/store/pgstore"
)

// batch is how many records are read per store call and written per COPY.
const batch = 1000

// Summary is what a migration copied and checked.
type Summary struct {
	// Copied counts the source's records; the destination holds as many
	// of each kind once Run succeeds.
	Copied pgstore.Counts
	// Webhooks is the webhook state copied (CopyWebhooks).
	Webhooks WebhookCounts
	// Checksums is how many conversations' checksums matched.
	Checksums int
	// Copy and Verify are how long each phase took.
	Copy, Verify time.Duration
}

// Run copies everything in src into dst, which must be empty
// (pgstore.ErrNotEmptyDatabase otherwise, with nothing written), then
// verifies the copy. The copy is one transaction: an error before it
// commits leaves dst empty. A verification error means dst holds a copy
// that differs from src: the error says what differs.
func Run(ctx context.Context, src *pebblestore.Store, dst *pgstore.Store) (Summary, error) {
	var sum Summary
	start := time.Now()
	// Refused before anything is written: webhooks the destination
	// cannot keep would be lost.
	hooks, ok := any(dst).(store.Webhooks)
	if !ok {
		ws, err := src.ListWebhooks(ctx)
		if err != nil {
			return sum, fmt.Errorf("migrate: webhooks: %w", err)
		}
		if len(ws) > 0 {
			return sum, fmt.Errorf("migrate: the data directory has %d webhooks but this database backend cannot keep them; nothing written", len(ws))
		}
	}
	im, err := dst.BeginImport(ctx)
	if err != nil {
		return sum, err
	}
	if err := copyAll(ctx, src, im, &sum.Copied); err != nil {
		return sum, errors.Join(err, im.Rollback())
	}
	if err := im.Commit(); err != nil {
		return sum, err
	}
	// The webhook state goes through the store interface after the
	// import: it is small next to the messages, and its writes are those
	// a node makes. A failure here leaves a partial copy, as a failed
	// verification does: migrate again into an empty database.
	if ok {
		if sum.Webhooks, err = CopyWebhooks(ctx, src, hooks); err != nil {
			return sum, err
		}
	}
	sum.Copy = time.Since(start)
	start = time.Now()
	n, err := Verify(ctx, src, dst, sum.Copied)
	if err == nil && ok {
		err = VerifyWebhooks(ctx, src, hooks)
	}
	sum.Checksums = n
	sum.Verify = time.Since(start)
	if err != nil {
		return sum, fmt.Errorf("migrate: the copy was written but does not match the data directory: %w", err)
	}
	return sum, nil
}

func copyAll(ctx context.Context, src *pebblestore.Store, im *pgstore.Importer, n *pgstore.Counts) error {
	users := make([]store.User, 0, batch)
	err := src.Users(ctx, func(u store.User) error {
		users = append(users, u)
		n.Users++
		if len(users) < batch {
			return nil
		}
		err := im.Users(users)
		users = users[:0]
		return err
	})
	if err == nil {
		err = im.Users(users)
	}
	if err != nil {
		return fmt.Errorf("migrate: users: %w", err)
	}
	var settings []pgstore.UserSettings
	err = src.Settings(ctx, func(userID string, st store.Settings) error {
		settings = append(settings, pgstore.UserSettings{UserID: userID, Settings: st})
		n.Settings++
		if len(settings) < batch {
			return nil
		}
		err := im.Settings(settings)
		settings = settings[:0]
		return err
	})
	if err == nil {
		err = im.Settings(settings)
	}
	if err != nil {
		return fmt.Errorf("migrate: settings: %w", err)
	}
	groups := make([]store.Group, 0, batch)
	err = src.Groups(ctx, func(g store.Group) error {
		groups = append(groups, g)
		n.Groups++
		if len(groups) < batch {
			return nil
		}
		err := im.Groups(groups)
		groups = groups[:0]
		return err
	})
	if err == nil {
		err = im.Groups(groups)
	}
	if err != nil {
		return fmt.Errorf("migrate: groups: %w", err)
	}
	convs, err := src.Conversations(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, conv := range convs {
		if err := copyConv(ctx, src, im, conv, n); err != nil {
			return fmt.Errorf("migrate: conversation %s: %w", conv, err)
		}
	}
	return nil
}

// copyConv copies conv's members, its messages, and its row with last seq
// and member count.
func copyConv(ctx context.Context, src store.Store, im *pgstore.Importer, conv store.ConvID, n *pgstore.Counts) error {
	members := 0
	for after := ""; ; {
		ms, err := src.ListMembers(ctx, conv, after, batch)
		if err != nil {
			return err
		}
		if err := im.Members(conv, ms); err != nil {
			return err
		}
		members += len(ms)
		if len(ms) < batch {
			break
		}
		after = ms[len(ms)-1].UserID
	}
	last, err := src.LastSeq(ctx, conv)
	if err != nil {
		return err
	}
	var lastAt int64
	for before := uint64(0); ; {
		ms, err := src.History(ctx, conv, before, 0, batch)
		if err != nil {
			return err
		}
		if before == 0 && len(ms) > 0 && ms[0].Seq == last {
			lastAt = ms[0].SentAt
		}
		if err := im.Messages(ms); err != nil {
			return err
		}
		n.Messages += int64(len(ms))
		if len(ms) < batch {
			break
		}
		before = ms[len(ms)-1].Seq
	}
	if err := im.Conversation(conv, last, lastAt, members); err != nil {
		return err
	}
	n.Conversations++
	n.Members += int64(members)
	return nil
}

// Verify checks dst against src: the counts of every kind against want
// (what was copied), every user and group record read back, and each
// conversation's checksum from both. It returns how many conversations
// matched.
func Verify(ctx context.Context, src *pebblestore.Store, dst *pgstore.Store, want pgstore.Counts) (int, error) {
	got, err := dst.Counts(ctx)
	if err != nil {
		return 0, err
	}
	if got != want {
		return 0, fmt.Errorf("counts differ: data directory %+v, database %+v", want, got)
	}
	if err := src.Users(ctx, func(u store.User) error {
		d, err := dst.GetUser(ctx, u.ID)
		if err != nil {
			return err
		}
		if d != u {
			return fmt.Errorf("user %q differs: %+v in the data directory, %+v in the database", u.ID, u, d)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	if err := src.Settings(ctx, func(userID string, st store.Settings) error {
		d, err := dst.GetSettings(ctx, userID)
		if err != nil {
			return err
		}
		if d != st {
			return fmt.Errorf("settings of %q differ: %+v in the data directory, %+v in the database", userID, st, d)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	if err := src.Groups(ctx, func(g store.Group) error {
		d, err := dst.GetGroup(ctx, g.ID)
		if err != nil {
			return err
		}
		if d != g {
			return fmt.Errorf("group %q differs: %+v in the data directory, %+v in the database", g.ID, g, d)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	convs, err := src.Conversations(ctx)
	if err != nil {
		return 0, err
	}
	dconvs, err := dst.Conversations(ctx)
	if err != nil {
		return 0, err
	}
	if len(convs) != len(dconvs) {
		return 0, fmt.Errorf("%d conversations in the data directory, %d in the database", len(convs), len(dconvs))
	}
	for i, conv := range convs {
		if dconvs[i] != conv {
			return i, fmt.Errorf("conversation %s in the data directory, %s in the database at the same place", conv, dconvs[i])
		}
		a, err := Checksum(ctx, src, conv)
		if err != nil {
			return i, fmt.Errorf("checksum of %s in the data directory: %w", conv, err)
		}
		b, err := Checksum(ctx, dst, conv)
		if err != nil {
			return i, fmt.Errorf("checksum of %s in the database: %w", conv, err)
		}
		if a != b {
			return i, fmt.Errorf("conversation %s differs: checksum %x in the data directory, %x in the database", conv, a, b)
		}
	}
	return len(convs), nil
}
