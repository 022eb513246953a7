package e2e

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// Private reading, end to end: what a sender sees of a private reader
// (nothing), what the reader's own devices see (everything), the setting
// applied to every device at once, no retroactive leak, and the policies.

// senderView is everything a sender can learn about reads of its messages
// in one conversation: receipts, member lists, history receipt fields and
// the conversation list entry (peerReadSeq, peerDeliveredSeq).
type senderView struct {
	Receipts []protocol.Receipt
	Lists    map[string][]string
	History  []protocol.Message
	Info     protocol.ConversationInfo
}

func (d *device) senderView(conv protocol.Conversation, ids ...string) senderView {
	d.t.Helper()
	var v senderView
	res, err := d.QueryReceipts(ctx(d.t), protocol.ReceiptQueryParams{Conversation: conv, MsgIDs: ids})
	if err != nil {
		d.t.Fatalf("query: %v", err)
	}
	v.Receipts = res.Receipts
	v.Lists = map[string][]string{}
	for _, id := range ids {
		for _, f := range []string{protocol.FilterRead, protocol.FilterUnread, protocol.FilterDelivered} {
			v.Lists[id+"/"+f] = d.members(conv, id, f, 100)
		}
	}
	h, err := d.History(ctx(d.t), protocol.HistoryParams{Conversation: conv, Limit: 100})
	if err != nil {
		d.t.Fatal(err)
	}
	v.History = h.Messages
	list, err := d.Conversations(ctx(d.t), protocol.ConversationListParams{Limit: 100})
	if err != nil {
		d.t.Fatal(err)
	}
	for _, c := range list.Conversations {
		if c.Conversation == conv {
			v.Info = c
		}
	}
	return v
}

// drain empties d's events once the client has handled all the server
// sent before answering a round trip.
func (d *device) drain() {
	d.t.Helper()
	if err := d.Settle(ctx(d.t)); err != nil {
		d.t.Fatal(err)
	}
	for {
		select {
		case <-d.events:
		default:
			return
		}
	}
}

func (d *device) readPrivately(conv protocol.Conversation, ids ...string) int {
	d.t.Helper()
	res, err := d.Read(ctx(d.t), protocol.ReadParams{Conversation: conv, MsgIDs: ids, Private: true})
	if err != nil {
		d.t.Fatalf("private read %v: %v", ids, err)
	}
	return res.Read
}

func (d *device) readAll(conv protocol.Conversation, seq uint64, private bool) uint64 {
	d.t.Helper()
	res, err := d.ReadConversation(ctx(d.t), protocol.ConversationReadParams{Conversation: conv, Seq: seq, Private: private})
	if err != nil {
		d.t.Fatalf("conversation.read %v: %v", conv, err)
	}
	return res.ReadSeq
}

func (d *device) setSharing(reads, delivery bool) protocol.Settings {
	d.t.Helper()
	st, err := d.UpdateSettings(ctx(d.t), protocol.SettingsUpdateParams{ShareReads: &reads, ShareDelivery: &delivery})
	if err != nil {
		d.t.Fatalf("settings.update: %v", err)
	}
	return st
}

// sameView fails if the sender's view changed.
func sameView(t *testing.T, what string, before, after senderView) {
	t.Helper()
	if diff := cmp.Diff(before, after); diff != "" {
		t.Fatalf("%s: the sender's view changed (-before +after):\n%s", what, diff)
	}
}

// privateWorld: alice sends, bob reads on two devices, carol is a third
// member of the group. Receipt events coalesce over 1 ms.
type privateWorld struct {
	s                 *seentest.Server
	alice, bob1, bob2 *device
	carol             *device
	g, toBob, toAlice protocol.Conversation
	gIDs, pIDs        []string
	gLast, pLast      uint64
}

func newPrivateWorld(t *testing.T, opts ...func(*config.Config)) *privateWorld {
	t.Helper()
	opts = append([]func(*config.Config){func(c *config.Config) { c.Receipts.Coalesce = time.Millisecond }}, opts...)
	s := seentest.Start(t, opts...)
	w := &privateWorld{s: s, g: group("g"), toBob: peer("bob"), toAlice: peer("alice")}
	devs := groupOf(t, s, "g", "alice", "bob", "carol")
	w.alice, w.bob1, w.carol = devs["alice"], devs["bob"], devs["carol"]
	w.bob2 = dial(t, s, "bob", "d2", client.WithAutoDelivered(false))
	for _, text := range []string{"g1", "g2", "g3"} {
		r := w.alice.sendReceipt(w.g, text)
		w.gIDs, w.gLast = append(w.gIDs, r.MsgID), r.Seq
	}
	for _, text := range []string{"p1", "p2", "p3"} {
		r := w.alice.sendReceipt(w.toBob, text)
		w.pIDs, w.pLast = append(w.pIDs, r.MsgID), r.Seq
	}
	for _, d := range []*device{w.alice, w.bob1, w.bob2, w.carol} {
		d.drain()
	}
	return w
}

// barrier proves no event about bob's reads reached alice: carol reads the
// whole group (shared), and alice's receipt.changed events must name carol
// alone, with a read count of one; then nothing else may be waiting (a
// peer event is sent before the read call that causes it returns).
func (w *privateWorld) barrier(t *testing.T) {
	t.Helper()
	w.carol.readAll(w.g, 0, false)
	seen := map[string]bool{}
	for len(seen) < len(w.gIDs) {
		ev := next[protocol.ReceiptChangedEvent](w.alice)
		for _, r := range ev.Receipts {
			if !slices.Equal(r.NewReaders, []string{"carol"}) || r.ReadCount != 1 {
				t.Fatalf("receipt.changed after carol's read: %+v, want carol alone as a reader", ev)
			}
			seen[r.MsgID] = true
		}
	}
	w.alice.quiet()
}

// A private read clears the reader's unread count on all of its devices
// and sends nothing to the sender; everything the sender can see is
// unchanged: peer and group, single acks and watermarks.
func TestPrivateReadTellsNoSender(t *testing.T) {
	w := newPrivateWorld(t)
	gBefore := w.alice.senderView(w.g, w.gIDs...)
	pBefore := w.alice.senderView(w.toBob, w.pIDs...)

	if n := w.bob1.readPrivately(w.g, w.gIDs[1]); n != 1 {
		t.Fatalf("private message.read recorded %d, want 1", n)
	}
	if n := w.bob1.readPrivately(w.toAlice, w.pIDs[0]); n != 1 {
		t.Fatalf("private message.read recorded %d, want 1", n)
	}
	// bob's first device folded its own watermark to p1: the other hears.
	if ev := next[protocol.ConversationReadEvent](w.bob2); ev.Seq != 1 || ev.UserID != "bob" {
		t.Fatalf("bob2 got %+v, want conversation.read seq 1", ev)
	}
	if got := w.bob1.readAll(w.g, 0, true); got != w.gLast {
		t.Fatalf("private conversation.read = %d, want %d", got, w.gLast)
	}
	if got := w.bob1.readAll(w.toAlice, 0, true); got != w.pLast {
		t.Fatalf("private conversation.read = %d, want %d", got, w.pLast)
	}
	for _, conv := range []protocol.Conversation{w.g, w.toAlice} {
		ev := next[protocol.ConversationReadEvent](w.bob2)
		if ev.Conversation != conv || ev.UserID != "bob" {
			t.Fatalf("bob2 got %+v, want conversation.read of %v", ev, conv)
		}
		for _, d := range []*device{w.bob1, w.bob2} {
			if unread, _ := d.unread(conv); unread != 0 {
				t.Errorf("bob's unread count in %v = %d after a private read, want 0", conv, unread)
			}
		}
	}
	// The reader's own history shows its reads.
	h, err := w.bob2.History(ctx(t), protocol.HistoryParams{Conversation: w.g})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range h.Messages {
		if st, ok := m.Receipt.(*protocol.AckState); ok && !st.Read {
			t.Errorf("bob's history shows %s unread after a private read", m.MsgID)
		}
	}
	sameView(t, "group", gBefore, w.alice.senderView(w.g, w.gIDs...))
	sameView(t, "peer", pBefore, w.alice.senderView(w.toBob, w.pIDs...))
	if r := w.alice.receipt(w.g, w.gIDs[1]); r.ReadCount != 0 || r.UnreadCount != 2 {
		t.Errorf("a private reader counts as read for the sender: %+v", r)
	}
	w.barrier(t)
}

// The setting changed on one device applies to acks another device of the
// same user sends at once, and that device hears of the change.
func TestSettingAppliesToEveryDevice(t *testing.T) {
	w := newPrivateWorld(t)
	if st := w.bob1.setSharing(false, true); st.ShareReads || !st.ShareDelivery {
		t.Fatalf("settings.update = %+v", st)
	}
	if ev := next[protocol.Settings](w.bob2); ev.ShareReads || !ev.ShareDelivery {
		t.Fatalf("bob2 got settings.changed %+v", ev)
	}
	w.bob1.quiet() // the device that changed it gets no event
	if st, err := w.bob2.Settings(ctx(t)); err != nil || st.ShareReads {
		t.Fatalf("settings.get on the other device = %+v, %v", st, err)
	}
	gBefore := w.alice.senderView(w.g, w.gIDs...)
	pBefore := w.alice.senderView(w.toBob, w.pIDs...)
	// bob2 sends plain acks, with no private flag: the server applies the
	// setting.
	w.bob2.read(w.g, w.gIDs[0])
	w.bob2.read(w.toAlice, w.pIDs[1])
	w.bob2.readAll(w.g, w.gLast-1, false)
	w.bob2.readAll(w.toAlice, 0, false)
	if unread, _ := w.bob1.unread(w.toAlice); unread != 0 {
		t.Errorf("bob's unread count = %d, want 0", unread)
	}
	if unread, _ := w.bob1.unread(w.g); unread != 1 {
		t.Errorf("bob's group unread count = %d, want 1", unread)
	}
	sameView(t, "group", gBefore, w.alice.senderView(w.g, w.gIDs...))
	sameView(t, "peer", pBefore, w.alice.senderView(w.toBob, w.pIDs...))
	w.barrier(t)
}

// Switching sharing back on publishes nothing about earlier private reads
// (peer and group, watermark and single acks); the next shared read
// reveals only itself.
func TestSwitchingSharingOnRevealsNothing(t *testing.T) {
	w := newPrivateWorld(t)
	w.bob1.setSharing(false, true)
	w.bob1.read(w.g, w.gIDs[2])                  // a single ack above the watermark
	w.bob1.readAll(w.g, w.gLast-1, false)        // a watermark
	w.bob1.read(w.toAlice, w.pIDs[1], w.pIDs[2]) // single acks
	w.bob1.readAll(w.toAlice, 1, false)          // folds them all privately
	gBefore := w.alice.senderView(w.g, w.gIDs...)
	pBefore := w.alice.senderView(w.toBob, w.pIDs...)
	w.alice.drain()

	w.bob2.setSharing(true, true)
	sameView(t, "group after switching on", gBefore, w.alice.senderView(w.g, w.gIDs...))
	sameView(t, "peer after switching on", pBefore, w.alice.senderView(w.toBob, w.pIDs...))
	if n := w.bob1.read(w.g, w.gIDs[2]); n != 1 {
		t.Fatalf("a shared read of a message read privately recorded %d, want 1", n)
	}
	// The shared read of g3 reveals g3 and nothing else.
	ev := next[protocol.ReceiptChangedEvent](w.alice)
	if len(ev.Receipts) != 1 || ev.Receipts[0].MsgID != w.gIDs[2] || !slices.Equal(ev.Receipts[0].NewReaders, []string{"bob"}) {
		t.Fatalf("receipt.changed after bob's shared read: %+v", ev)
	}
	for i, id := range w.gIDs {
		r := w.alice.receipt(w.g, id)
		want := 0
		if i == 2 {
			want = 1
		}
		if r.ReadCount != want {
			t.Errorf("%s: readCount %d, want %d (earlier private reads revealed?)", id, r.ReadCount, want)
		}
	}
	// Peer: a shared read of p3 sends receipt.read for p3 only; the
	// peer's watermark (peerReadSeq) stays where it was.
	w.bob1.read(w.toAlice, w.pIDs[2])
	if ev := next[protocol.ReceiptReadEvent](w.alice); !slices.Equal(ev.MsgIDs, []string{w.pIDs[2]}) {
		t.Fatalf("receipt.read %+v, want p3 alone", ev)
	}
	if v := w.alice.senderView(w.toBob, w.pIDs...); *v.Info.PeerReadSeq != *pBefore.Info.PeerReadSeq {
		t.Errorf("peerReadSeq moved from %d to %d", *pBefore.Info.PeerReadSeq, *v.Info.PeerReadSeq)
	}
	w.alice.quiet()
}

// Where the group's type requires sharing, a private read is refused with
// 403 and changes nothing, and a read of a user who hides its reads is
// shared there anyway. Other groups are not concerned.
func TestRequireSharingRefusesPrivateReads(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) {
		c.Receipts.Coalesce = time.Millisecond
		c.Receipts.RequireSharing = []string{"work"}
	})
	s.Users("alice", "bob")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "w", "type": "work", "owner": "alice", "members": []string{"bob"}})
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "f", "type": "fun", "owner": "alice", "members": []string{"bob"}})
	alice := dial(t, s, "alice", "d", client.WithAutoDelivered(false))
	bob := dial(t, s, "bob", "d", client.WithAutoDelivered(false))
	work, fun := group("w"), group("f")
	m := alice.sendReceipt(work, "read this")
	f := alice.sendReceipt(fun, "or not")
	// On a cluster the group.member events of the setup can reach a
	// device that connected after they were published (newPrivateWorld
	// drains every device for the same reason).
	alice.drain()
	bob.drain()

	var pe *protocol.Error
	_, err := bob.Read(ctx(t), protocol.ReadParams{Conversation: work, MsgIDs: []string{m.MsgID}, Private: true})
	if !errors.As(err, &pe) || pe.Code != protocol.CodeForbidden {
		t.Fatalf("private message.read in a work group: %v, want 403", err)
	}
	_, err = bob.ReadConversation(ctx(t), protocol.ConversationReadParams{Conversation: work, Private: true})
	if !errors.As(err, &pe) || pe.Code != protocol.CodeForbidden {
		t.Fatalf("private conversation.read in a work group: %v, want 403", err)
	}
	if unread, _ := bob.unread(work); unread != 1 {
		t.Errorf("a refused private read changed bob's unread count to %d", unread)
	}
	if r := alice.receipt(work, m.MsgID); r.ReadCount != 0 {
		t.Errorf("a refused private read counted: %+v", r)
	}
	alice.quiet()
	// bob hides his reads; in the work group his read is shared anyway.
	bob.setSharing(false, true)
	bob.read(work, m.MsgID)
	if ev := next[protocol.ReceiptChangedEvent](alice); ev.Receipts[0].ReadCount != 1 {
		t.Fatalf("receipt.changed %+v, want bob's read", ev)
	}
	// In another group it stays private.
	bob.read(fun, f.MsgID)
	if unread, _ := bob.unread(fun); unread != 0 {
		t.Errorf("bob's unread in the fun group = %d", unread)
	}
	if r := alice.receipt(fun, f.MsgID); r.ReadCount != 0 {
		t.Errorf("a private read in a group without the rule counted: %+v", r)
	}
}

// With the reciprocal rule, a user who hides its reads sees nobody's:
// receipt.query and receipt.members answer 403, and no receipt.read or
// receipt.changed reaches it.
func TestReciprocalReceipts(t *testing.T) {
	w := newPrivateWorld(t, func(c *config.Config) { c.Receipts.Reciprocal = true })
	w.alice.setSharing(false, true)
	var pe *protocol.Error
	_, err := w.alice.QueryReceipts(ctx(t), protocol.ReceiptQueryParams{Conversation: w.g, MsgIDs: w.gIDs[:1]})
	if !errors.As(err, &pe) || pe.Code != protocol.CodeForbidden {
		t.Fatalf("receipt.query by a user who hides reads: %v, want 403", err)
	}
	_, err = w.alice.ReceiptMembers(ctx(t), protocol.ReceiptMembersParams{Conversation: w.g, MsgID: w.gIDs[0], Filter: protocol.FilterRead})
	if !errors.As(err, &pe) || pe.Code != protocol.CodeForbidden {
		t.Fatalf("receipt.members by a user who hides reads: %v, want 403", err)
	}
	w.bob1.read(w.g, w.gIDs[0])
	// p2, not p1: a read that moves bob's watermark sends conversation.read,
	// which the reciprocal rule does not cover (docs/receipts.md).
	w.bob1.read(w.toAlice, w.pIDs[1])
	w.carol.say(w.g, "after")
	next[protocol.Message](w.alice) // no receipt.changed, no receipt.read before it
	w.alice.quiet()
	// Sharing again, alice sees receipts again: bob's read and carol's
	// (her send read the group) were shared reads.
	w.alice.setSharing(true, true)
	if r := w.alice.receipt(w.g, w.gIDs[0]); r.ReadCount != 2 {
		t.Errorf("after sharing again: %+v", r)
	}
}

// With shareDelivery off, delivery acks are not shown to senders: no
// receipt.delivered, no deliveredCount, no peerDeliveredSeq.
func TestHiddenDelivery(t *testing.T) {
	w := newPrivateWorld(t)
	w.bob1.setSharing(true, false)
	gBefore := w.alice.senderView(w.g, w.gIDs...)
	pBefore := w.alice.senderView(w.toBob, w.pIDs...)
	for _, conv := range []protocol.Conversation{w.g, w.toAlice} {
		if err := w.bob2.Delivered(ctx(t), protocol.DeliveredParams{Conversation: conv, Seq: 3}); err != nil {
			t.Fatal(err)
		}
	}
	sameView(t, "group", gBefore, w.alice.senderView(w.g, w.gIDs...))
	sameView(t, "peer", pBefore, w.alice.senderView(w.toBob, w.pIDs...))
	w.barrier(t)
}

// A private reader who read a message gets no receipt.request reminder;
// one who has not, does.
func TestReminderSkipsPrivateReaders(t *testing.T) {
	w := newPrivateWorld(t)
	w.bob1.readPrivately(w.g, w.gIDs[0])
	// bob's other device hears of the private read (it moved bob's own
	// watermark); wait for it rather than racing its delivery.
	if ev := next[protocol.ConversationReadEvent](w.bob2); ev.UserID != "bob" || ev.Seq != 1 {
		t.Fatalf("bob's second device got %+v", ev)
	}
	if err := w.alice.RequestReceipt(ctx(t), protocol.ReceiptRequestParams{Conversation: w.g, MsgID: w.gIDs[0]}); err != nil {
		t.Fatal(err)
	}
	if ev := next[protocol.ReceiptRequestedEvent](w.carol); ev.MsgID != w.gIDs[0] {
		t.Fatalf("carol got %+v", ev)
	}
	w.bob1.quiet()
	w.bob2.quiet()
}

// The admin API reads and sets a user's settings; every device hears.
func TestAdminSettings(t *testing.T) {
	w := newPrivateWorld(t)
	var st protocol.Settings
	if err := json.Unmarshal(w.s.MustAdmin("GET", "/v1/admin/users/bob/settings", nil), &st); err != nil || !st.ShareReads || !st.ShareDelivery {
		t.Fatalf("GET settings = %+v, %v; want both on", st, err)
	}
	if err := json.Unmarshal(w.s.MustAdmin("PUT", "/v1/admin/users/bob/settings", map[string]any{"shareDelivery": false}), &st); err != nil || !st.ShareReads || st.ShareDelivery {
		t.Fatalf("PUT settings = %+v, %v", st, err)
	}
	for _, d := range []*device{w.bob1, w.bob2} {
		if ev := next[protocol.Settings](d); ev != st {
			t.Errorf("settings.changed %+v, want %+v", ev, st)
		}
	}
	if code, _ := w.s.Admin("GET", "/v1/admin/users/nobody/settings", nil); code != 404 {
		t.Errorf("GET settings of an unknown user: %d, want 404", code)
	}
	if code, _ := w.s.Admin("PUT", "/v1/admin/users/bob/settings", map[string]any{"shareReads": "yes"}); code != 400 {
		t.Errorf("PUT with a bad field: %d, want 400", code)
	}
}

// TestPrivateReadingAcrossNodes: on two cluster nodes over PostgreSQL, a
// setting changed through node 1 holds at once for bob's device on node 2
// (settings.changed crosses nodes too); bob's private reads there clear
// his own unread count on both nodes, and alice on node 1 sees nothing:
// her receipt, member lists and peerReadSeq stay, and no event comes
// before the one a later shared read causes.
func TestPrivateReadingAcrossNodes(t *testing.T) {
	_, a, b := twoNodes(t)
	a.Users("alice", "bob")
	a.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "alice", "members": []string{"bob"}})
	alice := dial(t, a, "alice", "d", client.WithAutoDelivered(false))
	bobA := dial(t, a, "bob", "d1", client.WithAutoDelivered(false))
	bobB := dial(t, b, "bob", "d2", client.WithAutoDelivered(false))
	g := group("g")
	m1 := alice.sendReceipt(g, "one")
	m2 := alice.sendReceipt(g, "two")
	p1 := alice.sendReceipt(peer("bob"), "p-one")
	for _, d := range []*device{alice, bobA, bobB} {
		// The group.member events of the admin call, and the messages.
		seentest.Eventually(t, 10*time.Second, func() error {
			if n, _ := d.unreadOrZero(g); d != alice && n != 2 {
				return errors.New("messages not yet seen")
			}
			return nil
		})
		d.drain()
	}
	if st := bobA.setSharing(false, true); st.ShareReads {
		t.Fatalf("settings.update on node 1 = %+v", st)
	}
	if ev := next[protocol.Settings](bobB); ev.ShareReads {
		t.Fatalf("bob on node 2 got settings.changed %+v", ev)
	}
	gBefore := alice.senderView(g, m1.MsgID, m2.MsgID)
	pBefore := alice.senderView(peer("bob"), p1.MsgID)
	bobB.read(g, m2.MsgID)
	bobB.readAll(peer("alice"), 0, false)
	for _, d := range []*device{bobA, bobB} {
		if n, _ := d.unread(peer("alice")); n != 0 {
			t.Errorf("bob's peer unread = %d after reading on node 2", n)
		}
		if n, _ := d.unread(g); n != 1 {
			t.Errorf("bob's group unread = %d, want 1", n)
		}
	}
	sameView(t, "group across nodes", gBefore, alice.senderView(g, m1.MsgID, m2.MsgID))
	sameView(t, "peer across nodes", pBefore, alice.senderView(peer("bob"), p1.MsgID))
	// Sharing again on node 2; a shared read of m1 reveals m1 alone.
	bobB.setSharing(true, true)
	bobB.read(g, m1.MsgID)
	ev := next[protocol.ReceiptChangedEvent](alice)
	if len(ev.Receipts) != 1 || ev.Receipts[0].MsgID != m1.MsgID || ev.Receipts[0].ReadCount != 1 {
		t.Fatalf("receipt.changed after the shared read: %+v, want m1 read by one", ev)
	}
	if r := alice.receipt(g, m2.MsgID); r.ReadCount != 0 {
		t.Errorf("m2, read privately, shows %+v", r)
	}
}

// unreadOrZero is unread without failing for a conversation not listed yet.
func (d *device) unreadOrZero(conv protocol.Conversation) (uint64, bool) {
	list, err := d.Conversations(ctx(d.t), protocol.ConversationListParams{Limit: 100})
	if err != nil {
		return 0, false
	}
	for _, c := range list.Conversations {
		if c.Conversation == conv {
			return c.UnreadCount, true
		}
	}
	return 0, false
}
