// The browser setup of docs/web.md: the global WebSocket, passed or not.
// npm run typecheck compiles it under strict with the DOM's types, so the
// WebSocketLike the client asks for keeps accepting the DOM's WebSocket.
import { SeenClient } from "@seen-im/sdk";

export const implicit = new SeenClient({ url: "wss://chat.example.com/v1/ws", token: "t" });
export const explicit = new SeenClient({ url: "wss://chat.example.com/v1/ws", token: "t", WebSocket });
