// Package jsonwalk walks JSON by hand, for the few frames every ack
// carries: the server's request envelope (internal/transport/ws), the
// params of the ack methods (internal/service) and the client's frames and
// message.new events (client). encoding/json's reflection, and its
// validating pass before the decode, took a fifth of an ack's
// instructions on each side.
//
// Everything here only ever accepts: a walk that meets anything it is not
// sure of (an escape, a non-ASCII byte, a key that matches a field only
// by folding case, a number with a fraction) reports false, and its
// caller decodes the same bytes with encoding/json, which decides. Each
// caller's fuzz test holds its fast path to encoding/json's result.
package jsonwalk
