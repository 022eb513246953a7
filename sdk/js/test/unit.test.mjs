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

/**
 * A scripted fake socket: script(frame, sock) is called with every frame the
 * client sends and answers through sock.push (any frame) or sock.reply.
 */
function scriptedSocket(script) {
  return class ScriptedWS {
    constructor() {
      this.readyState = 0;
      ScriptedWS.sockets = [...(ScriptedWS.sockets ?? []), this];
      setTimeout(() => {
        this.readyState = 1;
        this.onopen?.({});
      }, 0);
    }
    send(text) {
      const f = JSON.parse(text);
      setTimeout(() => script(f, this, ScriptedWS.sockets.indexOf(this) + 1), 0);
    }
    push(frame) {
      this.onmessage?.({ data: JSON.stringify({ jsonrpc: "2.0", ...frame }) });
    }
    reply(f, result) {
      this.push({ id: f.id, result });
    }
    close(code = 1000, reason = "") {
      if (this.readyState === 3) return;
      this.readyState = 3;
      setTimeout(() => this.onclose?.({ code, reason }), 0);
    }
  };
}

test("events that come before the connect answer are handled after it, in order", async () => {
  const alice = { type: "peer", id: "alice" };
  const msg = (seq) => ({ method: "message.new", params: { message: { msgId: `m${seq}`, seq, conversation: alice, sender: "alice", body: {}, sentAt: 0 } } });
  const WS = scriptedSocket((f, sock) => {
    if (f.method !== "connect") return sock.reply(f, {});
    sock.push(msg(1));
    sock.push(msg(2));
    sock.reply(f, { userId: "bob", device: "d", serverTime: Date.now(), expiresAt: Date.now() + 3600e3 });
    sock.push(msg(3));
  });
  const c = new SeenClient({ url: "ws://fake/v1/ws", token: "t", WebSocket: WS, autoDelivered: false });
  const got = [];
  c.on("message.new", (e) => got.push(e.message.seq));
  await c.connect();
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got, [1, 2, 3]);
  assert.equal(c.userId, "bob"); // set before the early events ran
  c.close();
});

test("getToken: refreshes on the live socket before expiry, retries a failure, reconnects after 4001", async () => {
  const seen = [];
  const WS = scriptedSocket((f, sock, n) => {
    seen.push({ n, method: f.method, token: f.params?.token });
    if (f.method === "connect") {
      // The first connection's token is short: the refresh is due at once (1 s).
      const ttl = n === 1 ? 2000 : 3600e3;
      return sock.reply(f, { userId: "bob", device: "d", serverTime: Date.now(), expiresAt: Date.now() + ttl });
    }
    if (f.method === "connect.refresh") {
      sock.reply(f, { userId: "bob", expiresAt: Date.now() + 3600e3 });
      // As the server does when a token ran out after all.
      return sock.close(4001, "token expired");
    }
    sock.reply(f, {});
  });
  let calls = 0;
  const getToken = async () => {
    calls++;
    if (calls === 2) throw new Error("identity service down");
    return `t${calls}`;
  };
  const c = new SeenClient({ url: "ws://fake/v1/ws", getToken, WebSocket: WS, autoDelivered: false, backoffMinMs: 10, backoffMaxMs: 50 });
  const reconnected = new Promise((r) => c.on("reconnect", r));
  const res = await c.connect();
  assert.ok(res.expiresAt > Date.now());
  await reconnected;
  assert.deepEqual(seen, [
    { n: 1, method: "connect", token: "t1" },
    { n: 1, method: "connect.refresh", token: "t3" }, // t2 was the failed call
    { n: 2, method: "connect", token: "t4" },
  ]);
  assert.equal(c.state, "open");
  c.close();
});

test("refreshDelay: 3/4 of the lifetime, at least 5 s before the end, never under 1 s", async () => {
  const { refreshDelay } = await import("../dist/seen.js");
  assert.equal(refreshDelay(3600e3), 2700e3);
  assert.equal(refreshDelay(16000), 11000);
  assert.equal(refreshDelay(3000), 1000);
  assert.equal(refreshDelay(-1000), 1000);
});

/**
 * A scripted server for read batching: it answers connect, and hands each
 * message.read to the test through reads (a queue of { ids, frame, sock }).
 */
function readScript() {
  const reads = [];
  let wake = null;
  const WS = scriptedSocket((f, sock) => {
    if (f.method === "connect") sock.reply(f, { userId: "bob", device: "d-1", serverTime: Date.now() });
    else if (f.method === "message.read") {
      reads.push({ ids: f.params.msgIds, frame: f, sock });
      wake?.();
    }
  });
  /** The next message.read the client sent. */
  const next = async () => {
    while (reads.length === 0) await new Promise((r) => (wake = r));
    wake = null;
    return reads.shift();
  };
  return { WS, reads, next };
}

/** Lets every pending timer and microtask run (the scripted socket answers in timers). */
const settle = () => new Promise((r) => setTimeout(r, 20));

test("read batching: reads of one tick share a request; reads during it share the next; each gets its count", async () => {
  const { WS, reads, next } = readScript();
  const c = new SeenClient({ url: "ws://fake/v1/ws", token: "t", WebSocket: WS, autoDelivered: false });
  await c.connect();
  const team = { type: "group", id: "team" };
  const first = [c.read(team, ["a"]), c.read(team, ["b", "c"])];
  const r1 = await next();
  assert.deepEqual(r1.ids, ["a", "b", "c"]);
  const second = [c.read(team, ["d"]), c.read(team, ["e"])];
  const other = c.read({ type: "peer", id: "alice" }, ["x"]); // another conversation: its own queue
  const rx = await next();
  assert.deepEqual(rx.ids, ["x"]);
  await settle();
  assert.equal(reads.length, 0, "no request while the conversation's first is in flight");
  r1.sock.reply(r1.frame, { read: 3 });
  assert.deepEqual(await Promise.all(first), [1, 2]);
  const r2 = await next();
  assert.deepEqual(r2.ids, ["d", "e"]);
  r2.sock.reply(r2.frame, { read: 1 }); // one was already read: the split is at most each caller's own
  rx.sock.reply(rx.frame, { read: 1 });
  assert.deepEqual(await Promise.all(second), [1, 1]);
  assert.equal(await other, 1);
  await settle();
  assert.equal(reads.length, 0);
  c.close();
});

test("read batching: at most 100 ids a request, a caller's ids never split", async () => {
  const { WS, next } = readScript();
  const c = new SeenClient({ url: "ws://fake/v1/ws", token: "t", WebSocket: WS, autoDelivered: false });
  await c.connect();
  const team = { type: "group", id: "team" };
  const ids = (p, n) => Array.from({ length: n }, (_, i) => `${p}${i}`);
  const all = [c.read(team, ids("x", 60)), c.read(team, ids("y", 60))];
  const r1 = await next();
  assert.deepEqual(r1.ids, ids("x", 60));
  r1.sock.reply(r1.frame, { read: 60 });
  const r2 = await next();
  assert.deepEqual(r2.ids, ids("y", 60));
  r2.sock.reply(r2.frame, { read: 60 });
  assert.deepEqual(await Promise.all(all), [60, 60]);
  c.close();
});

test("read batching: a refused shared request goes again caller by caller; only the bad id's caller fails", async () => {
  const { WS, next } = readScript();
  const c = new SeenClient({ url: "ws://fake/v1/ws", token: "t", WebSocket: WS, autoDelivered: false });
  await c.connect();
  const team = { type: "group", id: "team" };
  const good = c.read(team, ["good"]);
  const bad = c.read(team, ["bad"]);
  const shared = await next();
  assert.deepEqual(shared.ids, ["good", "bad"]);
  shared.sock.push({ id: shared.frame.id, error: { code: 404, message: "no message", data: { field: "msgIds[1]" } } });
  for (let i = 0; i < 2; i++) {
    const alone = await next();
    assert.equal(alone.ids.length, 1);
    if (alone.ids[0] === "bad") alone.sock.push({ id: alone.frame.id, error: { code: 404, message: "no message" } });
    else alone.sock.reply(alone.frame, { read: 1 });
  }
  assert.equal(await good, 1);
  await assert.rejects(bad, (e) => e.name === "SeenError" && e.code === 404);
  c.close();
});

test("readBatching: false sends every read on its own, at once", async () => {
  const { WS, next } = readScript();
  const c = new SeenClient({ url: "ws://fake/v1/ws", token: "t", WebSocket: WS, autoDelivered: false, readBatching: false });
  await c.connect();
  const team = { type: "group", id: "team" };
  const a = c.read(team, ["a"]);
  const b = c.read(team, ["b"]);
  const ra = await next();
  const rb = await next();
  assert.deepEqual([ra.ids, rb.ids], [["a"], ["b"]]);
  ra.sock.reply(ra.frame, { read: 1 });
  rb.sock.reply(rb.frame, { read: 0 });
  assert.deepEqual(await Promise.all([a, b]), [1, 0]);
  c.close();
});
