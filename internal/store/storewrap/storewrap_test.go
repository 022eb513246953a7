package storewrap_test

import (
	"context"
	"errors"
	"testing"

	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/internal/store/storewrap"
)

// openStore opens an embedded store for the test.
func openStore(t *testing.T) *pebblestore.Store {
	t.Helper()
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// A wrapped call allocates what the store's own call does and nothing
// more: the hook takes no closure, so the call's results stay off the
// heap. (Run on every ack: a closure per call cost about a dozen
// allocations per read ack.)
func TestWrappedCallsAllocateNothingMore(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if err := st.CreateGroup(ctx, store.Group{ID: "g", CreatedBy: "a"}, []store.Member{{UserID: "a", Role: "member"}}); err != nil {
		t.Fatal(err)
	}
	w := storewrap.Wrap(st, storewrap.BeforeFunc(func(context.Context, string) error { return nil }))
	conv := store.GroupConv("g")
	for _, c := range []struct {
		name string
		call func(s store.Store)
	}{
		{"GetMember", func(s store.Store) { _, _ = s.GetMember(ctx, conv, "a") }},
		{"GetGroup", func(s store.Store) { _, _ = s.GetGroup(ctx, "g") }},
		{"LastSeq", func(s store.Store) { _, _ = s.LastSeq(ctx, conv) }},
	} {
		own := testing.AllocsPerRun(200, func() { c.call(st) })
		wrapped := testing.AllocsPerRun(200, func() { c.call(w) })
		if wrapped > own {
			t.Errorf("%s: %v allocations wrapped, %v unwrapped", c.name, wrapped, own)
		}
	}
}

// Before's error is returned in place of the call, and After sees it.
func TestBeforeErrorSkipsTheCall(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	refused := errors.New("refused")
	w := storewrap.Wrap(st, storewrap.BeforeFunc(func(_ context.Context, op string) error {
		if op == "put_user" {
			return refused
		}
		return nil
	}))
	if _, err := w.PutUser(ctx, store.User{ID: "u", CreatedAt: 1}); !errors.Is(err, refused) {
		t.Fatalf("PutUser through a refusing hook: %v", err)
	}
	if _, err := st.GetUser(ctx, "u"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused PutUser was made: GetUser = %v", err)
	}
}
