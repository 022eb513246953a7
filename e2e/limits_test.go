package e2e

import (
	"testing"
	"time"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) {
		c.RatePerConn, c.BurstPerConn = 1, 5
	})
	s.Users("alice")
	r := connectRaw(t, s, "alice", "")
	limited := 0
	for range 20 {
		f := r.Call(protocol.MethodConversationList, `{}`)
		if errCode(f) == protocol.CodeRateLimited {
			limited++
			if ms, ok := f.Error.Data["retryAfterMs"].(float64); !ok || ms <= 0 {
				t.Fatalf("429 without a positive retryAfterMs: %+v", f.Error)
			}
		}
	}
	if limited < 14 {
		t.Fatalf("%d of 20 requests were limited with a burst of 5, want at least 14", limited)
	}
	// Another user's budget is its own.
	s.Users("bob")
	b := connectRaw(t, s, "bob", "")
	b.MustCall(protocol.MethodConversationList, `{}`, nil)
}

func TestPerUserRateLimitSpansConnections(t *testing.T) {
	s := seentest.StartSingle(t, "per-user limits are per node (docs/cluster.md)", func(c *config.Config) {
		c.RatePerUser, c.BurstPerUser = 1, 6
	})
	s.Users("alice")
	a1 := connectRaw(t, s, "alice", "one")
	a2 := connectRaw(t, s, "alice", "two")
	limited := 0
	for range 10 {
		for _, r := range []*seentest.Raw{a1, a2} {
			if errCode(r.Call(protocol.MethodConversationList, `{}`)) == protocol.CodeRateLimited {
				limited++
			}
		}
	}
	if limited < 12 {
		t.Fatalf("%d of 20 requests over two sockets were limited with a user burst of 6, want at least 12", limited)
	}
}

func TestMaxConnectionsPerUser(t *testing.T) {
	s := seentest.StartSingle(t, "per-user limits are per node (docs/cluster.md)", func(c *config.Config) { c.MaxConnsPerUser = 2 })
	s.Users("alice")
	connectRaw(t, s, "alice", "one")
	second := connectRaw(t, s, "alice", "two")
	third := seentest.DialRaw(t, s.WSURL())
	f := third.Call(protocol.MethodConnect, protocol.ConnectParams{Token: s.Token("alice")})
	if errCode(f) != protocol.CodeRateLimited {
		t.Fatalf("third connect = %d (%v), want 429", errCode(f), f.Error)
	}
	third.Closed()
	// Closing one frees a place (once the server has seen the close).
	second.Close()
	seentest.Eventually(t, 10*time.Second, func() error {
		r := seentest.DialRaw(t, s.WSURL())
		defer r.Close()
		if f := r.Call(protocol.MethodConnect, protocol.ConnectParams{Token: s.Token("alice")}); f.Error != nil {
			return f.Error
		}
		return nil
	})
}

func TestGroupSizeLimit(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) { c.MaxGroupMembers = 3 })
	s.Users("a", "b", "c", "d")
	owner := connectRaw(t, s, "a", "")
	f := owner.Call(protocol.MethodGroupCreate, protocol.GroupCreateParams{GroupID: "big", Members: []string{"b", "c", "d"}})
	if errCode(f) != protocol.CodeForbidden {
		t.Fatalf("create with 4 members = %d, want 403", errCode(f))
	}
	owner.MustCall(protocol.MethodGroupCreate, protocol.GroupCreateParams{GroupID: "ok", Members: []string{"b", "c"}}, nil)
	f = owner.Call(protocol.MethodGroupAdd, protocol.GroupMembersChangeParams{GroupID: "ok", UserIDs: []string{"d"}})
	if errCode(f) != protocol.CodeForbidden {
		t.Fatalf("add a 4th = %d, want 403", errCode(f))
	}
	var m protocol.GroupMembersResult
	owner.MustCall(protocol.MethodGroupMembers, protocol.GroupMembersParams{GroupID: "ok"}, &m)
	if len(m.Members) != 3 {
		t.Fatalf("group has %d members, want 3", len(m.Members))
	}
}
