package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seen-im/seen/client"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/seentest"
	"github.com/seen-im/seen/protocol"
)

// The invariant test: concurrent SDK clients send (with and without
// receipts) in groups and peer chats, ack delivery, read single messages
// and whole conversations, and join and leave groups through the admin
// API, while a checker records every operation and what every response and
// event showed. Then the checker verifies the invariants against the
// server's state.
//
// A member's read and delivery state changes only through its own
// requests, and each user's requests run one at a time on its own
// connection, so the checker can model every member exactly: its join
// position, read watermark, delivery watermark and single-message acks, on
// both levels of private reading: the shared state (what senders see:
// receipts, lists, peer watermarks) and the member's own (its unread count,
// readSeq and ack states). Workers read privately now and then, by the
// call's flag and by switching their shareReads setting. Other users'
// state is only bounded (and must never go backwards).

// convKeyOf is the conversation's key, the same from both sides.
func convKeyOf(user string, c protocol.Conversation) string {
	if c.Type == protocol.ConvGroup {
		return "g/" + c.ID
	}
	a, b := user, c.ID
	if b < a {
		a, b = b, a
	}
	return "p/" + a + "/" + b
}

// convFor names the conversation key as user sees it.
func convFor(user, key string) protocol.Conversation {
	if id, ok := strings.CutPrefix(key, "g/"); ok {
		return group(id)
	}
	a, b, _ := strings.Cut(strings.TrimPrefix(key, "p/"), "/")
	if a == user {
		return peer(b)
	}
	return peer(a)
}

// sentMsg is one acknowledged send.
type sentMsg struct {
	ID      string
	Conv    string
	Seq     uint64
	Sender  string
	Receipt bool
}

// memberModel is one member's exact state in its current membership.
type memberModel struct {
	active bool
	join   uint64
	w, d   uint64          // lower bounds the member's own requests set
	acks   map[uint64]bool // single-message reads
	// The own level: every shared read and the private ones.
	ow    uint64
	oacks map[uint64]bool
}

func newMemberModel(join uint64) *memberModel {
	return &memberModel{active: true, join: join, w: join - 1, d: join - 1, acks: map[uint64]bool{}, ow: join - 1, oacks: map[uint64]bool{}}
}

// ownReadSeq is the own read watermark: ow folded through the own acks.
func (m *memberModel) ownReadSeq() uint64 {
	r := m.ow
	for m.oacks[r+1] {
		r++
	}
	return r
}

func (m *memberModel) ownRead(seq uint64) bool { return seq <= m.ownReadSeq() || m.oacks[seq] }

// ownAcksAbove counts own single-message acks above the own watermark.
func (m *memberModel) ownAcksAbove() int {
	r, n := m.ownReadSeq(), 0
	for s := range m.oacks {
		if s > r {
			n++
		}
	}
	return n
}

// readSeq is the read watermark: w, folded through the acks it reaches.
func (m *memberModel) readSeq() uint64 {
	r := m.w
	for m.acks[r+1] {
		r++
	}
	return r
}

// fold moves w through the acks it reaches and drops the acks at or
// below it, as the server does, so the model stays small.
func (m *memberModel) fold() {
	m.w = m.readSeq()
	for s := range m.acks {
		if s <= m.w {
			delete(m.acks, s)
		}
	}
	m.ow = max(m.ow, m.w)
	m.ow = m.ownReadSeq()
	for s := range m.oacks {
		if s <= m.ow {
			delete(m.oacks, s)
		}
	}
}

// deliveredSeq is the delivery watermark; a read raises it too.
func (m *memberModel) deliveredSeq() uint64 { return max(m.d, m.readSeq()) }

func (m *memberModel) read(seq uint64) bool { return seq <= m.readSeq() || m.acks[seq] }

func (m *memberModel) delivered(seq uint64) bool { return seq <= m.deliveredSeq() || m.acks[seq] }

// acksAbove counts single-message acks above the read watermark.
func (m *memberModel) acksAbove() int {
	r, n := m.readSeq(), 0
	for s := range m.acks {
		if s > r {
			n++
		}
	}
	return n
}

// Checker records a history of operations and observations from
// concurrent clients and checks the receipt invariants against it. It is
// safe for concurrent use. Record calls report what a request did once it
// succeeded; Observe reports a watermark seen in a response or an event.
type Checker struct {
	mu      sync.Mutex
	sends   map[string][]sentMsg               // conv -> acknowledged sends
	members map[string]map[string]*memberModel // conv -> user -> model
	seen    map[string]uint64                  // observer|conv|subject|kind -> highest value
	errs    []string
	ops     atomic.Int64
}

// NewChecker returns an empty checker.
func NewChecker() *Checker {
	return &Checker{sends: map[string][]sentMsg{}, members: map[string]map[string]*memberModel{}, seen: map[string]uint64{}}
}

// Op counts one operation.
func (c *Checker) Op() int64 { return c.ops.Add(1) }

// Ops is the number of operations counted.
func (c *Checker) Ops() int64 { return c.ops.Load() }

// Failf records a violation.
func (c *Checker) Failf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) < 200 {
		c.errs = append(c.errs, fmt.Sprintf(format, args...))
	}
}

// Errors returns the violations recorded so far.
func (c *Checker) Errors() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.errs)
}

// memberLocked returns user's model in conv, creating peer members (both
// join at 1) on first sight.
func (c *Checker) memberLocked(conv, user string) *memberModel {
	ms := c.members[conv]
	if ms == nil {
		ms = map[string]*memberModel{}
		c.members[conv] = ms
	}
	m := ms[user]
	if a, b, _ := strings.Cut(strings.TrimPrefix(conv, "p/"), "/"); m == nil && strings.HasPrefix(conv, "p/") && (user == a || user == b) {
		m = newMemberModel(1)
		ms[user] = m
	}
	return m
}

// Joined records that user joined group conv at join (also the owner's
// and initial members' join at 1).
func (c *Checker) Joined(conv, user string, join uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.memberLocked(conv, user)
	c.members[conv][user] = newMemberModel(join)
}

// Left records that user is no longer a member of conv.
func (c *Checker) Left(conv, user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.memberLocked(conv, user); m != nil {
		m.active = false
	}
}

// Sent records an acknowledged send: sending marks the sender's
// conversation read up to its message.
func (c *Checker) Sent(m sentMsg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sends[m.Conv] = append(c.sends[m.Conv], m)
	if a, b, ok := strings.Cut(strings.TrimPrefix(m.Conv, "p/"), "/"); ok && strings.HasPrefix(m.Conv, "p/") {
		// The first send creates both parties.
		c.memberLocked(m.Conv, a)
		c.memberLocked(m.Conv, b)
	}
	mm := c.memberLocked(m.Conv, m.Sender)
	mm.w, mm.d, mm.ow = max(mm.w, m.Seq), max(mm.d, m.Seq), max(mm.ow, m.Seq)
	mm.fold()
}

// Delivered records a delivery ack of seq (a seq known to exist).
func (c *Checker) Delivered(conv, user string, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mm := c.memberLocked(conv, user)
	mm.d = max(mm.d, seq)
}

// ExpectRead is how many of seqs a message.read by user would newly
// record: on the shared level for a shared read, on the own level for a
// private one.
func (c *Checker) ExpectRead(conv, user string, seqs []uint64, private bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	mm := c.memberLocked(conv, user)
	n, dup := 0, map[uint64]bool{}
	for _, s := range seqs {
		read := mm.read(s)
		if private {
			read = mm.ownRead(s)
		}
		if !dup[s] && !read {
			n++
		}
		dup[s] = true
	}
	return n
}

// Read records single-message reads, shared (both levels) or private (the
// own level only).
func (c *Checker) Read(conv, user string, seqs []uint64, private bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	mm := c.memberLocked(conv, user)
	for _, s := range seqs {
		if !private {
			mm.acks[s] = true
		}
		mm.oacks[s] = true
	}
	mm.fold()
}

// ConvRead records a conversation.read of seq (0: the latest) that
// answered readSeq, the member's own watermark: it can only be at or
// above the modelled own watermark. A shared read of the latest moved the
// shared watermark to what the answer says (the own one cannot be ahead
// of the last seq); one of a given seq, to that seq.
func (c *Checker) ConvRead(conv, user string, seq, readSeq uint64, private bool) {
	c.mu.Lock()
	mm := c.memberLocked(conv, user)
	want := mm.ownReadSeq()
	if !private {
		if seq == 0 {
			seq = readSeq
		}
		mm.w = max(mm.w, seq)
	}
	mm.ow = max(mm.ow, readSeq)
	mm.fold()
	c.mu.Unlock()
	if readSeq < want {
		c.Failf("%s conversation.read in %s answered readSeq %d below its own watermark %d", user, conv, readSeq, want)
	}
}

// Model returns a copy of user's model in conv, or nil.
func (c *Checker) Model(conv, user string) *memberModel {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.memberLocked(conv, user)
	if m == nil {
		return nil
	}
	cp := *m
	cp.acks = maps.Clone(m.acks)
	cp.oacks = maps.Clone(m.oacks)
	return &cp
}

// Observe checks that a watermark (kind) of subject in conv, as observer
// saw it, never goes backwards.
func (c *Checker) Observe(observer, conv, subject, kind string, v uint64) {
	k := observer + "|" + conv + "|" + subject + "|" + kind
	c.mu.Lock()
	prev, ok := c.seen[k]
	if !ok || v > prev {
		c.seen[k] = v
	}
	c.mu.Unlock()
	if ok && v < prev {
		c.Failf("%s saw %s's %s in %s go back from %d to %d", observer, subject, kind, conv, prev, v)
	}
}

// expectedReceipt recomputes a message's receipt from the history: its
// eligible members are the current members who joined no later than it,
// the sender aside.
func (c *Checker) expectedReceipt(m sentMsg) (r protocol.Receipt, readers, eligible []string, deliv []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r = protocol.Receipt{MsgID: m.ID, Status: protocol.StatusNone}
	for u, mm := range c.members[m.Conv] {
		if u == m.Sender || !mm.active || mm.join > m.Seq {
			continue
		}
		eligible = append(eligible, u)
		if mm.read(m.Seq) {
			readers = append(readers, u)
		}
		if mm.delivered(m.Seq) {
			deliv = append(deliv, u)
		}
	}
	sort.Strings(eligible)
	sort.Strings(readers)
	sort.Strings(deliv)
	if !m.Receipt {
		return r, readers, eligible, deliv
	}
	r.ReadCount, r.UnreadCount, r.DeliveredCount = len(readers), len(eligible)-len(readers), len(deliv)
	r.Status = protocol.StatusPending
	if r.UnreadCount == 0 {
		r.Status = protocol.StatusDone
	}
	return r, readers, eligible, deliv
}

// Sends returns the acknowledged sends of conv in seq order.
func (c *Checker) Sends(conv string) []sentMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.sends[conv])
	slices.SortFunc(out, func(a, b sentMsg) int { return int(a.Seq) - int(b.Seq) })
	return out
}

// Convs lists every conversation with a send or a member.
func (c *Checker) Convs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k := range c.members {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkList checks one user's conversation.list entry against the model:
// read <= delivered <= last, its own watermark and unread count exactly,
// the peer's watermarks monotone (and, when exact, equal to its model).
func (c *Checker) checkList(user string, ci protocol.ConversationInfo, exact bool) {
	conv := convKeyOf(user, ci.Conversation)
	c.Observe(user, conv, user, "read", ci.ReadSeq)
	c.Observe(user, conv, "", "last", ci.LastSeq)
	if ci.ReadSeq > ci.LastSeq {
		c.Failf("%s in %s: readSeq %d > lastSeq %d", user, conv, ci.ReadSeq, ci.LastSeq)
	}
	if mm := c.Model(conv, user); mm != nil {
		// The caller's own entry follows its own level.
		if ci.ReadSeq != mm.ownReadSeq() {
			c.Failf("%s in %s: readSeq %d, its own acks make it %d", user, conv, ci.ReadSeq, mm.ownReadSeq())
		}
		if want := ci.LastSeq - mm.ownReadSeq() - uint64(mm.ownAcksAbove()); ci.LastSeq >= mm.ownReadSeq() && ci.UnreadCount != want {
			c.Failf("%s in %s: unreadCount %d, want %d (last %d, own read %d, %d own acks above)", user, conv, ci.UnreadCount, want, ci.LastSeq, mm.ownReadSeq(), mm.ownAcksAbove())
		}
	}
	if ci.Conversation.Type != protocol.ConvPeer {
		return
	}
	if ci.PeerReadSeq == nil || ci.PeerDeliveredSeq == nil {
		c.Failf("%s in %s: peer watermarks missing", user, conv)
		return
	}
	pr, pd, other := *ci.PeerReadSeq, *ci.PeerDeliveredSeq, ci.Conversation.ID
	c.Observe(user, conv, other, "read", pr)
	c.Observe(user, conv, other, "delivered", pd)
	if pr > pd {
		c.Failf("%s in %s: peer readSeq %d > peer deliveredSeq %d", user, conv, pr, pd)
	}
	if exact {
		// Under load the peer may move between the reads that build an
		// entry, so the bound by lastSeq is only checked at rest.
		if pd > ci.LastSeq {
			c.Failf("%s in %s: peer deliveredSeq %d > lastSeq %d", user, conv, pd, ci.LastSeq)
		}
		if mm := c.Model(conv, other); mm != nil && (pr != mm.readSeq() || pd != mm.deliveredSeq()) {
			c.Failf("%s in %s: peer %s at read %d delivered %d, its acks make it %d, %d", user, conv, other, pr, pd, mm.readSeq(), mm.deliveredSeq())
		}
	} else if pd > ci.LastSeq {
		c.Failf("%s in %s (under load): peer deliveredSeq %d > lastSeq %d in one conversation.list entry", user, conv, pd, ci.LastSeq)
	}
}

// checkAckState checks the receipt field of someone else's receipt
// message in user's history against user's model.
func (c *Checker) checkAckState(user string, m protocol.Message) {
	if m.Receipt == nil || m.Sender == user {
		return
	}
	st, ok := m.Receipt.(*protocol.AckState)
	if !ok {
		c.Failf("%s: receipt field of %s is %T, want *AckState", user, m.MsgID, m.Receipt)
		return
	}
	conv := convKeyOf(user, m.Conversation)
	if st.Read && !st.Delivered {
		c.Failf("%s: %s in %s read but not delivered", user, m.MsgID, conv)
	}
	// The caller's own view: read on its own level; delivered if read so
	// or delivered on the shared level.
	if mm := c.Model(conv, user); mm != nil {
		read, deliv := mm.ownRead(m.Seq), mm.ownRead(m.Seq) || mm.delivered(m.Seq)
		if st.Read != read || st.Delivered != deliv {
			c.Failf("%s: %s (seq %d) in %s shows read=%v delivered=%v, its acks make it read=%v delivered=%v",
				user, m.MsgID, m.Seq, conv, st.Read, st.Delivered, read, deliv)
		}
	}
}

// checkChanged checks a receipt.changed event on its own.
func (c *Checker) checkChanged(user string, e protocol.ReceiptChangedEvent) {
	for _, r := range e.Receipts {
		if r.ReadCount > r.DeliveredCount || r.ReadCount < 0 || r.UnreadCount < 0 || len(r.NewReaders) > 20 {
			c.Failf("%s: receipt.changed %+v breaks read <= delivered or the bounds", user, r)
		}
	}
}

// invUsers and invGroups are the world of the invariant test: each group's
// first user owns it and never leaves; the others join and leave.
var (
	invUsers  = []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "ua", "ub", "uc", "ud", "ue", "uf"}
	invGroups = map[string][]string{
		"g0": {"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"},
		"g1": {"u1", "u2", "u3", "u4", "u5", "u8", "u9"},
		"g2": {"u2", "u4", "u6", "u7", "u0", "ua", "ub"},
		"g3": {"u8", "u9", "ua", "ub", "uc", "ud", "ue", "uf"},
	}
	invPeers = map[string][]string{
		"u0": {"u1", "u7"}, "u1": {"u0"}, "u2": {"u3"}, "u3": {"u2"},
		"u4": {"u5"}, "u5": {"u4"}, "u6": {"u7"}, "u7": {"u6", "u0"},
		"u8": {"u9"}, "u9": {"u8"}, "ua": {"ub"}, "ub": {"ua"}, "uc": {"ud"}, "ud": {"uc"}, "ue": {"uf"}, "uf": {"ue"},
	}
)

func TestInvariantsUnderConcurrentClients(t *testing.T) {
	s := seentest.Start(t, func(c *config.Config) { c.Data = invDataDir(t) })
	s.Users(invUsers...)
	ck := NewChecker()
	for g, ms := range invGroups {
		s.MustAdmin("POST", "/v1/admin/groups", map[string]any{"groupId": g, "owner": ms[0], "members": ms[1:]})
		for _, u := range ms {
			ck.Joined("g/"+g, u, 1)
		}
	}
	workers := make([]*invWorker, len(invUsers))
	for i, u := range invUsers {
		workers[i] = newInvWorker(t, s, ck, u, int64(i))
	}
	start := time.Now()
	// The deadline only guards against a hang: the test must run all of
	// invOps.
	deadline := start.Add(invMaxDuration)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ck.Ops() < invOps && time.Now().Before(deadline) {
				w.step()
			}
		}()
	}
	wg.Wait()
	if ck.Ops() < invOps {
		t.Errorf("only %d of %d operations ran within %v", ck.Ops(), invOps, invMaxDuration)
	}
	t.Logf("%d operations by %d clients in %v", ck.Ops(), len(workers), time.Since(start))
	ran := len(ck.Errors())
	verifyInvariants(t, s, ck, workers)
	for _, e := range ck.Errors() {
		t.Error(e)
	}
	if ran > 0 {
		t.Errorf("%d violations were recorded while the clients ran (the first lines above)", ran)
	}
}

// invDataDir is where the invariant test keeps its store: in memory
// (/dev/shm) where there is one, since what it checks is not durability and
// a disk's fsync would bound the operations per second; else t.TempDir.
func invDataDir(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "seen-invariants-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

// invWorker is one user's connection and what it knows.
type invWorker struct {
	t    *testing.T
	s    *seentest.Server
	ck   *Checker
	user string
	c    *client.Client
	rng  *rand.Rand
	n    int // clientMsgId counter

	// shareReads is the worker's setting: only its own connection changes
	// it, between its requests.
	shareReads bool

	mu    sync.Mutex
	known map[string][]sentMsg // conv -> others' messages seen in message.new
	last  map[string]uint64    // conv -> highest seq seen in message.new
	// groups is the worker's own membership: group conv -> member now.
	groups map[string]bool
}

func newInvWorker(t *testing.T, s *seentest.Server, ck *Checker, user string, seed int64) *invWorker {
	w := &invWorker{t: t, s: s, ck: ck, user: user, rng: rand.New(rand.NewPCG(uint64(seed), 7)), shareReads: true,
		known: map[string][]sentMsg{}, last: map[string]uint64{}, groups: map[string]bool{}}
	for g, ms := range invGroups {
		if slices.Contains(ms, user) {
			w.groups["g/"+g] = true
		}
	}
	h := client.Handlers{
		Message: func(m protocol.Message) {
			if m.Sender == user {
				return
			}
			conv := convKeyOf(user, m.Conversation)
			w.mu.Lock()
			w.known[conv] = append(w.known[conv], sentMsg{ID: m.MsgID, Conv: conv, Seq: m.Seq, Sender: m.Sender, Receipt: m.Receipt != nil})
			w.last[conv] = max(w.last[conv], m.Seq)
			w.mu.Unlock()
		},
		ConversationRead: func(e protocol.ConversationReadEvent) {
			ck.Observe(user, convKeyOf(user, e.Conversation), e.UserID, "read-event", e.Seq)
		},
		ReceiptDelivered: func(e protocol.ReceiptDeliveredEvent) {
			ck.Observe(user, convKeyOf(user, e.Conversation), e.UserID, "delivered-event", e.Seq)
		},
		ReceiptChanged: func(e protocol.ReceiptChangedEvent) { ck.checkChanged(user, e) },
		Disconnect:     func(err error) { ck.Failf("%s disconnected: %v", user, err) },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, s.WSURL(), s.Token(user), client.WithAutoDelivered(false), client.WithDevice("d"), client.WithHandlers(h))
	if err != nil {
		t.Fatalf("dial %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	w.c = c
	return w
}

func (w *invWorker) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 20*time.Second)
}

// convs lists the conversations the worker may act in now.
func (w *invWorker) convs() []string {
	var out []string
	for g, in := range w.groups {
		if in {
			out = append(out, g)
		}
	}
	sort.Strings(out)
	for _, p := range invPeers[w.user] {
		out = append(out, convKeyOf(w.user, peer(p)))
	}
	return out
}

// pick returns up to n others' messages of conv that the worker can see.
func (w *invWorker) pick(conv string, n int) []sentMsg {
	mm := w.ck.Model(conv, w.user)
	w.mu.Lock()
	defer w.mu.Unlock()
	k := w.known[conv]
	var out []sentMsg
	for range n {
		if len(k) == 0 {
			break
		}
		// Mostly recent messages, sometimes old ones.
		i := len(k) - 1 - w.rng.IntN(min(len(k), 40))
		if w.rng.IntN(8) == 0 {
			i = w.rng.IntN(len(k))
		}
		if mm != nil && k[i].Seq >= mm.join {
			out = append(out, k[i])
		}
	}
	return out
}

// lastKnown is the highest seq the worker knows of in conv.
func (w *invWorker) lastKnown(conv string) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last[conv]
}

// step runs one random operation.
func (w *invWorker) step() {
	convs := w.convs()
	conv := convs[w.rng.IntN(len(convs))]
	wire := convFor(w.user, conv)
	ctx, cancel := w.ctx()
	defer cancel()
	switch p := w.rng.IntN(100); {
	case p < 30:
		w.n++
		receipt := w.rng.IntN(2) == 0
		res, err := w.c.Send(ctx, protocol.SendParams{Conversation: wire, ClientMsgID: fmt.Sprintf("%s-%d", w.user, w.n),
			Body: json.RawMessage(`{"n":` + fmt.Sprint(w.n) + `}`), Receipt: receipt})
		w.ck.Op()
		if err != nil {
			w.ck.Failf("%s send in %s: %v", w.user, conv, err)
			return
		}
		w.ck.Sent(sentMsg{ID: res.MsgID, Conv: conv, Seq: res.Seq, Sender: w.user, Receipt: receipt})
	case p < 45:
		seq := w.lastKnown(conv)
		if seq == 0 {
			return
		}
		seq -= uint64(w.rng.IntN(int(min(seq, 5))))
		err := w.c.Delivered(ctx, protocol.DeliveredParams{Conversation: wire, Seq: seq})
		w.ck.Op()
		if err != nil {
			w.ck.Failf("%s delivered %d in %s: %v", w.user, seq, conv, err)
			return
		}
		w.ck.Delivered(conv, w.user, seq)
	case p < 46:
		// Switch reading privately on or off for all of the user's reads.
		share := !w.shareReads
		st, err := w.c.UpdateSettings(ctx, protocol.SettingsUpdateParams{ShareReads: &share})
		w.ck.Op()
		if err != nil || st.ShareReads != share || !st.ShareDelivery {
			w.ck.Failf("%s settings.update shareReads=%v: %+v, %v", w.user, share, st, err)
			return
		}
		w.shareReads = share
	case p < 47:
		st, err := w.c.Settings(ctx)
		w.ck.Op()
		if err != nil || st.ShareReads != w.shareReads {
			w.ck.Failf("%s settings.get: %+v, %v; want shareReads %v", w.user, st, err, w.shareReads)
		}
	case p < 70:
		msgs := w.pick(conv, 1+w.rng.IntN(3))
		if len(msgs) == 0 {
			return
		}
		if mm := w.ck.Model(conv, w.user); mm != nil && mm.acksAbove() > 500 {
			return // conversation reads fold them; 1,024 is the limit
		}
		ids, seqs := make([]string, len(msgs)), make([]uint64, len(msgs))
		for i, m := range msgs {
			ids[i], seqs[i] = m.ID, m.Seq
		}
		asked := w.rng.IntN(4) == 0
		private := asked || !w.shareReads
		want := w.ck.ExpectRead(conv, w.user, seqs, private)
		res, err := w.c.Read(ctx, protocol.ReadParams{Conversation: wire, MsgIDs: ids, Private: asked})
		w.ck.Op()
		if err != nil {
			w.ck.Failf("%s read %v in %s: %v", w.user, seqs, conv, err)
			return
		}
		if res.Read != want {
			w.ck.Failf("%s read %v in %s: read %d, want %d newly recorded", w.user, seqs, conv, res.Read, want)
		}
		w.ck.Read(conv, w.user, seqs, private)
	case p < 82:
		var seq uint64
		if last := w.lastKnown(conv); last > 0 && w.rng.IntN(2) == 0 {
			seq = last - uint64(w.rng.IntN(int(min(last, 10))))
		}
		asked := w.rng.IntN(4) == 0
		res, err := w.c.ReadConversation(ctx, protocol.ConversationReadParams{Conversation: wire, Seq: seq, Private: asked})
		w.ck.Op()
		if err != nil {
			w.ck.Failf("%s conversation.read %d in %s: %v", w.user, seq, conv, err)
			return
		}
		w.ck.ConvRead(conv, w.user, seq, res.ReadSeq, asked || !w.shareReads)
		w.ck.Observe(w.user, conv, w.user, "read", res.ReadSeq)
	case p < 90:
		list, err := w.c.Conversations(ctx, protocol.ConversationListParams{Limit: 100})
		w.ck.Op()
		if err != nil {
			w.ck.Failf("%s conversation.list: %v", w.user, err)
			return
		}
		for _, ci := range list.Conversations {
			w.ck.checkList(w.user, ci, false)
		}
	case p < 97:
		h, err := w.c.History(ctx, protocol.HistoryParams{Conversation: wire, Limit: 50})
		w.ck.Op()
		if err != nil {
			w.ck.Failf("%s history of %s: %v", w.user, conv, err)
			return
		}
		for _, m := range h.Messages {
			w.ck.checkAckState(w.user, m)
		}
	default:
		w.churn()
	}
}

// churn makes the worker leave or rejoin a group it does not own, through
// the admin API, and learns its join position from conversation.list.
func (w *invWorker) churn() {
	var candidates []string
	for g, ms := range invGroups {
		if slices.Contains(ms[1:], w.user) {
			candidates = append(candidates, "g/"+g)
		}
	}
	if len(candidates) == 0 {
		return
	}
	sort.Strings(candidates)
	conv := candidates[w.rng.IntN(len(candidates))]
	id := strings.TrimPrefix(conv, "g/")
	if w.groups[conv] {
		status, body := invAdmin("DELETE", w.s.URL()+"/v1/admin/groups/"+id+"/members/"+w.user, nil)
		w.ck.Op()
		if status != http.StatusNoContent {
			w.ck.Failf("%s leave %s: %d %s", w.user, id, status, body)
			return
		}
		w.groups[conv] = false
		w.ck.Left(conv, w.user)
		return
	}
	status, body := invAdmin("POST", w.s.URL()+"/v1/admin/groups/"+id+"/members", map[string]any{"userIds": []string{w.user}})
	w.ck.Op()
	if status/100 != 2 {
		w.ck.Failf("%s join %s: %d %s", w.user, id, status, body)
		return
	}
	ctx, cancel := w.ctx()
	defer cancel()
	list, err := w.c.Conversations(ctx, protocol.ConversationListParams{Limit: 100})
	w.ck.Op()
	if err != nil {
		w.ck.Failf("%s conversation.list after join: %v", w.user, err)
		return
	}
	for _, ci := range list.Conversations {
		if ci.Conversation == group(id) {
			// Nobody but the member moves its watermark, and it has not
			// yet: readSeq is its join position minus one.
			w.groups[conv] = true
			w.ck.Joined(conv, w.user, ci.ReadSeq+1)
			w.ck.Observe(w.user, conv, w.user, "read", ci.ReadSeq)
			return
		}
	}
	w.ck.Failf("%s joined %s but does not list it", w.user, id)
}

// invAdmin calls the admin API without touching the test's T, so that
// workers may call it.
func invAdmin(method, url string, body any) (int, string) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+seentest.AdminKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// verifyInvariants checks the server at rest against the checker.
func verifyInvariants(t *testing.T, s *seentest.Server, ck *Checker, workers []*invWorker) {
	t.Helper()
	byUser := map[string]*invWorker{}
	for _, w := range workers {
		byUser[w.user] = w
	}
	ctx := roleCtx(t)

	// Every member's own entry: read <= delivered <= last, exactly as its
	// acks made them; every active conversation listed, no other.
	for _, w := range workers {
		list, err := w.c.Conversations(ctx, protocol.ConversationListParams{Limit: 100})
		if err != nil {
			t.Fatalf("%s conversation.list: %v", w.user, err)
		}
		listed := map[string]bool{}
		for _, ci := range list.Conversations {
			conv := convKeyOf(w.user, ci.Conversation)
			listed[conv] = true
			if want := uint64(len(ck.Sends(conv))); ci.LastSeq != want {
				t.Errorf("%s: %s lastSeq %d, %d sends acknowledged", w.user, conv, ci.LastSeq, want)
			}
			ck.checkList(w.user, ci, true)
		}
		for _, conv := range w.convs() {
			if strings.HasPrefix(conv, "p/") && len(ck.Sends(conv)) == 0 {
				continue
			}
			if !listed[conv] {
				t.Errorf("%s is a member of %s but does not list it", w.user, conv)
			}
		}
		for g, in := range w.groups {
			if !in && listed[g] {
				t.Errorf("%s left %s but still lists it", w.user, g)
			}
		}
	}

	for _, conv := range ck.Convs() {
		sends := ck.Sends(conv)
		if len(sends) == 0 {
			continue
		}
		// A member since seq 1 pages through the whole history.
		viewer, _, _ := strings.Cut(strings.TrimPrefix(conv, "p/"), "/")
		if g, ok := strings.CutPrefix(conv, "g/"); ok {
			viewer = invGroups[g][0]
		}
		checkFullHistory(t, byUser[viewer], conv, sends)

		// The last 50 messages in every current member's history carry its
		// exact ack state.
		for _, w := range workers {
			if mm := ck.Model(conv, w.user); mm == nil || !mm.active {
				continue
			}
			h, err := w.c.History(ctx, protocol.HistoryParams{Conversation: convFor(w.user, conv), Limit: 50})
			if err != nil {
				t.Errorf("%s history of %s: %v", w.user, conv, err)
				continue
			}
			for _, m := range h.Messages {
				ck.checkAckState(w.user, m)
			}
		}

		// Every receipt message's counts, recomputed from the history;
		// asked through its sender where it is still a member.
		var rmsgs []sentMsg
		for _, m := range sends {
			if m.Receipt {
				rmsgs = append(rmsgs, m)
			}
		}
		got := queryReceipts(t, s, ck, byUser, conv, rmsgs)
		for i, m := range rmsgs {
			want, _, _, _ := ck.expectedReceipt(m)
			if got[i] != want {
				t.Errorf("%s seq %d (%s by %s): receipt %+v, history makes it %+v", conv, m.Seq, m.MsgIDShort(), m.Sender, got[i], want)
			}
		}
		// Member lists of a sample: read and unread (and delivered and
		// undelivered) cover the eligible members exactly once each.
		for i, m := range rmsgs {
			if i%max(1, len(rmsgs)/15) != 0 && i < len(rmsgs)-5 {
				continue
			}
			checkMemberLists(t, s, ck, m)
		}
	}
}

// MsgIDShort abbreviates the message id for failure lines.
func (m sentMsg) MsgIDShort() string {
	if len(m.ID) > 10 {
		return m.ID[len(m.ID)-10:]
	}
	return m.ID
}

// checkFullHistory checks that every acknowledged send appears exactly once,
// at its seq, and nothing else does.
func checkFullHistory(t *testing.T, w *invWorker, conv string, sends []sentMsg) {
	t.Helper()
	got := map[uint64]protocol.Message{}
	var before uint64
	for {
		h, err := w.c.History(roleCtx(t), protocol.HistoryParams{Conversation: convFor(w.user, conv), BeforeSeq: before, Limit: 100})
		if err != nil {
			t.Fatalf("%s history of %s: %v", w.user, conv, err)
		}
		for _, m := range h.Messages {
			if _, dup := got[m.Seq]; dup {
				t.Errorf("%s: seq %d listed twice", conv, m.Seq)
			}
			got[m.Seq] = m
			before = m.Seq
		}
		if !h.HasMore || len(h.Messages) == 0 {
			break
		}
	}
	ids := map[string]bool{}
	for _, m := range sends {
		h, ok := got[m.Seq]
		switch {
		case !ok:
			t.Errorf("%s: acknowledged send %s at seq %d missing from history", conv, m.ID, m.Seq)
		case h.MsgID != m.ID || h.Sender != m.Sender:
			t.Errorf("%s: seq %d is %s by %s, the send acknowledged %s by %s", conv, m.Seq, h.MsgID, h.Sender, m.ID, m.Sender)
		}
		if ids[m.ID] {
			t.Errorf("%s: msgId %s acknowledged twice", conv, m.ID)
		}
		ids[m.ID] = true
	}
	if len(got) != len(sends) {
		t.Errorf("%s: history holds %d messages, %d sends were acknowledged", conv, len(got), len(sends))
	}
}

// queryReceipts returns the receipts of msgs (one conversation), asked by
// each message's sender with receipt.query where it is a member, else
// through the admin API.
func queryReceipts(t *testing.T, s *seentest.Server, ck *Checker, byUser map[string]*invWorker, conv string, msgs []sentMsg) []protocol.Receipt {
	t.Helper()
	out := make([]protocol.Receipt, len(msgs))
	bySender := map[string][]int{}
	for i, m := range msgs {
		if mm := ck.Model(conv, m.Sender); mm == nil || !mm.active || mm.join > m.Seq {
			// The sender left (or left and came back after it): it no
			// longer sees the message.
			b := s.MustAdmin("GET", "/v1/admin/messages/"+m.ID+"/receipt", nil)
			out[i] = decode[protocol.Receipt](t, b)
			continue
		}
		bySender[m.Sender] = append(bySender[m.Sender], i)
	}
	for sender, idx := range bySender {
		w := byUser[sender]
		for len(idx) > 0 {
			n := min(len(idx), protocol.MaxMsgIDs)
			ids := make([]string, n)
			for j, i := range idx[:n] {
				ids[j] = msgs[i].ID
			}
			res, err := w.c.QueryReceipts(roleCtx(t), protocol.ReceiptQueryParams{Conversation: convFor(sender, conv), MsgIDs: ids})
			if err != nil {
				t.Fatalf("%s receipt.query in %s: %v", sender, conv, err)
			}
			for j, i := range idx[:n] {
				out[i] = res.Receipts[j]
			}
			idx = idx[n:]
		}
	}
	return out
}

// checkMemberLists pages through a message's four lists (admin API, pages
// of 3) and checks them against the recomputed readers and eligibles.
func checkMemberLists(t *testing.T, s *seentest.Server, ck *Checker, m sentMsg) {
	t.Helper()
	_, readers, eligible, deliv := ck.expectedReceipt(m)
	list := func(filter string) []string {
		var out []string
		cursor := ""
		for pages := 0; pages < 100; pages++ {
			b := s.MustAdmin("GET", "/v1/admin/messages/"+m.ID+"/members?limit=3&filter="+filter+"&cursor="+cursor, nil)
			res := decode[protocol.ReceiptMembersResult](t, b)
			for _, e := range res.Members {
				out = append(out, e.UserID)
			}
			if res.Done {
				return out
			}
			cursor = res.NextCursor
		}
		t.Fatalf("%s %s list does not end", m.ID, filter)
		return nil
	}
	cover := func(yes, no []string, wantYes []string, what string) {
		all := append(slices.Clone(yes), no...)
		sort.Strings(all)
		if !slices.Equal(all, eligible) {
			t.Errorf("%s seq %d (%s): %s lists together %v, eligible %v", m.Conv, m.Seq, m.MsgIDShort(), what, all, eligible)
		}
		got := slices.Clone(yes)
		sort.Strings(got)
		if !slices.Equal(got, wantYes) {
			t.Errorf("%s seq %d (%s): %s list %v, history makes it %v", m.Conv, m.Seq, m.MsgIDShort(), what, got, wantYes)
		}
	}
	cover(list(protocol.FilterRead), list(protocol.FilterUnread), readers, "read/unread")
	cover(list(protocol.FilterDelivered), list(protocol.FilterUndelivered), deliv, "delivered/undelivered")
}
