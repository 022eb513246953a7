// @seen-im/sdk: the TypeScript SDK of the Seen messaging server.
export { SeenClient, connect, conversationKey, newClientMsgId, refreshDelay } from "./client.js";
export type { ClientOptions, SendOptions, WebSocketConstructor, WebSocketHandler, WebSocketLike } from "./client.js";
export { SeenError, ConnectionError, ErrorCode, CloseCode } from "./errors.js";
export type { ConnectionErrorReason } from "./errors.js";
export { Backoff } from "./backoff.js";
export type * from "./types.js";
