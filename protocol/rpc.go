package protocol

import (
	"encoding/json"
	"fmt"
)

// Version is the JSON-RPC version string every frame carries.
const Version = "2.0"

// Request is a client request, or a server notification when ID is empty.
type Request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// Response answers one request. Exactly one of Result and Error is set.
type Response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// Notification is a server event: a request without an id.
type Notification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

// Frame is what a client reads: a response when ID is set, an event otherwise.
type Frame struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// Error codes of the contract. The -326xx family is JSON-RPC's own; the
// others mirror HTTP statuses so the admin API can use them as they are.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602

	CodeUnauthorized  = 401
	CodeForbidden     = 403
	CodeNotFound      = 404
	CodeConflict      = 409
	CodeGone          = 410
	CodeTooLarge      = 413
	CodeUnprocessable = 422
	CodeRateLimited   = 429
	CodeInternal      = 500
	CodeUnavailable   = 503
)

// WebSocket close codes of the contract (4000-4999 is the range RFC 6455
// leaves to applications).
const (
	// CloseTokenExpired closes a connection whose token expired before a
	// connect.refresh gave it a new one. Reason: "token expired".
	CloseTokenExpired = 4001
)

// Error is the one typed error that reaches the wire.
type Error struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data,omitempty"`
}

func (e *Error) Error() string {
	if f, ok := e.Data["field"]; ok {
		return fmt.Sprintf("seen: %d %s (field %v)", e.Code, e.Message, f)
	}
	return fmt.Sprintf("seen: %d %s", e.Code, e.Message)
}

// Errorf builds an Error with a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadParam reports an invalid parameter, naming it in data.field.
func BadParam(field, format string, args ...any) *Error {
	return &Error{
		Code:    CodeInvalidParams,
		Message: fmt.Sprintf(format, args...),
		Data:    map[string]any{"field": field},
	}
}

// HTTPStatus maps a code to the HTTP status the admin API answers with.
func HTTPStatus(code int) int {
	if code < 0 {
		return 400
	}
	return code
}
