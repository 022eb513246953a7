// Browser tests of the demo (web/static) on a real `seen serve`, driven by
// playwright-core through Debian's chromium. Each user is its own browser
// context. Screenshots of every step go to web/test/artifacts/.
// Run: npm test (SEEN_BIN may name a prebuilt server binary;
// UPDATE_DOCS_SCREENSHOT=1 also writes docs/demo.png).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { SeenServer } from "../../sdk/js/test/server.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, "artifacts");
const docsShot = join(here, "..", "..", "docs", "demo.png");
mkdirSync(artifacts, { recursive: true });

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
const WAIT = 20000; // generous: waits end as soon as the DOM state shows

let browser;
before(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
});
after(async () => {
  await browser?.close();
});

let shotNo = 0;
async function shot(page, name) {
  const n = String(++shotNo).padStart(2, "0");
  await page.screenshot({ path: join(artifacts, `${n}-${name}.png`) });
}

/** Opens the demo in a fresh context and joins as name. */
async function joinAs(server, name, { viewport = { width: 1100, height: 720 }, query = "?pageSize=1" } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on("pageerror", (err) => console.error(`[${name}] page error:`, err));
  await page.goto(server.http + "/" + query);
  await page.getByTestId("join-name").fill(name);
  await page.getByTestId("join-button").click();
  await page.locator(`[data-testid=me]:text-is("${name}")`).waitFor({ timeout: WAIT });
  await page.locator('[data-testid=conn-status][data-state=open]').waitFor({ timeout: WAIT });
  return page;
}

const conv = (page, key) => page.locator(`[data-testid=conv-item][data-conv="${key}"]`);
const lastMine = (page) => page.locator('[data-testid=message][data-mine=true]').last();

async function send(page, text, { receipt = false } = {}) {
  const toggle = page.getByTestId("receipt-toggle");
  if ((await toggle.isChecked()) !== receipt) await toggle.setChecked(receipt);
  await page.getByTestId("compose-input").fill(text);
  await page.getByTestId("send-button").click();
  await page
    .locator(`[data-testid=message][data-mine=true]`, { hasText: text })
    .waitFor({ timeout: WAIT });
}

async function startPeer(page, name) {
  await page.getByTestId("new-peer").fill(name);
  await page.getByTestId("start-peer").click();
  await page.locator(`[data-testid=chat-title]:text-is("${name}")`).waitFor({ timeout: WAIT });
}

async function createGroup(page, id, members) {
  await page.getByTestId("new-group-toggle").click();
  await page.getByTestId("new-group-id").fill(id);
  await page.getByTestId("new-group-members").fill(members.join(", "));
  await page.getByTestId("create-group").click();
  await page.locator(`[data-testid=chat-title]:text-is("${id}")`).waitFor({ timeout: WAIT });
}

/** Waits for the summary of the sender's last own message to show these counts. */
async function waitCounts(page, read, unread) {
  await lastMine(page)
    .locator(`[data-testid=receipt-summary][data-read="${read}"][data-unread="${unread}"]`)
    .waitFor({ timeout: WAIT });
  assert.equal(
    await lastMine(page).getByTestId("receipt-summary").textContent(),
    `${read} read · ${unread} unread`,
  );
}

async function listNames(page, testid) {
  return page.locator(`[data-testid=${testid}] [data-testid=member-item]`).evaluateAll((els) => els.map((e) => e.dataset.user));
}

describe("demo in the browser", () => {
  test("peer chat: one tick sent, two ticks delivered, two blue ticks read; unread badge", async () => {
    const server = await new SeenServer().start();
    try {
      const carol = await joinAs(server, "carol");
      await carol.context().close(); // carol exists but is offline
      const alice = await joinAs(server, "alice");
      const bob = await joinAs(server, "bob");
      await shot(alice, "peer-joined");

      // Offline peer: one tick.
      await startPeer(alice, "carol");
      await send(alice, "are you there, carol?");
      const carolTicks = lastMine(alice).getByTestId("ticks");
      await lastMine(alice).locator("[data-testid=ticks][data-state=sent]").waitFor({ timeout: WAIT });
      assert.equal(await carolTicks.textContent(), "✓");
      await shot(alice, "peer-sent-one-tick");

      // Online peer who has not opened the chat: delivered (his SDK acks by itself).
      await startPeer(alice, "bob");
      await send(alice, "hi bob");
      const ticks = lastMine(alice).getByTestId("ticks");
      await lastMine(alice).locator("[data-testid=ticks][data-state=delivered]").waitFor({ timeout: WAIT });
      assert.equal(await ticks.textContent(), "✓✓");
      await shot(alice, "peer-delivered-two-ticks");

      // Bob sees an unread badge, opens the chat: alice's ticks turn blue.
      await conv(bob, "peer:alice").getByTestId("unread-badge").filter({ hasText: "1" }).waitFor({ timeout: WAIT });
      await shot(bob, "peer-unread-badge");
      await conv(bob, "peer:alice").click();
      await bob.locator("[data-testid=message-text]", { hasText: "hi bob" }).waitFor({ timeout: WAIT });
      await lastMine(alice).locator("[data-testid=ticks][data-state=read]").waitFor({ timeout: WAIT });
      await conv(bob, "peer:alice").getByTestId("unread-badge").waitFor({ state: "detached", timeout: WAIT });
      await shot(alice, "peer-read-blue-ticks");

      // Replies go both ways; alice has the chat open, so bob's reply is read at once.
      await send(bob, "hey alice!");
      await alice.locator("[data-testid=message-text]", { hasText: "hey alice!" }).waitFor({ timeout: WAIT });
      await lastMine(bob).locator("[data-testid=ticks][data-state=read]").waitFor({ timeout: WAIT });
      await shot(bob, "peer-reply-read");

      // Carol comes online later and opens the chat: delivered, then read.
      const carol2 = await joinAs(server, "carol");
      await conv(carol2, "peer:alice").getByTestId("unread-badge").waitFor({ timeout: WAIT });
      await conv(alice, "peer:carol").click();
      await lastMine(alice).locator("[data-testid=ticks][data-state=delivered]").waitFor({ timeout: WAIT });
      await conv(carol2, "peer:alice").click();
      await lastMine(alice).locator("[data-testid=ticks][data-state=read]").waitFor({ timeout: WAIT });
      await shot(alice, "peer-offline-peer-read");
    } finally {
      await server.destroy();
    }
  });

  test("group: live read/unread counts, member lists with paging, remind", async () => {
    const server = await new SeenServer().start();
    try {
      await server.token("dan"); // members who never come online
      await server.token("erin");
      const alice = await joinAs(server, "alice");
      const bob = await joinAs(server, "bob");
      const carol = await joinAs(server, "carol");

      await createGroup(alice, "team", ["bob", "carol", "dan", "erin"]);
      await send(alice, "Standup moves to 10:30 tomorrow", { receipt: true });
      await waitCounts(alice, 0, 4);
      await shot(alice, "group-sent-0-read");

      // Bob opens the group: 1 read.
      await conv(bob, "group:team").getByTestId("unread-badge").waitFor({ timeout: WAIT });
      await conv(bob, "group:team").click();
      await bob.locator("[data-testid=message-text]", { hasText: "Standup moves" }).waitFor({ timeout: WAIT });
      await waitCounts(alice, 1, 3);
      await shot(alice, "group-1-read");

      // Alice opens the member lists (page size 1 here: "more" pages).
      await lastMine(alice).getByTestId("receipt-summary").click();
      const panel = alice.getByTestId("receipt-panel");
      await panel.waitFor({ timeout: WAIT });
      await alice.locator('[data-testid=read-list] [data-testid=member-item][data-user=bob]').waitFor({ timeout: WAIT });
      assert.deepEqual(await listNames(alice, "read-list"), ["bob"]);
      await alice.locator('[data-testid=unread-list] [data-testid=member-item]').first().waitFor({ timeout: WAIT });
      assert.equal((await listNames(alice, "unread-list")).length, 1);
      await alice.getByTestId("unread-more").click();
      await alice.locator('[data-testid=unread-list] [data-testid=member-item]').nth(1).waitFor({ timeout: WAIT });
      await alice.getByTestId("unread-more").click();
      await alice.locator('[data-testid=unread-list] [data-testid=member-item]').nth(2).waitFor({ timeout: WAIT });
      await alice.getByTestId("unread-more").waitFor({ state: "hidden", timeout: WAIT });
      assert.deepEqual((await listNames(alice, "unread-list")).sort(), ["carol", "dan", "erin"]);
      await shot(alice, "group-member-lists");

      // Remind: carol (online, unread) gets the reminder; bob (read) does not.
      await alice.getByTestId("remind-button").click();
      await alice.getByTestId("remind-note").filter({ hasText: "Reminder sent" }).waitFor({ timeout: WAIT });
      await conv(carol, "group:team").getByTestId("remind-marker").waitFor({ timeout: WAIT });
      await shot(carol, "group-reminded");
      assert.equal(await conv(bob, "group:team").getByTestId("remind-marker").count(), 0);

      // Carol opens the group: the open panel and the counts update live.
      await conv(carol, "group:team").click();
      await alice.locator('[data-testid=read-list] [data-testid=member-item][data-user=carol]').or(
        alice.locator('[data-testid=read-list] [data-testid=member-item][data-user=bob]'),
      ).first().waitFor({ timeout: WAIT });
      await alice.getByTestId("read-count").filter({ hasText: "2" }).waitFor({ timeout: WAIT });
      await alice.getByTestId("read-more").click();
      await alice.locator('[data-testid=read-list] [data-testid=member-item]').nth(1).waitFor({ timeout: WAIT });
      assert.deepEqual((await listNames(alice, "read-list")).sort(), ["bob", "carol"]);
      assert.equal(await conv(carol, "group:team").getByTestId("remind-marker").count(), 0);
      await shot(alice, "group-panel-live");
      await alice.getByTestId("panel-close").click();
      await waitCounts(alice, 2, 2);
      await shot(alice, "group-2-read");

      // A second message without receipts shows no counts; bob replies in the group.
      await send(bob, "works for me");
      await alice.locator(".msg.theirs", { hasText: "works for me" }).waitFor({ timeout: WAIT });
      await shot(alice, "group-reply");
    } finally {
      await server.destroy();
    }
  });

  test("read privately: the sender's ticks and counts do not move while the reader's unread badge clears", async () => {
    const server = await new SeenServer().start();
    try {
      const alice = await joinAs(server, "alice");
      const bob = await joinAs(server, "bob");
      const carol = await joinAs(server, "carol");
      // Bob reads privately: a setting kept by the server.
      await bob.getByTestId("private-toggle").check();
      await bob.waitForFunction(() => document.getElementById("read-privately").checked);

      // Group: bob reads privately, then carol reads. Alice's counts, computed
      // after carol's read, show carol alone: bob's read was never counted.
      await createGroup(alice, "crew", ["bob", "carol"]);
      await send(alice, "Who has read this?", { receipt: true });
      await waitCounts(alice, 0, 2);
      await conv(bob, "group:crew").getByTestId("unread-badge").waitFor({ timeout: WAIT });
      await conv(bob, "group:crew").click();
      await bob.locator("[data-testid=message-text]", { hasText: "Who has read this?" }).waitFor({ timeout: WAIT });
      await conv(bob, "group:crew").getByTestId("unread-badge").waitFor({ state: "detached", timeout: WAIT });
      await shot(bob, "private-group-badge-cleared");
      await conv(carol, "group:crew").click();
      await waitCounts(alice, 1, 1);
      await lastMine(alice).getByTestId("receipt-summary").click();
      await alice.locator('[data-testid=read-list] [data-testid=member-item][data-user=carol]').waitFor({ timeout: WAIT });
      await alice.locator('[data-testid=unread-list] [data-testid=member-item][data-user=bob]').waitFor({ timeout: WAIT });
      await shot(alice, "private-group-bob-unread");
      await alice.getByTestId("panel-close").click();

      // Peer: alice's ticks stay at delivered while bob's badge clears.
      await startPeer(alice, "bob");
      await send(alice, "psst, bob");
      await lastMine(alice).locator("[data-testid=ticks][data-state=delivered]").waitFor({ timeout: WAIT });
      await conv(bob, "peer:alice").getByTestId("unread-badge").filter({ hasText: "1" }).waitFor({ timeout: WAIT });
      await conv(bob, "peer:alice").click();
      await bob.locator("[data-testid=message-text]", { hasText: "psst, bob" }).waitFor({ timeout: WAIT });
      await conv(bob, "peer:alice").getByTestId("unread-badge").waitFor({ state: "detached", timeout: WAIT });
      await shot(bob, "private-peer-badge-cleared");
      // Bob switches sharing back on: that reveals nothing either.
      await bob.getByTestId("private-toggle").uncheck();
      await bob.waitForFunction(() => !document.getElementById("read-privately").checked);
      // Alice's window re-syncs from the server: still delivered, not read.
      await alice.reload();
      await alice.locator('[data-testid=conn-status][data-state=open]').waitFor({ timeout: WAIT });
      await conv(alice, "peer:bob").click();
      await lastMine(alice).locator("[data-testid=ticks][data-state=delivered]").waitFor({ timeout: WAIT });
      assert.equal(await lastMine(alice).getByTestId("ticks").getAttribute("data-state"), "delivered");
      await shot(alice, "private-peer-ticks-still-delivered");
    } finally {
      await server.destroy();
    }
  });

  test("group: the receipt shows as expired when its window closes", async () => {
    const server = await new SeenServer({ SEEN_RECEIPTS_TTL: "3s" }).start();
    try {
      const alice = await joinAs(server, "alice");
      const bob = await joinAs(server, "bob");
      await server.token("carol");
      await createGroup(alice, "crew", ["bob", "carol"]);
      await send(alice, "Please confirm by Friday", { receipt: true });
      await waitCounts(alice, 0, 2);
      await conv(bob, "group:crew").click();
      await waitCounts(alice, 1, 1);
      await lastMine(alice).locator('[data-testid=receipt-status]:text-is("receipt expired")').waitFor({ timeout: WAIT });
      await waitCounts(alice, 1, 1); // frozen as they stood
      await lastMine(alice).getByTestId("receipt-summary").click();
      await alice.locator('[data-testid=panel-status][data-status=expired]').waitFor({ timeout: WAIT });
      assert.ok(await alice.getByTestId("remind-button").isDisabled());
      await shot(alice, "group-expired");
    } finally {
      await server.destroy();
    }
  });

  test("reconnects after a server restart and re-syncs by state", async () => {
    const server = await new SeenServer().start();
    try {
      const alice = await joinAs(server, "alice");
      const bob = await joinAs(server, "bob");
      await startPeer(alice, "bob");
      await send(alice, "before the restart");
      await server.stop();
      await alice.locator("[data-testid=conn-status][data-state=reconnecting]").waitFor({ timeout: WAIT });
      await shot(alice, "reconnecting");
      await server.start();
      await alice.locator("[data-testid=conn-status][data-state=open]").waitFor({ timeout: 60000 });
      await bob.locator("[data-testid=conn-status][data-state=open]").waitFor({ timeout: 60000 });
      await send(alice, "after the restart");
      await conv(bob, "peer:alice").getByTestId("unread-badge").filter({ hasText: "2" }).waitFor({ timeout: WAIT });
      await conv(bob, "peer:alice").click();
      await lastMine(alice).locator("[data-testid=ticks][data-state=read]").waitFor({ timeout: WAIT });
      await shot(alice, "reconnected");
    } finally {
      await server.destroy();
    }
  });

  test("keyed updates: rows stay the same DOM nodes while ticks, counts and order change", async () => {
    const server = await new SeenServer().start();
    try {
      await server.token("carol");
      const alice = await joinAs(server, "alice");
      const bob = await joinAs(server, "bob");
      // Marks a node with a property only that very node carries: a row
      // rebuilt from scratch would come back without it.
      const mark = (loc, tag) => loc.evaluate((el, t) => (el.seenMark = t), tag);
      const marked = (loc) => loc.evaluate((el) => el.seenMark ?? null);

      // Peer: the ticks of one message go sent/delivered -> read in place.
      await startPeer(alice, "bob");
      await send(alice, "keyed hello");
      const hello = alice.locator("[data-testid=message][data-mine=true]", { hasText: "keyed hello" });
      await mark(hello, "hello");
      await mark(conv(alice, "peer:bob"), "peer-row");
      await conv(bob, "peer:alice").click();
      await hello.locator("[data-testid=ticks][data-state=read]").waitFor({ timeout: WAIT });
      assert.equal(await marked(hello), "hello");

      // Group: counts change, a later message is appended, the list reorders.
      await createGroup(alice, "keys", ["bob", "carol"]);
      await send(alice, "keyed group note", { receipt: true });
      await waitCounts(alice, 0, 2);
      const note = lastMine(alice);
      await mark(note, "note");
      await conv(bob, "group:keys").click();
      await waitCounts(alice, 1, 1);
      assert.equal(await marked(note), "note");
      await send(alice, "keyed second");
      await send(bob, "keyed reply");
      await alice.locator(".msg.theirs", { hasText: "keyed reply" }).waitFor({ timeout: WAIT });
      assert.equal(await marked(alice.locator("[data-testid=message]", { hasText: "keyed group note" })), "note");
      // A reply in the peer chat moves its row to the top: the same node, moved.
      await conv(bob, "peer:alice").click();
      await send(bob, "back in the peer chat");
      await conv(alice, "peer:bob").locator(".last", { hasText: "back in the peer chat" }).waitFor({ timeout: WAIT });
      assert.equal(await alice.locator("[data-testid=conv-item]").first().getAttribute("data-conv"), "peer:bob");
      assert.equal(await marked(conv(alice, "peer:bob")), "peer-row");
      await shot(alice, "keyed-updates");
    } finally {
      await server.destroy();
    }
  });

  test("earlier messages: history pages in above the rows already shown", async () => {
    const server = await new SeenServer().start();
    try {
      await (await joinAs(server, "alice")).context().close(); // alice is away: the messages come by history
      const bob = await joinAs(server, "bob");
      // 55 messages from bob, over a bare socket of his (the demo loads 50 per page).
      await bob.evaluate(async (n) => {
        const r = await fetch("/v1/demo/token", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ userId: "bob" }),
        });
        const { token } = await r.json();
        const ws = new WebSocket(`ws://${location.host}/v1/ws`);
        const answers = new Map();
        ws.onmessage = (ev) => {
          const f = JSON.parse(ev.data);
          answers.get(f.id)?.(f);
        };
        await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
        let id = 0;
        const call = (method, params) =>
          new Promise((resolve, reject) => {
            answers.set(++id, (f) => (f.error ? reject(new Error(JSON.stringify(f.error))) : resolve(f.result)));
            ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
          });
        await call("connect", { token });
        for (let i = 1; i <= n; i++) {
          await call("message.send", { conversation: { type: "peer", id: "alice" }, clientMsgId: `old-${i}`, body: { text: `old ${i}` } });
        }
        ws.close();
      }, 55);
      const alice = await joinAs(server, "alice");
      await conv(alice, "peer:bob").getByTestId("unread-badge").filter({ hasText: "55" }).waitFor({ timeout: WAIT });
      await conv(alice, "peer:bob").click();
      const text = (t) => alice.locator("[data-testid=message-text]").getByText(t, { exact: true });
      await text("old 55").waitFor({ timeout: WAIT });
      assert.equal(await alice.getByTestId("message").count(), 50);
      assert.equal(await text("old 5").count(), 0);
      const newest = alice.locator("[data-testid=message]").last();
      await newest.evaluate((el) => (el.seenMark = "newest"));
      await alice.getByTestId("load-older").click();
      await text("old 1").waitFor({ timeout: WAIT });
      await alice.getByTestId("load-older").waitFor({ state: "detached", timeout: WAIT });
      assert.equal(await alice.getByTestId("message").count(), 55);
      const order = await alice.locator("[data-testid=message]").evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
      assert.deepEqual(order, Array.from({ length: 55 }, (_, i) => i + 1));
      assert.equal(await alice.locator("[data-testid=message]").last().evaluate((el) => el.seenMark ?? null), "newest");
      await shot(alice, "earlier-messages");
    } finally {
      await server.destroy();
    }
  });

  test("phone layout, and the README screenshot", async () => {
    const server = await new SeenServer().start();
    try {
      for (const u of ["dan", "erin"]) await server.token(u);
      const alice = await joinAs(server, "alice", { viewport: { width: 1200, height: 760 }, query: "" });
      const bob = await joinAs(server, "bob", { query: "" });
      const carol = await joinAs(server, "carol", { query: "" });

      await startPeer(alice, "bob");
      await send(alice, "Lunch at 12?");
      await conv(bob, "peer:alice").click();
      await send(bob, "Sure, see you there");
      await lastMine(alice).locator("[data-testid=ticks][data-state=read]").waitFor({ timeout: WAIT });

      await createGroup(alice, "design-team", ["bob", "carol", "dan", "erin"]);
      await send(alice, "New mockups are in the shared folder");
      await conv(bob, "group:design-team").click();
      await send(bob, "Looking now");
      await send(alice, "Please review the launch checklist before Friday", { receipt: true });
      await conv(bob, "group:design-team").click();
      await conv(carol, "group:design-team").click();
      await waitCounts(alice, 2, 2);
      await lastMine(alice).getByTestId("receipt-summary").click();
      await alice.locator('[data-testid=read-list] [data-testid=member-item]').nth(1).waitFor({ timeout: WAIT });
      await alice.locator('[data-testid=unread-list] [data-testid=member-item]').nth(1).waitFor({ timeout: WAIT });
      await alice.mouse.move(0, 0);
      await shot(alice, "readme");
      // UPDATE_DOCS_SCREENSHOT=1 npm test refreshes the README's picture.
      if (process.env.UPDATE_DOCS_SCREENSHOT === "1") await alice.screenshot({ path: docsShot });

      // The same app on a phone: the list, then one conversation.
      const phone = await joinAs(server, "carol", { viewport: { width: 390, height: 760 }, query: "" });
      await shot(phone, "phone-list");
      await conv(phone, "group:design-team").click();
      await phone.getByTestId("back-button").waitFor({ timeout: WAIT });
      assert.ok(await phone.getByTestId("compose-input").isVisible());
      assert.ok(!(await phone.getByTestId("sidebar").isVisible()));
      await shot(phone, "phone-chat");
    } finally {
      await server.destroy();
    }
  });
});
