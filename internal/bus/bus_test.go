package bus_test

import (
	"fmt"
	"testing"

	"github.com/seen-im/seen/internal/bus"
)

func TestAudienceRecipients(t *testing.T) {
	a := bus.Audience{Also: []string{"dave", "alice", "dave", "erin"}, Except: []string{"bob", "erin"}}
	var got []string
	a.Recipients([]string{"alice", "bob", "carol"}, func(u string) { got = append(got, u) })
	// carol from the members; dave and alice from Also, in its order, once each; bob
	// and erin excepted, erin although Also names her.
	if want := "[carol dave alice]"; fmt.Sprint(got) != want {
		t.Errorf("Recipients = %v, want %v", got, want)
	}
}

// BenchmarkAudienceRecipients_100000Members is a receiving node's work for
// one event to a 100,000-member group: walk the members, look each up
// among the node's own users (one in ten here).
func BenchmarkAudienceRecipients_100000Members(b *testing.B) {
	members := make([]string, 100000)
	local := make(map[string]bool)
	for i := range members {
		members[i] = fmt.Sprintf("user-%06d", i)
		if i%10 == 0 {
			local[members[i]] = true
		}
	}
	a := bus.Audience{Conv: "g/big", Except: []string{"user-000001"}}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		a.Recipients(members, func(u string) {
			if local[u] {
				n++
			}
		})
	}
	if n == 0 {
		b.Fatal("no local recipient found")
	}
}
