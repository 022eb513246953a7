package ws

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/seen-im/seen/protocol"
)

// FuzzParseRequest feeds any frame to parseRequest: it never panics, an
// accepted request has a non-empty method and an id that is a JSON string
// or number, and a refused one is -32700 or -32600 only.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"conversation.list","params":{"limit":1}}`,
		`{"jsonrpc":"2.0","id":"a","method":"connect","params":{"token":"x"}}`,
		`{"jsonrpc":"2.0","id":-1.5e3,"method":"m"}`,
		`{"jsonrpc":"2.0","id":null,"method":"m"}`,
		`{"jsonrpc":"2.0","id":{},"method":"m"}`,
		`{"jsonrpc":"2.0","id":[1],"method":"m"}`,
		`{"jsonrpc":"2.0","id":true,"method":"m"}`,
		`{"jsonrpc":"2.0","method":"m"}`,
		`{"jsonrpc":"1.0","id":1,"method":"m"}`,
		`{"jsonrpc":"2.0","id":1,"method":""}`,
		`{"jsonrpc":"2.0","id":1,"method":7}`,
		`{"jsonrpc":"2.0","id":1,"method":"\u0000"}`,
		`{"JSONRPC":"2.0","ID":2,"METHOD":"m","id":3}`,
		`{"jsonrpc":"2.0","id":1,"method":"m","method":"n"}`,
		` 	{"jsonrpc":"2.0","id":1,"method":"m"}` + "\n",
		`{"jsonrpc":"2.0","id":1,"method":`,
		`[1,2]`,
		`"hello"`,
		`null`,
		`0`,
		``,
		"\xff",
		"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"m\xfe\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"message.send\",\"params\":{\"body\":\"\xc3\x28\"}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"s\":\"\xed\xa0\x80\"}}", // a UTF-16 surrogate
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":{\"s\":\"\xf0\x9f\x98\"}}", // truncated
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		id, req, pe := parseRequest(data)
		if !bytes.Equal(in, data) {
			t.Fatalf("parseRequest changed its input: %q -> %q", in, data)
		}
		if id != nil && !validID(id) {
			t.Fatalf("parseRequest(%q) id = %s, want a JSON string or number", data, id)
		}
		if !utf8.Valid(data) && (pe == nil || pe.Code != protocol.CodeParseError) {
			t.Fatalf("parseRequest(%q) = %v, want -32700 for a frame that is not UTF-8", data, pe)
		}
		if pe != nil {
			if pe.Code != protocol.CodeParseError && pe.Code != protocol.CodeInvalidRequest {
				t.Fatalf("parseRequest(%q) code %d, want -32700 or -32600", data, pe.Code)
			}
			if pe.Code == protocol.CodeParseError && id != nil {
				t.Fatalf("parseRequest(%q) = -32700 with id %s, want no id", data, id)
			}
			return
		}
		if req.Method == "" {
			t.Fatalf("parseRequest(%q) accepted an empty method", data)
		}
		if id == nil || !bytes.Equal(id, req.ID) {
			t.Fatalf("parseRequest(%q) accepted with id %s, request id %s", data, id, req.ID)
		}
		if req.JSONRPC != protocol.Version {
			t.Fatalf("parseRequest(%q) jsonrpc = %q", data, req.JSONRPC)
		}
		if len(req.Params) > 0 && !json.Valid(req.Params) {
			t.Fatalf("parseRequest(%q) params %q are not JSON", data, req.Params)
		}
		// The response must be encodable with the id as it came.
		if _, err := encodeResponse(id, nil, protocol.Errorf(protocol.CodeMethodNotFound, "x")); err != nil {
			t.Fatalf("encodeResponse with id %s: %v", id, err)
		}
	})
}

// validID reports whether id is one JSON string or one JSON number.
func validID(id json.RawMessage) bool {
	if !json.Valid(id) || len(id) == 0 {
		return false
	}
	switch c := id[0]; {
	case c == '"':
		var s string
		return json.Unmarshal(id, &s) == nil
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		return json.Unmarshal(id, &n) == nil
	}
	return false
}
