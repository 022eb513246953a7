// SDK tests against a real `seen serve` (see server.mjs). Run: npm test.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { WebSocket as WS } from "ws";
import { SeenClient, SeenError, ConnectionError, ErrorCode, CloseCode } from "../dist/seen.js";
import { SeenServer } from "./server.mjs";

const WebSocketImpl = globalThis.WebSocket ?? WS;
const T = 15000; // generous limit of each wait for an event

let run = 0;
/** A fresh user id, unique within the run. */
const uid = (name) => `${name}-${process.pid}-${++run}`;

/** Resolves with the first payload of event that satisfies pred. */
function waitFor(client, event, pred = () => true, timeout = T) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${event} on ${client.userId}`));
    }, timeout);
    const off = client.on(event, (p) => {
      if (!pred(p)) return;
      clearTimeout(timer);
      off();
      resolve(p);
    });
  });
}

/** Polls fn until it returns a truthy value. */
async function eventually(fn, timeout = T) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

const clients = [];
async function client(server, userId, opts = {}) {
  const c = new SeenClient({ url: server.wsURL, token: await server.token(userId), WebSocket: WebSocketImpl, ...opts });
  clients.push(c);
  const res = await c.connect();
  assert.equal(res.userId, userId);
  return c;
}

const peer = (id) => ({ type: "peer", id });
const group = (id) => ({ type: "group", id });

describe("SeenClient against seen serve", () => {
  const server = new SeenServer();
  before(() => server.start());
  after(async () => {
    for (const c of clients) c.close();
    await server.destroy();
  });

  test("connect, send both ways, delivery ack sent by itself", async () => {
    const [a, b] = [uid("alice"), uid("bob")];
    const alice = await client(server, a);
    const bob = await client(server, b);
    assert.equal(alice.state, "open");
    assert.ok(alice.device.length > 0);

    const gotByBob = waitFor(bob, "message.new", (e) => e.message.sender === a);
    const delivered = waitFor(alice, "receipt.delivered", (e) => e.userId === b);
    const sent = await alice.send(peer(b), { text: "hi bob" }, { receipt: true });
    assert.equal(sent.seq, 1);
    assert.ok(sent.msgId && sent.clientMsgId);

    const m = (await gotByBob).message;
    assert.deepEqual(m.body, { text: "hi bob" });
    assert.deepEqual(m.conversation, peer(a)); // the receiver's side
    assert.equal(m.seq, 1);
    const d = await delivered; // bob's SDK acked without being asked
    assert.deepEqual(d.conversation, peer(b));
    assert.equal(d.seq, 1);

    const gotByAlice = waitFor(alice, "message.new", (e) => e.message.sender === b);
    const reply = await bob.send(peer(a), { text: "hi alice" });
    assert.equal(reply.seq, 2); // one sequence for both parties
    assert.deepEqual((await gotByAlice).message.body, { text: "hi alice" });

    const list = await alice.conversations();
    const conv = list.conversations.find((c) => c.conversation.id === b);
    assert.ok(conv);
    assert.equal(conv.lastSeq, 2);
    await eventually(async () => {
      const l = await alice.conversations();
      return l.conversations.find((c) => c.conversation.id === b)?.peerDeliveredSeq >= 1;
    });

    const h = await bob.history(peer(a), { limit: 10 });
    assert.deepEqual(
      h.messages.map((x) => x.seq),
      [2, 1],
    );
    assert.equal(h.hasMore, false);
    // Bob's view of alice's receipt message: his own ack state.
    const own = h.messages.find((x) => x.seq === 1).receipt;
    assert.equal(own.delivered, true);
    assert.equal(own.read, true); // bob's reply marked his side read
  });

  test("idempotent resend with the same clientMsgId", async () => {
    const [a, b] = [uid("alice"), uid("bob")];
    const alice = await client(server, a);
    await client(server, b);
    const first = await alice.send(peer(b), "x", { clientMsgId: "same-1" });
    const again = await alice.send(peer(b), "x", { clientMsgId: "same-1" });
    assert.equal(again.msgId, first.msgId);
    assert.equal(again.seq, first.seq);
    await assert.rejects(alice.send(peer(b), "different", { clientMsgId: "same-1" }), (e) => {
      assert.ok(e instanceof SeenError);
      assert.equal(e.code, ErrorCode.Conflict);
      return true;
    });
  });

  test("message.read sends receipt.read; the receipt is done", async () => {
    const [a, b] = [uid("alice"), uid("bob")];
    const alice = await client(server, a);
    const bob = await client(server, b);
    const got = waitFor(bob, "message.new");
    const sent = await alice.send(peer(b), { text: "read me" }, { receipt: true });
    await got;

    const readEv = waitFor(alice, "receipt.read", (e) => e.userId === b);
    assert.equal(await bob.read(peer(a), [sent.msgId]), 1);
    const ev = await readEv;
    assert.deepEqual(ev.msgIds, [sent.msgId]);
    assert.deepEqual(ev.conversation, peer(b));
    assert.equal(await bob.read(peer(a), [sent.msgId]), 0); // idempotent

    const [r] = await alice.queryReceipts(peer(b), [sent.msgId]);
    assert.equal(r.msgId, sent.msgId);
    assert.equal(r.status, "done");
    assert.equal(r.readCount, 1);
    assert.equal(r.unreadCount, 0);
  });

  test("conversation.read reaches the peer; list shows peerReadSeq and unread counts", async () => {
    const [a, b] = [uid("alice"), uid("bob")];
    const alice = await client(server, a);
    const bob = await client(server, b);
    let got = 0;
    const allThree = new Promise((r) => bob.on("message.new", () => ++got === 3 && r()));
    for (const t of ["one", "two", "three"]) await alice.send(peer(b), { text: t });
    await allThree;

    const before = (await bob.conversations()).conversations.find((c) => c.conversation.id === a);
    assert.equal(before.unreadCount, 3);

    const readEv = waitFor(alice, "conversation.read", (e) => e.userId === b);
    assert.equal(await bob.readConversation(peer(a)), 3);
    const ev = await readEv;
    assert.deepEqual(ev.conversation, peer(b));
    assert.equal(ev.seq, 3);

    const mine = (await alice.conversations()).conversations.find((c) => c.conversation.id === b);
    assert.equal(mine.peerReadSeq, 3);
    assert.ok(mine.peerDeliveredSeq >= 3); // a read implies delivered
    const theirs = (await bob.conversations()).conversations.find((c) => c.conversation.id === a);
    assert.equal(theirs.unreadCount, 0);
  });

  test("private reading: settings on the server, settings.changed, private reads tell no sender", async () => {
    const [a, b] = [uid("alice"), uid("bob")];
    const alice = await client(server, a);
    const bob = await client(server, b);
    const bob2 = await client(server, b);
    assert.deepEqual(await bob.settings(), { shareReads: true, shareDelivery: true });
    let got = 0;
    const allThree = new Promise((r) => bob.on("message.new", () => ++got === 3 && r()));
    const sent = [];
    for (const t of ["one", "two", "three"]) sent.push(await alice.send(peer(b), { text: t }, { receipt: true }));
    await allThree;

    // A private read (per call): bob's own unread count drops, alice sees nothing.
    assert.equal(await bob.read(peer(a), [sent[1].msgId], { private: true }), 1);
    // The setting, changed on one device, holds for the other's plain reads.
    const changed = waitFor(bob2, "settings.changed", () => true);
    assert.deepEqual(await bob.updateSettings({ shareReads: false }), { shareReads: false, shareDelivery: true });
    assert.deepEqual(await changed, { shareReads: false, shareDelivery: true });
    assert.equal(await bob2.readConversation(peer(a)), 3);
    const theirs = (await bob.conversations()).conversations.find((c) => c.conversation.id === a);
    assert.equal(theirs.unreadCount, 0);
    const [r] = await alice.queryReceipts(peer(b), [sent[2].msgId]);
    assert.equal(r.readCount, 0);
    const mine = (await alice.conversations()).conversations.find((c) => c.conversation.id === b);
    assert.equal(mine.peerReadSeq, 0);

    // Sharing again reveals nothing; a shared read reveals itself only.
    await bob.updateSettings({ shareReads: true });
    const readEv = waitFor(alice, "receipt.read", (e) => e.userId === b);
    assert.equal(await bob.read(peer(a), [sent[2].msgId]), 1);
    assert.deepEqual((await readEv).msgIds, [sent[2].msgId]);
    const [r0] = await alice.queryReceipts(peer(b), [sent[0].msgId]);
    assert.equal(r0.readCount, 0);
  });

  test("group receipts: receipt.changed counts, reminders, member lists", async () => {
    const [o, m1, m2, m3] = [uid("owner"), uid("m1"), uid("m2"), uid("m3")];
    const owner = await client(server, o);
    const members = [await client(server, m1), await client(server, m2), await client(server, m3)];
    const g = uid("team");
    const joined = waitFor(members[0], "group.member", (e) => e.action === "joined");
    assert.equal(await owner.createGroup(g, [m1, m2, m3], { type: "work" }), g);
    assert.deepEqual((await joined).conversation, group(g));
    const gm = await owner.groupMembers(g);
    assert.deepEqual(gm.members.map((x) => x.userId).sort(), [o, m1, m2, m3].sort());
    assert.equal(gm.members.find((x) => x.userId === o).role, "owner");

    const arrived = members.map((c) => waitFor(c, "message.new", (e) => e.message.conversation.id === g));
    const sent = await owner.send(group(g), { text: "standup at 10" }, { receipt: true });
    await Promise.all(arrived);

    // Deliveries (auto acks) then reads show up in receipt.changed, with exact counts.
    await waitFor(owner, "receipt.changed", (e) => e.receipts.some((r) => r.msgId === sent.msgId && r.deliveredCount === 3));
    const oneRead = waitFor(owner, "receipt.changed", (e) =>
      e.receipts.some((r) => r.msgId === sent.msgId && r.readCount === 1),
    );
    await members[0].read(group(g), [sent.msgId]);
    const ev1 = (await oneRead).receipts.find((r) => r.msgId === sent.msgId);
    assert.equal(ev1.unreadCount, 2);
    assert.equal(ev1.status, "pending");
    assert.deepEqual(ev1.newReaders, [m1]);

    // A reminder reaches only those who have not read it.
    const reminded = [waitFor(members[1], "receipt.requested"), waitFor(members[2], "receipt.requested")];
    let m1Reminded = false;
    members[0].on("receipt.requested", () => (m1Reminded = true));
    await owner.requestReceipt(group(g), sent.msgId);
    const rq = await reminded[0];
    assert.equal(rq.msgId, sent.msgId);
    assert.equal(rq.sender, o);
    await reminded[1];
    assert.equal(m1Reminded, false);

    const twoRead = waitFor(owner, "receipt.changed", (e) =>
      e.receipts.some((r) => r.msgId === sent.msgId && r.readCount === 2),
    );
    await members[1].readConversation(group(g));
    assert.equal((await twoRead).receipts.find((r) => r.msgId === sent.msgId).unreadCount, 1);

    const read = await owner.receiptMembers(group(g), sent.msgId, "read");
    assert.deepEqual(read.members.map((x) => x.userId).sort(), [m1, m2].sort());
    assert.equal(read.done, true);
    const unread = await owner.receiptMembers(group(g), sent.msgId, "unread");
    assert.deepEqual(
      unread.members.map((x) => x.userId),
      [m3],
    );

    const doneEv = waitFor(owner, "receipt.changed", (e) =>
      e.receipts.some((r) => r.msgId === sent.msgId && r.status === "done"),
    );
    await members[2].read(group(g), [sent.msgId]);
    const done = (await doneEv).receipts.find((r) => r.msgId === sent.msgId);
    assert.equal(done.readCount, 3);
    assert.equal(done.unreadCount, 0);

    // Receivers may not query the sender's receipt (visibility: sender).
    await assert.rejects(members[0].queryReceipts(group(g), [sent.msgId]), (e) => e instanceof SeenError && e.code === 403);
  });

  test("receipt.members pages with a cursor", async () => {
    const o = uid("owner");
    const names = Array.from({ length: 7 }, (_, i) => uid(`p${i}`));
    const owner = await client(server, o);
    for (const n of names) await server.token(n); // creates the users; they never connect
    const g = uid("big");
    await owner.createGroup(g, names);
    const sent = await owner.send(group(g), { text: "who reads?" }, { receipt: true });

    const seen = [];
    let cursor;
    let pages = 0;
    for (;;) {
      const page = await owner.receiptMembers(group(g), sent.msgId, "unread", { limit: 3, cursor });
      pages++;
      assert.ok(page.members.length <= 3);
      seen.push(...page.members.map((m) => m.userId));
      if (page.done || !page.nextCursor) break;
      cursor = page.nextCursor;
      assert.ok(pages < 10, "paging does not end");
    }
    assert.ok(pages >= 3);
    assert.deepEqual(seen.slice().sort(), names.slice().sort());
    assert.equal(new Set(seen).size, names.length); // no repeats

    const none = await owner.receiptMembers(group(g), sent.msgId, "read", { limit: 3 });
    assert.deepEqual(none.members, []);
    assert.equal(none.done, true);
  });

  test("errors carry code, message and data", async () => {
    const a = uid("alice");
    const alice = await client(server, a);
    await assert.rejects(alice.send(peer(a), "me"), (e) => {
      assert.ok(e instanceof SeenError);
      assert.equal(e.code, ErrorCode.InvalidParams);
      assert.equal(e.data.field, "conversation.id");
      assert.equal(e.field, "conversation.id");
      assert.equal(e.method, "message.send");
      assert.ok(e.serverMessage.length > 0);
      return true;
    });
    await assert.rejects(alice.history(peer(a), { limit: 1000 }), (e) => e.code === -32602 && e.field === "limit");
    await assert.rejects(alice.send(peer(uid("nobody")), "hi"), (e) => e.code === ErrorCode.NotFound);
    await assert.rejects(alice.call("no.such.method"), (e) => e.code === ErrorCode.MethodNotFound);
    // Pipelined requests are matched by id, whatever the order of the answers.
    const results = await Promise.allSettled([
      alice.conversations({ limit: 1 }),
      alice.send(peer(a), "bad"),
      alice.groupMembers(uid("nogroup")),
      alice.conversations({ limit: 2 }),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["fulfilled", "rejected", "rejected", "fulfilled"],
    );
    assert.equal(results[1].reason.code, -32602);
    assert.ok([403, 404].includes(results[2].reason.code));
  });

  test("a bad token is refused with 401 and no reconnect", async () => {
    const c = new SeenClient({ url: server.wsURL, token: "not-a-token", WebSocket: WebSocketImpl });
    await assert.rejects(c.connect(), (e) => {
      assert.ok(e instanceof SeenError);
      assert.equal(e.code, ErrorCode.Unauthorized);
      return true;
    });
    assert.notEqual(c.state, "open");
    assert.notEqual(c.state, "reconnecting");
    c.close();
    await assert.rejects(c.conversations(), (e) => e instanceof ConnectionError && e.reason === "closed");
  });
});

describe("reconnect", () => {
  const server = new SeenServer();
  before(() => server.start());
  after(async () => {
    for (const c of clients) c.close();
    await server.destroy();
  });

  test("reconnects after the server restarts on the same port and data dir, then re-syncs by state", async () => {
    const [a, b] = [uid("alice"), uid("bob")];
    const alice = await client(server, a, { backoffMinMs: 100, backoffMaxMs: 1000 });
    const bob = await client(server, b, { backoffMinMs: 100, backoffMaxMs: 1000 });
    const got = waitFor(bob, "message.new");
    await alice.send(peer(b), { text: "before" });
    await got;

    const disconnected = waitFor(alice, "disconnect");
    const aliceBack = new Promise((r) => alice.onReconnect(r));
    const bobBack = waitFor(bob, "reconnect");
    await server.stop();
    assert.ok((await disconnected) instanceof ConnectionError);
    assert.equal(alice.state, "reconnecting");
    // A request made while reconnecting waits for the connection.
    const waiting = alice.conversations();
    await server.start();
    const res = await aliceBack;
    assert.equal(res.userId, a);
    await bobBack;
    assert.equal(alice.state, "open");

    const list = await waiting;
    assert.equal(list.conversations.find((c) => c.conversation.id === b).lastSeq, 1);

    // Both ways still work, and the delivery acks too.
    const got2 = waitFor(bob, "message.new");
    const delivered = waitFor(alice, "receipt.delivered", (e) => e.seq === 2);
    const sent = await alice.send(peer(b), { text: "after" });
    assert.equal(sent.seq, 2);
    await got2;
    await delivered;
  });

  test("close() stops for good: no reconnect", async () => {
    const a = uid("alice");
    const alice = await client(server, a, { backoffMinMs: 50, backoffMaxMs: 100 });
    let reconnects = 0;
    alice.onReconnect(() => reconnects++);
    const closed = waitFor(alice, "closed");
    alice.close();
    await closed;
    assert.equal(alice.state, "closed");
    await server.restart();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(reconnects, 0);
    assert.equal(alice.state, "closed");
  });
});

describe("token expiry", () => {
  const server = new SeenServer({ SEEN_TOKEN_SECRET: "sdk-test-secret-0123456789abcdef" });
  before(() => server.start());
  after(() => server.destroy());

  test("getToken keeps the connection past its first token's end; a bare socket is closed with 4001", async () => {
    const a = uid("alice");
    let calls = 0;
    const c = new SeenClient({
      url: server.wsURL,
      WebSocket: WebSocketImpl,
      getToken: async () => {
        calls++;
        return server.mintToken(a, 3);
      },
    });
    clients.push(c);
    let drops = 0;
    c.on("disconnect", () => drops++);
    const res = await c.connect();
    assert.ok(res.expiresAt > Date.now() - 1000, `expiresAt ${res.expiresAt}`);

    // A witness on a token minted no earlier than the client's first one is
    // closed no earlier than that token ran out.
    const witness = new WebSocketImpl(server.wsURL);
    const closed = new Promise((resolve) => {
      witness.onclose = (ev) => resolve(ev);
    });
    witness.onopen = () =>
      witness.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "connect", params: { token: server.mintToken(a, 3) } }));
    const ev = await closed;
    assert.equal(ev.code, CloseCode.TokenExpired);
    assert.equal(ev.reason, "token expired");

    await c.conversations({ limit: 1 });
    assert.equal(drops, 0);
    assert.equal(c.state, "open");
    assert.ok(calls >= 2, `getToken called ${calls} times, want a connect and a refresh`);
    c.close();
  });
});
