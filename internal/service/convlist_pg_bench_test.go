package service

import (
	"context"
	"testing"

	"github.com/seen-im/seen/internal/store/pgstore"
	"github.com/seen-im/seen/internal/testpg"
)

// BenchmarkConversationListPG_1000Convs is BenchmarkConversationList_1000Convs
// on PostgreSQL, where each store call is a round trip: the page's cost is
// in how many it makes. It needs SEEN_TEST_POSTGRES_URL, and works in a
// database of its own (testpg.Database).
func BenchmarkConversationListPG_1000Convs(b *testing.B) {
	ctx := context.Background()
	st, err := pgstore.Open(ctx, testpg.Database(b), pgstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	benchConversationList(b, st)
}
