package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/protocol"
)

// clusterTruth is the group's state as its members' own records say it,
// read through one node: each member's ack state of every message in its
// history and its read watermark come from the store on every request, not
// from a receipt engine, so counts recomputed from them are independent of
// any node's engine.
type clusterTruth struct {
	last     uint64
	receipts map[string]protocol.Receipt          // msgId -> status and counts, as the sender must see them
	lists    map[string]map[string][]string       // msgId -> receipt.members filter -> its members, sorted
	sender   map[string]string                    // msgId -> sender, for receipt messages
	list     map[string]protocol.ConversationInfo // member -> its conversation.list entry (lastSeq, readSeq, unreadCount)
}

// dialAll connects users to the node at url, closed when the test ends.
func (w *clusterWorld) dialAll(t *testing.T, url string, users []string) map[string]*client.Client {
	t.Helper()
	cs := map[string]*client.Client{}
	for _, u := range users {
		c, err := dialProc(url, w.tokens[u])
		if err != nil {
			t.Fatalf("dial %s at %s: %v", u, url, err)
		}
		t.Cleanup(func() { c.Close() })
		cs[u] = c
	}
	return cs
}

// allUsers is every user of the failure tests.
func allUsers() []string { return slices.Concat(loadUsers, churnUsers) }

// history reads conv's whole history as c's user sees it, oldest first.
func fullHistory(ctx context.Context, c *client.Client, conv protocol.Conversation) ([]protocol.Message, error) {
	var all []protocol.Message
	var before uint64
	for {
		h, err := c.History(ctx, protocol.HistoryParams{Conversation: conv, BeforeSeq: before, Limit: 100})
		if err != nil {
			return nil, err
		}
		all = append(all, h.Messages...)
		if !h.HasMore || len(h.Messages) == 0 {
			break
		}
		before = h.Messages[len(h.Messages)-1].Seq
	}
	slices.SortFunc(all, func(a, b protocol.Message) int { return int(a.Seq) - int(b.Seq) })
	return all, nil
}

// truth reads the members' state through the node at url, checks it
// against everything acknowledged, and recomputes every count from it.
func (w *clusterWorld) truth(t *testing.T, url string) clusterTruth {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := w.dialAll(t, url, allUsers())
	w.mu.Lock()
	defer w.mu.Unlock()

	// Who is a member now, and from which seq.
	joins := map[string]uint64{}
	var cursor string
	for {
		res, err := cs["u0"].GroupMembers(ctx, protocol.GroupMembersParams{GroupID: w.group, Cursor: cursor, Limit: 100})
		if err != nil {
			t.Fatalf("group.members: %v", err)
		}
		for _, m := range res.Members {
			joins[m.UserID] = m.JoinSeq
		}
		if cursor = res.NextCursor; cursor == "" {
			break
		}
	}
	for _, u := range churnUsers {
		if _, in := joins[u]; in != w.member[u] {
			t.Errorf("%s: member %v, but the last acknowledged change made it %v", u, in, w.member[u])
		}
	}

	// The whole history, from the owner, who is there from the start:
	// seqs gap-free and unique, every acknowledged send at its seq, and
	// every clientMsgId (the body) once, resends included.
	msgs, err := fullHistory(ctx, cs["u0"], w.conv)
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	bySeq := map[uint64]protocol.Message{}
	bodies := map[string]uint64{}
	for i, m := range msgs {
		if m.Seq != uint64(i+1) {
			t.Fatalf("history: seq %d at position %d, want gap-free seqs from 1", m.Seq, i)
		}
		bySeq[m.Seq] = m
		if s, dup := bodies[string(m.Body)]; dup {
			t.Fatalf("message %s stored twice, at seqs %d and %d", m.Body, s, m.Seq)
		}
		bodies[string(m.Body)] = m.Seq
	}
	tr := clusterTruth{last: uint64(len(msgs)), receipts: map[string]protocol.Receipt{}, lists: map[string]map[string][]string{},
		sender: map[string]string{}, list: map[string]protocol.ConversationInfo{}}
	for id, s := range w.sends {
		if m := bySeq[s.Seq]; m.MsgID != s.MsgID || string(m.Body) != `"`+id+`"` {
			t.Fatalf("acknowledged send %s (%s at seq %d) is not in history: seq %d holds %s %s", id, s.MsgID, s.Seq, s.Seq, m.MsgID, m.Body)
		}
	}

	// Each member's own state, checked against what it got acknowledged.
	read := map[string]map[string]bool{} // msgId -> member -> read
	delivered := map[string]map[string]bool{}
	for u, join := range joins {
		h, err := fullHistory(ctx, cs[u], w.conv)
		if err != nil {
			t.Fatalf("%s: history: %v", u, err)
		}
		list, err := cs[u].Conversations(ctx, protocol.ConversationListParams{Limit: 100})
		if err != nil {
			t.Fatalf("%s: conversation.list: %v", u, err)
		}
		i := slices.IndexFunc(list.Conversations, func(ci protocol.ConversationInfo) bool { return ci.Conversation == w.conv })
		if i < 0 {
			t.Fatalf("%s: the group is not in its conversation.list", u)
		}
		readSeq := list.Conversations[i].ReadSeq
		if readSeq < w.readSeq[u] {
			t.Fatalf("%s: readSeq %d, but %d was acknowledged", u, readSeq, w.readSeq[u])
		}
		acksAbove := 0
		for _, m := range h {
			if m.Seq < join {
				t.Fatalf("%s: history shows seq %d, before it joined at %d", u, m.Seq, join)
			}
			a := client.MessageAckState(m)
			if a == nil {
				continue // not a receipt message, or its own
			}
			if read[m.MsgID] == nil {
				read[m.MsgID], delivered[m.MsgID] = map[string]bool{}, map[string]bool{}
			}
			read[m.MsgID][u], delivered[m.MsgID][u] = a.Read, a.Delivered
			switch {
			case w.acks[u][m.MsgID] && !a.Read:
				t.Fatalf("%s: the acknowledged read of %s (seq %d) was lost", u, m.MsgID, m.Seq)
			case m.Seq <= readSeq && !a.Read:
				t.Fatalf("%s: %s at seq %d is under its readSeq %d but not read", u, m.MsgID, m.Seq, readSeq)
			case m.Seq <= w.delivered[u] && !a.Delivered:
				t.Fatalf("%s: %s at seq %d is under its acknowledged delivered seq %d but not delivered", u, m.MsgID, m.Seq, w.delivered[u])
			}
			if m.Seq > readSeq && a.Read {
				acksAbove++
			}
		}
		tr.list[u] = protocol.ConversationInfo{LastSeq: tr.last, ReadSeq: readSeq, UnreadCount: tr.last - readSeq - uint64(acksAbove)}
	}

	// Every receipt message's counts, from the eligible members' state:
	// the current members who joined no later than it, but its sender.
	for _, m := range msgs {
		if m.Receipt == nil {
			continue
		}
		var r protocol.Receipt
		r.MsgID = m.MsgID
		lists := map[string][]string{}
		for _, u := range slices.Sorted(maps.Keys(joins)) {
			if u == m.Sender || joins[u] > m.Seq {
				continue
			}
			if read[m.MsgID][u] {
				r.ReadCount++
				lists[protocol.FilterRead] = append(lists[protocol.FilterRead], u)
			} else {
				r.UnreadCount++
				lists[protocol.FilterUnread] = append(lists[protocol.FilterUnread], u)
			}
			if delivered[m.MsgID][u] {
				r.DeliveredCount++
				lists[protocol.FilterDelivered] = append(lists[protocol.FilterDelivered], u)
			} else {
				lists[protocol.FilterUndelivered] = append(lists[protocol.FilterUndelivered], u)
			}
		}
		r.Status = protocol.StatusPending
		if r.UnreadCount == 0 {
			r.Status = protocol.StatusDone
		}
		tr.receipts[m.MsgID], tr.lists[m.MsgID], tr.sender[m.MsgID] = r, lists, m.Sender
	}
	return tr
}

// compare asks the node whose clients cs are for every count, and returns
// how they differ from tr (nil when they all agree).
func (tr clusterTruth) compare(ctx context.Context, cs map[string]*client.Client, conv protocol.Conversation) error {
	var diffs []string
	bySender := map[string][]string{}
	for _, id := range slices.Sorted(maps.Keys(tr.sender)) {
		bySender[tr.sender[id]] = append(bySender[tr.sender[id]], id)
	}
	for s, ids := range bySender {
		for chunk := range slices.Chunk(ids, protocol.MaxMsgIDs) {
			res, err := cs[s].QueryReceipts(ctx, protocol.ReceiptQueryParams{Conversation: conv, MsgIDs: chunk})
			if err != nil {
				return fmt.Errorf("%s: receipt.query: %w", s, err)
			}
			if len(res.Receipts) != len(chunk) {
				diffs = append(diffs, fmt.Sprintf("receipt.query by %s: %d receipts for %d ids", s, len(res.Receipts), len(chunk)))
			}
			for _, got := range res.Receipts {
				want := tr.receipts[got.MsgID]
				got.ExpiresAt = 0
				if got != want {
					diffs = append(diffs, fmt.Sprintf("receipt.query %s by %s: got %+v, want %+v", got.MsgID, s, got, want))
				}
			}
		}
		// receipt.members, every filter, for a sample: the first and the
		// last few.
		for i, id := range ids {
			if i >= 2 && i < len(ids)-3 {
				continue
			}
			for _, filter := range []string{protocol.FilterRead, protocol.FilterUnread, protocol.FilterDelivered, protocol.FilterUndelivered} {
				var got []string
				var cursor string
				for {
					res, err := cs[s].ReceiptMembers(ctx, protocol.ReceiptMembersParams{Conversation: conv, MsgID: id, Filter: filter, Cursor: cursor, Limit: 100})
					if err != nil {
						return fmt.Errorf("%s: receipt.members: %w", s, err)
					}
					for _, m := range res.Members {
						got = append(got, m.UserID)
					}
					if cursor = res.NextCursor; cursor == "" {
						break
					}
				}
				slices.Sort(got)
				if want := tr.lists[id][filter]; !slices.Equal(got, want) {
					diffs = append(diffs, fmt.Sprintf("receipt.members %s %s: got %v, want %v", id, filter, got, want))
				}
			}
		}
	}
	for u, want := range tr.list {
		res, err := cs[u].Conversations(ctx, protocol.ConversationListParams{Limit: 100})
		if err != nil {
			return fmt.Errorf("%s: conversation.list: %w", u, err)
		}
		for _, ci := range res.Conversations {
			if ci.Conversation != conv {
				continue
			}
			if ci.LastSeq != want.LastSeq || ci.ReadSeq != want.ReadSeq || ci.UnreadCount != want.UnreadCount {
				diffs = append(diffs, fmt.Sprintf("conversation.list of %s: lastSeq %d readSeq %d unread %d, want %d %d %d",
					u, ci.LastSeq, ci.ReadSeq, ci.UnreadCount, want.LastSeq, want.ReadSeq, want.UnreadCount))
			}
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	slices.Sort(diffs)
	kinds := map[string]int{}
	for _, d := range diffs {
		kind, _, _ := strings.Cut(d, " ")
		kinds[kind]++
	}
	if len(diffs) > 8 {
		diffs = append(diffs[:8], "...")
	}
	return fmt.Errorf("differences from the members' state %v:\n\t%s", kinds, strings.Join(diffs, "\n\t"))
}

// checkNodes recomputes the counts from the members' state (through the
// first of nodes, indexes into w.urls) and polls until every one of nodes
// answers exactly those, within wait for them all: a node learns of another's writes through NATS
// after they commit, so its answer may lag for a moment; a node that never
// catches up fails the test with the differences it still shows.
func (w *clusterWorld) checkNodes(t *testing.T, nodes []int, wait time.Duration) (ok bool) {
	t.Helper()
	ok = true
	tr := w.truth(t, w.urls[nodes[0]])
	deadline := time.Now().Add(wait) // one for all nodes: each polls while others catch up too
	for _, i := range nodes {
		cs := w.dialAll(t, w.urls[i], allUsers())
		var last error
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			last = tr.compare(ctx, cs, w.conv)
			cancel()
			if last == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond) // between polls; the deadline is the bound, not this
		}
		if last != nil {
			t.Errorf("node %d does not serve the members' counts after %v: %v", i, wait, last)
			ok = false
		}
	}
	return ok
}
