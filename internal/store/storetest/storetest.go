// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's test calls Run with a function that opens a new, empty
// store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// open must arrange for the store to be released when t ends (t.Cleanup)
// and must tolerate the suite having closed it already.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/seen-im/seen/internal/store"
)

// Run runs the conformance suite, each subtest on a store of its own.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Users", testUsers},
		{"Groups", testGroups},
		{"DeleteGroup", testDeleteGroup},
		{"DeleteGroupConcurrentWithAdd", testDeleteGroupConcurrentWithAdd},
		{"AppendSeqs", testAppendSeqs},
		{"AppendConcurrentOneConv", testAppendConcurrentOneConv},
		{"AppendConcurrentManyConvs", testAppendConcurrentManyConvs},
		{"AppendIdempotent", testAppendIdempotent},
		{"AppendIdempotentConcurrent", testAppendIdempotentConcurrent},
		{"AppendResendBesideNew", testAppendResendBesideNew},
		{"AppendPeerCreatesConversation", testAppendPeer},
		{"AppendGroupNotMember", testAppendGroupNotMember},
		{"AddMembers", testAddMembers},
		{"AddMembersConcurrentWithAppend", testAddMembersConcurrent},
		{"RemoveMember", testRemoveMember},
		{"SetRole", testSetRole},
		{"ListMembersPaging", testListMembers},
		{"ConversationsInIDOrder", testConversationsInIDOrder},
		{"ConversationsActivity", testConversationsActivity},
		{"Watermarks", testWatermarks},
		{"AckOneAndFold", testAckOne},
		{"AckOneLimit", testAckOneLimit},
		{"AckMany", testAckMany},
		{"PrivateReads", testPrivateReads},
		{"PrivateAckLimit", testPrivateAckLimit},
		{"Settings", testSettings},
		{"Receipts", testReceipts},
		{"SettleFirstWins", testSettleFirstWins},
		{"SettleDone", testSettleDone},
		{"History", testHistory},
		{"GetMessage", testGetMessage},
		{"GetMessages", testGetMessages},
		{"GetMembers", testGetMembers},
		{"MessagesAt", testMessagesAt},
		{"LastSeq", testLastSeq},
		{"Find", testFind},
		{"CanceledContext", testCanceledContext},
		{"Closed", testClosed},
		// store.Webhooks (webhooks.go, hooktimers.go)
		{"WebhookEndpoints", testWebhookEndpoints},
		{"EnqueueIdempotent", testEnqueueIdempotent},
		{"ClaimDeliveries", testClaimDeliveries},
		{"ClaimDeliveriesConcurrent", testClaimDeliveriesConcurrent},
		{"FinishDelivery", testFinishDelivery},
		{"ListDeliveries", testListDeliveries},
		{"ReplayDelivery", testReplayDelivery},
		{"Timers", testTimers},
		{"ClaimTimersConcurrent", testClaimTimersConcurrent},
		{"Tracks", testTracks},
		{"CommitReport", testCommitReport},
		{"AppendHooks", testAppendHooks},
		{"DeleteGroupHooks", testDeleteGroupHooks},
		{"PruneDeliveries", testPruneDeliveries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// msg returns a message of conv from sender; its id is derived from the
// arguments so tests can make unique ones without shared state.
func msg(conv store.ConvID, sender, clientMsgID string, sentAt int64) store.Message {
	return store.Message{
		ID:          fmt.Sprintf("%s|%s|%s|%d", conv, sender, clientMsgID, sentAt),
		Conv:        conv,
		Sender:      sender,
		ClientMsgID: clientMsgID,
		Body:        json.RawMessage(fmt.Sprintf(`{"text":%q}`, clientMsgID)),
		SentAt:      sentAt,
	}
}

func mustAppend(t *testing.T, s store.Store, m store.Message) store.Message {
	t.Helper()
	got, existed, err := s.Append(t.Context(), m)
	if err != nil {
		t.Fatalf("Append(%s, %s, %s): %v", m.Conv, m.Sender, m.ClientMsgID, err)
	}
	if existed {
		t.Fatalf("Append(%s, %s, %s): existed = true, want false", m.Conv, m.Sender, m.ClientMsgID)
	}
	return got
}

func mustCreateGroup(t *testing.T, s store.Store, id string, users ...string) store.ConvID {
	t.Helper()
	members := make([]store.Member, len(users))
	for i, u := range users {
		members[i] = store.Member{UserID: u, Role: "member", JoinedAt: 100}
	}
	g := store.Group{ID: id, Type: "work", CreatedBy: users[0], CreatedAt: 100}
	if err := s.CreateGroup(t.Context(), g, members); err != nil {
		t.Fatalf("CreateGroup(%s): %v", id, err)
	}
	return store.GroupConv(id)
}

func mustMember(t *testing.T, s store.Store, conv store.ConvID, user string) store.Member {
	t.Helper()
	m, err := s.GetMember(t.Context(), conv, user)
	if err != nil {
		t.Fatalf("GetMember(%s, %s): %v", conv, user, err)
	}
	return m
}

func mustLastSeq(t *testing.T, s store.Store, conv store.ConvID) uint64 {
	t.Helper()
	n, err := s.LastSeq(t.Context(), conv)
	if err != nil {
		t.Fatalf("LastSeq(%s): %v", conv, err)
	}
	return n
}

func mustCount(t *testing.T, s store.Store, conv store.ConvID) int {
	t.Helper()
	n, err := s.CountMembers(t.Context(), conv)
	if err != nil {
		t.Fatalf("CountMembers(%s): %v", conv, err)
	}
	return n
}

func convsOf(t *testing.T, s store.Store, user string) []store.ConvID {
	t.Helper()
	acts, err := s.ConversationsActivity(t.Context(), user)
	if err != nil {
		t.Fatalf("ConversationsActivity(%s): %v", user, err)
	}
	var got []store.ConvID
	for _, a := range acts {
		got = append(got, a.Conv)
	}
	return got
}

func wantErrIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

func seqsOf(ms []store.Message) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := store.User{ID: "alice", Name: "Alice", CreatedAt: 10}
	created, err := s.PutUser(ctx, alice)
	if err != nil || !created {
		t.Fatalf("PutUser(alice) = %v, %v, want true, nil", created, err)
	}
	created, err = s.PutUser(ctx, store.User{ID: "alice", Name: "Other", CreatedAt: 20})
	if err != nil || created {
		t.Fatalf("PutUser(alice again) = %v, %v, want false, nil", created, err)
	}
	got, err := s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatalf("GetUser(alice): %v", err)
	}
	if diff := cmp.Diff(alice, got); diff != "" {
		t.Errorf("GetUser(alice) mismatch (-want +got):\n%s", diff)
	}
	_, err = s.GetUser(ctx, "nobody")
	wantErrIs(t, "GetUser(nobody)", err, store.ErrNotFound)

	// The demo mark is kept, and a second PutUser does not set or clear it.
	visitor := store.User{ID: "visitor", CreatedAt: 30, Demo: true}
	if created, err := s.PutUser(ctx, visitor); err != nil || !created {
		t.Fatalf("PutUser(visitor) = %v, %v, want true, nil", created, err)
	}
	if _, err := s.PutUser(ctx, store.User{ID: "visitor", CreatedAt: 40}); err != nil {
		t.Fatalf("PutUser(visitor again): %v", err)
	}
	if _, err := s.PutUser(ctx, store.User{ID: "alice", CreatedAt: 40, Demo: true}); err != nil {
		t.Fatalf("PutUser(alice as demo): %v", err)
	}
	for _, want := range []store.User{visitor, alice} {
		got, err := s.GetUser(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetUser(%s): %v", want.ID, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GetUser(%s) mismatch (-want +got):\n%s", want.ID, diff)
		}
	}
}

func testGroups(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := store.Group{ID: "g1", Type: "work", CreatedBy: "alice", CreatedAt: 100}
	members := []store.Member{
		// The caller's JoinSeq and watermarks are not meant to survive.
		{UserID: "alice", Role: "owner", JoinedAt: 100, JoinSeq: 9, ReadSeq: 9},
		{UserID: "bob", Role: "member", JoinedAt: 101},
	}
	if err := s.CreateGroup(ctx, g, members); err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	got, err := s.GetGroup(ctx, "g1")
	if err != nil {
		t.Fatalf("GetGroup: %v", err)
	}
	if diff := cmp.Diff(g, got); diff != "" {
		t.Errorf("GetGroup mismatch (-want +got):\n%s", diff)
	}
	err = s.CreateGroup(ctx, store.Group{ID: "g1", CreatedBy: "bob"}, nil)
	wantErrIs(t, "CreateGroup(g1 again)", err, store.ErrExists)
	_, err = s.GetGroup(ctx, "nope")
	wantErrIs(t, "GetGroup(nope)", err, store.ErrNotFound)

	conv := store.GroupConv("g1")
	list, err := s.ListMembers(ctx, conv, "", 10)
	if err != nil {
		t.Fatalf("ListMembers: %v", err)
	}
	want := []store.Member{
		{UserID: "alice", Role: "owner", JoinSeq: 1, JoinedAt: 100},
		{UserID: "bob", Role: "member", JoinSeq: 1, JoinedAt: 101},
	}
	if diff := cmp.Diff(want, list); diff != "" {
		t.Errorf("initial members mismatch (-want +got):\n%s", diff)
	}
	if got, want := mustCount(t, s, conv), 2; got != want {
		t.Errorf("CountMembers: got %d, want %d", got, want)
	}
	for _, u := range []string{"alice", "bob"} {
		if got, want := convsOf(t, s, u), []store.ConvID{conv}; !slices.Equal(got, want) {
			t.Errorf("ConversationsActivity(%s): got %v, want %v", u, got, want)
		}
	}
	// The failed duplicate create changed nothing.
	if got, want := mustMember(t, s, conv, "alice").Role, "owner"; got != want {
		t.Errorf("alice's role after duplicate create: got %q, want %q", got, want)
	}
}

func testAppendSeqs(t *testing.T, s store.Store) {
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	for i, want := range []uint64{1, 2, 3} {
		m := msg(conv, "alice", fmt.Sprint("c", i), int64(1000+i))
		got := mustAppend(t, s, m)
		if got.Seq != want {
			t.Errorf("append %d: got seq %d, want %d", i, got.Seq, want)
		}
		m.Seq = want
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("append %d: stored mismatch (-want +got):\n%s", i, diff)
		}
	}
	if got, want := mustLastSeq(t, s, conv), uint64(3); got != want {
		t.Errorf("LastSeq: got %d, want %d", got, want)
	}
	// The sender's watermarks follow its own sends; the others' do not.
	wantAlice := store.Member{UserID: "alice", Role: "member", JoinSeq: 1, ReadSeq: 3, DeliveredSeq: 3, ReadAt: 1002, DeliveredAt: 1002, JoinedAt: 100}
	if diff := cmp.Diff(wantAlice, mustMember(t, s, conv, "alice")); diff != "" {
		t.Errorf("sender after appends (-want +got):\n%s", diff)
	}
	wantBob := store.Member{UserID: "bob", Role: "member", JoinSeq: 1, JoinedAt: 100}
	if diff := cmp.Diff(wantBob, mustMember(t, s, conv, "bob")); diff != "" {
		t.Errorf("non-sender after appends (-want +got):\n%s", diff)
	}
}

func testAppendConcurrentOneConv(t *testing.T, s store.Store) {
	const writers, each = 16, 25
	users := make([]string, writers)
	for i := range users {
		users[i] = fmt.Sprintf("u%02d", i)
	}
	conv := mustCreateGroup(t, s, "busy", users...)
	appendConcurrently(t, func(int) store.Store { return s }, conv, users, each, "allocated seqs")
	if got, want := mustLastSeq(t, s, conv), uint64(writers*each); got != want {
		t.Errorf("LastSeq: got %d, want %d", got, want)
	}
	hist, err := s.History(t.Context(), conv, 0, 0, 1000)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	if got, want := len(hist), writers*each; got != want {
		t.Errorf("History length: got %d, want %d", got, want)
	}
	// Each writer's messages got increasing seqs in the order it sent them.
	last := map[string]int{}
	for _, m := range slices.Backward(hist) {
		var i int
		fmt.Sscan(m.ClientMsgID, &i)
		if prev, ok := last[m.Sender]; ok && i <= prev {
			t.Errorf("sender %s: client id %d at seq %d after client id %d", m.Sender, i, m.Seq, prev)
		}
		last[m.Sender] = i
	}
}

func testAppendConcurrentManyConvs(t *testing.T, s store.Store) {
	const convs, each = 20, 10
	var wg sync.WaitGroup
	for c := range convs {
		a, b := fmt.Sprintf("a%02d", c), fmt.Sprintf("b%02d", c)
		conv := store.PeerConv(a, b)
		// Two writers per conversation, one per side.
		for _, sender := range []string{a, b} {
			wg.Go(func() {
				for i := range each {
					if _, _, err := s.Append(t.Context(), msg(conv, sender, fmt.Sprint(i), int64(i))); err != nil {
						t.Errorf("Append(%s, %s, %d): %v", conv, sender, i, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	for c := range convs {
		conv := store.PeerConv(fmt.Sprintf("a%02d", c), fmt.Sprintf("b%02d", c))
		hist, err := s.History(t.Context(), conv, 0, 0, 100)
		if err != nil {
			t.Fatalf("History(%s): %v", conv, err)
		}
		want := make([]uint64, 2*each)
		for i := range want {
			want[i] = uint64(2*each - i)
		}
		if diff := cmp.Diff(want, seqsOf(hist)); diff != "" {
			t.Errorf("%s: seqs (-want +got):\n%s", conv, diff)
		}
		if got, want := mustCount(t, s, conv), 2; got != want {
			t.Errorf("%s: CountMembers got %d, want %d", conv, got, want)
		}
	}
}

func testAppendIdempotent(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	first := mustAppend(t, s, msg(conv, "alice", "c1", 1000))
	mustAppend(t, s, msg(conv, "bob", "x", 1001))

	// A resend carries a new server id and time; the original comes back.
	resend := msg(conv, "alice", "c1", 2000)
	resend.Body = json.RawMessage(`"different"`)
	got, existed, err := s.Append(ctx, resend)
	if err != nil || !existed {
		t.Fatalf("resend: existed %v, err %v; want true, nil", existed, err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("resend returned (-want original +got):\n%s", diff)
	}
	if got, want := mustLastSeq(t, s, conv), uint64(2); got != want {
		t.Errorf("LastSeq after resend: got %d, want %d", got, want)
	}
	if _, err := s.GetMessage(ctx, resend.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetMessage(resend id): got error %v, want ErrNotFound (nothing written)", err)
	}
	// The resend moved no watermark.
	if got, want := mustMember(t, s, conv, "alice").ReadAt, int64(1000); got != want {
		t.Errorf("alice ReadAt after resend: got %d, want %d", got, want)
	}
	// The client id is per sender: bob may use "c1" too.
	other := mustAppend(t, s, msg(conv, "bob", "c1", 3000))
	if got, want := other.Seq, uint64(3); got != want {
		t.Errorf("bob's c1: got seq %d, want %d", got, want)
	}
	// And per conversation.
	conv2 := mustCreateGroup(t, s, "g2", "alice")
	if got := mustAppend(t, s, msg(conv2, "alice", "c1", 4000)); got.Seq != 1 {
		t.Errorf("c1 in another conversation: got seq %d, want 1", got.Seq)
	}
}

// testAppendResendBesideNew: resends sent at once with new messages (so,
// on a store that combines appends, in the same rounds) get the stored
// message, and the new ones get gap-free seqs: a round that found a
// client id stored wrote nothing twice and lost nothing.
func testAppendResendBesideNew(t *testing.T, s store.Store) {
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	first := mustAppend(t, s, msg(conv, "alice", "c0", 1))
	const n = 12
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seqs []uint64
	)
	for i := range n {
		wg.Go(func() {
			m := msg(conv, "bob", fmt.Sprint("b", i), int64(10+i))
			resend := i%3 == 0
			if resend {
				m = msg(conv, "alice", "c0", int64(10+i))
			}
			got, existed, err := s.Append(t.Context(), m)
			switch {
			case err != nil:
				t.Errorf("Append %d: %v", i, err)
			case resend && (!existed || got.ID != first.ID || got.Seq != first.Seq):
				t.Errorf("resend %d = %s at %d, existed %v; want %s at %d, existed", i, got.ID, got.Seq, existed, first.ID, first.Seq)
			case !resend && existed:
				t.Errorf("new message %d: existed", i)
			case !resend:
				mu.Lock()
				seqs = append(seqs, got.Seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(seqs)
	var want []uint64
	for seq := first.Seq + 1; len(want) < len(seqs); seq++ {
		want = append(want, seq)
	}
	if diff := cmp.Diff(want, seqs); diff != "" {
		t.Errorf("seqs of the new messages (-want +got):\n%s", diff)
	}
	if got := mustLastSeq(t, s, conv); got != first.Seq+uint64(len(seqs)) {
		t.Errorf("LastSeq = %d, want %d", got, first.Seq+uint64(len(seqs)))
	}
}

func testAppendIdempotentConcurrent(t *testing.T, s store.Store) {
	conv := mustCreateGroup(t, s, "g", "alice")
	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		fresh   int
		results = map[uint64]int{}
	)
	for i := range n {
		wg.Go(func() {
			got, existed, err := s.Append(t.Context(), msg(conv, "alice", "same", int64(i)))
			if err != nil {
				t.Errorf("Append: %v", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if !existed {
				fresh++
			}
			results[got.Seq]++
		})
	}
	wg.Wait()
	if fresh != 1 {
		t.Errorf("concurrent sends of one client id: got %d stored, want 1", fresh)
	}
	if diff := cmp.Diff(map[uint64]int{1: n}, results); diff != "" {
		t.Errorf("seqs returned (-want +got):\n%s", diff)
	}
}

func testAppendPeer(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := store.PeerConv("bob", "alice")
	if conv != "p/alice/bob" {
		t.Fatalf("PeerConv: got %q, want p/alice/bob", conv)
	}
	if got := mustCount(t, s, conv); got != 0 {
		t.Errorf("CountMembers before first append: got %d, want 0", got)
	}
	m := mustAppend(t, s, msg(conv, "bob", "hi", 500))
	if m.Seq != 1 {
		t.Errorf("first peer append: got seq %d, want 1", m.Seq)
	}
	want := []store.Member{
		{UserID: "alice", Role: "member", JoinSeq: 1, JoinedAt: 500},
		{UserID: "bob", Role: "member", JoinSeq: 1, ReadSeq: 1, DeliveredSeq: 1, ReadAt: 500, DeliveredAt: 500, JoinedAt: 500},
	}
	list, err := s.ListMembers(ctx, conv, "", 10)
	if err != nil {
		t.Fatalf("ListMembers: %v", err)
	}
	// JoinedAt of auto-created peer members is the backend's choice.
	if diff := cmp.Diff(want, list, cmpopts.IgnoreFields(store.Member{}, "JoinedAt")); diff != "" {
		t.Errorf("peer members (-want +got):\n%s", diff)
	}
	for _, u := range []string{"alice", "bob"} {
		if got, want := convsOf(t, s, u), []store.ConvID{conv}; !slices.Equal(got, want) {
			t.Errorf("ConversationsActivity(%s): got %v, want %v", u, got, want)
		}
	}
	if got := mustCount(t, s, conv); got != 2 {
		t.Errorf("CountMembers: got %d, want 2", got)
	}
	// The reply is seq 2 and changes no membership.
	if got := mustAppend(t, s, msg(conv, "alice", "hello", 600)); got.Seq != 2 {
		t.Errorf("reply: got seq %d, want 2", got.Seq)
	}
	if got := mustMember(t, s, conv, "alice"); got.ReadSeq != 2 || got.JoinSeq != 1 {
		t.Errorf("alice after reply: got ReadSeq %d JoinSeq %d, want 2 and 1", got.ReadSeq, got.JoinSeq)
	}
	if got := mustCount(t, s, conv); got != 2 {
		t.Errorf("CountMembers after reply: got %d, want 2", got)
	}
	// A third party cannot write into it.
	_, _, err = s.Append(ctx, msg(conv, "mallory", "x", 700))
	wantErrIs(t, "Append by a non-party", err, store.ErrNotFound)
}

func testAppendGroupNotMember(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, _, err := s.Append(ctx, msg(store.GroupConv("ghost"), "alice", "c", 1))
	wantErrIs(t, "Append to a missing group", err, store.ErrNotFound)
	conv := mustCreateGroup(t, s, "g", "alice")
	_, _, err = s.Append(ctx, msg(conv, "mallory", "c", 1))
	wantErrIs(t, "Append by a non-member", err, store.ErrNotFound)
	if got := mustLastSeq(t, s, conv); got != 0 {
		t.Errorf("LastSeq after refused appends: got %d, want 0", got)
	}
}

func testAddMembers(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	for i := range 3 {
		mustAppend(t, s, msg(conv, "alice", fmt.Sprint(i), int64(i)))
	}
	if _, _, err := s.AdvanceRead(ctx, conv, "bob", 2, 50); err != nil {
		t.Fatalf("AdvanceRead(bob): %v", err)
	}
	bobBefore := mustMember(t, s, conv, "bob")

	added, err := s.AddMembers(ctx, conv, []store.Member{
		{UserID: "carol", Role: "admin", JoinedAt: 700, JoinSeq: 99, ReadSeq: 99, DeliveredSeq: 99},
		{UserID: "bob", Role: "admin", JoinedAt: 700},
		{UserID: "dave", JoinedAt: 701},
		{UserID: "carol", Role: "member", JoinedAt: 702}, // repeated in one call
	})
	if err != nil {
		t.Fatalf("AddMembers: %v", err)
	}
	want := []store.Member{
		{UserID: "carol", Role: "admin", JoinSeq: 4, ReadSeq: 3, DeliveredSeq: 3, JoinedAt: 700},
		{UserID: "dave", JoinSeq: 4, ReadSeq: 3, DeliveredSeq: 3, JoinedAt: 701},
	}
	sortByUser := cmpopts.SortSlices(func(a, b store.Member) bool { return a.UserID < b.UserID })
	if diff := cmp.Diff(want, added, sortByUser); diff != "" {
		t.Errorf("AddMembers returned (-want +got):\n%s", diff)
	}
	for _, w := range want {
		if diff := cmp.Diff(w, mustMember(t, s, conv, w.UserID)); diff != "" {
			t.Errorf("stored %s (-want +got):\n%s", w.UserID, diff)
		}
		if got := convsOf(t, s, w.UserID); !slices.Equal(got, []store.ConvID{conv}) {
			t.Errorf("ConversationsActivity(%s): got %v, want [%s]", w.UserID, got, conv)
		}
	}
	if diff := cmp.Diff(bobBefore, mustMember(t, s, conv, "bob")); diff != "" {
		t.Errorf("existing member changed by AddMembers (-before +after):\n%s", diff)
	}
	if got := mustCount(t, s, conv); got != 4 {
		t.Errorf("CountMembers: got %d, want 4", got)
	}
	// Adding only existing members adds nothing.
	added, err = s.AddMembers(ctx, conv, []store.Member{{UserID: "alice"}, {UserID: "carol"}})
	if err != nil || len(added) != 0 {
		t.Errorf("AddMembers(existing) = %v, %v; want none, nil", added, err)
	}
	// New members see only what comes after their join.
	if got := mustAppend(t, s, msg(conv, "carol", "first", 800)); got.Seq != 4 {
		t.Errorf("carol's first message: got seq %d, want 4", got.Seq)
	}
	// A group with no messages yet: join at 1.
	conv2 := mustCreateGroup(t, s, "empty", "alice")
	added, err = s.AddMembers(ctx, conv2, []store.Member{{UserID: "erin", Role: "member", JoinedAt: 5}})
	if err != nil {
		t.Fatalf("AddMembers(empty group): %v", err)
	}
	if diff := cmp.Diff([]store.Member{{UserID: "erin", Role: "member", JoinSeq: 1, JoinedAt: 5}}, added); diff != "" {
		t.Errorf("AddMembers(empty group) (-want +got):\n%s", diff)
	}
}

// testAddMembersConcurrent checks that a join position is taken atomically
// with appends: whatever the interleaving, a new member's JoinSeq is one
// more than the number of messages stored before it.
func testAddMembersConcurrent(t *testing.T, s store.Store) {
	conv := mustCreateGroup(t, s, "g", "alice")
	const msgs, joiners = 50, 20
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range msgs {
			if _, _, err := s.Append(t.Context(), msg(conv, "alice", fmt.Sprint(i), int64(i))); err != nil {
				t.Errorf("Append: %v", err)
				return
			}
		}
	})
	for j := range joiners {
		wg.Go(func() {
			if _, err := s.AddMembers(t.Context(), conv, []store.Member{{UserID: fmt.Sprintf("j%02d", j)}}); err != nil {
				t.Errorf("AddMembers: %v", err)
			}
		})
	}
	wg.Wait()
	list, err := s.ListMembers(t.Context(), conv, "", 100)
	if err != nil {
		t.Fatalf("ListMembers: %v", err)
	}
	if got, want := len(list), joiners+1; got != want {
		t.Fatalf("members: got %d, want %d", got, want)
	}
	for _, m := range list {
		if m.ReadSeq != m.JoinSeq-1 && m.UserID != "alice" {
			t.Errorf("%s: got ReadSeq %d, want JoinSeq-1 = %d", m.UserID, m.ReadSeq, m.JoinSeq-1)
		}
		if m.JoinSeq < 1 || m.JoinSeq > msgs+1 {
			t.Errorf("%s: JoinSeq %d out of range 1..%d", m.UserID, m.JoinSeq, msgs+1)
		}
	}
}

func testDeleteGroup(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	m := mustAppend(t, s, msg(conv, "alice", "c1", 10))
	r := mustAppend(t, s, store.Message{ID: "r1", Conv: conv, Sender: "bob", ClientMsgID: "c2", Body: json.RawMessage(`1`), SentAt: 11, Receipt: true})
	wantErrIs(t, "DeleteGroup(with members)", s.DeleteGroup(ctx, "g"), store.ErrNotEmpty)
	if _, err := s.GetGroup(ctx, "g"); err != nil {
		t.Fatalf("GetGroup after refused delete: %v", err)
	}
	for _, u := range []string{"alice", "bob"} {
		if err := s.RemoveMember(ctx, conv, u); err != nil {
			t.Fatalf("RemoveMember(%s): %v", u, err)
		}
	}
	if err := s.DeleteGroup(ctx, "g"); err != nil {
		t.Fatalf("DeleteGroup(empty): %v", err)
	}
	_, err := s.GetGroup(ctx, "g")
	wantErrIs(t, "GetGroup(deleted)", err, store.ErrNotFound)
	wantErrIs(t, "DeleteGroup(deleted)", s.DeleteGroup(ctx, "g"), store.ErrNotFound)
	wantErrIs(t, "DeleteGroup(unknown)", s.DeleteGroup(ctx, "nope"), store.ErrNotFound)
	for _, id := range []string{m.ID, r.ID} {
		_, err := s.GetMessage(ctx, id)
		wantErrIs(t, "GetMessage("+id+") of a deleted group", err, store.ErrNotFound)
	}
	_, err = s.AddMembers(ctx, conv, []store.Member{{UserID: "carol", Role: "member"}})
	wantErrIs(t, "AddMembers to a deleted group", err, store.ErrNotFound)

	// The id is free again, and the new group is new in every way: its
	// seqs start at 1, nothing of the old one shows, and a clientMsgId the
	// old group used is a new message.
	g := store.Group{ID: "g", Type: "other", CreatedBy: "carol", CreatedAt: 200}
	if err := s.CreateGroup(ctx, g, []store.Member{{UserID: "carol", Role: "owner", JoinedAt: 200}, {UserID: "alice", Role: "member", JoinedAt: 200}}); err != nil {
		t.Fatalf("CreateGroup(g again): %v", err)
	}
	got, err := s.GetGroup(ctx, "g")
	if err != nil || got != g {
		t.Errorf("GetGroup(recreated) = %+v, %v; want %+v", got, err, g)
	}
	if got := mustLastSeq(t, s, conv); got != 0 {
		t.Errorf("LastSeq(recreated): got %d, want 0", got)
	}
	if got := mustCount(t, s, conv); got != 2 {
		t.Errorf("CountMembers(recreated): got %d, want 2", got)
	}
	live, err := s.LiveReceipts(ctx, conv)
	if err != nil || len(live) != 0 {
		t.Errorf("LiveReceipts(recreated) = %v, %v; want none", live, err)
	}
	again := mustAppend(t, s, msg(conv, "alice", "c1", 300))
	if again.Seq != 1 {
		t.Errorf("first append to the recreated group: seq %d, want 1", again.Seq)
	}
	h, err := s.History(ctx, conv, 0, 0, 10)
	if err != nil || len(h) != 1 || h[0].ID != again.ID {
		t.Errorf("History(recreated) = %v, %v; want only %s", seqsOf(h), err, again.ID)
	}
	if got := mustMember(t, s, conv, "alice"); got.JoinSeq != 1 || got.ReadSeq != 1 || got.Role != "member" {
		t.Errorf("alice in the recreated group = %+v; want JoinSeq 1, ReadSeq 1, role member", got)
	}
}

// testDeleteGroupConcurrentWithAdd races DeleteGroup of an emptied group
// against AddMembers: either the delete wins and the add finds no group,
// or the add wins and the delete finds a member; never a deleted group
// with a member, nor a member lost.
func testDeleteGroupConcurrentWithAdd(t *testing.T, s store.Store) {
	for i := range 20 {
		id := fmt.Sprintf("g%d", i)
		conv := mustCreateGroup(t, s, id, "alice")
		if err := s.RemoveMember(t.Context(), conv, "alice"); err != nil {
			t.Fatalf("RemoveMember: %v", err)
		}
		var delErr, addErr error
		var wg sync.WaitGroup
		wg.Go(func() { delErr = s.DeleteGroup(t.Context(), id) })
		wg.Go(func() {
			_, addErr = s.AddMembers(t.Context(), conv, []store.Member{{UserID: "bob", Role: "member"}})
		})
		wg.Wait()
		switch {
		case delErr == nil && errors.Is(addErr, store.ErrNotFound):
			if _, err := s.GetGroup(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: GetGroup after the delete won: %v, want ErrNotFound", id, err)
			}
			if got := convsOf(t, s, "bob"); slices.Contains(got, conv) {
				t.Errorf("%s: bob lists the deleted group", id)
			}
		case addErr == nil && errors.Is(delErr, store.ErrNotEmpty):
			if got := mustMember(t, s, conv, "bob"); got.UserID != "bob" {
				t.Errorf("%s: bob after the add won: %+v", id, got)
			}
		default:
			t.Errorf("%s: DeleteGroup = %v, AddMembers = %v; want exactly one to win", id, delErr, addErr)
		}
	}
}

func testRemoveMember(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice", "bob", "carol")
	if err := s.RemoveMember(ctx, conv, "bob"); err != nil {
		t.Fatalf("RemoveMember(bob): %v", err)
	}
	_, err := s.GetMember(ctx, conv, "bob")
	wantErrIs(t, "GetMember(removed)", err, store.ErrNotFound)
	if got := convsOf(t, s, "bob"); len(got) != 0 {
		t.Errorf("ConversationsActivity(bob) after removal: got %v, want none", got)
	}
	if got := mustCount(t, s, conv); got != 2 {
		t.Errorf("CountMembers: got %d, want 2", got)
	}
	wantErrIs(t, "RemoveMember(bob again)", s.RemoveMember(ctx, conv, "bob"), store.ErrNotFound)
	wantErrIs(t, "RemoveMember(stranger)", s.RemoveMember(ctx, conv, "zed"), store.ErrNotFound)
	_, _, err = s.Append(ctx, msg(conv, "bob", "c", 1))
	wantErrIs(t, "Append by removed member", err, store.ErrNotFound)
	// A removed member can be added back, at the current position.
	mustAppend(t, s, msg(conv, "alice", "c", 1))
	added, err := s.AddMembers(ctx, conv, []store.Member{{UserID: "bob", Role: "member"}})
	if err != nil || len(added) != 1 || added[0].JoinSeq != 2 {
		t.Errorf("re-adding bob = %v, %v; want one member with JoinSeq 2", added, err)
	}
	if got := mustCount(t, s, conv); got != 3 {
		t.Errorf("CountMembers after re-add: got %d, want 3", got)
	}
}

func testSetRole(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	mustAppend(t, s, msg(conv, "bob", "c", 10))
	before := mustMember(t, s, conv, "bob")
	if err := s.SetRole(ctx, conv, "bob", "admin"); err != nil {
		t.Fatalf("SetRole: %v", err)
	}
	want := before
	want.Role = "admin"
	if diff := cmp.Diff(want, mustMember(t, s, conv, "bob")); diff != "" {
		t.Errorf("after SetRole (-want +got):\n%s", diff)
	}
	if err := s.SetRole(ctx, conv, "bob", "admin"); err != nil {
		t.Errorf("SetRole to the same role: %v", err)
	}
	wantErrIs(t, "SetRole(stranger)", s.SetRole(ctx, conv, "zed", "admin"), store.ErrNotFound)
}

func testListMembers(t *testing.T, s store.Store) {
	ctx := t.Context()
	users := make([]string, 25)
	for i := range users {
		users[i] = fmt.Sprintf("user%02d", 24-i) // created out of order
	}
	conv := mustCreateGroup(t, s, "big", users...)
	var (
		all   []string
		after string
		pages []int
	)
	for {
		page, err := s.ListMembers(ctx, conv, after, 10)
		if err != nil {
			t.Fatalf("ListMembers(after %q): %v", after, err)
		}
		if len(page) == 0 {
			break
		}
		pages = append(pages, len(page))
		for _, m := range page {
			all = append(all, m.UserID)
		}
		after = page[len(page)-1].UserID
	}
	if diff := cmp.Diff([]int{10, 10, 5}, pages); diff != "" {
		t.Errorf("page sizes (-want +got):\n%s", diff)
	}
	want := slices.Sorted(slices.Values(users))
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("members in order (-want +got):\n%s", diff)
	}
	tests := []struct {
		after string
		limit int
		want  []string
	}{
		{"", 2, []string{"user00", "user01"}},
		{"user05", 3, []string{"user06", "user07", "user08"}},
		{"user0", 1, []string{"user00"}},   // cursor between ids
		{"user23", 10, []string{"user24"}}, // last page
		{"user24", 10, nil},
		{"zzz", 10, nil},
	}
	for _, tt := range tests {
		page, err := s.ListMembers(ctx, conv, tt.after, tt.limit)
		if err != nil {
			t.Fatalf("ListMembers(%q, %d): %v", tt.after, tt.limit, err)
		}
		var got []string
		for _, m := range page {
			got = append(got, m.UserID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ListMembers(%q, %d): got %v, want %v", tt.after, tt.limit, got, tt.want)
		}
	}
	if page, err := s.ListMembers(ctx, store.GroupConv("none"), "", 10); err != nil || len(page) != 0 {
		t.Errorf("ListMembers(unknown conv) = %v, %v; want none, nil", page, err)
	}
	if got := mustCount(t, s, store.GroupConv("none")); got != 0 {
		t.Errorf("CountMembers(unknown conv): got %d, want 0", got)
	}
}

func testConversationsInIDOrder(t *testing.T, s store.Store) {
	var want []store.ConvID
	for _, id := range []string{"c", "a", "b"} {
		want = append(want, mustCreateGroup(t, s, id, "alice", "bob"))
	}
	mustCreateGroup(t, s, "other", "bob")
	for _, peer := range []string{"zoe", "bob"} {
		conv := store.PeerConv("alice", peer)
		mustAppend(t, s, msg(conv, peer, "hi", 1))
		want = append(want, conv)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, convsOf(t, s, "alice")); diff != "" {
		t.Errorf("ConversationsActivity(alice) ids (-want +got):\n%s", diff)
	}
	if got := convsOf(t, s, "nobody"); len(got) != 0 {
		t.Errorf("ConversationsActivity(nobody): got %v, want none", got)
	}
}

func testConversationsActivity(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mustCreateGroup(t, s, "a", "alice", "bob")
	b := mustCreateGroup(t, s, "b", "bob", "alice")
	c := mustCreateGroup(t, s, "c", "alice")
	mustCreateGroup(t, s, "other", "bob")
	mustAppend(t, s, msg(b, "bob", "b1", 200))
	mustAppend(t, s, msg(b, "alice", "b2", 300))
	mustAppend(t, s, msg(store.GroupConv("other"), "bob", "o1", 900))
	zoe := store.PeerConv("alice", "zoe")
	mustAppend(t, s, msg(zoe, "zoe", "z1", 50))
	if _, _, err := s.AdvanceDelivered(ctx, zoe, "alice", 1, 60); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveMember(ctx, c, "alice"); err != nil {
		t.Fatal(err)
	}
	d := mustCreateGroup(t, s, "d", "bob")
	mustAppend(t, s, msg(d, "bob", "d1", 400))
	if _, err := s.AddMembers(ctx, d, []store.Member{{UserID: "alice", Role: "member", JoinedAt: 500}}); err != nil {
		t.Fatal(err)
	}

	got, err := s.ConversationsActivity(ctx, "alice")
	if err != nil {
		t.Fatalf("ConversationsActivity(alice): %v", err)
	}
	want := []store.ConvActivity{ // in id order: g/a, g/b, g/d, p/alice/zoe
		{Conv: a, Member: mustMember(t, s, a, "alice")},
		{Conv: b, Member: mustMember(t, s, b, "alice"), LastSeq: 2, LastAt: 300},
		{Conv: d, Member: mustMember(t, s, d, "alice"), LastSeq: 1, LastAt: 400},
		{Conv: zoe, Member: mustMember(t, s, zoe, "alice"), LastSeq: 1, LastAt: 50},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ConversationsActivity(alice) (-want +got):\n%s", diff)
	}
	if got[1].Member.ReadSeq != 2 || got[3].Member.DeliveredSeq != 1 {
		t.Errorf("members carry no watermarks: %+v", got)
	}
	if got, err := s.ConversationsActivity(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Errorf("ConversationsActivity(nobody): got %v, %v, want none", got, err)
	}
}

func testWatermarks(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	for i := range 10 {
		mustAppend(t, s, msg(conv, "alice", fmt.Sprint(i), int64(i)))
	}
	type marks struct{ Read, Delivered uint64 }
	steps := []struct {
		name        string
		read        bool
		seq         uint64
		at          int64
		wantChanged bool
		want        marks
		wantReadAt  int64
		wantDelivAt int64
	}{
		{"deliver 5", false, 5, 100, true, marks{0, 5}, 0, 100},
		{"deliver 3 is no move", false, 3, 101, false, marks{0, 5}, 0, 100},
		{"deliver 5 again", false, 5, 102, false, marks{0, 5}, 0, 100},
		{"read 4 leaves delivered 5", true, 4, 103, true, marks{4, 5}, 103, 100},
		{"read 7 raises delivered", true, 7, 104, true, marks{7, 7}, 104, 104},
		{"read 6 is no move", true, 6, 105, false, marks{7, 7}, 104, 104},
		{"read 7 again", true, 7, 106, false, marks{7, 7}, 104, 104},
		{"deliver 9", false, 9, 107, true, marks{7, 9}, 104, 107},
		{"read 8 below delivered", true, 8, 108, true, marks{8, 9}, 108, 107},
	}
	for _, st := range steps {
		var (
			m       store.Member
			changed bool
			err     error
		)
		if st.read {
			m, changed, err = s.AdvanceRead(ctx, conv, "bob", st.seq, st.at)
		} else {
			m, changed, err = s.AdvanceDelivered(ctx, conv, "bob", st.seq, st.at)
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if changed != st.wantChanged {
			t.Errorf("%s: got changed %v, want %v", st.name, changed, st.wantChanged)
		}
		want := store.Member{UserID: "bob", Role: "member", JoinSeq: 1, ReadSeq: st.want.Read, DeliveredSeq: st.want.Delivered,
			ReadAt: st.wantReadAt, DeliveredAt: st.wantDelivAt, JoinedAt: 100}
		if diff := cmp.Diff(want, m); diff != "" {
			t.Errorf("%s: returned member (-want +got):\n%s", st.name, diff)
		}
		if diff := cmp.Diff(want, mustMember(t, s, conv, "bob")); diff != "" {
			t.Errorf("%s: stored member (-want +got):\n%s", st.name, diff)
		}
	}
	_, _, err := s.AdvanceRead(ctx, conv, "zed", 1, 1)
	wantErrIs(t, "AdvanceRead(stranger)", err, store.ErrNotFound)
	_, _, err = s.AdvanceDelivered(ctx, conv, "zed", 1, 1)
	wantErrIs(t, "AdvanceDelivered(stranger)", err, store.ErrNotFound)
	_, _, err = s.AdvanceRead(ctx, store.GroupConv("none"), "bob", 1, 1)
	wantErrIs(t, "AdvanceRead(unknown conv)", err, store.ErrNotFound)

	// Concurrent moves end at the maximum.
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if _, _, err := s.AdvanceRead(t.Context(), conv, "alice", uint64(i+1), int64(i)); err != nil {
				t.Errorf("AdvanceRead: %v", err)
			}
		})
	}
	wg.Wait()
	if got := mustMember(t, s, conv, "alice"); got.ReadSeq != 10 || got.DeliveredSeq != 10 {
		t.Errorf("after concurrent reads: got ReadSeq %d DeliveredSeq %d, want 10 and 10", got.ReadSeq, got.DeliveredSeq)
	}
}

func testHistory(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice")
	for i := range 10 {
		mustAppend(t, s, msg(conv, "alice", fmt.Sprint(i), int64(i)))
	}
	other := mustCreateGroup(t, s, "g2", "alice") // must not leak into g
	mustAppend(t, s, msg(other, "alice", "x", 1))
	tests := []struct {
		before, min uint64
		limit       int
		want        []uint64
	}{
		{0, 0, 100, []uint64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{0, 0, 3, []uint64{10, 9, 8}},
		{8, 0, 3, []uint64{7, 6, 5}},
		{5, 0, 10, []uint64{4, 3, 2, 1}},
		{0, 7, 10, []uint64{10, 9, 8, 7}},
		{9, 4, 10, []uint64{8, 7, 6, 5, 4}},
		{9, 4, 2, []uint64{8, 7}},
		{1, 0, 10, []uint64{}},
		{0, 11, 10, []uint64{}},
		{5, 5, 10, []uint64{}},
		{100, 0, 2, []uint64{10, 9}},
	}
	for _, tt := range tests {
		got, err := s.History(ctx, conv, tt.before, tt.min, tt.limit)
		if err != nil {
			t.Fatalf("History(before %d, min %d, limit %d): %v", tt.before, tt.min, tt.limit, err)
		}
		if diff := cmp.Diff(tt.want, seqsOf(got)); diff != "" {
			t.Errorf("History(before %d, min %d, limit %d) seqs (-want +got):\n%s", tt.before, tt.min, tt.limit, diff)
		}
		for _, m := range got {
			if m.Conv != conv {
				t.Errorf("History: message of %s in %s", m.Conv, conv)
			}
		}
	}
	// Paging by beforeSeq walks everything once.
	var (
		seen   []uint64
		before uint64
	)
	for {
		page, err := s.History(ctx, conv, before, 0, 4)
		if err != nil {
			t.Fatalf("History paging: %v", err)
		}
		if len(page) == 0 {
			break
		}
		seen = append(seen, seqsOf(page)...)
		before = page[len(page)-1].Seq
	}
	if got, want := len(seen), 10; got != want {
		t.Errorf("paged history: got %d messages, want %d", got, want)
	}
	if got, err := s.History(ctx, store.GroupConv("none"), 0, 0, 10); err != nil || len(got) != 0 {
		t.Errorf("History(unknown conv) = %v, %v; want none, nil", got, err)
	}
}

func testGetMessage(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice")
	m := msg(conv, "alice", "c1", 1234)
	m.Receipt = true
	m.Body = json.RawMessage(`{"text":"hello","n":[1,2,3]}`)
	stored := mustAppend(t, s, m)
	got, err := s.GetMessage(ctx, m.ID)
	if err != nil {
		t.Fatalf("GetMessage: %v", err)
	}
	if diff := cmp.Diff(stored, got); diff != "" {
		t.Errorf("GetMessage (-appended +got):\n%s", diff)
	}
	if got.Seq != 1 || got.Conv != conv || !got.Receipt || string(got.Body) != string(m.Body) {
		t.Errorf("GetMessage: got %+v, want seq 1 of %s with receipt and body %s", got, conv, m.Body)
	}
	_, err = s.GetMessage(ctx, "no-such-id")
	wantErrIs(t, "GetMessage(unknown)", err, store.ErrNotFound)
}

func testLastSeq(t *testing.T, s store.Store) {
	for _, conv := range []store.ConvID{store.GroupConv("none"), store.PeerConv("x", "y")} {
		if got := mustLastSeq(t, s, conv); got != 0 {
			t.Errorf("LastSeq(%s): got %d, want 0", conv, got)
		}
	}
	conv := store.PeerConv("x", "y")
	mustAppend(t, s, msg(conv, "x", "1", 1))
	mustAppend(t, s, msg(conv, "y", "1", 2))
	if got := mustLastSeq(t, s, conv); got != 2 {
		t.Errorf("LastSeq(%s): got %d, want 2", conv, got)
	}
}

func testCanceledContext(t *testing.T, s store.Store) {
	conv := mustCreateGroup(t, s, "g", "alice")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := s.Append(ctx, msg(conv, "alice", "c", 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with canceled context: got %v, want context.Canceled", err)
	}
	if _, err := s.AddMembers(ctx, conv, []store.Member{{UserID: "bob"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("AddMembers with canceled context: got %v, want context.Canceled", err)
	}
	if got := mustLastSeq(t, s, conv); got != 0 {
		t.Errorf("LastSeq after canceled Append: got %d, want 0", got)
	}
	if got := mustCount(t, s, conv); got != 1 {
		t.Errorf("CountMembers after canceled AddMembers: got %d, want 1", got)
	}
}

func testClosed(t *testing.T, s store.Store) {
	conv := mustCreateGroup(t, s, "g", "alice")
	mustAppend(t, s, msg(conv, "alice", "c", 1))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	calls := map[string]func() error{
		"PutUser": func() error { _, err := s.PutUser(ctx, store.User{ID: "u"}); return err },
		"GetUser": func() error { _, err := s.GetUser(ctx, "u"); return err },
		"CreateGroup": func() error {
			return s.CreateGroup(ctx, store.Group{ID: "g2"}, []store.Member{{UserID: "alice"}})
		},
		"GetGroup":   func() error { _, err := s.GetGroup(ctx, "g"); return err },
		"AddMembers": func() error { _, err := s.AddMembers(ctx, conv, []store.Member{{UserID: "bob"}}); return err },
		"RemoveMember": func() error {
			return s.RemoveMember(ctx, conv, "alice")
		},
		"SetRole":               func() error { return s.SetRole(ctx, conv, "alice", "admin") },
		"GetMember":             func() error { _, err := s.GetMember(ctx, conv, "alice"); return err },
		"ListMembers":           func() error { _, err := s.ListMembers(ctx, conv, "", 10); return err },
		"CountMembers":          func() error { _, err := s.CountMembers(ctx, conv); return err },
		"ConversationsActivity": func() error { _, err := s.ConversationsActivity(ctx, "alice"); return err },
		"Append":                func() error { _, _, err := s.Append(ctx, msg(conv, "alice", "d", 2)); return err },
		"GetMessage":            func() error { _, err := s.GetMessage(ctx, "x"); return err },
		"GetMessages":           func() error { _, err := s.GetMessages(ctx, []string{"x"}); return err },
		"History":               func() error { _, err := s.History(ctx, conv, 0, 0, 10); return err },
		"LastSeq":               func() error { _, err := s.LastSeq(ctx, conv); return err },
		"AdvanceRead":           func() error { _, _, err := s.AdvanceRead(ctx, conv, "alice", 1, 1); return err },
		"AdvanceDelivered":      func() error { _, _, err := s.AdvanceDelivered(ctx, conv, "alice", 1, 1); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s after Close: got error %v, want ErrUnavailable", name, err)
		}
	}
}

func testAckOne(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	for i := range 10 {
		mustAppend(t, s, msg(conv, "alice", fmt.Sprint(i), int64(i)))
	}
	type state struct {
		Read, Delivered uint64
		Acks            []uint64
	}
	view := func(m store.Member) state {
		st := state{Read: m.ReadSeq, Delivered: m.DeliveredSeq}
		for _, a := range m.Acks {
			st.Acks = append(st.Acks, a.Seq)
		}
		return st
	}
	steps := []struct {
		name        string
		op          string // "one" or "read"
		seq         uint64
		wantChanged bool
		want        state
	}{
		{"ack 3 out of order", "one", 3, true, state{0, 0, []uint64{3}}},
		{"ack 5", "one", 5, true, state{0, 0, []uint64{3, 5}}},
		{"ack 3 again", "one", 3, false, state{0, 0, []uint64{3, 5}}},
		{"ack 1 folds 1", "one", 1, true, state{1, 1, []uint64{3, 5}}},
		{"ack 2 folds through 3", "one", 2, true, state{3, 3, []uint64{5}}},
		{"read 4 folds 5", "read", 4, true, state{5, 5, nil}},
		{"ack 5 is read already", "one", 5, false, state{5, 5, nil}},
		{"ack 0 is read already", "one", 0, false, state{5, 5, nil}},
		{"ack 9", "one", 9, true, state{5, 5, []uint64{9}}},
		{"read 10 drops 9", "read", 10, true, state{10, 10, nil}},
	}
	for _, st := range steps {
		var (
			m       store.Member
			changed bool
			err     error
		)
		if st.op == "one" {
			m, changed, err = s.AckOne(ctx, conv, "bob", st.seq, 100)
		} else {
			m, changed, err = s.AdvanceRead(ctx, conv, "bob", st.seq, 100)
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if changed != st.wantChanged || !cmp.Equal(view(m), st.want, cmpopts.EquateEmpty()) {
			t.Fatalf("%s: got %+v changed %v, want %+v changed %v", st.name, view(m), changed, st.want, st.wantChanged)
		}
		got, err := s.GetMember(ctx, conv, "bob")
		if err != nil || !cmp.Equal(view(got), st.want, cmpopts.EquateEmpty()) {
			t.Fatalf("%s: stored %+v, %v; want %+v", st.name, view(got), err, st.want)
		}
	}
	if _, _, err := s.AckOne(ctx, conv, "carol", 1, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AckOne by a non-member = %v, want ErrNotFound", err)
	}
}

func testAckMany(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	for i := range 10 {
		mustAppend(t, s, msg(conv, "alice", fmt.Sprint(i), int64(i)))
	}
	// In order, with a repeat: 5 and 3 are kept, then 1 and 2 fold
	// through 3, and the repeated 5 is no news.
	m, changed, err := s.AckMany(ctx, conv, "bob", []uint64{5, 3, 1, 2, 5}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, true, true, false}; !cmp.Equal(changed, want) {
		t.Errorf("changed = %v, want %v", changed, want)
	}
	if m.ReadSeq != 3 || len(m.Acks) != 1 || m.Acks[0].Seq != 5 {
		t.Errorf("member after = read %d acks %v, want read 3 acks [5]", m.ReadSeq, m.Acks)
	}
	got, err := s.GetMember(ctx, conv, "bob")
	if err != nil || got.ReadSeq != 3 || len(got.Acks) != 1 {
		t.Errorf("stored = %+v, %v; want read 3 and one ack", got, err)
	}
	m, changed, err = s.AckMany(ctx, conv, "bob", []uint64{2, 4}, 100)
	if err != nil || !cmp.Equal(changed, []bool{false, true}) || m.ReadSeq != 5 {
		t.Errorf("second call = read %d changed %v, %v; want read 5 changed [false true]", m.ReadSeq, changed, err)
	}
	if _, _, err := s.AckMany(ctx, conv, "carol", []uint64{1}, 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AckMany by a non-member = %v, want ErrNotFound", err)
	}
}

func testAckOneLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	// Acks may name seqs the conversation does not have yet: clamping is
	// the caller's job, and it keeps this test cheap.
	for i := range store.MaxAcks {
		if _, _, err := s.AckOne(ctx, conv, "bob", uint64(2*i+2), 1); err != nil {
			t.Fatalf("ack %d: %v", i, err)
		}
	}
	if _, _, err := s.AckOne(ctx, conv, "bob", 1<<20, 1); !errors.Is(err, store.ErrTooManyAcks) {
		t.Fatalf("ack beyond the limit = %v, want ErrTooManyAcks", err)
	}
	m, err := s.GetMember(ctx, conv, "bob")
	if err != nil || len(m.Acks) != store.MaxAcks {
		t.Fatalf("after refusal: %d acks, %v; want %d", len(m.Acks), err, store.MaxAcks)
	}
	// AckMany with one ack over the limit: the error is reported, the
	// other ack is recorded (1 folds through 2), and the member returned is
	// as it left it.
	m, changed, err := s.AckMany(ctx, conv, "bob", []uint64{1 << 20, 1}, 1)
	if !errors.Is(err, store.ErrTooManyAcks) || !cmp.Equal(changed, []bool{false, true}) || m.ReadSeq != 2 || len(m.Acks) != store.MaxAcks-1 {
		t.Fatalf("AckMany over the limit = readSeq %d, %d acks, changed %v, %v; want 2, %d, [false true], ErrTooManyAcks",
			m.ReadSeq, len(m.Acks), changed, err, store.MaxAcks-1)
	}
	// Folding made room again; acking 1 again changes nothing.
	if m, _, err = s.AckOne(ctx, conv, "bob", 1, 1); err != nil || m.ReadSeq != 2 || len(m.Acks) != store.MaxAcks-1 {
		t.Fatalf("ack 1: readSeq %d, %d acks, %v; want 2 and %d", m.ReadSeq, len(m.Acks), err, store.MaxAcks-1)
	}
}

func testReceipts(t *testing.T, s store.Store) {
	ctx := t.Context()
	conv := mustCreateGroup(t, s, "g", "alice", "bob")
	withReceipt := msg(conv, "alice", "r1", 10)
	withReceipt.Receipt = true
	r1 := mustAppend(t, s, withReceipt)
	if r1.ReceiptAt != 10 {
		t.Errorf("ReceiptAt = %d, want SentAt 10", r1.ReceiptAt)
	}
	plain := mustAppend(t, s, msg(conv, "alice", "p2", 20))
	seqs := func() []uint64 { return liveSeqs(t, s, conv) }
	if got := seqs(); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("live = %v, want [1]", got)
	}
	m, changed, err := s.RequestReceipt(ctx, conv, plain.Seq, 30)
	if err != nil || !changed || !m.Receipt || m.ReceiptAt != 30 {
		t.Fatalf("RequestReceipt = %+v, %v, %v; want receipt at 30", m, changed, err)
	}
	if _, changed, _ := s.RequestReceipt(ctx, conv, plain.Seq, 40); changed {
		t.Errorf("second RequestReceipt changed something")
	}
	if _, _, err := s.RequestReceipt(ctx, conv, 99, 40); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RequestReceipt of no message = %v, want ErrNotFound", err)
	}
	if got := seqs(); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("live = %v, want [1 2]", got)
	}
	frozen := &store.Frozen{Read: 0, Unread: 1, Delivered: 1}
	if err := s.SettleReceipt(ctx, conv, 1, frozen); err != nil {
		t.Fatal(err)
	}
	if err := s.SettleReceipt(ctx, conv, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SettleReceipt(ctx, conv, 2, nil); err != nil {
		t.Fatal(err)
	}
	if got := seqs(); len(got) != 0 {
		t.Fatalf("live after settling = %v, want none", got)
	}
	got, err := s.MessageAt(ctx, conv, 1)
	if err != nil || !got.Settled || !cmp.Equal(got.Frozen, frozen) {
		t.Fatalf("message 1 = %+v, %v; want settled with %+v (a second settle changes nothing)", got, err, frozen)
	}
	if got, err = s.GetMessage(ctx, plain.ID); err != nil || !got.Settled || got.Frozen != nil || got.ReceiptAt != 30 {
		t.Fatalf("message 2 = %+v, %v; want settled, not frozen", got, err)
	}
	if _, err := s.MessageAt(ctx, conv, 3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MessageAt(3) = %v, want ErrNotFound", err)
	}
}

// appendConcurrently has one writer per user append each messages to conv
// at once, writer w through handle(w), and checks that the seqs allocated
// are exactly 1..len(users)*each (what names them in a failure).
func appendConcurrently(t *testing.T, handle func(w int) store.Store, conv store.ConvID, users []string, each int, what string) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seqs []uint64
	)
	for w := range users {
		s := handle(w)
		wg.Go(func() {
			for i := range each {
				got, existed, err := s.Append(t.Context(), msg(conv, users[w], fmt.Sprint(i), int64(i)))
				if err != nil || existed {
					t.Errorf("Append(%s, %d) = existed %v, err %v", users[w], i, existed, err)
					return
				}
				mu.Lock()
				seqs = append(seqs, got.Seq)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(seqs)
	want := make([]uint64, len(users)*each)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	if diff := cmp.Diff(want, seqs); diff != "" {
		t.Errorf("%s are not exactly 1..%d (-want +got):\n%s", what, len(want), diff)
	}
}
