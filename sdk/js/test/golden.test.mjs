// The protocol's golden frames (protocol/testdata/frames, which the Go types
// decode and re-encode unchanged) against the SDK:
//  - types: every frame is written into a generated .ts file as a literal of
//    the SDK's type for it (Methods[m].params / .result, ServerEvents[e],
//    WireError) and compiled with tsc --strict: a field the SDK lacks, a
//    missing required one or a wrong type fails; so does a method or event
//    the SDK declares without a golden frame, or one it lacks.
//  - decoding: each event frame goes through the client's frame decoder to
//    its handler, each result frame answers a call, and the error frame
//    rejects one: what comes out re-encodes to the golden JSON.
//  - encoding: each typed method, called with the golden request's values,
//    sends exactly the golden params.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SeenClient, SeenError } from "../dist/seen.js";

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const framesDir = resolve(pkgDir, "..", "..", "protocol", "testdata", "frames");

/** Golden frames by file name: "request.message.send" -> {kind, name, frame, text}. */
const golden = new Map(
  readdirSync(framesDir)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .map((f) => {
      const base = f.slice(0, -".json".length);
      const dot = base.indexOf(".");
      const kind = dot < 0 ? base : base.slice(0, dot);
      const text = readFileSync(join(framesDir, f), "utf8");
      return [base, { kind, name: dot < 0 ? "" : base.slice(dot + 1), frame: JSON.parse(text), text }];
    }),
);
const of = (kind) => [...golden.values()].filter((g) => g.kind === kind);
/** JSON as a plain value: drops undefined, as the wire does. */
const plain = (v) => JSON.parse(JSON.stringify(v));

test("golden frames: there are some of each kind", () => {
  assert.ok(of("request").length >= 16, "requests");
  assert.equal(of("result").length, of("request").length, "a result per request");
  assert.ok(of("event").length >= 7, "events");
  assert.equal(of("error").length, 1, "the error frame");
});

test("golden frames type-check against the SDK's types (tsc --strict)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "seen-golden-"));
  try {
    const src = JSON.stringify(join(pkgDir, "src", "index.js"));
    const lines = [
      `import type { Methods, ServerEvents, WireError } from ${src};`,
      `type Id = number | string;`,
      `type Req<M extends keyof Methods> = { jsonrpc: "2.0"; id: Id; method: M; params: Methods[M]["params"] };`,
      `type Res<M extends keyof Methods> = { jsonrpc: "2.0"; id: Id; result: Methods[M]["result"] };`,
      `type Evt<E extends keyof ServerEvents> = { jsonrpc: "2.0"; method: E; params: ServerEvents[E] };`,
      `type Err = { jsonrpc: "2.0"; id: Id | null; error: WireError };`,
    ];
    const q = JSON.stringify;
    let i = 0;
    for (const [file, g] of golden) {
      const type = { request: `Req<${q(g.name)}>`, result: `Res<${q(g.name)}>`, event: `Evt<${q(g.name)}>`, error: "Err" }[g.kind];
      assert.ok(type, `${file}: unknown kind ${g.kind}`);
      lines.push(`// ${file}.json`, `export const f${i++}: ${type} = ${JSON.stringify(g.frame, null, 2)};`);
    }
    // Both ways: every method and event the SDK declares has a golden frame.
    const union = (xs) => xs.map((g) => q(g.name)).join(" | ") || "never";
    lines.push(
      `type NoFrame<K, Covered> = [Exclude<K, Covered>] extends [never] ? true : Exclude<K, Covered>;`,
      `export const everyMethodHasFrames: NoFrame<keyof Methods, ${union(of("request"))}> = true;`,
      `export const everyEventHasAFrame: NoFrame<keyof ServerEvents, ${union(of("event"))}> = true;`,
    );
    writeFileSync(join(dir, "frames.ts"), lines.join("\n") + "\n");
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2020",
          module: "ESNext",
          moduleResolution: "bundler",
          lib: ["ES2020", "DOM"],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
        },
        files: ["frames.ts"],
      }),
    );
    const tsc = join(pkgDir, "node_modules", "typescript", "bin", "tsc");
    try {
      await promisify(execFile)(process.execPath, [tsc, "-p", dir]);
    } catch (e) {
      assert.fail(`the golden frames do not type-check against src/types.ts:\n${e.stdout}${e.stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * A fake socket: answers connect, then each request with the golden result
 * of its method (or, for methods in failWith, the golden error frame), and
 * records what the client sent.
 */
function goldenSocket(sent, failWith = new Set()) {
  return class GoldenWS {
    constructor() {
      this.readyState = 0;
      GoldenWS.last = this;
      setTimeout(() => {
        this.readyState = 1;
        this.onopen?.({});
      }, 0);
    }
    send(text) {
      const f = JSON.parse(text);
      sent.push(f);
      const answer = failWith.has(f.method) ? golden.get("error").frame : golden.get(`result.${f.method}`)?.frame;
      assert.ok(answer, `no golden result for ${f.method}`);
      setTimeout(() => this.onmessage?.({ data: JSON.stringify({ ...answer, id: f.id }) }), 0);
    }
    close() {
      this.readyState = 3;
    }
  };
}

/** Calls each method through the SDK's typed API with the golden request's values. */
const typedCall = {
  "connect.refresh": (c, p) => c.refreshToken(p.token),
  "message.send": (c, p) => c.send(p.conversation, p.body, { receipt: p.receipt, clientMsgId: p.clientMsgId, remindAfterMs: p.remindAfterMs }),
  "message.history": (c, p) => c.history(p.conversation, { beforeSeq: p.beforeSeq, limit: p.limit }),
  "message.delivered": (c, p) => c.delivered(p.conversation, p.seq),
  "message.read": (c, p) => c.read(p.conversation, p.msgIds),
  "conversation.read": (c, p) => c.readConversation(p.conversation, p.seq),
  "conversation.list": (c, p) => c.conversations({ limit: p.limit, cursor: p.cursor }),
  "receipt.request": (c, p) => c.requestReceipt(p.conversation, p.msgId, { remindAfterMs: p.remindAfterMs }),
  "receipt.query": (c, p) => c.queryReceipts(p.conversation, p.msgIds),
  "receipt.members": (c, p) => c.receiptMembers(p.conversation, p.msgId, p.filter, { cursor: p.cursor, limit: p.limit }),
  "group.create": (c, p) => c.createGroup(p.groupId, p.members, { type: p.type }),
  "group.add": (c, p) => c.addMembers(p.groupId, p.userIds),
  "group.remove": (c, p) => c.removeMembers(p.groupId, p.userIds),
  "group.leave": (c, p) => c.leaveGroup(p.groupId),
  "group.members": (c, p) => c.groupMembers(p.groupId, { cursor: p.cursor, limit: p.limit }),
  "settings.get": (c) => c.settings(),
  "settings.update": (c, p) => c.updateSettings(p),
};

async function connected(sent, failWith) {
  const connect = golden.get("request.connect").frame.params;
  const WS = goldenSocket(sent, failWith);
  const c = new SeenClient({
    url: "ws://golden/v1/ws",
    token: connect.token,
    device: connect.device,
    WebSocket: WS,
    autoDelivered: false,
    reconnect: false,
  });
  const res = await c.connect();
  assert.deepEqual(plain(res), golden.get("result.connect").frame.result, "connect's result");
  assert.deepEqual(sent[0].params, connect, "connect's params");
  c.socket = WS.last;
  return c;
}

test("golden requests: each typed method sends the golden params; each result decodes unchanged", async () => {
  const sent = [];
  const c = await connected(sent);
  try {
    for (const g of of("request")) {
      if (g.name === "connect") continue; // sent by connect() above
      const call = typedCall[g.name];
      assert.ok(call, `the SDK has no typed method for ${g.name} in this test's table`);
      const n = sent.length;
      await call(c, g.frame.params);
      assert.equal(sent.length, n + 1, `${g.name}: one frame sent`);
      const f = sent[n];
      assert.equal(f.method, g.name);
      assert.deepEqual(f.params, g.frame.params, `${g.name}: params as the golden request`);
      // The raw decode path: call() resolves with the result as it came.
      const raw = await c.call(g.name, g.frame.params);
      assert.deepEqual(plain(raw), golden.get(`result.${g.name}`).frame.result, `${g.name}: result`);
    }
  } finally {
    c.close();
  }
});

test("golden events reach their handlers unchanged", async () => {
  const c = await connected([]);
  try {
    for (const g of of("event")) {
      let got;
      const off = c.on(g.name, (p) => (got = p));
      let raw;
      const offRaw = c.on("event", (e) => (raw = e));
      // Through the client's own frame decoder: the socket's onmessage.
      c.socket.onmessage({ data: g.text });
      off();
      offRaw();
      assert.deepEqual(plain(got), g.frame.params, `${g.name}: handler payload`);
      assert.deepEqual(plain(raw), { method: g.name, params: g.frame.params }, `${g.name}: raw event`);
    }
  } finally {
    c.close();
  }
});

test("the golden error frame rejects with a SeenError carrying it", async () => {
  const e = golden.get("error").frame.error;
  const c = await connected([], new Set(["message.send"]));
  try {
    const p = golden.get("request.message.send").frame.params;
    await assert.rejects(c.send(p.conversation, p.body), (err) => {
      assert.ok(err instanceof SeenError);
      assert.deepEqual({ code: err.code, message: err.serverMessage, data: err.data }, e);
      assert.equal(err.field, e.data.field);
      return true;
    });
  } finally {
    c.close();
  }
});
