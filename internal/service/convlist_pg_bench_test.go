package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seen-im/seen/internal/store/pgstore"
)

// BenchmarkConversationListPG_1000Convs is BenchmarkConversationList_1000Convs
// on PostgreSQL, where each store call is a round trip: the page's cost is
// in how many it makes. It needs SEEN_TEST_POSTGRES_URL, and works in a
// schema of its own, dropped at the end.
func BenchmarkConversationListPG_1000Convs(b *testing.B) {
	base := os.Getenv("SEEN_TEST_POSTGRES_URL")
	if base == "" {
		b.Skip("SEEN_TEST_POSTGRES_URL is not set")
	}
	ctx := context.Background()
	admin, err := pgxpool.New(ctx, base)
	if err != nil {
		b.Fatal(err)
	}
	schema := "bench_" + hex.EncodeToString([]byte(rand.Text()[:6]))
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_, _ = admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		b.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := pgstore.Open(ctx, u.String(), pgstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	benchConversationList(b, st)
}
