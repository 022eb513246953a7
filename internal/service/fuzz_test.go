package service

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/internal/bus/local"
	"github.com/seen-im/seen/internal/config"
	"github.com/seen-im/seen/internal/store"
	"github.com/seen-im/seen/internal/store/pebblestore"
	"github.com/seen-im/seen/protocol"
)

// paramsTypes makes a fresh value of every params struct of the protocol.
var paramsTypes = []func() any{
	func() any { return new(protocol.ConnectParams) },
	func() any { return new(protocol.SendParams) },
	func() any { return new(protocol.HistoryParams) },
	func() any { return new(protocol.DeliveredParams) },
	func() any { return new(protocol.ReadParams) },
	func() any { return new(protocol.ConversationReadParams) },
	func() any { return new(protocol.ConversationListParams) },
	func() any { return new(protocol.ReceiptRequestParams) },
	func() any { return new(protocol.ReceiptQueryParams) },
	func() any { return new(protocol.ReceiptMembersParams) },
	func() any { return new(protocol.GroupCreateParams) },
	func() any { return new(protocol.GroupMembersChangeParams) },
	func() any { return new(protocol.GroupLeaveParams) },
	func() any { return new(protocol.GroupMembersParams) },
	func() any { return new(protocol.SettingsUpdateParams) },
}

// FuzzDecodeParams decodes any bytes into every params struct: DecodeParams
// never panics, and any error is -32602 naming a field in data.field.
func FuzzDecodeParams(f *testing.F) {
	for _, s := range []string{
		``,
		`null`,
		`{}`,
		`[]`,
		`"x"`,
		`{"conversation":{"type":"group","id":"g"},"clientMsgId":"c","body":{"t":1},"receipt":true}`,
		`{"conversation":{"type":7}}`,
		`{"conversation":[]}`,
		`{"seq":-1}`,
		`{"seq":1e400}`,
		`{"seq":"1"}`,
		`{"limit":1.5}`,
		`{"msgIds":[1,2]}`,
		`{"msgIds":"a"}`,
		`{"userIds":[null,{}]}`,
		`{"members":{"a":1}}`,
		`{"receipt":"yes"}`,
		`{"shareReads":"no","private":1}`,
		`{"body":}`,
		`{"token":"t","device":"d"`,
		`{"filter":"read","cursor":"AQE","limit":100}`,
		`{"groupId":"g","type":"work","members":["a","b"]}`,
		`{"a":1}garbage`,
		"{\"token\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, mk := range paramsTypes {
			p := mk()
			pe := DecodeParams(raw, p)
			if pe == nil {
				continue
			}
			if pe.Code != protocol.CodeInvalidParams {
				t.Fatalf("DecodeParams(%q, %T) code %d, want -32602", raw, p, pe.Code)
			}
			if field, _ := pe.Data["field"].(string); field == "" {
				t.Fatalf("DecodeParams(%q, %T) = %v, want a non-empty data.field", raw, p, pe)
			}
		}
	})
}

// FuzzDispatch runs one fuzzed client call against a small real world (an
// embedded store and the in-process bus): Dispatch never panics, every
// error is a documented code (500 and 503 count as failures: the store is
// healthy), -32602 names its field, and a refused call changes nothing a
// client could observe: members with their watermarks and acks, messages,
// live receipts and receipt counts, groups and each user's conversations.
//
// method and caller index fuzzMethods and fuzzUsers. params is raw JSON in
// which "$k" (k a character of fuzzRefs) stands for the msgId of the
// world's k-th message, so that seeds and mutations reach real messages
// although msgIds are random. strict picks a world with the restrictive
// policy (members see receipts, only admins request them, receipts only in
// groups of type "work" of up to 5 members, a 1 h window with one receipt
// already expired).
//
// A world is built once per fuzzing process and rebuilt after
// fuzzWorldMutations calls that succeeded with a possible change, so that
// snapshots stay small. A failure while fuzzing may therefore depend on the
// calls before it; a saved input is replayed by go test on a fresh world.
func FuzzDispatch(f *testing.F) {
	base := f.TempDir()
	var worlds [2]*fuzzWorld
	f.Cleanup(func() {
		for _, w := range worlds {
			if w != nil {
				w.close()
			}
		}
	})
	for _, s := range dispatchSeeds {
		f.Add(s.method, s.caller, s.strict, []byte(s.params))
	}
	f.Fuzz(func(t *testing.T, method, caller byte, strict bool, params []byte) {
		i := 0
		if strict {
			i = 1
		}
		if w := worlds[i]; w == nil || w.mutations >= fuzzWorldMutations {
			if w != nil {
				w.close()
			}
			worlds[i] = newFuzzWorld(t, base, strict)
		}
		worlds[i].run(t, method, caller, params)
	})
}

// fuzzWorldMutations bounds how far a world drifts from its seed state
// before it is rebuilt.
const fuzzWorldMutations = 64

// fuzzUsers are the world's users: o owns group g, a is an admin of g and
// owns h, m1 is in g and h, m2 joined g late, x is only in h, r was in g
// and was removed, p chats with o and m1.
var fuzzUsers = []string{"o", "a", "m1", "m2", "x", "r", "p"}

// fuzzMethods are what a fuzzed method byte selects: every client method,
// connect (refused after connect) and an unknown one.
var fuzzMethods = []string{
	protocol.MethodMessageSend, protocol.MethodMessageHistory, protocol.MethodMessageDelivered,
	protocol.MethodMessageRead, protocol.MethodConversationRead, protocol.MethodConversationList,
	protocol.MethodReceiptRequest, protocol.MethodReceiptQuery, protocol.MethodReceiptMembers,
	protocol.MethodGroupCreate, protocol.MethodGroupAdd, protocol.MethodGroupRemove,
	protocol.MethodGroupLeave, protocol.MethodGroupMembers, protocol.MethodConnect, "no.such",
}

// readOnly methods change nothing even when they succeed.
var readOnly = map[string]bool{
	protocol.MethodMessageHistory: true, protocol.MethodConversationList: true,
	protocol.MethodReceiptQuery: true, protocol.MethodReceiptMembers: true,
	protocol.MethodGroupMembers: true, protocol.MethodConnect: true, "no.such": true,
}

// fuzzRefs names the world's messages in params: "$0" is the first.
const fuzzRefs = "0123456789abcdefghijklmnopqrstuvwxyz"

// documentedCodes are the error codes of the contract (500 and 503 aside,
// which a healthy store must never cause).
var documentedCodes = map[int]bool{
	protocol.CodeParseError: true, protocol.CodeInvalidRequest: true, protocol.CodeMethodNotFound: true,
	protocol.CodeInvalidParams: true, protocol.CodeUnauthorized: true, protocol.CodeForbidden: true,
	protocol.CodeNotFound: true, protocol.CodeConflict: true, protocol.CodeGone: true,
	protocol.CodeTooLarge: true, protocol.CodeUnprocessable: true, protocol.CodeRateLimited: true,
}

// fuzzWorld is a service on its own store, seeded by a fixed script.
type fuzzWorld struct {
	svc   *Service
	st    store.Store
	bus   *local.Bus
	now   atomic.Int64 // the service's clock, Unix ms
	msgs  []string     // msgIds of the seeded messages, in script order
	convs []store.ConvID
	// snap is the state after the last call, nil when it must be taken
	// again (a call succeeded, so it may have changed things).
	snap      *worldSnap
	mutations int
}

func newFuzzWorld(t *testing.T, base string, strict bool) *fuzzWorld {
	t.Helper()
	dir, err := os.MkdirTemp(base, "world")
	if err != nil {
		t.Fatal(err)
	}
	st, err := pebblestore.Open(dir, pebblestore.Options{CacheBytes: 1 << 20, MemtableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	// No receipt.changed flush while fuzzing: a flush settles receipts in
	// the background, which a snapshot would see as a change.
	cfg.Receipts.Coalesce = time.Hour
	if strict {
		cfg.Receipts.Visibility = "members"
		cfg.Receipts.WhoMayRequest = "admins"
		cfg.Receipts.GroupTypes = []string{"work"}
		cfg.Receipts.MaxGroupSize = 5
		cfg.Receipts.TTL = time.Hour
	}
	w := &fuzzWorld{st: st, bus: local.New()}
	w.now.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	w.svc = New(Options{Store: st, Bus: w.bus, Config: cfg, Now: func() time.Time { return time.UnixMilli(w.now.Load()) }})
	w.seed(t, strict)
	return w
}

func (w *fuzzWorld) close() {
	_ = w.svc.Close(context.Background())
	_ = w.bus.Close()
	_ = w.st.Close()
}

// seed builds the world: group g ("work": o owner, a admin, m1, m2 late,
// r removed) with plain and receipt messages, single reads, a conversation
// read, a delivery ack and a receipt.request; group h ("other": a owner,
// m1, x); peer chats o-p and m1-p with receipts and reads. In the strict
// world g's first receipt expires before anything else happens.
func (w *fuzzWorld) seed(t *testing.T, strict bool) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	as := func(u string) Caller { return Caller{UserID: u, ConnID: "seed", Device: "d"} }
	g := protocol.Conversation{Type: protocol.ConvGroup, ID: "g"}
	h := protocol.Conversation{Type: protocol.ConvGroup, ID: "h"}
	n := 0
	send := func(u string, c protocol.Conversation, receipt bool) string {
		t.Helper()
		n++
		res, err := w.svc.Send(ctx, as(u), protocol.SendParams{
			Conversation: c, ClientMsgID: "seed-" + string(fuzzRefs[n%len(fuzzRefs)]),
			Body: json.RawMessage(`{"n":` + string(rune('0'+n%10)) + `}`), Receipt: receipt,
		})
		must(err)
		w.msgs = append(w.msgs, res.MsgID)
		return res.MsgID
	}
	for _, u := range fuzzUsers {
		_, err := w.svc.CreateUser(ctx, u, "")
		must(err)
	}
	_, err := w.svc.CreateGroup(ctx, "o", protocol.GroupCreateParams{GroupID: "g", Type: "work", Members: []string{"a", "m1", "r"}})
	must(err)
	must(w.svc.SetRole(ctx, "g", "a", protocol.RoleAdmin))
	_, err = w.svc.CreateGroup(ctx, "a", protocol.GroupCreateParams{GroupID: "h", Type: "other", Members: []string{"m1", "x"}})
	must(err)

	early := send("o", g, true) // $0 (expired in the strict world)
	w.now.Add(2 * time.Hour.Milliseconds())
	_, err = w.svc.QueryReceipts(ctx, as("o"), protocol.ReceiptQueryParams{Conversation: g, MsgIDs: []string{early}})
	must(err)
	plain := send("m1", g, false) // $1
	send("a", g, true)            // $2
	must(w.svc.AddMembers(ctx, as("o"), "g", []string{"m2"}, "", true))
	// A plain member's receipt message: in the strict world, where only
	// the owner and admins may ask for receipts, m1 and m2 are admins for
	// that one send.
	memberReceipt := func(u string) string {
		t.Helper()
		if strict {
			must(w.svc.SetRole(ctx, "g", u, protocol.RoleAdmin))
			defer func() { must(w.svc.SetRole(ctx, "g", u, protocol.RoleMember)) }()
		}
		return send(u, g, true)
	}
	m1r := memberReceipt("m1") // $3
	own := send("o", g, false) // $4
	if !strict {
		_, err = w.svc.RequestReceipt(ctx, as("o"), protocol.ReceiptRequestParams{Conversation: g, MsgID: own})
		must(err)
	}
	memberReceipt("m2") // $5
	_, err = w.svc.Read(ctx, as("a"), protocol.ReadParams{Conversation: g, MsgIDs: []string{m1r, plain}})
	must(err)
	_, err = w.svc.Read(ctx, as("r"), protocol.ReadParams{Conversation: g, MsgIDs: []string{m1r}})
	must(err)
	_, err = w.svc.ReadConversation(ctx, as("m2"), protocol.ConversationReadParams{Conversation: g, Seq: 5})
	must(err)
	_, err = w.svc.Delivered(ctx, as("m1"), protocol.DeliveredParams{Conversation: g, Seq: 6})
	must(err)
	must(w.svc.RemoveMembers(ctx, as("o"), "g", []string{"r"}, true))
	send("o", g, true) // $6

	send("a", h, false) // $7
	send("x", h, false) // $8

	po := protocol.Conversation{Type: protocol.ConvPeer, ID: "p"}
	op := protocol.Conversation{Type: protocol.ConvPeer, ID: "o"}
	toP := send("o", po, true) // $9
	send("p", op, false)       // $a
	_, err = w.svc.Read(ctx, as("p"), protocol.ReadParams{Conversation: op, MsgIDs: []string{toP}})
	must(err)
	send("p", op, true)                                                       // $b
	send("m1", protocol.Conversation{Type: protocol.ConvPeer, ID: "p"}, true) // $c
	_, err = w.svc.Delivered(ctx, as("p"), protocol.DeliveredParams{Conversation: protocol.Conversation{Type: protocol.ConvPeer, ID: "m1"}, Seq: 1})
	must(err)

	w.convs = []store.ConvID{store.GroupConv("g"), store.GroupConv("h")}
	for i, a := range fuzzUsers {
		for _, b := range fuzzUsers[i+1:] {
			w.convs = append(w.convs, store.PeerConv(a, b))
		}
	}
}

// expand replaces each "$k" in params by the msgId of seeded message k.
func (w *fuzzWorld) expand(params []byte) []byte {
	out := make([]byte, 0, len(params)+64)
	for i := 0; i < len(params); i++ {
		if params[i] == '$' && i+1 < len(params) {
			if k := indexByte(fuzzRefs, params[i+1]); k >= 0 {
				out = append(out, w.msgs[k%len(w.msgs)]...)
				i++
				continue
			}
		}
		out = append(out, params[i])
	}
	return out
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func (w *fuzzWorld) run(t *testing.T, methodIdx, callerIdx byte, params []byte) {
	method := fuzzMethods[int(methodIdx)%len(fuzzMethods)]
	caller := Caller{UserID: fuzzUsers[int(callerIdx)%len(fuzzUsers)], ConnID: "fuzz", Device: "d"}
	raw := w.expand(params)
	if w.snap == nil {
		w.snap = w.snapshot(t)
	}
	res, pe := w.svc.Dispatch(context.Background(), caller, method, raw)
	if pe == nil {
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatalf("%s by %s with %s: result %#v does not encode: %v", method, caller.UserID, raw, res, err)
		}
		if !utf8.Valid(b) {
			// Only stored invalid bytes could put them in a result.
			t.Fatalf("%s by %s with %s: result %q is not valid UTF-8", method, caller.UserID, raw, b)
		}
		if !readOnly[method] {
			w.snap = nil
			w.mutations++
		}
		return
	}
	if !documentedCodes[pe.Code] {
		t.Fatalf("%s by %s with %s: error %v, want a documented code (never 500/503 with a healthy store)", method, caller.UserID, raw, pe)
	}
	if pe.Code == protocol.CodeInvalidParams {
		if field, _ := pe.Data["field"].(string); field == "" {
			t.Fatalf("%s by %s with %s: %v has no data.field", method, caller.UserID, raw, pe)
		}
	}
	after := w.snapshot(t)
	if !reflect.DeepEqual(w.snap, after) {
		t.Fatalf("%s by %s with %s was refused (%v) but changed state (-before +after):\n%s",
			method, caller.UserID, raw, pe, cmp.Diff(w.snap, after))
	}
}

// worldSnap is what clients can observe of a world, read through the store
// API and the receipt engines.
type worldSnap struct {
	ConvsOf  map[string][]store.ConvID
	Groups   map[store.ConvID]store.Group
	Members  map[store.ConvID][]store.Member
	Messages map[store.ConvID][]store.Message
	Live     map[store.ConvID][]uint64
	Receipts map[string]protocol.Receipt
}

func (w *fuzzWorld) snapshot(t *testing.T) *worldSnap {
	t.Helper()
	ctx := context.Background()
	s := &worldSnap{
		ConvsOf:  map[string][]store.ConvID{},
		Groups:   map[store.ConvID]store.Group{},
		Members:  map[store.ConvID][]store.Member{},
		Messages: map[store.ConvID][]store.Message{},
		Live:     map[store.ConvID][]uint64{},
		Receipts: map[string]protocol.Receipt{},
	}
	convs := map[store.ConvID]bool{}
	for _, c := range w.convs {
		convs[c] = true
	}
	for _, u := range fuzzUsers {
		acts, err := w.st.ConversationsActivity(ctx, u)
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		var ids []store.ConvID
		for _, a := range acts {
			ids = append(ids, a.Conv)
		}
		s.ConvsOf[u] = ids
		for _, c := range ids {
			convs[c] = true
		}
	}
	for c := range convs {
		if c.IsGroup() {
			if g, err := w.st.GetGroup(ctx, c.GroupID()); err == nil {
				s.Groups[c] = g
			}
		}
		members, err := w.st.ListMembers(ctx, c, "", 1000)
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		msgs, err := w.st.History(ctx, c, 0, 1, 10000)
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		if len(members) == 0 && len(msgs) == 0 {
			continue
		}
		s.Members[c], s.Messages[c] = members, msgs
		live, err := w.st.LiveReceipts(ctx, c)
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		for _, m := range live {
			s.Live[c] = append(s.Live[c], m.Seq)
		}
		var rms []store.Message
		for _, m := range msgs {
			if m.Receipt {
				rms = append(rms, m)
			}
		}
		rs, err := w.svc.receiptsOf(ctx, c, rms)
		for i, r := range rs {
			s.Receipts[rms[i].ID] = r
		}
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
	}
	return s
}

// dispatchSeeds reach every method, every caller and both worlds, with
// valid calls as well as each kind of refusal.
var dispatchSeeds = []struct {
	method, caller byte
	strict         bool
	params         string
}{
	// message.send
	{0, 0, false, `{"conversation":{"type":"group","id":"g"},"clientMsgId":"f1","body":{"t":"hi"},"receipt":true}`},
	{0, 4, false, `{"conversation":{"type":"group","id":"g"},"clientMsgId":"f2","body":1}`},
	{0, 5, false, `{"conversation":{"type":"group","id":"g"},"clientMsgId":"f3","body":1}`},
	{0, 0, false, `{"conversation":{"type":"group","id":"g"},"clientMsgId":"seed-1","body":2}`},
	{0, 0, false, `{"conversation":{"type":"peer","id":"o"},"clientMsgId":"f4","body":1}`},
	{0, 6, false, `{"conversation":{"type":"peer","id":"x"},"clientMsgId":"f5","body":null}`},
	{0, 1, true, `{"conversation":{"type":"group","id":"h"},"clientMsgId":"f6","body":1,"receipt":true}`},
	{0, 0, false, "{\"conversation\":{\"type\":\"group\",\"id\":\"g\"},\"clientMsgId\":\"f7\",\"body\":{\"t\":\"\xff\"}}"},
	{0, 6, false, "{\"conversation\":{\"type\":\"peer\",\"id\":\"o\"},\"clientMsgId\":\"f8\",\"body\":[\"ok\",{\"\xc3\x28\":1}]}"},
	{0, 0, false, "{\"conversation\":{\"type\":\"group\",\"id\":\"g\xff\"},\"clientMsgId\":\"f9\xfe\",\"body\":1}"},
	// message.history
	{1, 3, false, `{"conversation":{"type":"group","id":"g"},"limit":100}`},
	{1, 5, false, `{"conversation":{"type":"group","id":"g"},"beforeSeq":3,"limit":0}`},
	{1, 6, false, `{"conversation":{"type":"peer","id":"o"},"limit":101}`},
	// message.delivered
	{2, 3, false, `{"conversation":{"type":"group","id":"g"},"seq":99}`},
	{2, 2, false, `{"conversation":{"type":"group","id":"g"},"seq":0}`},
	{2, 4, false, `{"conversation":{"type":"group","id":"g"},"seq":1}`},
	// message.read
	{3, 2, false, `{"conversation":{"type":"group","id":"g"},"msgIds":["$0","$2"]}`},
	{3, 2, false, `{"conversation":{"type":"group","id":"g"},"msgIds":["$0","nope"]}`},
	{3, 3, false, `{"conversation":{"type":"group","id":"g"},"msgIds":["$0"]}`},
	{3, 0, false, `{"conversation":{"type":"group","id":"g"},"msgIds":["$0"]}`},
	{3, 2, true, `{"conversation":{"type":"group","id":"g"},"msgIds":["$2","$0"]}`},
	{3, 6, false, `{"conversation":{"type":"peer","id":"o"},"msgIds":["$9","$a"]}`},
	{3, 2, false, `{"conversation":{"type":"group","id":"g"},"msgIds":["$7"]}`},
	// conversation.read
	{4, 1, false, `{"conversation":{"type":"group","id":"g"}}`},
	{4, 5, false, `{"conversation":{"type":"group","id":"g"},"seq":2}`},
	{4, 0, false, `{"conversation":{"type":"peer","id":"p"},"seq":1}`},
	// conversation.list
	{5, 0, false, `{"limit":1}`},
	{5, 2, false, `{"cursor":"Zy9n","limit":100}`},
	{5, 2, false, `{"cursor":"!!"}`},
	// receipt.request
	{6, 1, false, `{"conversation":{"type":"group","id":"g"},"msgId":"$1"}`},
	{6, 2, false, `{"conversation":{"type":"group","id":"g"},"msgId":"$1"}`},
	{6, 0, true, `{"conversation":{"type":"group","id":"g"},"msgId":"$0"}`},
	{6, 0, false, `{"conversation":{"type":"peer","id":"p"},"msgId":"$9"}`},
	{6, 1, true, `{"conversation":{"type":"group","id":"h"},"msgId":"$7"}`},
	// receipt.query
	{7, 0, false, `{"conversation":{"type":"group","id":"g"},"msgIds":["$0","$4","$6"]}`},
	{7, 2, false, `{"conversation":{"type":"group","id":"g"},"msgIds":["$0"]}`},
	{7, 2, true, `{"conversation":{"type":"group","id":"g"},"msgIds":["$0","$2"]}`},
	{7, 0, false, `{"conversation":{"type":"peer","id":"p"},"msgIds":["$9"]}`},
	// receipt.members
	{8, 0, false, `{"conversation":{"type":"group","id":"g"},"msgId":"$0","filter":"unread","limit":1}`},
	{8, 1, false, `{"conversation":{"type":"group","id":"g"},"msgId":"$2","filter":"read","cursor":"AQEBAQE"}`},
	{8, 3, true, `{"conversation":{"type":"group","id":"g"},"msgId":"$3","filter":"delivered"}`},
	{8, 0, false, `{"conversation":{"type":"group","id":"g"},"msgId":"$1","filter":"undelivered"}`},
	// group.create
	{9, 4, false, `{"groupId":"new","type":"work","members":["p","x","x"]}`},
	{9, 4, false, `{"groupId":"g","members":["p"]}`},
	{9, 4, false, `{"groupId":"new2","members":["ghost"]}`},
	// group.add
	{10, 1, false, `{"groupId":"g","userIds":["x","p"]}`},
	{10, 2, false, `{"groupId":"g","userIds":["x"]}`},
	{10, 0, true, `{"groupId":"g","userIds":["x","p"]}`},
	// group.remove
	{11, 1, false, `{"groupId":"g","userIds":["m1"]}`},
	{11, 1, false, `{"groupId":"g","userIds":["o"]}`},
	{11, 0, false, `{"groupId":"g","userIds":["m2","r"]}`},
	{11, 2, false, `{"groupId":"g","userIds":["m2"]}`},
	// group.leave
	{12, 3, false, `{"groupId":"g"}`},
	{12, 0, false, `{"groupId":"g"}`},
	{12, 5, false, `{"groupId":"g"}`},
	// group.members
	{13, 2, false, `{"groupId":"g","limit":2}`},
	{13, 4, false, `{"groupId":"g","cursor":"m1"}`},
	// connect, unknown method, bad params
	{14, 0, false, `{"token":"x"}`},
	{15, 0, false, `{}`},
	{0, 0, false, `[1]`},
	{3, 0, false, `{"conversation":{"type":"group","id":"g"},"msgIds":"$0"}`},
}
