// Browser test of SEEN_ALLOWED_ORIGINS: a page served from another origin
// (a small HTTP server on another loopback port, as an app's dev server or
// its own domain would be) loads the SDK bundle and connects to a real
// `seen serve`. Allowed, it connects; not allowed (the default, or a
// pattern that does not match), the server refuses the WebSocket handshake.
// Run: npm test, or node --test origins.test.mjs (SEEN_BIN may name a
// prebuilt server binary).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { chromium } from "playwright-core";
import { SeenServer } from "../../sdk/js/test/server.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>an app on its own origin</title>
<script type="module">
  import * as Seen from "/seen.js";
  window.Seen = Seen;
  document.title = "ready";
</script>`;

/**
 * Serves PAGE and the SDK bundle (taken from the seen server once, as an
 * app would ship its own copy) on 127.0.0.1 and a port of its own: another
 * origin than the seen server's.
 */
async function startAppOrigin(bundle) {
  const srv = createServer((req, res) => {
    if (req.url === "/") {
      res.writeHead(200, { "Content-Type": "text/html" }).end(PAGE);
    } else if (req.url === "/seen.js") {
      res.writeHead(200, { "Content-Type": "text/javascript" }).end(bundle);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return {
    host: `127.0.0.1:${srv.address().port}`,
    url: `http://127.0.0.1:${srv.address().port}/`,
    close: () => new Promise((r) => srv.close(r)),
  };
}

/** Opens the app page and tries to connect to server as userId; returns what the SDK said. */
async function tryConnect(app, server, userId) {
  const token = await server.token(userId);
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    await page.goto(app.url);
    await page.waitForFunction(() => document.title === "ready");
    assert.equal(await page.evaluate(() => location.origin), `http://${app.host}`);
    return await page.evaluate(
      async ({ url, token }) => {
        const c = new window.Seen.SeenClient({ url, token });
        try {
          const r = await c.connect();
          return { ok: true, userId: r.userId };
        } catch (e) {
          return { ok: false, name: e.name, message: e.message };
        } finally {
          c.close();
        }
      },
      { url: server.wsURL, token },
    );
  } finally {
    await context.close();
  }
}

let browser;
let app;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  // Any server serves the same bundle; take it from one.
  const s = await new SeenServer().start();
  try {
    const r = await fetch(`${s.http}/seen.js`);
    assert.ok(r.ok, `GET /seen.js: ${r.status}`);
    app = await startAppOrigin(await r.text());
  } finally {
    await s.destroy();
  }
});
after(async () => {
  await app?.close();
  await browser?.close();
});

/** Runs fn against a server started with env, logging at debug so that a refusal shows why. */
async function withServer(env, fn) {
  const server = await new SeenServer({ SEEN_LOG_LEVEL: "debug", ...env }).start();
  try {
    await fn(server);
  } finally {
    await server.destroy();
  }
}

describe("allowed origins in the browser", () => {
  test("a page on an allowed origin connects", async () => {
    await withServer({ SEEN_ALLOWED_ORIGINS: `app.example.com, ${app.host}` }, async (server) => {
      const r = await tryConnect(app, server, "alice");
      assert.deepEqual(r, { ok: true, userId: "alice" });
    });
  });

  test("a wildcard pattern allows every port of a host", async () => {
    await withServer({ SEEN_ALLOWED_ORIGINS: "127.0.0.1:*" }, async (server) => {
      const r = await tryConnect(app, server, "bob");
      assert.deepEqual(r, { ok: true, userId: "bob" });
    });
  });

  for (const [name, env] of [
    ["by default (same host only)", {}],
    ["by a pattern that does not match", { SEEN_ALLOWED_ORIGINS: "*.example.com,localhost:5173" }],
  ]) {
    test(`a page on another origin is refused ${name}`, async () => {
      await withServer(env, async (server) => {
        const r = await tryConnect(app, server, "mallory");
        assert.equal(r.ok, false, `connected: ${JSON.stringify(r)}`);
        assert.equal(r.name, "ConnectionError", JSON.stringify(r));
        // The refusal is the origin check's, not some other failure.
        assert.match(server.log, new RegExp(`request Origin \\\\?"${app.host.replaceAll(".", "\\.")}\\\\?" is not authorized`));
      });
    });
  }
});
