package ws

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/seen-im/seen/internal/jsonwalk"
	"github.com/seen-im/seen/protocol"
)

// The JSON-RPC envelope of every request and response is read and written
// here without reflection. encoding/json took about a fifth of a read
// ack's instructions, much of it on the envelope alone: a validating scan,
// then Unmarshal's own validating scan and reflective decode of the
// envelope, then a third for the method, and for the answer a reflective
// Marshal that scanned the id and the result again to compact them.
//
// The fast path only ever accepts: it returns a request exactly as the
// encoding/json path (parseRequestStd, encodeResponseStd) would, and
// whatever it is not sure of (a refused frame, an escaped or case-folded
// key, an escaped method, an id that encoding/json would rewrite) goes
// the encoding/json way. FuzzEnvelopeMatchesEncodingJSON holds the two to
// the same bytes. Params and results are still encoding/json's: one
// encoder for the protocol, pinned by the golden frames.

// parseRequest checks the JSON-RPC envelope. The returned id is the
// request's id where one could be read, for the error response.
func parseRequest(data []byte) (json.RawMessage, protocol.Request, *protocol.Error) {
	if req, ok := parseRequestFast(data); ok {
		return req.ID, req, nil
	}
	return parseRequestStd(data)
}

// envelopeKeys are the members of a request; a key that matches one only
// without regard to case is left to encoding/json, which accepts it.
var envelopeKeys = [...]string{"jsonrpc", "id", "method", "params"}

// parseRequestFast reads a well-formed request in one pass that checks the
// JSON grammar as it walks the top-level members (jsonwalk). It reports
// false for anything else.
func parseRequestFast(data []byte) (protocol.Request, bool) {
	var req protocol.Request
	if !utf8.Valid(data) {
		return req, false
	}
	i := jsonwalk.SkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return req, false
	}
	var vals [len(envelopeKeys)][]byte
	i = jsonwalk.SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i >= len(data) || data[i] != '"' {
				return req, false
			}
			end := jsonwalk.String(data, i)
			if end < 0 {
				return req, false
			}
			key := data[i+1 : end-1]
			i = jsonwalk.SkipSpace(data, end)
			if i >= len(data) || data[i] != ':' {
				return req, false
			}
			i = jsonwalk.SkipSpace(data, i+1)
			if end = jsonwalk.Value(data, i, 1); end < 0 {
				return req, false
			}
			if k := envelopeKey(key); k >= 0 {
				vals[k] = data[i:end] // a repeated key: the last wins, as in encoding/json
			} else if k == keyUnsure {
				return req, false
			}
			i = jsonwalk.SkipSpace(data, end)
			if i >= len(data) {
				return req, false
			}
			if data[i] == '}' {
				i++
				break
			}
			if data[i] != ',' {
				return req, false
			}
			i = jsonwalk.SkipSpace(data, i+1)
		}
	}
	if jsonwalk.SkipSpace(data, i) != len(data) {
		return req, false
	}
	jsonrpc, id, method, params := vals[0], vals[1], vals[2], vals[3]
	if len(id) == 0 || !(id[0] == '"' || id[0] == '-' || (id[0] >= '0' && id[0] <= '9')) {
		return req, false
	}
	if string(jsonrpc) != `"2.0"` {
		return req, false
	}
	if len(method) < 3 || method[0] != '"' || bytes.IndexByte(method, '\\') >= 0 {
		return req, false
	}
	// The id and params alias the frame, which the reader reads afresh
	// for every frame and never changes.
	req.JSONRPC, req.ID, req.Params = protocol.Version, id, params
	req.Method = jsonwalk.Intern(method[1:len(method)-1], protocol.MethodMessageRead,
		protocol.MethodMessageDelivered, protocol.MethodConversationRead, protocol.MethodMessageSend)
	return req, true
}

// keyUnsure is envelopeKey's answer for a key that encoding/json might
// match to a member by folding case or unescaping: the fast path leaves
// such a frame to it.
const (
	keyOther  = -1
	keyUnsure = -2
)

// envelopeKey returns the index in envelopeKeys of a member's raw key,
// keyOther for a key that is none of them, keyUnsure if encoding/json
// might take it for one (an escape, a case-folded spelling, a non-ASCII
// byte, which Unicode folding could match).
func envelopeKey(key []byte) int {
	switch string(key) {
	case "jsonrpc":
		return 0
	case "id":
		return 1
	case "method":
		return 2
	case "params":
		return 3
	}
	for _, c := range key {
		if c == '\\' || c >= 0x80 {
			return keyUnsure
		}
	}
	for _, name := range envelopeKeys {
		if len(key) == len(name) && bytes.EqualFold(key, []byte(name)) {
			return keyUnsure
		}
	}
	return keyOther
}

// parseRequestStd is parseRequest with encoding/json: the reference for
// the fast path, and the one that answers what that does not accept.
func parseRequestStd(data []byte) (json.RawMessage, protocol.Request, *protocol.Error) {
	var req protocol.Request
	// A frame is UTF-8 text; one that is not is not JSON text either
	// (RFC 8259), whatever encoding/json would make of it (it replaces
	// invalid bytes in strings silently). Checked first, so that nothing
	// built from such a frame is ever stored or relayed.
	if !utf8.Valid(data) {
		return nil, req, protocol.Errorf(protocol.CodeParseError, "frame is not valid UTF-8")
	}
	if !json.Valid(data) {
		return nil, req, protocol.Errorf(protocol.CodeParseError, "invalid JSON")
	}
	data = bytes.TrimSpace(data)
	if data[0] != '{' {
		return nil, req, protocol.Errorf(protocol.CodeInvalidRequest, "a request must be a JSON object")
	}
	var env struct {
		JSONRPC json.RawMessage `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  json.RawMessage `json:"method"`
		Params  json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, req, protocol.Errorf(protocol.CodeInvalidRequest, "not a request")
	}
	var id json.RawMessage
	if len(env.ID) > 0 && (env.ID[0] == '"' || env.ID[0] == '-' || (env.ID[0] >= '0' && env.ID[0] <= '9')) {
		id = env.ID
	}
	if id == nil {
		return nil, req, protocol.Errorf(protocol.CodeInvalidRequest, "id must be a string or a number")
	}
	if string(env.JSONRPC) != `"2.0"` {
		return id, req, protocol.Errorf(protocol.CodeInvalidRequest, `jsonrpc must be "2.0"`)
	}
	if len(env.Method) == 0 || env.Method[0] != '"' {
		return id, req, protocol.Errorf(protocol.CodeInvalidRequest, "method must be a string")
	}
	if err := json.Unmarshal(env.Method, &req.Method); err != nil || req.Method == "" {
		return id, req, protocol.Errorf(protocol.CodeInvalidRequest, "method must be a non-empty string")
	}
	req.JSONRPC, req.ID, req.Params = protocol.Version, id, env.Params
	return id, req, nil
}

// responseHead is how encoding/json starts a response; the id follows.
const responseHead = `{"jsonrpc":"` + protocol.Version + `","id":`

// encodeResponse renders a response frame.
func encodeResponse(id json.RawMessage, res any, pe *protocol.Error) ([]byte, error) {
	return encodeResponseTo(nil, id, res, pe)
}

// encodeResponseTo is encodeResponse into buf's array when an ack's
// response fits in it, as it is: the caller gives up buf.
func encodeResponseTo(buf []byte, id json.RawMessage, res any, pe *protocol.Error) ([]byte, error) {
	if pe != nil || !plainID(id) {
		return encodeResponseStd(id, res, pe)
	}
	// An ack's result is written in place: one buffer for the frame.
	head := buf[:0]
	if need := len(responseHead) + len(id) + len(`,"result":{"readSeq":}}`) + 20; cap(head) < need {
		head = make([]byte, 0, need)
	}
	head = append(head, responseHead...)
	head = append(head, id...)
	head = append(head, `,"result":`...)
	if out, ok := appendResultFast(head, res); ok {
		return append(out, '}'), nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, err
	}
	// What json.Marshal(protocol.Response) writes, without its second
	// pass over the id and the result: the result is Marshal's output,
	// compact and escaped already, and plainID holds nothing it would
	// rewrite. (head grows once for a result larger than an ack's.)
	out := append(head, b...)
	return append(out, '}'), nil
}

// appendResultFast appends the results of the acks as json.Marshal writes
// them, without its reflection and its buffer; it reports false, appending
// nothing, for any other result. TestResultFastMatchesEncodingJSON holds
// each to encoding/json's bytes and to the fields its struct has.
func appendResultFast(b []byte, res any) ([]byte, bool) {
	switch r := res.(type) {
	case protocol.ReadResult:
		b = append(b, `{"read":`...)
		return append(strconv.AppendInt(b, int64(r.Read), 10), '}'), true
	case protocol.ConversationReadResult:
		b = append(b, `{"readSeq":`...)
		return append(strconv.AppendUint(b, r.ReadSeq, 10), '}'), true
	case nil, protocol.Empty:
		return append(b, `{}`...), true
	}
	return b, false
}

// plainID reports whether encoding/json writes id as it is: a non-empty
// id with none of the bytes its compacting escapes (<, >, & and the
// first byte of U+2028 and U+2029) and no whitespace.
func plainID(id json.RawMessage) bool {
	for _, c := range id {
		switch c {
		case '<', '>', '&', 0xe2, ' ', '\t', '\r', '\n':
			return false
		}
	}
	return len(id) > 0
}

// encodeResponseStd is encodeResponse with encoding/json: the reference
// for the fast path, and the encoder of errors.
func encodeResponseStd(id json.RawMessage, res any, pe *protocol.Error) ([]byte, error) {
	if id == nil {
		id = json.RawMessage("null")
	}
	r := protocol.Response{JSONRPC: protocol.Version, ID: id, Error: pe}
	if pe == nil {
		if res == nil {
			res = protocol.Empty{}
		}
		b, err := json.Marshal(res)
		if err != nil {
			return nil, err
		}
		r.Result = b
	}
	return json.Marshal(r)
}
