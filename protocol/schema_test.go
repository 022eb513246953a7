package protocol_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/invopop/jsonschema"
	schemav "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/seen-im/seen/protocol"
)

var update = flag.Bool("update", false, "rewrite schema.json from the Go types")

const schemaFile = "schema.json"

// generateSchema builds the protocol's JSON Schema from the Go types: a
// definition per Go type (named as in Go), and one per frame, named as its
// golden file (request.message.send, result.message.send, event.message.new,
// error), that pins jsonrpc, the method and the id and refers to the
// payload's type. Fields without omitempty are required, as encoding/json
// always writes them; unknown fields are refused.
func generateSchema(t *testing.T) []byte {
	t.Helper()
	r := &jsonschema.Reflector{Anonymous: true}
	if err := r.AddGoComments("github.com/seen-im/seen/protocol", "."); err != nil {
		t.Fatalf("read Go comments: %v", err)
	}
	defs := map[string]any{}
	// addType reflects t and merges its definitions into defs, returning
	// the reference to use for it.
	addType := func(t0 reflect.Type) map[string]any {
		s := r.ReflectFromType(t0)
		var m map[string]any
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range m["$defs"].(map[string]any) {
			defs[k] = v
		}
		return map[string]any{"$ref": m["$ref"]}
	}
	id := map[string]any{"type": []string{"integer", "string"}}
	version := map[string]any{"const": "2.0"}
	frame := func(props map[string]any, required ...string) map[string]any {
		props["jsonrpc"] = version
		return map[string]any{
			"type":                 "object",
			"properties":           props,
			"required":             append([]string{"jsonrpc"}, required...),
			"additionalProperties": false,
		}
	}
	frames := map[string]any{}
	for _, f := range allFrames() {
		kind, name, _ := strings.Cut(f, ".")
		switch kind {
		case kindRequest:
			frames[f] = frame(map[string]any{"id": id, "method": map[string]any{"const": name}, "params": addType(payloadType(f))}, "id", "method", "params")
		case kindEvent:
			frames[f] = frame(map[string]any{"method": map[string]any{"const": name}, "params": addType(payloadType(f))}, "method", "params")
		case kindResult:
			frames[f] = frame(map[string]any{"id": id, "result": addType(payloadType(f))}, "id", "result")
		case kindError:
			frames[f] = frame(map[string]any{"id": map[string]any{"type": []string{"integer", "string", "null"}}, "error": addType(reflect.TypeFor[protocol.Error]())}, "id", "error")
		}
	}
	for k, v := range frames {
		defs[k] = v
	}
	// Message.receipt is `any` in Go: the sender's Receipt or a receiver's
	// AckState. Say so, so a frame with neither shape fails validation.
	addType(reflect.TypeFor[protocol.AckState]())
	msg := defs["Message"].(map[string]any)["properties"].(map[string]any)
	msg["receipt"] = map[string]any{
		"description": "The sender's Receipt on its own messages, the receiver's AckState on others'.",
		"oneOf":       []any{map[string]any{"$ref": "#/$defs/Receipt"}, map[string]any{"$ref": "#/$defs/AckState"}},
	}
	// The closed sets of values the Go types hold as plain strings.
	statuses := []string{protocol.StatusNone, protocol.StatusPending, protocol.StatusDone, protocol.StatusExpired}
	for _, e := range []struct {
		def, prop string
		values    []string
	}{
		{"Conversation", "type", []string{protocol.ConvPeer, protocol.ConvGroup}},
		{"Receipt", "status", statuses},
		{"ChangedReceipt", "status", statuses},
		{"ReceiptMembersParams", "filter", []string{protocol.FilterRead, protocol.FilterUnread, protocol.FilterDelivered, protocol.FilterUndelivered}},
		{"GroupMember", "role", []string{protocol.RoleOwner, protocol.RoleAdmin, protocol.RoleMember}},
		{"GroupMemberEvent", "action", []string{protocol.ActionJoined, protocol.ActionLeft, protocol.ActionRemoved}},
	} {
		prop := defs[e.def].(map[string]any)["properties"].(map[string]any)[e.prop].(map[string]any)
		prop["enum"] = e.values
	}
	doc := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "https://github.com/seen-im/seen/protocol/schema.json",
		"title":       "Seen client protocol v1",
		"description": "Generated from the Go types of package protocol by its tests (go test ./protocol -run TestSchema -update); do not edit. Each frame is $defs/<kind>.<method>: request, result or event, plus error.",
		"$defs":       defs,
		// anyOf, not oneOf: the results of methods that answer {} look alike.
		"anyOf": frameRefs(frames),
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func frameRefs(frames map[string]any) []any {
	var out []any
	for _, f := range allFrames() {
		out = append(out, map[string]any{"$ref": "#/$defs/" + f})
	}
	return out
}

func TestSchemaIsUpToDate(t *testing.T) {
	got := generateSchema(t)
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (run go test ./protocol -run TestSchema -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the schema of the Go types: run go test ./protocol -run TestSchema -update, and review the diff", schemaFile)
		sameJSON(t, schemaFile, got, want)
	}
}

// TestGoldenFramesMatchSchema validates every golden frame against its
// definition in schema.json, and against the schema's top (one of the
// frames).
func TestGoldenFramesMatchSchema(t *testing.T) {
	c := schemav.NewCompiler()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := schemav.UnmarshalJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	const url = "https://github.com/seen-im/seen/protocol/schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	top, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	for _, frame := range allFrames() {
		t.Run(frame, func(t *testing.T) {
			sch, err := c.Compile(url + "#/$defs/" + frame)
			if err != nil {
				t.Fatal(err)
			}
			r, err := os.Open(goldenPath(frame))
			if err != nil {
				t.Fatal(err)
			}
			v, err := schemav.UnmarshalJSON(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(v); err != nil {
				t.Errorf("%s does not match its schema: %v", frame, err)
			}
			if err := top.Validate(v); err != nil {
				t.Errorf("%s matches no frame of the schema: %v", frame, err)
			}
		})
	}
}
