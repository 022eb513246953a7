package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// runMigrate runs `seen migrate` (the real binary) and returns its output
// and exit error.
func runMigrate(t *testing.T, data, pgURL string) (string, error) {
	t.Helper()
	cmd := exec.Command(seentest.Binary(t), "migrate", "--data", data, "--postgres-url", pgURL)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// answers is what each user's client reads: conversation.list, the history
// of each conversation and receipt.query on every message of theirs in it, as the
// server's raw JSON results.
func answers(t *testing.T, s *seentest.Server, users []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, u := range users {
		r := connectRaw(t, s, u, "reader")
		list := r.Call(protocol.MethodConversationList, protocol.ConversationListParams{Limit: 100})
		if list.Error != nil {
			t.Fatalf("%s: conversation.list: %v", u, list.Error)
		}
		out[u+" conversation.list"] = string(list.Result)
		for _, c := range decode[protocol.ConversationListResult](t, list.Result).Conversations {
			h := r.Call(protocol.MethodMessageHistory, protocol.HistoryParams{Conversation: c.Conversation, Limit: 100})
			if h.Error != nil {
				t.Fatalf("%s: message.history %v: %v", u, c.Conversation, h.Error)
			}
			key := fmt.Sprintf("%s %s/%s", u, c.Conversation.Type, c.Conversation.ID)
			out[key+" message.history"] = string(h.Result)
			var ids []string
			for _, m := range decode[protocol.HistoryResult](t, h.Result).Messages {
				if m.Sender == u { // a receipt is its sender's to query
					ids = append(ids, m.MsgID)
				}
			}
			if len(ids) == 0 {
				continue
			}
			q := r.Call(protocol.MethodReceiptQuery, protocol.ReceiptQueryParams{Conversation: c.Conversation, MsgIDs: ids})
			if q.Error != nil {
				t.Fatalf("%s: receipt.query %v: %v", u, c.Conversation, q.Error)
			}
			out[key+" receipt.query"] = string(q.Result)
		}
		r.Close()
	}
	return out
}

// TestMigrateEmbeddedToPostgres: a node on the embedded store with real
// traffic is stopped and migrated with `seen migrate`; a node on the
// PostgreSQL database then answers every user's conversation list,
// histories and receipts byte for byte as the embedded node did. migrate
// refuses while the server holds the directory, and refuses a second run
// into the database it filled, both with a non-zero exit.
func TestMigrateEmbeddedToPostgres(t *testing.T) {
	pg := seentest.PostgresDB(t)
	a := seentest.StartSingle(t, "migrates from an embedded data directory")
	users := []string{"alice", "bob", "carol", "dave"}
	a.Users(users...)
	a.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "team", "owner": "alice", "members": []string{"bob", "carol", "dave"}})
	alice := connectRaw(t, a, "alice", "phone")
	bob := connectRaw(t, a, "bob", "phone")
	carol := connectRaw(t, a, "carol", "phone")

	var sent []protocol.SendResult
	for i := range 6 {
		var m protocol.SendResult
		alice.MustCall(protocol.MethodMessageSend, protocol.SendParams{Conversation: group("team"), ClientMsgID: fmt.Sprintf("g%d", i),
			Body: json.RawMessage(fmt.Sprintf(`{ "text":  "hello %d" }`, i)), Receipt: i%2 == 0}, &m)
		sent = append(sent, m)
	}
	// bob reads out of order (sparse acks), carol has them delivered and
	// reads the conversation up to the third, dave does nothing.
	bob.MustCall(protocol.MethodMessageRead, protocol.ReadParams{Conversation: group("team"), MsgIDs: []string{sent[4].MsgID, sent[2].MsgID}}, nil)
	carol.MustCall(protocol.MethodMessageDelivered, protocol.DeliveredParams{Conversation: group("team"), Seq: sent[5].Seq}, nil)
	carol.MustCall(protocol.MethodConversationRead, protocol.ConversationReadParams{Conversation: group("team"), Seq: sent[2].Seq}, nil)
	// A receipt asked for after the send.
	alice.MustCall(protocol.MethodReceiptRequest, protocol.ReceiptRequestParams{Conversation: group("team"), MsgID: sent[1].MsgID}, nil)
	// A peer chat, read in part.
	p1 := send(t, bob, peer("alice"), "p1", "hi alice")
	send(t, bob, peer("alice"), "p2", "again")
	alice.MustCall(protocol.MethodMessageRead, protocol.ReadParams{Conversation: peer("bob"), MsgIDs: []string{p1.MsgID}}, nil)

	// While the server holds the directory, migrate refuses and says why.
	if out, err := runMigrate(t, a.Cfg.Data, pg); err == nil || !strings.Contains(out, "still running") {
		t.Fatalf("migrate with the server running: %v\n%s", err, out)
	}

	before := answers(t, a, users)
	for _, r := range []*seentest.Raw{alice, bob, carol} {
		r.Close()
	}
	a.Stop()

	out, err := runMigrate(t, a.Cfg.Data, pg)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if !strings.Contains(out, "copied 4 users, 1 groups, 2 conversations, 6 members, 8 messages") ||
		!strings.Contains(out, "2 conversation checksums match") {
		t.Errorf("migrate summary:\n%s", out)
	}
	if out, err := runMigrate(t, a.Cfg.Data, pg); err == nil || !strings.Contains(out, "already holds data") {
		t.Fatalf("second migrate: %v\n%s", err, out)
	}

	b := seentest.Start(t, seentest.Cluster(pg, ""))
	after := answers(t, b, users)
	if len(after) != len(before) {
		t.Errorf("%d answers on PostgreSQL, %d on the embedded store", len(after), len(before))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s differs:\nembedded   %s\nPostgreSQL %s", k, v, after[k])
		}
	}
}

// TestMigrateKeepsFrozenCounts: a receipt whose validity window closed
// keeps the counts it had then, through the migration, though a member read
// the message after the close.
func TestMigrateKeepsFrozenCounts(t *testing.T) {
	pg := seentest.PostgresDB(t)
	ttl := func(c *config.Config) { c.Receipts.TTL = expiryTTL }
	a := seentest.StartSingle(t, "migrates from an embedded data directory", ttl)
	users := []string{"s", "r1", "r2", "r3"}
	a.Users(users...)
	a.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "exp", "owner": "s", "members": []string{"r1", "r2", "r3"}})
	s := connectRaw(t, a, "s", "phone")
	r1 := connectRaw(t, a, "r1", "phone")
	r2 := connectRaw(t, a, "r2", "phone")
	r3 := connectRaw(t, a, "r3", "phone")
	var m protocol.SendResult
	s.MustCall(protocol.MethodMessageSend, protocol.SendParams{Conversation: group("exp"), ClientMsgID: "e1", Body: json.RawMessage(`{"text":"soon gone"}`), Receipt: true}, &m)
	r1.MustCall(protocol.MethodMessageRead, protocol.ReadParams{Conversation: group("exp"), MsgIDs: []string{m.MsgID}}, nil)
	r2.MustCall(protocol.MethodMessageDelivered, protocol.DeliveredParams{Conversation: group("exp"), Seq: m.Seq}, nil)
	query := func() protocol.Receipt {
		var res protocol.ReceiptQueryResult
		s.MustCall(protocol.MethodReceiptQuery, protocol.ReceiptQueryParams{Conversation: group("exp"), MsgIDs: []string{m.MsgID}}, &res)
		return res.Receipts[0]
	}
	r := query()
	if r.Status != protocol.StatusPending || r.ExpiresAt == 0 {
		t.Fatalf("before expiry: %+v, want pending with expiresAt (setup slower than the TTL?)", r)
	}
	waitPast(t, r.ExpiresAt)
	want := protocol.Receipt{MsgID: m.MsgID, Status: protocol.StatusExpired, ReadCount: 1, UnreadCount: 2, DeliveredCount: 2, ExpiresAt: r.ExpiresAt}
	seentest.Eventually(t, 10*time.Second, func() error {
		if got := query(); got != want {
			return fmt.Errorf("after expiry: %+v, want %+v", got, want)
		}
		return nil
	})
	// A read after the close moves r3's watermark, not the frozen counts.
	r3.MustCall(protocol.MethodConversationRead, protocol.ConversationReadParams{Conversation: group("exp"), Seq: m.Seq}, nil)

	before := answers(t, a, users)
	for _, c := range []*seentest.Raw{s, r1, r2, r3} {
		c.Close()
	}
	a.Stop()
	if out, err := runMigrate(t, a.Cfg.Data, pg); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	b := seentest.Start(t, seentest.Cluster(pg, ""), ttl)
	after := answers(t, b, users)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s differs:\nembedded   %s\nPostgreSQL %s", k, v, after[k])
		}
	}
	s = connectRaw(t, b, "s", "phone")
	if got := query(); got != want {
		t.Errorf("on PostgreSQL: %+v, want the frozen %+v", got, want)
	}
}
