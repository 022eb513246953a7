package pgstore

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// TestUserRecordsAreReadOnce: a user's record, once read, is answered
// without a round; a user not found is asked again each time (it may be
// registered since); a round of other kinds never asks for a kept user.
func TestUserRecordsAreReadOnce(t *testing.T) {
	s := openAt(t, freshSchema(t))
	ctx := context.Background()
	if _, err := s.PutUser(ctx, store.User{ID: "u", Name: "U", CreatedAt: 7}); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		rounds [][]string // the user keys of each round
	)
	round := s.look.round
	s.look.round = func(ctx context.Context, k keys) (rows, error) {
		mu.Lock()
		rounds = append(rounds, slices.Clone(k.Users))
		mu.Unlock()
		return round(ctx, k)
	}
	find := func(users ...string) []store.User {
		t.Helper()
		f, err := s.Find(ctx, store.Lookup{Users: users})
		if err != nil {
			t.Fatal(err)
		}
		return f.Users
	}
	want := store.User{ID: "u", Name: "U", CreatedAt: 7}
	for range 2 {
		if got := find("u"); len(got) != 1 || got[0] != want {
			t.Fatalf("Find u = %+v, want %+v", got, want)
		}
	}
	if u, err := s.GetUser(ctx, "u"); err != nil || u != want {
		t.Fatalf("GetUser u = %+v, %v", u, err)
	}
	if got := find("u", "nobody"); len(got) != 2 || got[0] != want || got[1].ID != "" {
		t.Fatalf("Find u, nobody = %+v", got)
	}
	if _, err := s.PutUser(ctx, store.User{ID: "nobody", Name: "N"}); err != nil {
		t.Fatal(err)
	}
	if got := find("nobody"); len(got) != 1 || got[0].Name != "N" {
		t.Fatalf("Find of a user registered since = %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	wantRounds := [][]string{{"u"}, {"nobody"}, {"nobody"}}
	if !slices.EqualFunc(rounds, wantRounds, slices.Equal) {
		t.Fatalf("rounds asked for users %q, want %q", rounds, wantRounds)
	}
}

// TestUserCacheIsBounded: past its bound, each record added makes room.
func TestUserCacheIsBounded(t *testing.T) {
	c := newUserCache(2)
	for _, id := range []string{"a", "b", "c", "d"} {
		c.add(map[string]store.User{id: {ID: id}})
		if n := c.len(); n > 2 {
			t.Fatalf("after %s: %d records kept, want at most 2", id, n)
		}
	}
	if _, ok := c.get("d"); !ok {
		t.Fatal("the last record added was not kept")
	}
}

// len is how many records c keeps.
func (c *userCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.users)
}
