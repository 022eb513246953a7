package protocol_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/seen-im/seen/protocol"
)

// decodeStrict decodes data into a new value of type t, refusing fields the
// Go type does not have: a golden frame with a field Go lost fails here.
func decodeStrict(data []byte, t reflect.Type) (any, error) {
	v := reflect.New(t)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Interface()); err != nil {
		return nil, err
	}
	return v.Interface(), nil
}

// sameJSON compares two JSON texts as values (key order and spacing aside).
func sameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: re-encoded JSON is invalid: %v", what, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: golden JSON is invalid: %v", what, err)
	}
	if d := cmp.Diff(w, g); d != "" {
		t.Errorf("%s: decode and re-encode changed the frame (-golden +re-encoded):\n%s", what, d)
	}
}

// TestGoldenFramesRoundTrip decodes every golden frame into its Go types
// (the envelope, then params or result into the method's type, unknown
// fields refused) and re-encodes it: the JSON must come out as it went in.
// A Go field added, renamed or retyped without the golden frame following
// fails here; the TypeScript suite checks the same frames against the SDK.
func TestGoldenFramesRoundTrip(t *testing.T) {
	for _, frame := range allFrames() {
		t.Run(frame, func(t *testing.T) {
			golden, err := os.ReadFile(goldenPath(frame))
			if err != nil {
				t.Fatal(err)
			}
			kind, name, _ := strings.Cut(frame, ".")
			var env protocol.Frame
			dec := json.NewDecoder(bytes.NewReader(golden))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&env); err != nil {
				t.Fatalf("envelope: %v", err)
			}
			if env.JSONRPC != protocol.Version {
				t.Errorf("jsonrpc = %q, want %q", env.JSONRPC, protocol.Version)
			}
			var out any
			switch kind {
			case kindRequest, kindEvent:
				if env.Method != name {
					t.Fatalf("method = %q, want %q", env.Method, name)
				}
				if (kind == kindRequest) != (len(env.ID) > 0) {
					t.Fatalf("id %s: a request has one, an event none", env.ID)
				}
				params := roundTrip(t, frame, env.Params)
				if kind == kindRequest {
					out = protocol.Request{JSONRPC: env.JSONRPC, ID: env.ID, Method: env.Method, Params: params}
				} else {
					out = protocol.Notification{JSONRPC: env.JSONRPC, Method: env.Method, Params: params}
				}
			case kindResult:
				if len(env.ID) == 0 || env.Method != "" || env.Error != nil {
					t.Fatalf("a result frame has an id, and no method or error")
				}
				out = protocol.Response{JSONRPC: env.JSONRPC, ID: env.ID, Result: roundTrip(t, frame, env.Result)}
			case kindError:
				if env.Error == nil || env.Result != nil {
					t.Fatalf("an error frame has an error and no result")
				}
				out = protocol.Response{JSONRPC: env.JSONRPC, ID: env.ID, Error: env.Error}
			}
			got, err := json.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, frame, got, golden)
		})
	}
}

// roundTrip decodes a payload into the frame's Go type and encodes it back.
func roundTrip(t *testing.T, frame string, payload json.RawMessage) json.RawMessage {
	t.Helper()
	v, err := decodeStrict(payload, payloadType(frame))
	if err != nil {
		t.Fatalf("decode into %v: %v", payloadType(frame), err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, frame+" payload", b, payload)
	return b
}
