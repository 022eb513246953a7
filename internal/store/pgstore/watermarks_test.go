package pgstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/seen-im/seen/internal/store"
)

// batchSizes records the size of every watermark round.
type batchSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batchSizes) WatermarkQueued(int) {}
func (b *batchSizes) WatermarkBatch(n int) {
	b.mu.Lock()
	b.sizes = append(b.sizes, n)
	b.mu.Unlock()
}

// TestWatermarkRoundSpansConversations: with every round in flight (each
// waiting for a member row another transaction holds), acks queued on two
// more conversations are applied by one round: one transaction, one commit,
// for both; and every ack is applied.
func TestWatermarkRoundSpansConversations(t *testing.T) {
	u := freshSchema(t)
	obs := &batchSizes{}
	s, err := Open(context.Background(), u, Options{Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	var convs []store.ConvID
	for i := range maxWatermarkRounds + 2 {
		id := string(rune('a' + i))
		conv := groupOfWR(t, s, id)
		if _, _, err := s.Append(ctx, store.Message{ID: "m" + id, Conv: conv, Sender: "w", SentAt: 1}); err != nil {
			t.Fatal(err)
		}
		convs = append(convs, conv)
	}
	blocked, free := convs[:maxWatermarkRounds], convs[maxWatermarkRounds:]

	// Hold r's rows of the blocked conversations.
	ids := make([]string, len(blocked))
	for i, c := range blocked {
		ids[i] = string(c)
	}
	tx := holdRows(t, u, `SELECT 1 FROM members WHERE conv = ANY($1) AND user_id = 'r' FOR UPDATE`, ids)

	var wg sync.WaitGroup
	read := func(conv store.ConvID) {
		wg.Go(func() {
			if _, changed, err := s.AdvanceRead(ctx, conv, "r", 1, 2); err != nil || !changed {
				t.Errorf("AdvanceRead in %s = %v, %v", conv, changed, err)
			}
		})
	}
	state := func() (rounds, ready int) {
		s.wmMu.Lock()
		defer s.wmMu.Unlock()
		return s.wmRounds, len(s.wmReady)
	}
	// One blocked conversation at a time, so each is a round of its own.
	for i, c := range blocked {
		read(c)
		waitFor(t, "the round to take the conversation", func() bool {
			rounds, ready := state()
			return rounds == i+1 && ready == 0
		})
	}
	for _, c := range free {
		read(c)
	}
	waitFor(t, "both free conversations to wait for a round", func() bool {
		rounds, ready := state()
		return rounds == maxWatermarkRounds && ready == len(free)
	})
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	obs.mu.Lock()
	sizes := slices.Clone(obs.sizes)
	obs.mu.Unlock()
	slices.Sort(sizes)
	// A round of its own per blocked conversation, then one for both free.
	want := append(slices.Repeat([]int{1}, maxWatermarkRounds), 2)
	if !slices.Equal(sizes, want) {
		t.Fatalf("round sizes %v, want %v (the two free conversations in one round)", sizes, want)
	}
	ms, err := s.GetMembers(ctx, []store.MemberRef{
		{Conv: convs[0], UserID: "r"}, {Conv: free[0], UserID: "r"}, {Conv: free[1], UserID: "r"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if m.ReadSeq != 1 {
			t.Errorf("member %d: read_seq %d, want 1", i, m.ReadSeq)
		}
	}
}

// TestWatermarkRoundAfterConcurrentUpdate: a round that waits for a member
// row another transaction updates and commits writes the row as it stands
// after that update (the ctid it writes by is the new version's), and
// loses neither write.
func TestWatermarkRoundAfterConcurrentUpdate(t *testing.T) {
	u := freshSchema(t)
	s := openAt(t, u)
	ctx := context.Background()
	conv := groupOfWR(t, s, "g")
	for _, id := range []string{"m1", "m2"} {
		if _, _, err := s.Append(ctx, store.Message{ID: id, Conv: conv, Sender: "w", SentAt: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// The other writer delivers up to 2: a new version of r's row.
	tx := holdRows(t, u, `UPDATE members SET delivered_seq = 2, delivered_at = 5 WHERE conv = $1 AND user_id = 'r'`, string(conv))
	done := make(chan error, 1)
	go func() {
		_, changed, err := s.AdvanceRead(ctx, conv, "r", 1, 2)
		if err == nil && !changed {
			err = errors.New("not changed")
		}
		done <- err
	}()
	waitFor(t, "the round to wait for the row lock", func() bool {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("AdvanceRead: %v", err)
	}
	m, err := s.GetMember(ctx, conv, "r")
	if err != nil {
		t.Fatal(err)
	}
	if m.ReadSeq != 1 || m.DeliveredSeq != 2 {
		t.Fatalf("read %d delivered %d, want 1 and 2: a write was lost", m.ReadSeq, m.DeliveredSeq)
	}
}

// holdRows runs sql (a statement that locks or writes rows) in a
// transaction of its own on the database at u, and returns the
// transaction, holding them; the test ends it.
func holdRows(t *testing.T, u, sql string, args ...any) pgx.Tx {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(ctx) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
	return tx
}

// groupOfWR creates group id of two members, the writer "w" and the
// reader "r", and returns its conversation.
func groupOfWR(t *testing.T, s *Store, id string) store.ConvID {
	t.Helper()
	if err := s.CreateGroup(context.Background(), store.Group{ID: id, CreatedBy: "w"},
		[]store.Member{{UserID: "w", Role: "member"}, {UserID: "r", Role: "member"}}); err != nil {
		t.Fatal(err)
	}
	return store.GroupConv(id)
}
