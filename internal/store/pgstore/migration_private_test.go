package pgstore

import (
	"context"
	"io/fs"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/seen-im/seen/internal/store"
)

// TestMigrationFillsOwnReadState writes members with the first schema, as
// a database from before private reading holds them, then opens the store
// (which applies 00002): every member's own read state is its shared one,
// and private reads work on the migrated rows.
func TestMigrationFillsOwnReadState(t *testing.T) {
	u, pool, _ := schemaAt(t, 1)
	ctx := context.Background()
	acks := encodeAcks([]store.Ack{{Seq: 5, At: 50}, {Seq: 7, At: 70}})
	for _, sql := range []string{
		`INSERT INTO users (id, created_at) VALUES ('alice', 1), ('bob', 1)`,
		`INSERT INTO groups (id, created_by, created_at) VALUES ('g', 'alice', 1)`,
		`INSERT INTO conversations (conv, last_seq, last_at, members) VALUES ('g/g', 8, 80, 2)`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO members (conv, user_id, role, join_seq, read_seq, delivered_seq, read_at, delivered_at, joined_at, acks)
		VALUES ('g/g', 'alice', 'owner', 1, 8, 8, 80, 80, 1, NULL), ('g/g', 'bob', 'member', 1, 3, 4, 30, 40, 1, $1)`, acks); err != nil {
		t.Fatal(err)
	}

	s := openAt(t, u)
	conv := store.GroupConv("g")
	want := []store.Member{
		{UserID: "alice", Role: "owner", JoinSeq: 1, ReadSeq: 8, DeliveredSeq: 8, ReadAt: 80, DeliveredAt: 80, JoinedAt: 1},
		{UserID: "bob", Role: "member", JoinSeq: 1, ReadSeq: 3, DeliveredSeq: 4, ReadAt: 30, DeliveredAt: 40, JoinedAt: 1,
			Acks: []store.Ack{{Seq: 5, At: 50}, {Seq: 7, At: 70}}},
	}
	got, err := s.ListMembers(ctx, conv, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("members after the migration (-want +got):\n%s", diff)
	}
	var ownRead int64
	var ownAcks []byte
	if err := pool.QueryRow(ctx, `SELECT own_read_seq, own_acks FROM members WHERE conv = 'g/g' AND user_id = 'bob'`).Scan(&ownRead, &ownAcks); err != nil {
		t.Fatal(err)
	}
	if ownRead != 3 || string(ownAcks) != string(acks) {
		t.Errorf("migrated own columns: read %d acks %x, want 3 %x", ownRead, ownAcks, acks)
	}
	m, changed, err := s.AckManyOwn(ctx, conv, "bob", []uint64{4}, 90)
	if err != nil || !changed[0] {
		t.Fatalf("private ack on a migrated member: %v %v", changed, err)
	}
	if m.ReadSeq != 3 || m.OwnReadSeq() != 5 || len(m.OwnAcks()) != 1 || len(m.Acks) != 2 {
		t.Errorf("after a private ack of 4: %+v", m)
	}
}

// schemaAt is a fresh schema migrated up to version only, as a database
// from before the later migrations holds it: its URL, a pool on it and
// the migration provider, released when t ends.
func schemaAt(t *testing.T, version int64) (string, *pgxpool.Pool, *goose.Provider) {
	t.Helper()
	u := freshSchema(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDBFromPool(pool)
	t.Cleanup(func() { _ = db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		t.Fatalf("migrate to schema %d: %v", version, err)
	}
	return u, pool, p
}
