package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/protocol"
)

// groupOf creates users and a group owned by the first, and connects every
// member with automatic delivery acks off (tests ack explicitly).
func groupOf(t *testing.T, s *seentest.Server, id string, users ...string) map[string]*device {
	t.Helper()
	s.Users(users...)
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": id, "owner": users[0], "members": users[1:]})
	devs := map[string]*device{}
	for _, u := range users {
		devs[u] = dial(t, s, u, "d", client.WithAutoDelivered(false))
	}
	return devs
}

// sendReceipt sends a message that asks for receipts.
func (d *device) sendReceipt(conv protocol.Conversation, text string) protocol.SendResult {
	d.t.Helper()
	body, _ := json.Marshal(map[string]string{"text": text})
	res, err := d.Send(ctx(d.t), protocol.SendParams{Conversation: conv, ClientMsgID: client.NewClientMsgID(), Body: body, Receipt: true})
	if err != nil {
		d.t.Fatalf("send %q: %v", text, err)
	}
	return res
}

func (d *device) read(conv protocol.Conversation, ids ...string) int {
	d.t.Helper()
	res, err := d.Read(ctx(d.t), protocol.ReadParams{Conversation: conv, MsgIDs: ids})
	if err != nil {
		d.t.Fatalf("read %v: %v", ids, err)
	}
	return res.Read
}

func (d *device) receipt(conv protocol.Conversation, id string) protocol.Receipt {
	d.t.Helper()
	res, err := d.QueryReceipts(ctx(d.t), protocol.ReceiptQueryParams{Conversation: conv, MsgIDs: []string{id}})
	if err != nil {
		d.t.Fatalf("query %s: %v", id, err)
	}
	return res.Receipts[0]
}

// members lists every member of a receipt list, page by page.
func (d *device) members(conv protocol.Conversation, id, filter string, limit int) []string {
	d.t.Helper()
	var out []string
	cursor := ""
	for pages := 0; ; pages++ {
		res, err := d.ReceiptMembers(ctx(d.t), protocol.ReceiptMembersParams{Conversation: conv, MsgID: id, Filter: filter, Cursor: cursor, Limit: limit})
		if err != nil {
			d.t.Fatalf("members %s %s: %v", id, filter, err)
		}
		if len(res.Members) > limit {
			d.t.Fatalf("page of %d members, limit %d", len(res.Members), limit)
		}
		for _, m := range res.Members {
			out = append(out, m.UserID)
		}
		if res.Done {
			return out
		}
		if res.NextCursor == "" || pages > 1000 {
			d.t.Fatalf("not done but no cursor")
		}
		cursor = res.NextCursor
	}
}

// changedUntil waits until a receipt.changed for id carries want read
// count, and returns the new readers seen on the way. Events are
// coalesced, so several reads may arrive in one.
func (d *device) changedUntil(id string, wantRead int) (protocol.Receipt, []string) {
	d.t.Helper()
	var readers []string
	for {
		e := next[protocol.ReceiptChangedEvent](d)
		for _, r := range e.Receipts {
			if r.MsgID != id {
				continue
			}
			readers = append(readers, r.NewReaders...)
			if r.ReadCount == wantRead {
				return r.Receipt, readers
			}
		}
	}
}

func code(err error) int {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return 0
}

// RongCloud: sendReadReceiptRequest / onMessageReceiptRequest /
// sendReadReceiptResponseV2 / onMessageReceiptResponse.
func TestRongCloudReadReceiptRequestAndResponse(t *testing.T) {
	s := seentest.Start(t)
	devs := groupOf(t, s, "rc", "owner", "m1", "m2", "m3")
	g := group("rc")
	msg := devs["owner"].say(g, "no receipt asked yet")
	for _, u := range []string{"m1", "m2", "m3"} {
		next[protocol.Message](devs[u])
	}
	if r := devs["owner"].receipt(g, msg.MsgID); r.Status != protocol.StatusNone {
		t.Fatalf("before request: status %s, want none", r.Status)
	}
	// The request turns receipts on and reaches every member but the sender.
	if err := devs["owner"].RequestReceipt(ctx(t), protocol.ReceiptRequestParams{Conversation: g, MsgID: msg.MsgID}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"m1", "m2", "m3"} {
		e := next[protocol.ReceiptRequestedEvent](devs[u])
		if e.MsgID != msg.MsgID || e.Sender != "owner" || e.Conversation != g {
			t.Fatalf("%s got %+v", u, e)
		}
	}
	devs["owner"].quiet()
	// Responses: m1 reads; the sender hears it with m1 as a new reader.
	if n := devs["m1"].read(g, msg.MsgID); n != 1 {
		t.Fatalf("read = %d, want 1", n)
	}
	r, readers := devs["owner"].changedUntil(msg.MsgID, 1)
	if r.UnreadCount != 2 || r.Status != protocol.StatusPending || !slices.Equal(readers, []string{"m1"}) {
		t.Fatalf("receipt.changed = %+v readers %v, want 1 read, 2 unread, pending, [m1]", r, readers)
	}
	// A repeated read records nothing and tells nobody.
	if n := devs["m1"].read(g, msg.MsgID); n != 0 {
		t.Fatalf("repeated read = %d, want 0", n)
	}
	// A second request reminds only those who have not read it.
	if err := devs["owner"].RequestReceipt(ctx(t), protocol.ReceiptRequestParams{Conversation: g, MsgID: msg.MsgID}); err != nil {
		t.Fatal(err)
	}
	next[protocol.ReceiptRequestedEvent](devs["m2"])
	next[protocol.ReceiptRequestedEvent](devs["m3"])
	devs["m1"].quiet()
	devs["owner"].quiet()
	devs["m2"].read(g, msg.MsgID)
	devs["m3"].read(g, msg.MsgID)
	r, _ = devs["owner"].changedUntil(msg.MsgID, 3)
	if r.Status != protocol.StatusDone || r.UnreadCount != 0 {
		t.Fatalf("final receipt.changed = %+v, want done", r)
	}
}

// Agora: requireDeliveryAck / onMessagesDelivered, sendMessageReadAck /
// onMessagesRead, sendConversationReadAck / onConversationRead.
func TestAgoraPeerDeliveryReadAndConversationAck(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob")
	alice := dial(t, s, "alice", "d")
	bob := dial(t, s, "bob", "d") // delivers by itself (the default)
	m1 := alice.sendReceipt(peer("bob"), "one")
	m2 := alice.sendReceipt(peer("bob"), "two")
	next[protocol.Message](bob)
	next[protocol.Message](bob)
	// Bob's SDK acks delivery by itself, batched: alice sees delivered up to 2.
	for {
		d := next[protocol.ReceiptDeliveredEvent](alice)
		if d.UserID != "bob" || d.Conversation != peer("bob") {
			t.Fatalf("delivered event %+v", d)
		}
		if d.Seq == 2 {
			break
		}
	}
	if r := alice.receipt(peer("bob"), m1.MsgID); r.DeliveredCount != 1 || r.ReadCount != 0 || r.Status != protocol.StatusPending {
		t.Fatalf("after delivery: %+v", r)
	}
	// A single-message read ack (sendMessageReadAck) of the second message.
	bob.read(peer("alice"), m2.MsgID)
	rr := next[protocol.ReceiptReadEvent](alice)
	if rr.UserID != "bob" || !slices.Equal(rr.MsgIDs, []string{m2.MsgID}) {
		t.Fatalf("receipt.read = %+v", rr)
	}
	if r := alice.receipt(peer("bob"), m2.MsgID); r.Status != protocol.StatusDone || r.ReadCount != 1 || r.UnreadCount != 0 {
		t.Fatalf("m2 after read: %+v, want done", r)
	}
	if r := alice.receipt(peer("bob"), m1.MsgID); r.Status != protocol.StatusPending {
		t.Fatalf("m1 read out of order? %+v", r)
	}
	unread, _ := bob.unread(peer("alice"))
	if unread != 1 {
		t.Fatalf("bob's unread = %d, want 1 (m1)", unread)
	}
	// The conversation ack (sendConversationReadAck) covers the rest.
	if _, err := bob.ReadConversation(ctx(t), protocol.ConversationReadParams{Conversation: peer("alice")}); err != nil {
		t.Fatal(err)
	}
	cr := next[protocol.ConversationReadEvent](alice)
	if cr.UserID != "bob" || cr.Seq != 2 {
		t.Fatalf("conversation.read = %+v", cr)
	}
	if r := alice.receipt(peer("bob"), m1.MsgID); r.Status != protocol.StatusDone {
		t.Fatalf("m1 after conversation read: %+v, want done", r)
	}
	list, _ := alice.Conversations(ctx(t), protocol.ConversationListParams{})
	if c := list.Conversations[0]; *c.PeerReadSeq != 2 || *c.PeerDeliveredSeq != 2 {
		t.Fatalf("alice's view of bob: %+v", c)
	}
	// History carries the receipt state (RongCloud readReceiptInfo): a
	// Receipt for the sender, ack state for the receiver.
	h, _ := alice.History(ctx(t), protocol.HistoryParams{Conversation: peer("bob")})
	if r := client.MessageReceipt(h.Messages[0]); r == nil || r.Status != protocol.StatusDone || r.MsgID != m2.MsgID {
		t.Fatalf("alice's history receipt = %+v", h.Messages[0].Receipt)
	}
	h, _ = bob.History(ctx(t), protocol.HistoryParams{Conversation: peer("alice")})
	if a := client.MessageAckState(h.Messages[1]); a == nil || !a.Read || !a.Delivered {
		t.Fatalf("bob's history ack state = %+v", h.Messages[1].Receipt)
	}
}

// Agora: needGroupAck, sendGroupMessageReadAck, groupAckCount,
// fetchGroupAcks.
func TestAgoraGroupAckCountAndFetchGroupAcks(t *testing.T) {
	s := seentest.Start(t)
	devs := groupOf(t, s, "ag", "boss", "a", "b", "c", "d")
	g := group("ag")
	m := devs["boss"].sendReceipt(g, "please ack")
	for _, u := range []string{"a", "b", "c", "d"} {
		got := next[protocol.Message](devs[u])
		if a := client.MessageAckState(got); a == nil || a.Read {
			t.Fatalf("%s got receipt field %+v, want unread ack state", u, got.Receipt)
		}
	}
	devs["c"].read(g, m.MsgID)
	devs["a"].read(g, m.MsgID)
	r, _ := devs["boss"].changedUntil(m.MsgID, 2)
	if r.UnreadCount != 2 || r.DeliveredCount != 2 {
		t.Fatalf("groupAckCount = %+v, want 2 read, 2 unread, 2 delivered", r)
	}
	if got := devs["boss"].members(g, m.MsgID, protocol.FilterRead, 100); !slices.Equal(sorted(got), []string{"a", "c"}) {
		t.Fatalf("fetchGroupAcks = %v, want [a c]", got)
	}
	res, err := devs["boss"].ReceiptMembers(ctx(t), protocol.ReceiptMembersParams{Conversation: g, MsgID: m.MsgID, Filter: protocol.FilterRead, Limit: 10})
	if err != nil || res.Members[0].At == 0 {
		t.Fatalf("read list %+v, %v: want the time of each ack", res, err)
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// Tencent: needReadReceipt, getMessageReadReceipts (read/unread counts),
// getGroupMessageReadMemberList with paging.
func TestTencentReadUnreadCountsAndMemberListPaging(t *testing.T) {
	s := seentest.Start(t)
	users := []string{"sender"}
	for i := range 12 {
		users = append(users, fmt.Sprintf("u%02d", i))
	}
	devs := groupOf(t, s, "tc", users...)
	g := group("tc")
	m := devs["sender"].sendReceipt(g, "count me")
	var readers []string
	for i, u := range users[1:] {
		next[protocol.Message](devs[u])
		if i%2 == 0 {
			devs[u].read(g, m.MsgID)
			readers = append(readers, u)
		}
	}
	r := devs["sender"].receipt(g, m.MsgID)
	if r.ReadCount != 6 || r.UnreadCount != 6 || r.Status != protocol.StatusPending {
		t.Fatalf("counts = %+v, want 6 read, 6 unread", r)
	}
	read := devs["sender"].members(g, m.MsgID, protocol.FilterRead, 4)
	unread := devs["sender"].members(g, m.MsgID, protocol.FilterUnread, 4)
	if !slices.Equal(sorted(read), readers) {
		t.Fatalf("read list = %v, want %v", read, readers)
	}
	all := append(read, unread...)
	if !slices.Equal(sorted(all), users[1:]) {
		t.Fatalf("read + unread = %v, want every member but the sender once", sorted(all))
	}
	// Paging is stable: members who do not change between pages are neither
	// repeated nor skipped, whatever others do meanwhile.
	page1, err := devs["sender"].ReceiptMembers(ctx(t), protocol.ReceiptMembersParams{Conversation: g, MsgID: m.MsgID, Filter: protocol.FilterUnread, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	devs[page1.Members[0].UserID].say(g, "I write, so I read") // moves a listed member
	res, err := devs["sender"].ReceiptMembers(ctx(t), protocol.ReceiptMembersParams{Conversation: g, MsgID: m.MsgID, Filter: protocol.FilterUnread, Cursor: page1.NextCursor, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var second []string
	for _, mm := range res.Members {
		second = append(second, mm.UserID)
	}
	var first []string
	for _, mm := range page1.Members {
		first = append(first, mm.UserID)
	}
	if got := sorted(append(first, second...)); !slices.Equal(got, sorted(unread)) {
		t.Fatalf("pages %v + %v, want %v", first, second, unread)
	}
}

// ZEGO: hasReceipt, receiptStatus PROCESSING -> DONE,
// queryMessageReceiptsInfo (batch), queryGroupMessageReceipt{Read,Unread}MemberList.
func TestZegoProcessingToDoneBatchQueryAndLists(t *testing.T) {
	s := seentest.Start(t)
	devs := groupOf(t, s, "zg", "z", "x", "y")
	g := group("zg")
	m1 := devs["z"].sendReceipt(g, "one")
	m2 := devs["z"].sendReceipt(g, "two")
	plain := devs["z"].say(g, "three, no receipt")
	res, err := devs["z"].QueryReceipts(ctx(t), protocol.ReceiptQueryParams{Conversation: g, MsgIDs: []string{m1.MsgID, m2.MsgID, plain.MsgID}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{protocol.StatusPending, protocol.StatusPending, protocol.StatusNone}
	for i, r := range res.Receipts {
		if r.Status != want[i] || (i < 2 && r.UnreadCount != 2) {
			t.Fatalf("receipt %d = %+v, want %s", i, r, want[i])
		}
	}
	devs["x"].read(g, m1.MsgID)
	if got := devs["z"].members(g, m1.MsgID, protocol.FilterUnread, 10); !slices.Equal(got, []string{"y"}) {
		t.Fatalf("unread list = %v, want [y]", got)
	}
	if _, err := devs["y"].ReadConversation(ctx(t), protocol.ConversationReadParams{Conversation: g}); err != nil {
		t.Fatal(err)
	}
	devs["x"].read(g, m2.MsgID)
	r, _ := devs["z"].changedUntil(m2.MsgID, 2)
	if r.Status != protocol.StatusDone {
		t.Fatalf("m2 = %+v, want done", r)
	}
	res, _ = devs["z"].QueryReceipts(ctx(t), protocol.ReceiptQueryParams{Conversation: g, MsgIDs: []string{m1.MsgID, m2.MsgID}})
	for _, r := range res.Receipts {
		if r.Status != protocol.StatusDone || r.ReadCount != 2 || r.UnreadCount != 0 || r.DeliveredCount != 2 {
			t.Fatalf("after all read: %+v, want done 2/0/2", r)
		}
	}
	if got := devs["z"].members(g, m1.MsgID, protocol.FilterRead, 1); !slices.Equal(sorted(got), []string{"x", "y"}) {
		t.Fatalf("read list = %v", got)
	}
}

func TestMembershipIsHonoured(t *testing.T) {
	s := seentest.Start(t)
	devs := groupOf(t, s, "mh", "own", "stay", "go")
	s.Users("late")
	g := group("mh")
	m := devs["own"].sendReceipt(g, "counted by stay and go")
	s.MustAdmin("POST", "/v1/admin/groups/mh/members", map[string]any{"userIds": []string{"late"}})
	r := devs["own"].receipt(g, m.MsgID)
	if r.ReadCount+r.UnreadCount != 2 {
		t.Fatalf("eligible = %d, want 2: the sender and the late joiner do not count", r.ReadCount+r.UnreadCount)
	}
	devs["go"].read(g, m.MsgID)
	if r := devs["own"].receipt(g, m.MsgID); r.ReadCount != 1 || r.UnreadCount != 1 {
		t.Fatalf("before leave: %+v", r)
	}
	if err := devs["go"].LeaveGroup(ctx(t), protocol.GroupLeaveParams{GroupID: "mh"}); err != nil {
		t.Fatal(err)
	}
	if r := devs["own"].receipt(g, m.MsgID); r.ReadCount != 0 || r.UnreadCount != 1 {
		t.Fatalf("after the reader left: %+v, want 0 read, 1 unread", r)
	}
}

func TestReceiptErrorPaths(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) {
		c.Receipts.WhoMayRequest = "admins"
		c.Receipts.GroupTypes = []string{"work"}
		c.Receipts.MaxGroupSize = 4
	})
	s.Users("a", "b", "c", "d", "e")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "w", "type": "work", "owner": "a", "members": []string{"b", "c"}})
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "o", "type": "other", "owner": "a", "members": []string{"b"}})
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "big", "type": "work", "owner": "a", "members": []string{"b", "c", "d", "e"}})
	a := dial(t, s, "a", "d", client.WithAutoDelivered(false))
	b := dial(t, s, "b", "d", client.WithAutoDelivered(false))
	w := group("w")
	m := a.sendReceipt(w, "work")
	other := a.say(group("o"), "elsewhere")
	own := b.say(w, "b's own")
	before := snapshotReceipts(t, a, w, m.MsgID)

	cases := []struct {
		name string
		err  error
		want int
	}{
		{"ack another conversation's message", b.Call(ctx(t), protocol.MethodMessageRead, protocol.ReadParams{Conversation: w, MsgIDs: []string{other.MsgID}}, nil), protocol.CodeNotFound},
		{"ack an unknown message", b.Call(ctx(t), protocol.MethodMessageRead, protocol.ReadParams{Conversation: w, MsgIDs: []string{m.MsgID, "nope"}}, nil), protocol.CodeNotFound},
		{"ack your own message", b.Call(ctx(t), protocol.MethodMessageRead, protocol.ReadParams{Conversation: w, MsgIDs: []string{own.MsgID}}, nil), protocol.CodeForbidden},
		{"ack no message", b.Call(ctx(t), protocol.MethodMessageRead, protocol.ReadParams{Conversation: w, MsgIDs: []string{}}, nil), protocol.CodeInvalidParams},
		{"query someone else's receipt", b.Call(ctx(t), protocol.MethodReceiptQuery, protocol.ReceiptQueryParams{Conversation: w, MsgIDs: []string{m.MsgID}}, nil), protocol.CodeForbidden},
		{"list someone else's receipt", b.Call(ctx(t), protocol.MethodReceiptMembers, protocol.ReceiptMembersParams{Conversation: w, MsgID: m.MsgID, Filter: "read"}, nil), protocol.CodeForbidden},
		{"bad filter", a.Call(ctx(t), protocol.MethodReceiptMembers, protocol.ReceiptMembersParams{Conversation: w, MsgID: m.MsgID, Filter: "seen"}, nil), protocol.CodeInvalidParams},
		{"bad cursor", a.Call(ctx(t), protocol.MethodReceiptMembers, protocol.ReceiptMembersParams{Conversation: w, MsgID: m.MsgID, Filter: "read", Cursor: "xyz"}, nil), protocol.CodeInvalidParams},
		{"request by a plain member under admins", b.Call(ctx(t), protocol.MethodReceiptRequest, protocol.ReceiptRequestParams{Conversation: w, MsgID: own.MsgID}, nil), protocol.CodeForbidden},
		{"request for another's message", a.Call(ctx(t), protocol.MethodReceiptRequest, protocol.ReceiptRequestParams{Conversation: w, MsgID: own.MsgID}, nil), protocol.CodeForbidden},
		{"request in a peer chat", a.Call(ctx(t), protocol.MethodReceiptRequest, protocol.ReceiptRequestParams{Conversation: peer("b"), MsgID: m.MsgID}, nil), protocol.CodeInvalidParams},
		{"receipt in a group of a disabled type", a.Call(ctx(t), protocol.MethodMessageSend, protocol.SendParams{Conversation: group("o"), ClientMsgID: "x", Body: json.RawMessage(`1`), Receipt: true}, nil), protocol.CodeUnprocessable},
		{"request in a group of a disabled type", a.Call(ctx(t), protocol.MethodReceiptRequest, protocol.ReceiptRequestParams{Conversation: group("o"), MsgID: other.MsgID}, nil), protocol.CodeUnprocessable},
		{"receipt in a group over the size limit", a.Call(ctx(t), protocol.MethodMessageSend, protocol.SendParams{Conversation: group("big"), ClientMsgID: "x", Body: json.RawMessage(`1`), Receipt: true}, nil), protocol.CodeUnprocessable},
		{"members of a message without receipts", a.Call(ctx(t), protocol.MethodReceiptMembers, protocol.ReceiptMembersParams{Conversation: group("o"), MsgID: other.MsgID, Filter: "read"}, nil), protocol.CodeUnprocessable},
	}
	for _, tc := range cases {
		if got := code(tc.err); got != tc.want {
			t.Errorf("%s: code %d (%v), want %d", tc.name, got, tc.err, tc.want)
		}
	}
	if diff := cmp.Diff(before, snapshotReceipts(t, a, w, m.MsgID)); diff != "" {
		t.Errorf("rejected requests changed receipts:\n%s", diff)
	}
	// The group over the limit took no message either.
	h, _ := a.History(ctx(t), protocol.HistoryParams{Conversation: group("big")})
	if len(h.Messages) != 0 {
		t.Errorf("refused sends left %d messages", len(h.Messages))
	}
}

func snapshotReceipts(t *testing.T, d *device, conv protocol.Conversation, id string) map[string]any {
	return map[string]any{
		"receipt": d.receipt(conv, id),
		"read":    d.members(conv, id, protocol.FilterRead, 100),
		"unread":  d.members(conv, id, protocol.FilterUnread, 100),
	}
}

func TestExpiryFreezesCountsAndRefusesAcks(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) { c.Receipts.TTL = 300 * time.Millisecond })
	devs := groupOf(t, s, "ex", "s", "r1", "r2")
	g := group("ex")
	m := devs["s"].sendReceipt(g, "read me soon")
	devs["r1"].read(g, m.MsgID)
	r := devs["s"].receipt(g, m.MsgID)
	if r.ExpiresAt == 0 || r.Status != protocol.StatusPending {
		t.Fatalf("fresh receipt = %+v, want pending with expiresAt", r)
	}
	seentest.Eventually(t, 10*time.Second, func() error {
		if r := devs["s"].receipt(g, m.MsgID); r.Status != protocol.StatusExpired {
			return fmt.Errorf("status %s", r.Status)
		}
		return nil
	})
	if err := devs["r2"].Call(ctx(t), protocol.MethodMessageRead, protocol.ReadParams{Conversation: g, MsgIDs: []string{m.MsgID}}, nil); code(err) != protocol.CodeGone {
		t.Fatalf("late ack = %v, want 410", err)
	}
	// A conversation read still moves r2's own unread state, but the
	// frozen counts stay as they stood at expiry.
	if _, err := devs["r2"].ReadConversation(ctx(t), protocol.ConversationReadParams{Conversation: g}); err != nil {
		t.Fatal(err)
	}
	if r := devs["s"].receipt(g, m.MsgID); r.Status != protocol.StatusExpired || r.ReadCount != 1 || r.UnreadCount != 1 {
		t.Fatalf("after expiry: %+v, want expired with 1 read, 1 unread", r)
	}
	if err := devs["s"].RequestReceipt(ctx(t), protocol.ReceiptRequestParams{Conversation: g, MsgID: m.MsgID}); code(err) != protocol.CodeGone {
		t.Fatalf("request after expiry = %v, want 410", err)
	}
	// Restarting keeps the frozen counts.
	s.Restart()
	sd := dial(t, s, "s", "d2")
	if r := sd.receipt(g, m.MsgID); r.Status != protocol.StatusExpired || r.ReadCount != 1 {
		t.Fatalf("after restart: %+v", r)
	}
}

func TestAdminReceiptEndpointsMatchTheSender(t *testing.T) {
	s := seentest.Start(t)
	devs := groupOf(t, s, "ad", "o", "p", "q")
	g := group("ad")
	m := devs["o"].sendReceipt(g, "admin looks")
	devs["q"].read(g, m.MsgID)
	body := s.MustAdmin("GET", "/v1/admin/messages/"+m.MsgID+"/receipt", nil)
	var r protocol.Receipt
	json.Unmarshal(body, &r)
	if want := devs["o"].receipt(g, m.MsgID); r != want {
		t.Fatalf("admin receipt %+v, sender sees %+v", r, want)
	}
	body = s.MustAdmin("GET", "/v1/admin/messages/"+m.MsgID+"/members?filter=unread&limit=10", nil)
	var res protocol.ReceiptMembersResult
	json.Unmarshal(body, &res)
	if len(res.Members) != 1 || res.Members[0].UserID != "p" || !res.Done {
		t.Fatalf("admin unread list = %+v", res)
	}
}

func TestConversationReadDoesNotReReportSingleReads(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) { c.Receipts.Coalesce = time.Millisecond })
	devs := groupOf(t, s, "rr", "s", "r", "other")
	g := group("rr")
	m1 := devs["s"].sendReceipt(g, "one")
	m2 := devs["s"].sendReceipt(g, "two")
	devs["r"].read(g, m2.MsgID)
	devs["s"].changedUntil(m2.MsgID, 1)
	if _, err := devs["r"].ReadConversation(ctx(t), protocol.ConversationReadParams{Conversation: g}); err != nil {
		t.Fatal(err)
	}
	e := next[protocol.ReceiptChangedEvent](devs["s"])
	if len(e.Receipts) != 1 || e.Receipts[0].MsgID != m1.MsgID || !slices.Equal(e.Receipts[0].NewReaders, []string{"r"}) {
		t.Fatalf("receipt.changed = %+v, want only %s with new reader r", e.Receipts, m1.MsgID)
	}
	devs["s"].quiet()
}

// A message.read that would take a member past the out-of-order limit is
// refused whole: nothing of it is recorded.
func TestTooManyOutOfOrderAcksRefusedWhole(t *testing.T) {
	s := seentest.Start(t)
	s.Users("s", "r")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "oo", "owner": "s", "members": []string{"r"}})
	g := group("oo")
	var ids []string
	for i := range 2*store.MaxAcks + 4 {
		body, _ := json.Marshal(map[string]int{"n": i})
		b := s.MustAdmin("POST", "/v1/admin/messages", map[string]any{"from": "s", "conversation": g, "clientMsgId": fmt.Sprint(i), "body": json.RawMessage(body), "receipt": true})
		var res protocol.SendResult
		json.Unmarshal(b, &res)
		ids = append(ids, res.MsgID)
	}
	r := dial(t, s, "r", "d", client.WithAutoDelivered(false))
	sd := dial(t, s, "s", "d")
	// Seqs 2, 4, ..., 2*MaxAcks: MaxAcks acks above the watermark, none folds.
	for i := 1; i < 2*store.MaxAcks; i += 100 {
		var batch []string
		for j := i; j < min(i+100, 2*store.MaxAcks); j += 2 {
			batch = append(batch, ids[j])
		}
		r.read(g, batch...)
	}
	before := sd.receipt(g, ids[2*store.MaxAcks+1])
	err := r.Call(ctx(t), protocol.MethodMessageRead, protocol.ReadParams{Conversation: g, MsgIDs: []string{ids[2*store.MaxAcks+1], ids[2*store.MaxAcks+3]}}, nil)
	if code(err) != protocol.CodeUnprocessable {
		t.Fatalf("ack beyond the limit = %v, want 422", err)
	}
	h, _ := r.History(ctx(t), protocol.HistoryParams{Conversation: g, Limit: 3})
	for _, m := range h.Messages {
		if a := client.MessageAckState(m); a != nil && a.Read {
			t.Fatalf("seq %d recorded as read by a refused call", m.Seq)
		}
	}
	if after := sd.receipt(g, ids[2*store.MaxAcks+1]); after != before {
		t.Fatalf("receipt changed by a refused call: %+v -> %+v", before, after)
	}
	// Reading the first message folds everything: room again.
	r.read(g, ids[0])
	r.read(g, ids[2*store.MaxAcks+1])
}
