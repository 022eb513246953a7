package pgstore

import (
	"context"
	"errors"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// An import that fails part way leaves the database empty, so migrate can
// simply be run again.
func TestImportFailureLeavesTheDatabaseEmpty(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, freshSchema(t))
	im, err := s.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Users([]store.User{{ID: "alice"}}); err != nil {
		t.Fatal(err)
	}
	if err := im.Conversation(store.PeerConv("alice", "bob"), 1, 5, 2); err != nil {
		t.Fatal(err)
	}
	dup := store.Message{ID: "m1", Conv: store.PeerConv("alice", "bob"), Seq: 1, Sender: "alice", SentAt: 5}
	other := dup
	other.Seq = 2 // same id: the unique index refuses it
	if err := im.Messages([]store.Message{dup, other}); err == nil {
		t.Fatal("import of two messages with one id succeeded")
	}
	if err := im.Rollback(); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Counts(ctx); err != nil || c != (Counts{}) {
		t.Fatalf("after a failed import: %+v, %v; want nothing", c, err)
	}
	im, err = s.BeginImport(ctx)
	if err != nil {
		t.Fatalf("import after a failed one: %v", err)
	}
	if err := im.Users([]store.User{{ID: "alice"}}); err != nil {
		t.Fatal(err)
	}
	if err := im.Commit(); err != nil {
		t.Fatal(err)
	}
	if c, err := s.Counts(ctx); err != nil || c != (Counts{Users: 1}) {
		t.Fatalf("after the import: %+v, %v; want one user", c, err)
	}
}

// Two imports at once serialize on the table lock: the second waits for the
// first to commit, then finds its data and refuses.
func TestImportsAtOnceSerialize(t *testing.T) {
	ctx := context.Background()
	u := freshSchema(t)
	a, b := openAt(t, u), openAt(t, u)
	first, err := a.BeginImport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() {
		im, err := b.BeginImport(ctx)
		if err == nil {
			err = errors.Join(errors.New("second import began"), im.Rollback())
		}
		second <- err
	}()
	if err := first.Users([]store.User{{ID: "alice"}}); err != nil {
		t.Fatal(err)
	}
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-second; !errors.Is(err, ErrNotEmptyDatabase) {
		t.Fatalf("second import: %v, want ErrNotEmptyDatabase", err)
	}
}
