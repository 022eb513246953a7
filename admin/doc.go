// Package admin is the Go client of Seen's server API, for app servers: it
// creates users and groups, changes memberships and roles, sends messages
// on a user's behalf, reads receipts, and signs user tokens.
//
// Two ways to give a user a token: ask the server (Client.MintToken, which
// needs only the admin key), or sign it locally with the shared token secret
// (SignToken, no round trip). Both produce the HS256 JWT the server
// verifies: "sub" is the user id, "exp" the expiry, "iat" the issue time.
//
//	a := admin.New("http://127.0.0.1:8080", adminKey)
//	if _, err := a.CreateUser(ctx, "alice", "Alice"); err != nil { ... }
//	tok, err := a.MintToken(ctx, "alice", time.Hour)
//	// or, with the token secret: tok, exp, err := admin.SignToken(secret, "alice", time.Hour)
//
// Errors the server answers with are *protocol.Error, the type the client
// SDK (package client) returns: use errors.As and read Code and
// Data["field"]. Transport failures are other errors, wrapped with the
// request they belong to. The package imports protocol, the JWT library and
// the standard library, never the server.
package admin
