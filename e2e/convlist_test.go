package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// tick waits until the clock has passed the Unix ms time at, so the next
// message is stamped strictly later than one stamped at.
func tick(t *testing.T, at int64) {
	t.Helper()
	seentest.Eventually(t, 5*time.Second, func() error {
		if time.Now().UnixMilli() <= at {
			return fmt.Errorf("clock still at %d", at)
		}
		return nil
	})
}

// listAll walks conversation.list page by page and returns the ids of the
// conversations in order, failing on a repeat.
func listAll(t *testing.T, d *device, limit int) ([]string, int) {
	t.Helper()
	var ids []string
	cursor, pages := "", 0
	for {
		res, err := d.Conversations(ctx(t), protocol.ConversationListParams{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(res.Conversations) > limit {
			t.Fatalf("page of %d, limit %d", len(res.Conversations), limit)
		}
		for _, c := range res.Conversations {
			id := c.Conversation.Type + ":" + c.Conversation.ID
			if slices.Contains(ids, id) {
				t.Fatalf("%s listed twice: %v then page %+v", id, ids, res.Conversations)
			}
			ids = append(ids, id)
		}
		if res.NextCursor == "" {
			return ids, pages
		}
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		cursor = res.NextCursor
	}
}

func TestConversationListIsByRecentActivity(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob", "carol", "dave")
	for _, g := range []struct{ id, other string }{{"g1", "bob"}, {"g2", "carol"}, {"g3", "dave"}} {
		s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": g.id, "owner": "alice", "members": []string{g.other}})
	}
	devs := map[string]*device{}
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		devs[u] = dial(t, s, u, "d", client.WithAutoDelivered(false))
	}
	// Messages in a known order, each stamped strictly after the last.
	steps := []struct {
		from string
		conv protocol.Conversation
	}{
		{"carol", group("g2")},
		{"bob", peer("alice")},
		{"alice", group("g1")},
		{"carol", peer("alice")},
		{"dave", group("g3")},
		{"alice", group("g2")},
	}
	for i, st := range steps {
		res := devs[st.from].say(st.conv, fmt.Sprintf("m%d", i))
		tick(t, res.SentAt)
	}
	// A group alice joins now, with no message: its activity is her join.
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g4", "owner": "dave", "members": []string{"alice"}})

	want := []string{"group:g4", "group:g2", "group:g3", "peer:carol", "group:g1", "peer:bob"}
	got, _ := listAll(t, devs["alice"], 100)
	if !slices.Equal(got, want) {
		t.Fatalf("conversation.list = %v, want %v", got, want)
	}
	paged, pages := listAll(t, devs["alice"], 2)
	if !slices.Equal(paged, want) || pages != 3 {
		t.Fatalf("paged by 2: %v in %d pages, want %v in 3", paged, pages, want)
	}

	// A new message moves its conversation to the top.
	first, err := devs["alice"].Conversations(ctx(t), protocol.ConversationListParams{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	res := devs["bob"].say(group("g1"), "again")
	want = []string{"group:g1", "group:g4", "group:g2", "group:g3", "peer:carol", "peer:bob"}
	if got, _ := listAll(t, devs["alice"], 100); !slices.Equal(got, want) {
		t.Fatalf("after a message in g1: %v, want %v", got, want)
	}
	top, err := devs["alice"].Conversations(ctx(t), protocol.ConversationListParams{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if lm := top.Conversations[0].LastMessage; lm == nil || lm.MsgID != res.MsgID {
		t.Fatalf("top conversation's last message = %+v, want %s", lm, res.MsgID)
	}
	// A cursor taken before the move goes on in the order it was taken
	// in: g1 moved above it and is not seen again on this walk; nothing
	// repeats.
	var rest []string
	for cursor := first.NextCursor; cursor != ""; {
		page, err := devs["alice"].Conversations(ctx(t), protocol.ConversationListParams{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Conversations {
			rest = append(rest, c.Conversation.Type+":"+c.Conversation.ID)
		}
		cursor = page.NextCursor
	}
	if want := []string{"group:g3", "peer:carol", "peer:bob"}; !slices.Equal(rest, want) {
		t.Fatalf("pages after the old cursor: %v, want %v", rest, want)
	}

	// A cursor the server did not make is refused.
	_, err = devs["alice"].Conversations(ctx(t), protocol.ConversationListParams{Limit: 2, Cursor: "bm90IGEgY3Vyc29y"})
	if code(err) != protocol.CodeInvalidParams {
		t.Fatalf("bad cursor: %v, want %d", err, protocol.CodeInvalidParams)
	}
}
