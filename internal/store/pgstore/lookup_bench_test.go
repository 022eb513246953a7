package pgstore

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/seen-im/seen/internal/store"
)

// receipt.query and message.read look up to 100 ids. These compare the
// lookups one GetMessage per id (what the service did) with one
// GetMessages call: 100 round trips against one.

const lookupIDs = 100

func lookupFixture(b *testing.B) (*Store, []string) {
	b.Helper()
	s := openBench(b, nil)
	conv := benchGroups(b, s, 1, 1)[0]
	body := json.RawMessage(`{"text":"hello, this is a benchmark message"}`)
	ids := make([]string, lookupIDs)
	for i := range ids {
		ids[i] = "m" + strconv.Itoa(i)
		m := store.Message{ID: ids[i], Conv: conv, Sender: "w", ClientMsgID: ids[i], Body: body, SentAt: int64(i), Receipt: true}
		if _, _, err := s.Append(b.Context(), m); err != nil {
			b.Fatal(err)
		}
	}
	return s, ids
}

// BenchmarkPG_Lookup100_OneByOne: one op is 100 GetMessage calls.
func BenchmarkPG_Lookup100_OneByOne(b *testing.B) {
	s, ids := lookupFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, id := range ids {
			if _, err := s.GetMessage(b.Context(), id); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkPG_Lookup100_Batched: one op is one GetMessages of 100 ids.
func BenchmarkPG_Lookup100_Batched(b *testing.B) {
	s, ids := lookupFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ms, err := s.GetMessages(b.Context(), ids)
		if err != nil {
			b.Fatal(err)
		}
		if ms[len(ms)-1].ID != ids[len(ids)-1] {
			b.Fatalf("GetMessages: last entry %+v, want %s", ms[len(ms)-1], ids[len(ids)-1])
		}
	}
}
