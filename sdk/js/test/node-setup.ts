// The Node setup docs/web.md documents: the package by its name, `ws` as
// the WebSocket implementation. npm run typecheck compiles it under strict
// against the built declarations (dist/index.d.ts, reached through the
// package's own exports), and test/pack.test.mjs compiles and runs it in a
// scratch project that installed the packed tarball. It connects two users
// (tokens from SEEN_TOKEN_A and SEEN_TOKEN_B), sends from A to B, and prints
// what B received as one JSON line.
import { SeenClient, SeenError, type MessageNewEvent } from "@seen-im/sdk";
import { WebSocket } from "ws";

const url = process.env.SEEN_WS_URL ?? "ws://127.0.0.1:8080/v1/ws";
const [tokenA, tokenB] = [process.env.SEEN_TOKEN_A, process.env.SEEN_TOKEN_B];
if (!tokenA || !tokenB) throw new Error("set SEEN_TOKEN_A and SEEN_TOKEN_B");

const a = new SeenClient({ url, token: tokenA, WebSocket });
const b = new SeenClient({ url, getToken: async () => tokenB, WebSocket });
try {
  await a.connect();
  const { userId: bob } = await b.connect();
  const got = new Promise<MessageNewEvent<{ text: string }>>((resolve) => {
    b.on("message.new", (e) => resolve(e as MessageNewEvent<{ text: string }>));
  });
  const sent = await a.send({ type: "peer", id: bob }, { text: "hi from node" });
  const { message } = await got;
  console.log(JSON.stringify({ sent: sent.msgId, received: message.msgId, from: message.sender, text: message.body.text }));
} catch (err) {
  if (err instanceof SeenError) console.error("seen error", err.code, err.field);
  throw err;
} finally {
  a.close();
  b.close();
}
