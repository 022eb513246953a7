package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

func TestRestartKeepsEverything(t *testing.T) {
	s := seentest.Start(t)
	s.Users("alice", "bob", "carol")
	s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": "g", "owner": "alice", "members": []string{"bob"}})
	alice := connectRaw(t, s, "alice", "")
	bob := connectRaw(t, s, "bob", "")
	for i := range 5 {
		send(t, alice, group("g"), fmt.Sprint("g", i), "group")
		send(t, alice, peer("bob"), fmt.Sprint("p", i), "peer")
	}
	bob.MustCall(protocol.MethodConversationRead, protocol.ConversationReadParams{Conversation: group("g"), Seq: 3}, nil)
	s.MustAdmin("POST", "/v1/admin/groups/g/members", map[string]any{"userIds": []string{"carol"}})
	aliceBefore, bobBefore := snapshot(t, alice), snapshot(t, bob)

	s.Restart()

	alice = connectRaw(t, s, "alice", "")
	bob = connectRaw(t, s, "bob", "")
	if diff := cmp.Diff(aliceBefore, snapshot(t, alice)); diff != "" {
		t.Errorf("alice's view changed across a restart:\n%s", diff)
	}
	if diff := cmp.Diff(bobBefore, snapshot(t, bob)); diff != "" {
		t.Errorf("bob's view changed across a restart:\n%s", diff)
	}
	if r := send(t, alice, group("g"), "after", "x"); r.Seq != 6 {
		t.Errorf("first group seq after restart = %d, want 6", r.Seq)
	}
	if r := send(t, alice, peer("bob"), "p0", "peer"); r.Seq != 1 {
		t.Errorf("resend of p0 after restart = seq %d, want the original 1", r.Seq)
	}
	var members protocol.GroupMembersResult
	alice.MustCall(protocol.MethodGroupMembers, protocol.GroupMembersParams{GroupID: "g"}, &members)
	if len(members.Members) != 3 || members.Members[2].UserID != "carol" || members.Members[2].JoinSeq != 6 {
		t.Errorf("members after restart = %+v, want carol joined at 6", members.Members)
	}
}

// acked is what the server acknowledged to one sender.
type acked struct {
	user  string
	conv  protocol.Conversation
	seq   uint64
	msgID string
}

// loadProgress is how far a sendLoad has got, for a kill to wait on.
type loadProgress struct {
	dialled sync.WaitGroup // one per sender: done once it dialled, or failed to
	acked   atomic.Int64   // sends acknowledged so far
}

func newLoadProgress(senders int) *loadProgress {
	p := &loadProgress{}
	p.dialled.Add(senders)
	return p
}

// waitFor returns once every sender dialled and k sends were acknowledged.
func (p *loadProgress) waitFor(t *testing.T, k int64) {
	t.Helper()
	p.dialled.Wait()
	waitWrites(t, "send load", p.acked.Load, k)
}

// sendLoad runs senders that send until stop is closed or a send fails,
// and returns every acknowledged message by clientMsgId.
func sendLoad(t *testing.T, url string, tokens map[string]string, stop <-chan struct{}, round int, prog *loadProgress) map[string]acked {
	var mu sync.Mutex
	got := map[string]acked{}
	var wg sync.WaitGroup
	for user, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialProc(url, tok)
			prog.dialled.Done()
			if err != nil {
				t.Errorf("dial %s: %v", user, err)
				return
			}
			defer c.Close()
			convs := []protocol.Conversation{group("load"), peer(otherUser(user))}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("%s-r%d-%d", user, round, i)
				conv := convs[i%2]
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				res, err := c.Send(sctx, protocol.SendParams{Conversation: conv, ClientMsgID: id, Body: json.RawMessage(`"` + id + `"`)})
				cancel()
				if err != nil {
					return // the server went away: whatever was acked must survive
				}
				mu.Lock()
				got[id] = acked{user: user, conv: conv, seq: res.Seq, msgID: res.MsgID}
				mu.Unlock()
				prog.acked.Add(1)
			}
		}()
	}
	wg.Wait()
	return got
}

// procGroup creates users u0..u(n-1) on a server process, a group of all
// of them owned by u0, and returns their tokens.
func procGroup(t *testing.T, p *seentest.Proc, groupID string, n int) map[string]string {
	t.Helper()
	tokens := map[string]string{}
	var users []string
	for i := range n {
		u := fmt.Sprintf("u%d", i)
		users = append(users, u)
		p.Admin("POST", "/v1/admin/users", map[string]string{"userId": u})
		code, b := p.Admin("POST", "/v1/admin/tokens", map[string]any{"userId": u, "ttlSeconds": 86400})
		var tok struct{ Token string }
		if err := json.Unmarshal(b, &tok); err != nil || code != 200 {
			t.Fatalf("token for %s: %d %s", u, code, b)
		}
		tokens[u] = tok.Token
	}
	if code, b := p.Admin("POST", "/v1/admin/groups", map[string]any{"groupId": groupID, "owner": "u0", "members": users}); code != 201 {
		t.Fatalf("create group: %d %s", code, b)
	}
	return tokens
}

// dialProc connects a load client to a server process: no reconnect (the
// kill must end it), no automatic acks (the test acks explicitly).
func dialProc(url, tok string) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return client.Dial(ctx, url, tok, client.WithReconnect(false), client.WithAutoDelivered(false))
}

// otherUser pairs load users for peer chats: u0-u1, u2-u3, ...
func otherUser(u string) string {
	var n int
	fmt.Sscanf(u, "u%d", &n)
	return fmt.Sprintf("u%d", n^1)
}

// checkAcked verifies, on a fresh server process, that every acknowledged
// message is in history at its seq with its id, and that every history is
// gap-free.
func checkAcked(t *testing.T, p *seentest.Proc, tokens map[string]string, all map[string]acked, groupID string) {
	t.Helper()
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	byConv := map[string]map[uint64]protocol.Message{}
	for user, tok := range tokens {
		c, err := dialProc(p.WSURL(), tok)
		if err != nil {
			t.Fatalf("dial %s: %v", user, err)
		}
		for _, conv := range []protocol.Conversation{group(groupID), peer(otherUser(user))} {
			key := convKey(user, conv)
			if byConv[key] != nil {
				continue
			}
			msgs := map[uint64]protocol.Message{}
			var before uint64
			for {
				h, err := c.History(dctx, protocol.HistoryParams{Conversation: conv, BeforeSeq: before, Limit: 100})
				if err != nil {
					t.Fatalf("history: %v", err)
				}
				for _, m := range h.Messages {
					if _, dup := msgs[m.Seq]; dup {
						t.Fatalf("%s: seq %d twice", key, m.Seq)
					}
					msgs[m.Seq] = m
				}
				if !h.HasMore {
					break
				}
				before = h.Messages[len(h.Messages)-1].Seq
			}
			for seq := uint64(1); seq <= uint64(len(msgs)); seq++ {
				if _, ok := msgs[seq]; !ok {
					t.Fatalf("%s: gap at seq %d of %d", key, seq, len(msgs))
				}
			}
			byConv[key] = msgs
		}
		c.Close()
	}
	for id, a := range all {
		key := convKey(a.user, a.conv)
		m, ok := byConv[key][a.seq]
		if !ok || m.MsgID != a.msgID || string(m.Body) != `"`+id+`"` {
			t.Fatalf("acknowledged %s (%s seq %d, %s) lost: found %+v", id, key, a.seq, a.msgID, m)
		}
	}
}

// convKey names a conversation the same from both sides.
func convKey(user string, c protocol.Conversation) string {
	if c.Type == protocol.ConvPeer {
		return "peer:" + min(user, c.ID) + "/" + max(user, c.ID)
	}
	return c.String()
}

func TestKillUnderSendLoadLosesNothingAcknowledged(t *testing.T) {
	dir, addr := t.TempDir(), seentest.FreeAddr(t)
	p := seentest.StartProc(t, dir, addr)
	tokens := procGroup(t, p, "load", 6)
	all := map[string]acked{}
	for round := range 3 {
		stop := make(chan struct{})
		var got map[string]acked
		done := make(chan struct{})
		prog := newLoadProgress(len(tokens))
		go func() { got = sendLoad(t, p.WSURL(), tokens, stop, round, prog); close(done) }()
		// Kill once a round's worth of sends has been acknowledged, a
		// different point each round.
		prog.waitFor(t, int64(50+100*round))
		p.Kill()
		close(stop)
		<-done
		for k, v := range got {
			all[k] = v
		}
		t.Logf("round %d: %d sends acknowledged before SIGKILL", round, len(got))
		p = seentest.StartProc(t, dir, addr)
		checkAcked(t, p, tokens, all, "load")
	}
	if err := p.Term(); err != nil {
		t.Fatalf("SIGTERM exit: %v", err)
	}
}

func TestSigtermUnderLoadFinishesCleanly(t *testing.T) {
	dir, addr := t.TempDir(), seentest.FreeAddr(t)
	p := seentest.StartProc(t, dir, addr)
	tokens := procGroup(t, p, "load", 4)
	stop := make(chan struct{})
	var got map[string]acked
	done := make(chan struct{})
	prog := newLoadProgress(len(tokens))
	go func() { got = sendLoad(t, p.WSURL(), tokens, stop, 0, prog); close(done) }()
	prog.waitFor(t, 100) // SIGTERM in the middle of the load
	if err := p.Term(); err != nil {
		t.Fatalf("seen exited with %v after SIGTERM, want status 0", err)
	}
	close(stop)
	<-done
	t.Logf("%d sends acknowledged before SIGTERM", len(got))
	p = seentest.StartProc(t, dir, addr)
	checkAcked(t, p, tokens, got, "load")
}

func TestShutdownClosesSocketsAndJoinsGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := seentest.Start(t)
	s.Users("alice", "bob")
	raw := connectRaw(t, s, "alice", "")
	send(t, raw, peer("bob"), "one", "before shutdown")
	s.Stop()
	if code := raw.Closed(); code != websocket.StatusGoingAway {
		t.Fatalf("close status = %d, want 1001", code)
	}
}

func TestSecondProcessOnTheSameDataDirectoryIsRefused(t *testing.T) {
	dir := t.TempDir()
	seentest.StartProc(t, dir, seentest.FreeAddr(t))
	cmd := exec.Command(seentest.Binary(t), "serve", "--data", dir, "--listen", seentest.FreeAddr(t))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("a second seen serve on the same data directory started:\n%s", out)
	}
	if !strings.Contains(string(out), "in use") {
		t.Errorf("the refusal does not say why:\n%s", out)
	}
}
