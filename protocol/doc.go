// Package protocol holds Seen's wire contract: the JSON-RPC 2.0 envelope,
// the method and event names, the parameter and result types of every method,
// the error codes of docs/protocol.md, and the bodies of the admin API's
// webhook endpoints (webhooks.go), which the server and the Go admin SDK share.
//
// It is imported by the server and by every client SDK, and imports nothing
// but the standard library, so a client never links the server.
package protocol
