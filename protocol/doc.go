// Package protocol holds Seen's wire contract: the JSON-RPC 2.0 envelope,
// the method and event names, the parameter and result types of every method,
// and the error codes of docs/protocol.md.
//
// It is imported by the server and by every client SDK, and imports nothing
// but the standard library, so a client never links the server.
package protocol
