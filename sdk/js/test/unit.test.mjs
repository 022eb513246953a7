// Unit tests without a server: backoff bounds, and delivery-ack batching
// over a scripted fake socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Backoff, SeenClient } from "../dist/seen.js";

test("backoff doubles from min to max, with jitter in the upper half of the step", () => {
  let r = 0;
  const b = new Backoff(100, 1000, () => r);
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [50, 100, 200, 400, 500]);
  r = 0.999999;
  b.reset();
  const hi = [b.next(), b.next(), b.next(), b.next(), b.next()].map(Math.round);
  assert.deepEqual(hi, [100, 200, 400, 800, 1000]);
});

/** A fake socket that answers connect and records what the client sends. */
function fakeSocket(sent) {
  return class FakeWS {
    constructor() {
      this.readyState = 0;
      FakeWS.last = this;
      setTimeout(() => {
        this.readyState = 1;
        this.onopen?.({});
      }, 0);
    }
    send(text) {
      const f = JSON.parse(text);
      sent.push(f);
      const reply = (result) => setTimeout(() => this.onmessage?.({ data: JSON.stringify({ jsonrpc: "2.0", id: f.id, result }) }), 0);
      if (f.method === "connect") reply({ userId: "bob", device: "d-1", serverTime: Date.now() });
      else reply({});
    }
    close() {
      this.readyState = 3;
    }
    event(method, params) {
      this.onmessage?.({ data: JSON.stringify({ jsonrpc: "2.0", method, params }) });
    }
  };
}

test("delivery acks: one per conversation, highest seq, not for own messages", async () => {
  const sent = [];
  const WS = fakeSocket(sent);
  const c = new SeenClient({ url: "ws://fake/v1/ws", token: "t", WebSocket: WS, deliveredDelayMs: 30 });
  await c.connect();
  const msg = (conv, seq, sender = "alice") => ({
    message: { msgId: `m${seq}`, seq, conversation: conv, sender, body: {}, sentAt: 0 },
  });
  const alice = { type: "peer", id: "alice" };
  const team = { type: "group", id: "team" };
  const got = [];
  c.on("message.new", (e) => got.push(e.message.seq));
  for (const s of [1, 3, 2]) WS.last.event("message.new", msg(alice, s));
  WS.last.event("message.new", msg(team, 7));
  WS.last.event("message.new", msg(team, 8, "bob")); // bob's own message from another device
  assert.deepEqual(got, [1, 3, 2, 7, 8]);
  await new Promise((r) => setTimeout(r, 150));
  const acks = sent.filter((f) => f.method === "message.delivered").map((f) => f.params);
  assert.deepEqual(
    acks.sort((x, y) => x.seq - y.seq),
    [
      { conversation: alice, seq: 3 },
      { conversation: team, seq: 7 },
    ],
  );
  // Already acked: nothing new.
  WS.last.event("message.new", msg(alice, 2));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(sent.filter((f) => f.method === "message.delivered").length, 2);
  c.close();
});

test("autoDelivered: false sends no acks", async () => {
  const sent = [];
  const WS = fakeSocket(sent);
  const c = new SeenClient({ url: "ws://fake/v1/ws", token: "t", WebSocket: WS, autoDelivered: false, deliveredDelayMs: 10 });
  await c.connect();
  WS.last.event("message.new", { message: { msgId: "m1", seq: 1, conversation: { type: "peer", id: "alice" }, sender: "alice", body: 1, sentAt: 0 } });
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(sent.filter((f) => f.method === "message.delivered").length, 0);
  c.close();
});
