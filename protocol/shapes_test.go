package protocol_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/seen-im/seen/protocol"
)

// The Go type of every method's params and result and every event's
// params: the golden frames under testdata/frames, the JSON Schema and the
// TypeScript SDK's types (sdk/js/test/golden.test.mjs) are all checked
// against this table.
var (
	methodTypes = map[string][2]reflect.Type{
		protocol.MethodConnect:          {typeOf[protocol.ConnectParams](), typeOf[protocol.ConnectResult]()},
		protocol.MethodConnectRefresh:   {typeOf[protocol.RefreshParams](), typeOf[protocol.RefreshResult]()},
		protocol.MethodMessageSend:      {typeOf[protocol.SendParams](), typeOf[protocol.SendResult]()},
		protocol.MethodMessageHistory:   {typeOf[protocol.HistoryParams](), typeOf[protocol.HistoryResult]()},
		protocol.MethodMessageDelivered: {typeOf[protocol.DeliveredParams](), typeOf[protocol.Empty]()},
		protocol.MethodMessageRead:      {typeOf[protocol.ReadParams](), typeOf[protocol.ReadResult]()},
		protocol.MethodSettingsGet:      {typeOf[protocol.Empty](), typeOf[protocol.Settings]()},
		protocol.MethodSettingsUpdate:   {typeOf[protocol.SettingsUpdateParams](), typeOf[protocol.Settings]()},
		protocol.MethodConversationRead: {typeOf[protocol.ConversationReadParams](), typeOf[protocol.ConversationReadResult]()},
		protocol.MethodConversationList: {typeOf[protocol.ConversationListParams](), typeOf[protocol.ConversationListResult]()},
		protocol.MethodReceiptRequest:   {typeOf[protocol.ReceiptRequestParams](), typeOf[protocol.Empty]()},
		protocol.MethodReceiptQuery:     {typeOf[protocol.ReceiptQueryParams](), typeOf[protocol.ReceiptQueryResult]()},
		protocol.MethodReceiptMembers:   {typeOf[protocol.ReceiptMembersParams](), typeOf[protocol.ReceiptMembersResult]()},
		protocol.MethodGroupCreate:      {typeOf[protocol.GroupCreateParams](), typeOf[protocol.GroupCreateResult]()},
		protocol.MethodGroupAdd:         {typeOf[protocol.GroupMembersChangeParams](), typeOf[protocol.Empty]()},
		protocol.MethodGroupRemove:      {typeOf[protocol.GroupMembersChangeParams](), typeOf[protocol.Empty]()},
		protocol.MethodGroupLeave:       {typeOf[protocol.GroupLeaveParams](), typeOf[protocol.Empty]()},
		protocol.MethodGroupMembers:     {typeOf[protocol.GroupMembersParams](), typeOf[protocol.GroupMembersResult]()},
	}
	eventTypes = map[string]reflect.Type{
		protocol.EventMessageNew:       typeOf[protocol.MessageNewEvent](),
		protocol.EventReceiptDelivered: typeOf[protocol.ReceiptDeliveredEvent](),
		protocol.EventReceiptRead:      typeOf[protocol.ReceiptReadEvent](),
		protocol.EventConversationRead: typeOf[protocol.ConversationReadEvent](),
		protocol.EventReceiptChanged:   typeOf[protocol.ReceiptChangedEvent](),
		protocol.EventReceiptRequested: typeOf[protocol.ReceiptRequestedEvent](),
		protocol.EventGroupMember:      typeOf[protocol.GroupMemberEvent](),
		protocol.EventSettingsChanged:  typeOf[protocol.Settings](),
	}
)

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// A golden frame's kind, from its file name: request.<method>.json,
// result.<method>.json, event.<event>.json, or error.json.
const (
	kindRequest = "request"
	kindResult  = "result"
	kindEvent   = "event"
	kindError   = "error"
)

// frameName is the golden file's base name (and the schema's $defs key).
func frameName(kind, name string) string {
	if kind == kindError {
		return kindError
	}
	return kind + "." + name
}

// allFrames lists every frame the protocol has: a request and a result per
// method, an event per event, and the error answer.
func allFrames() []string {
	var out []string
	for m := range methodTypes {
		out = append(out, frameName(kindRequest, m), frameName(kindResult, m))
	}
	for e := range eventTypes {
		out = append(out, frameName(kindEvent, e))
	}
	out = append(out, kindError)
	sort.Strings(out)
	return out
}

// payloadType is the Go type of a frame's params or result (nil for error).
func payloadType(frame string) reflect.Type {
	kind, name, _ := strings.Cut(frame, ".")
	switch kind {
	case kindRequest:
		return methodTypes[name][0]
	case kindResult:
		return methodTypes[name][1]
	case kindEvent:
		return eventTypes[name]
	}
	return nil
}

// declaredNames reads the values of the Method* and Event* constants from
// the package's source, so a name added there without a table entry (and
// so without golden frames) fails TestEveryNameHasGoldenFrames.
func declaredNames(t *testing.T) (methods, events []string) {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, id := range vs.Names {
				if i >= len(vs.Values) {
					break
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				v, _ := strconv.Unquote(lit.Value)
				switch {
				case strings.HasPrefix(id.Name, "Method"):
					methods = append(methods, v)
				case strings.HasPrefix(id.Name, "Event"):
					events = append(events, v)
				}
			}
			return true
		})
	}
	return methods, events
}

func TestEveryNameHasGoldenFrames(t *testing.T) {
	methods, events := declaredNames(t)
	if len(methods) < 16 || len(events) < 7 {
		t.Fatalf("read %d methods and %d events from the source: the parser missed some", len(methods), len(events))
	}
	for _, m := range methods {
		if _, ok := methodTypes[m]; !ok {
			t.Errorf("method %q has no entry in methodTypes (and so no golden frames)", m)
		}
	}
	for _, e := range events {
		if _, ok := eventTypes[e]; !ok {
			t.Errorf("event %q has no entry in eventTypes (and so no golden frame)", e)
		}
	}
	want := map[string]bool{}
	for _, f := range allFrames() {
		want[f] = true
		if _, err := os.Stat(goldenPath(f)); err != nil {
			t.Errorf("no golden frame for %s: %v", f, err)
		}
	}
	have, err := filepath.Glob(filepath.Join("testdata", "frames", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range have {
		if name := strings.TrimSuffix(filepath.Base(p), ".json"); !want[name] {
			t.Errorf("%s is the golden frame of no method or event", p)
		}
	}
}

func goldenPath(frame string) string { return filepath.Join("testdata", "frames", frame+".json") }
