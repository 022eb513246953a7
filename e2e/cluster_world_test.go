package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// The failure tests of a cluster (a node killed, NATS restarted) share one
// load and one check. Load users u0..u5 are spread over the nodes (user i
// starts on node i mod n) and do a random mix in one group: sends that ask
// for receipts (each with its own clientMsgId), single reads, conversation
// reads, delivered acks, receipt queries; u0 adds and removes c1 with
// group.add/group.remove and u1 adds and removes c2 through the admin API
// of the node it is on. A client whose node goes away reconnects to the
// next node that answers and sends its unanswered request again, the same
// request (the same clientMsgId for a send), as an SDK does.
//
// The check recomputes every count from the members' own state, read
// through one node from the store (each member's ack state of every
// message in its history, its conversation.list entry, the group's join
// positions), and compares what every node answers with it.

// loadUsers are the users doing load; churnUsers join and leave.
var (
	loadUsers  = []string{"u0", "u1", "u2", "u3", "u4", "u5"}
	churnUsers = []string{"c1", "c2"}
)

// clusterWorld is what a cluster acknowledged under failure, and where its
// load clients may connect.
type clusterWorld struct {
	t      *testing.T
	group  string // the group all load goes to
	conv   protocol.Conversation
	urls   []string // the nodes' client WebSocket URLs
	bases  []string // the nodes' admin API base URLs
	tokens map[string]string

	mu        sync.Mutex
	sends     map[string]protocol.SendResult // clientMsgId -> the acknowledged message
	senderOf  map[string]string              // msgId -> sender
	receipts  []string                       // msgIds of acknowledged receipt messages
	readSeq   map[string]uint64              // user -> highest acknowledged readSeq
	delivered map[string]uint64              // user -> highest acknowledged delivered seq
	acks      map[string]map[string]bool     // user -> msgIds whose single read was acknowledged
	lastSeq   uint64                         // highest acknowledged seq
	member    map[string]bool                // churn user -> member after its last acknowledged change

	ops      atomic.Int64 // acknowledged operations, for kill points
	attempts atomic.Int64 // requests answered or failed, for outages in which none may succeed
	resends  atomic.Int64 // requests sent again after a reconnect
}

// newClusterWorld creates the users (unless they exist) and the group
// groupID through the first node's admin API and mints the tokens.
func newClusterWorld(t *testing.T, groupID string, urls, bases []string) *clusterWorld {
	t.Helper()
	w := &clusterWorld{
		t: t, group: groupID, conv: group(groupID), urls: urls, bases: bases, tokens: map[string]string{},
		sends: map[string]protocol.SendResult{}, senderOf: map[string]string{},
		readSeq: map[string]uint64{}, delivered: map[string]uint64{}, acks: map[string]map[string]bool{},
		member: map[string]bool{"c1": true, "c2": true},
	}
	ctx := context.Background()
	for _, u := range append(append([]string{}, loadUsers...), churnUsers...) {
		w.mustAdmin(ctx, "POST", "/v1/admin/users", map[string]string{"userId": u})
		var tok struct{ Token string }
		if err := json.Unmarshal(w.mustAdmin(ctx, "POST", "/v1/admin/tokens", map[string]any{"userId": u, "ttlSeconds": 86400}), &tok); err != nil {
			t.Fatalf("token for %s: %v", u, err)
		}
		w.tokens[u] = tok.Token
	}
	w.mustAdmin(ctx, "POST", "/v1/admin/groups", map[string]any{
		"groupId": groupID, "owner": "u0", "members": append(append([]string{}, loadUsers[1:]...), churnUsers...),
	})
	return w
}

func (w *clusterWorld) mustAdmin(ctx context.Context, method, path string, body any) []byte {
	w.t.Helper()
	code, b, err := seentest.AdminCall(ctx, w.bases[0], method, path, body)
	if err != nil || code/100 != 2 {
		w.t.Fatalf("%s %s = %d %s %v", method, path, code, b, err)
	}
	return b
}

// dial connects user to the first node from node on (round robin) that
// takes the connection, and returns the client and that node. It gives up
// after a minute: by then some node must serve.
func (w *clusterWorld) dial(user string, node int) (*client.Client, int, error) {
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		n := (node + i) % len(w.urls)
		c, err := dialProc(w.urls[n], w.tokens[user])
		if err == nil {
			return c, n, nil
		}
		if time.Now().After(deadline) {
			return nil, 0, fmt.Errorf("no node took %s's connection within a minute: %w", user, err)
		}
		if (i+1)%len(w.urls) == 0 {
			time.Sleep(50 * time.Millisecond) // a pause between passes over every node, not an assertion
		}
	}
}

// op is one request of the load; it records what it got acknowledged. It
// returns an error only when the request was not answered (the node went
// away) or was refused as unavailable, so that it is sent again.
type op func(ctx context.Context, c *client.Client, node int) error

// nextOp draws the next request of user.
func (w *clusterWorld) nextOp(rng *rand.Rand, user string, round, i int) op {
	switch n := rng.IntN(20); {
	case n < 7: // a message that asks for receipts
		id := fmt.Sprintf("%s-%d-%d", user, round, i)
		return func(ctx context.Context, c *client.Client, _ int) error {
			res, err := c.Send(ctx, protocol.SendParams{Conversation: w.conv, ClientMsgID: id, Body: json.RawMessage(`"` + id + `"`), Receipt: true})
			if err != nil {
				return err
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			if _, ok := w.sends[id]; ok {
				w.t.Errorf("clientMsgId %s acknowledged twice", id)
			}
			w.sends[id] = res
			w.senderOf[res.MsgID] = user
			w.receipts = append(w.receipts, res.MsgID)
			w.readSeq[user] = max(w.readSeq[user], res.Seq) // sending marks read
			w.lastSeq = max(w.lastSeq, res.Seq)
			return nil
		}
	case n < 11: // a single read of someone else's receipt message
		w.mu.Lock()
		var pick string
		if k := len(w.receipts); k > 0 {
			pick = w.receipts[rng.IntN(k)]
		}
		mine := w.senderOf[pick] == user
		w.mu.Unlock()
		if pick == "" || mine {
			return nil
		}
		return func(ctx context.Context, c *client.Client, _ int) error {
			if _, err := c.Read(ctx, protocol.ReadParams{Conversation: w.conv, MsgIDs: []string{pick}}); err != nil {
				return err
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.acks[user] == nil {
				w.acks[user] = map[string]bool{}
			}
			w.acks[user][pick] = true
			return nil
		}
	case n < 13: // read the conversation up to now
		return func(ctx context.Context, c *client.Client, _ int) error {
			res, err := c.ReadConversation(ctx, protocol.ConversationReadParams{Conversation: w.conv})
			if err != nil {
				return err
			}
			w.mu.Lock()
			w.readSeq[user] = max(w.readSeq[user], res.ReadSeq)
			w.mu.Unlock()
			return nil
		}
	case n < 16: // delivered up to the last acknowledged message
		w.mu.Lock()
		seq := w.lastSeq
		w.mu.Unlock()
		if seq == 0 {
			return nil
		}
		return func(ctx context.Context, c *client.Client, _ int) error {
			if err := c.Delivered(ctx, protocol.DeliveredParams{Conversation: w.conv, Seq: seq}); err != nil {
				return err
			}
			w.mu.Lock()
			w.delivered[user] = max(w.delivered[user], seq)
			w.mu.Unlock()
			return nil
		}
	case n < 18 && user == "u0": // group.add / group.remove of c1
		return w.churn("c1", func(ctx context.Context, c *client.Client, _ int, in bool) error {
			p := protocol.GroupMembersChangeParams{GroupID: w.group, UserIDs: []string{"c1"}}
			if in {
				err := c.RemoveMembers(ctx, p)
				if pe := (*protocol.Error)(nil); errors.As(err, &pe) && pe.Code == protocol.CodeNotFound {
					return nil // removed already, by a request whose answer was lost
				}
				return err
			}
			return c.AddMembers(ctx, p)
		})
	case n < 18 && user == "u1": // the admin API adds and removes c2
		return w.churn("c2", func(ctx context.Context, _ *client.Client, node int, in bool) error {
			method, path, body := "POST", "/v1/admin/groups/"+w.group+"/members", any(map[string]any{"userIds": []string{"c2"}})
			if in {
				method, path, body = "DELETE", "/v1/admin/groups/"+w.group+"/members/c2", nil
			}
			code, b, err := seentest.AdminCall(ctx, w.bases[node], method, path, body)
			switch {
			case err != nil:
				return err
			case code == http.StatusServiceUnavailable:
				return protocol.Errorf(protocol.CodeUnavailable, "admin API: %s", b)
			case code/100 == 2, in && code == http.StatusNotFound:
				return nil
			}
			w.t.Errorf("admin %s %s = %d %s", method, path, code, b)
			return nil
		})
	default: // the receipts of one of the user's own messages
		w.mu.Lock()
		var mine []string
		for id, s := range w.senderOf {
			if s == user {
				mine = append(mine, id)
				break
			}
		}
		w.mu.Unlock()
		if len(mine) == 0 {
			return nil
		}
		return func(ctx context.Context, c *client.Client, _ int) error {
			_, err := c.QueryReceipts(ctx, protocol.ReceiptQueryParams{Conversation: w.conv, MsgIDs: mine})
			return err
		}
	}
}

// churn toggles who's membership, by change(in: whether who is a member now).
func (w *clusterWorld) churn(who string, change func(ctx context.Context, c *client.Client, node int, in bool) error) op {
	w.mu.Lock()
	in := w.member[who]
	w.mu.Unlock()
	return func(ctx context.Context, c *client.Client, node int) error {
		if err := change(ctx, c, node, in); err != nil {
			return err
		}
		w.mu.Lock()
		w.member[who] = !in
		w.mu.Unlock()
		return nil
	}
}

// retryable reports whether err means the request must be sent again: no
// answer (the node went away) or 503. Any other refusal is a failure.
func retryable(err error) bool {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code == protocol.CodeUnavailable
	}
	return true
}

// load runs user's client, starting on node home, until stop is closed and
// its last request was answered. It marks dialled once connected.
func (w *clusterWorld) load(user string, home int, seed uint64, round int, dialled *sync.WaitGroup, stop <-chan struct{}) {
	t := w.t
	c, node, err := w.dial(user, home)
	dialled.Done()
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	defer func() { c.Close() }()
	rng := rand.New(rand.NewPCG(seed, uint64(round)<<8|uint64(user[1])))
	var pending op
	for i := 0; ; i++ {
		if pending == nil {
			select {
			case <-stop:
				return
			default:
			}
			if pending = w.nextOp(rng, user, round, i); pending == nil {
				continue
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := pending(ctx, c, node)
		cancel()
		w.attempts.Add(1)
		if err == nil {
			pending = nil
			w.ops.Add(1)
			continue
		}
		if !retryable(err) {
			t.Errorf("%s on node %d: %v", user, node, err)
			pending = nil
			continue
		}
		// The node went away or cannot serve: go to the next one and send
		// the same request again.
		c.Close()
		w.resends.Add(1)
		if c, node, err = w.dial(user, node+1); err != nil {
			t.Errorf("%v", err)
			return
		}
	}
}

// run starts the load of round and returns a function that stops it and
// waits for every client to finish its last request. It returns once every
// client is connected.
func (w *clusterWorld) run(seed uint64, round int) (stop func()) {
	done := make(chan struct{})
	var wg, dialled sync.WaitGroup
	dialled.Add(len(loadUsers))
	for i, u := range loadUsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.load(u, i%len(w.urls), seed, round, &dialled, done)
		}()
	}
	dialled.Wait()
	return func() { close(done); wg.Wait() }
}

// waitOps returns once k more operations were acknowledged than at from:
// failure points are counted in acknowledged operations, never in time.
func (w *clusterWorld) waitOps(t *testing.T, what string, from, k int64) {
	t.Helper()
	waitWrites(t, what, w.ops.Load, from+k)
}
