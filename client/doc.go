// Package client is the Go SDK of Seen: a JSON-RPC 2.0 client over one
// WebSocket (/v1/ws) that reconnects by itself.
//
//	c, err := client.Dial(ctx, "ws://127.0.0.1:8080/v1/ws", token,
//		client.WithDevice("laptop"),
//		client.WithHandlers(client.Handlers{
//			Message: func(m protocol.Message) { ... },
//		}))
//	if err != nil { ... }
//	defer c.Close()
//	res, err := c.Send(ctx, protocol.SendParams{
//		Conversation: protocol.Conversation{Type: protocol.ConvPeer, ID: "bob"},
//		Body:         json.RawMessage(`{"text":"hi"}`),
//	})
//
// Send fills in an empty ClientMsgID with NewClientMsgID; set one yourself
// when you may repeat the send after ErrDisconnected.
//
// There is one typed method per protocol method, plus Call and CallRaw for
// anything else. Server errors are *protocol.Error: use errors.As and read
// Code and Data["field"]. The package imports protocol and never the server.
//
// # Reconnecting
//
// When the socket drops unexpectedly the client reconnects with exponential
// backoff and jitter (WithBackoff), sending connect again with the same
// device name and a token from WithTokenProvider when given. Calls in flight
// at the drop fail with an error wrapping ErrDisconnected; whether the
// server carried them out is unknown (message.send is safe to repeat with
// the same clientMsgId). Calls made while reconnecting wait for the new
// connection until their context ends, so give them a deadline; they then
// fail with an error wrapping both ErrDisconnected and the context's error.
// The server does not replay missed events: after OnReconnect handlers run,
// re-sync by state (conversation.list, message.history, receipt.query).
//
// # Tokens
//
// The server closes a connection once its token expires (close code 4001,
// "token expired"). With a static token (Dial's token argument) the client
// then tries to reconnect with the same token, is refused with 401 and
// stops. With WithTokenProvider:
//
//	c, err := client.Dial(ctx, url, "", client.WithTokenProvider(
//		func(ctx context.Context) (string, error) { return myBackend.SeenToken(ctx) }))
//
// the provider is called before every connect and, while connected, at
// about three quarters of the token's remaining lifetime (and at least
// RefreshLead before its exp when the lifetime allows); the new token goes
// to the server with connect.refresh on the live socket, so nothing is
// dropped. A provider error or a refused refresh is retried with backoff
// while the old token lasts; if it runs out first, the client reconnects
// after the 4001 close with a fresh token from the provider. The provider
// runs on the client's refresh goroutine and must honour its context.
// RefreshToken sends connect.refresh by hand.
//
// The client stops for good, and Done is closed, after Close, when a
// reconnect is refused with 401 (the token is bad or expired; there is no
// point in retrying it), or after a drop with WithReconnect(false). From
// then on calls fail at once with Err(). Call Close even then, to end the
// client's goroutines.
//
// # Delivered acks
//
// Unless WithAutoDelivered(false), every message.new from someone else
// (messages of the caller's other devices are not acked) is acked with
// message.delivered: the client keeps the highest seq per conversation and,
// WithDeliveredDelay after the first one, sends one ack per conversation, so
// a burst of 100 messages in a conversation costs one request. Errors of
// these acks are logged, not returned; acks that failed because the
// connection was down are sent after the reconnect. A message counts as
// delivered once it was read off the socket, whether or not a handler saw
// it yet.
//
// # Read acks
//
// Read acks are batched by default, with no added wait: concurrent Read
// calls for one conversation share message.read requests, one in flight
// at a time. A Read made while none of the conversation's reads is in
// flight goes out at once, exactly as given; calls made while one is in
// flight queue and, when its answer arrives, go together in the next
// request (up to 100 ids; a caller's ids are never split). So a quiet
// conversation's read is never slowed, and a busy one waits at most one
// round trip and costs one request per round trip instead of one per
// call. Each call gets its own answer: a shared request the server refuses
// is sent again caller by caller, so one bad id fails only its own caller.
// ReadResult.Read of a shared request is exact when every id in it was
// newly recorded; otherwise the server's count cannot be split and a
// caller gets at most the smaller of its own id count and the request's.
// A Read of no ids or of more than 100 goes alone (the server refuses the
// latter whole). A call whose request is not shared is bounded by its own
// ctx; a shared request is bounded by the client's life and 10 seconds.
// A caller whose ctx ends stops waiting at once, except the one whose
// goroutine sends the shared request (the first queued), which returns
// when it is answered.
// WithReadBatching(false) sends every Read as its own request.
//
// MarkRead(ctx, conv, msgID) is Read with one id, for an app that marks
// messages read one by one as they come into view; it shares requests
// even with WithReadBatching(false). MarkReadAsync(conv, msgID, done)
// queues the same read and returns at once, calling done with the result:
// a client that marks many messages read needs no goroutine for each.
//
// # Private reading
//
// A Read or ReadConversation with Private set is private: it clears this
// user's unread state on all its devices and tells no sender. A private
// Read always goes in a request of its own. Settings and UpdateSettings
// read and change the user's shareReads and shareDelivery switches, kept
// by the server and applied to every ack of the user whatever device
// sends it (with ShareReads false, every read is private, MarkRead's
// included); OnSettingsChanged hears changes made on other devices.
//
// # Events
//
// Events are handled in arrival order, one at a time, on one goroutine per
// client; OnReconnect and OnDisconnect run on the same goroutine, in order
// with the events. The server subscribes a connection before it answers
// connect, so events may come before that answer: the client keeps them and
// handles them right after it, in order. Register handlers with WithHandlers (before anything can
// arrive) or the On... methods (any time; they add to the existing ones).
//
// The read loop never waits for handlers: events wait in a queue of
// WithEventQueueSize entries (default 4096). When the queue is full, new
// server events are dropped, counted in DroppedEvents and logged at error
// level; responses, pings and delivered acks keep flowing, so a slow
// handler never stalls calls or gets the socket dropped for not answering
// pings. If DroppedEvents grows, re-sync by state as after a reconnect.
// Handlers should be quick. They may call the client's methods (the read
// loop keeps running), but must not call Close. A handler given to
// WithHandlers runs before Dial returns the *Client, so one that needs the
// client must get it through something synchronized (or be registered with
// the On... methods after Dial).
//
// # Concurrency
//
// Every method of Client is safe for concurrent use. Requests are
// pipelined: any number of goroutines may call at once, each request
// carries its own id and its response is matched by id, in whatever order
// the server answers. A call whose context ends stops waiting at once and
// its slot in the pending table is freed; a late answer is dropped. The
// context does not cut a frame half written (that would break the
// connection for every other call): writes are bounded by WithWriteTimeout.
//
// The client owns at most four goroutines: the connection goroutine
// (reads frames, answers pings, reconnects), the event goroutine (runs
// handlers), the delivered-ack goroutine and, with a token provider, one
// refresh goroutine per live connection (the connection goroutine joins it
// when the connection ends). Close closes the socket with status 1000 and
// joins them all before it returns. Mutable state is
// guarded by Client.mu (connection, identity, stop state) and by the small
// locks of the pending table, the handler list and the ack batcher; no lock
// is held while calling a handler or doing I/O.
//
// Logging goes to the slog.Logger of WithLogger; by default nothing is
// logged. The package has no global state.
package client
