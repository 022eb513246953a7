// The Seen browser demo: a small chat app on the TypeScript SDK (seen.js,
// built from sdk/js). State lives here; the server is the truth, and the app
// re-syncs by state after every reconnect.
import { SeenClient, SeenError, conversationKey } from "./seen.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// Page size of the member lists; ?pageSize=1 shows the "more" paging with few members.
const PAGE = Math.max(1, Math.min(100, Number(params.get("pageSize")) || 20));
const ID_RE = /^[A-Za-z0-9_.@-]{1,64}$/;

const state = {
  me: "",
  client: null,
  convs: new Map(), // key -> {conversation, lastSeq, lastMessage, unreadCount, readSeq, peerReadSeq, peerDeliveredSeq, reminded}
  messages: new Map(), // key -> Map(seq -> message), plus pending sends by clientMsgId
  pending: new Map(), // key -> [{clientMsgId, body, receipt, failed}]
  receipts: new Map(), // msgId -> Receipt (own receipt messages)
  readByPeer: new Set(), // msgIds reported by receipt.read
  open: null, // key of the open conversation
  panel: null, // {conv, msgId, cursors}
  expiryTimers: new Map(),
};

// ---------- join ----------

async function join(name) {
  const r = await fetch("/v1/demo/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ userId: name }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const msg = body?.error?.message || `HTTP ${r.status}`;
    throw new Error(r.status === 404 ? "Demo mode is off on this server (SEEN_DEMO=off)." : msg);
  }
  return body;
}

function showJoinError(text) {
  const e = $("join-error");
  e.textContent = text;
  e.hidden = !text;
}

$("join").querySelector("form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = $("join-name").value.trim();
  if (!ID_RE.test(name)) return showJoinError("Use 1-64 letters, digits or _ . @ -");
  showJoinError("");
  $("join").querySelector("button").disabled = true;
  try {
    const tok = await join(name);
    // sessionStorage: each window or tab can be a different user.
    sessionStorage.setItem("seen.session", JSON.stringify(tok));
    await start(tok);
  } catch (err) {
    showJoinError(err.message);
  } finally {
    $("join").querySelector("button").disabled = false;
  }
});

$("logout").addEventListener("click", () => {
  sessionStorage.removeItem("seen.session");
  location.reload();
});

async function start(tok) {
  state.me = tok.userId;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`;
  const client = new SeenClient({ url, token: tok.token, device: undefined });
  state.client = client;
  wireEvents(client);
  setConn("connecting");
  await client.connect();
  setConn("open");
  $("join").hidden = true;
  $("app").hidden = false;
  $("me-name").textContent = state.me;
  paintAvatar($("me-avatar"), state.me);
  document.title = `${state.me} — Seen`;
  await loadConversations();
  const want = sessionStorage.getItem("seen.open");
  if (want && state.convs.has(want)) openConversation(state.convs.get(want).conversation);
  render();
}

function setConn(s) {
  const el = $("conn");
  el.dataset.state = s;
  el.textContent = { open: "online", connecting: "connecting", reconnecting: "reconnecting…", closed: "offline" }[s] || s;
}

// ---------- server events ----------

function wireEvents(c) {
  c.on("message.new", ({ message: m }) => {
    const key = conversationKey(m.conversation);
    const conv = ensureConv(m.conversation);
    addMessage(key, m);
    if (m.seq > conv.lastSeq) {
      conv.lastSeq = m.seq;
      conv.lastMessage = m;
    }
    if (m.sender === state.me) {
      conv.readSeq = Math.max(conv.readSeq, m.seq); // sending marks read
    } else if (isViewing(key)) {
      markRead(key);
    } else {
      conv.unreadCount = Math.max(0, conv.lastSeq - conv.readSeq);
    }
    render();
  });

  c.on("receipt.delivered", (e) => {
    const conv = ensureConv(e.conversation);
    conv.peerDeliveredSeq = Math.max(conv.peerDeliveredSeq || 0, e.seq);
    render();
  });

  c.on("conversation.read", (e) => {
    const conv = ensureConv(e.conversation);
    if (e.userId === state.me) {
      // Another device of mine read it.
      conv.readSeq = Math.max(conv.readSeq, e.seq);
      conv.unreadCount = Math.max(0, conv.lastSeq - conv.readSeq);
    } else {
      conv.peerReadSeq = Math.max(conv.peerReadSeq || 0, e.seq);
      conv.peerDeliveredSeq = Math.max(conv.peerDeliveredSeq || 0, e.seq);
    }
    render();
  });

  c.on("receipt.read", (e) => {
    for (const id of e.msgIds) state.readByPeer.add(id);
    render();
  });

  c.on("receipt.changed", (e) => {
    for (const r of e.receipts) setReceipt(r);
    render();
    if (state.panel && e.receipts.some((r) => r.msgId === state.panel.msgId)) refreshPanel();
  });

  c.on("receipt.requested", (e) => {
    const key = conversationKey(e.conversation);
    const conv = ensureConv(e.conversation);
    if (isViewing(key)) {
      markRead(key);
    } else {
      conv.reminded = true;
      toast(`${e.sender} asks you to read a message in ${e.conversation.id}`);
    }
    render();
  });

  c.on("group.member", (e) => {
    ensureConv(e.conversation);
    if (e.userId === state.me && (e.action === "left" || e.action === "removed")) {
      state.convs.delete(conversationKey(e.conversation));
      if (state.open === conversationKey(e.conversation)) closeConversation();
    } else if (e.userId === state.me && e.action === "joined" && e.by !== state.me) {
      toast(`${e.by} added you to ${e.conversation.id}`);
    }
    render();
  });

  c.on("disconnect", () => setConn("reconnecting"));
  c.onReconnect(async () => {
    setConn("open");
    await resync();
  });
  c.on("closed", (err) => {
    setConn("closed");
    if (err instanceof SeenError && err.code === 401) {
      sessionStorage.removeItem("seen.session");
      toast("Your demo session expired: join again.");
      setTimeout(() => location.reload(), 1500);
    }
  });
  document.addEventListener("visibilitychange", () => {
    if (state.open && isViewing(state.open)) markRead(state.open);
  });
}

/** After a reconnect: the server does not replay, so fetch the current truth. */
async function resync() {
  await loadConversations();
  if (state.open) await loadHistory(state.open);
  render();
}

// ---------- model ----------

function ensureConv(conversation) {
  const key = conversationKey(conversation);
  let c = state.convs.get(key);
  if (!c) {
    c = {
      conversation: { type: conversation.type, id: conversation.id },
      lastSeq: 0,
      lastMessage: null,
      unreadCount: 0,
      readSeq: 0,
      peerReadSeq: 0,
      peerDeliveredSeq: 0,
      reminded: false,
    };
    state.convs.set(key, c);
  }
  return c;
}

function addMessage(key, m) {
  let msgs = state.messages.get(key);
  if (!msgs) state.messages.set(key, (msgs = new Map()));
  msgs.set(m.seq, m);
  if (m.sender === state.me && m.receipt && "status" in m.receipt) setReceipt(m.receipt);
}

function setReceipt(r) {
  const old = state.receipts.get(r.msgId);
  state.receipts.set(r.msgId, { ...old, ...r });
  if (r.status === "pending" && r.expiresAt && !state.expiryTimers.has(r.msgId)) {
    // Expiry sends no event: ask again once the window has closed.
    const wait = Math.max(0, r.expiresAt - state.client.serverNow()) + 300;
    state.expiryTimers.set(
      r.msgId,
      setTimeout(() => requery(r.msgId), Math.min(wait, 2 ** 31 - 1)),
    );
  }
}

async function requery(msgId) {
  state.expiryTimers.delete(msgId);
  for (const [key, msgs] of state.messages) {
    for (const m of msgs.values()) {
      if (m.msgId !== msgId) continue;
      try {
        const [r] = await state.client.queryReceipts(m.conversation, [msgId]);
        setReceipt(r);
        render();
        if (state.panel?.msgId === msgId) refreshPanel();
      } catch (err) {
        console.warn("receipt.query", key, err);
      }
      return;
    }
  }
}

async function loadConversations() {
  let cursor;
  const seen = new Set();
  do {
    const page = await state.client.conversations({ limit: 100, cursor });
    for (const info of page.conversations) {
      const key = conversationKey(info.conversation);
      seen.add(key);
      const c = ensureConv(info.conversation);
      Object.assign(c, {
        lastSeq: info.lastSeq,
        lastMessage: info.lastMessage || null,
        unreadCount: info.unreadCount,
        readSeq: info.readSeq,
        peerReadSeq: info.peerReadSeq || 0,
        peerDeliveredSeq: info.peerDeliveredSeq || 0,
      });
      if (info.lastMessage) addMessage(key, info.lastMessage);
      // Messages that came while this device was away arrive with no
      // message.new: ack their delivery now.
      if (info.unreadCount > 0) state.client.markDelivered(info.conversation, info.lastSeq);
    }
    cursor = page.nextCursor;
  } while (cursor);
  // Conversations the server no longer lists (left, removed) go; ones opened locally and still empty stay.
  for (const [key, c] of state.convs) if (!seen.has(key) && c.lastSeq > 0) state.convs.delete(key);
}

async function loadHistory(key, beforeSeq) {
  const conv = state.convs.get(key);
  const h = await state.client.history(conv.conversation, { limit: 50, beforeSeq });
  for (const m of h.messages) addMessage(key, m);
  conv.hasMore = h.hasMore;
  // Fresh counts of my receipt messages (events are at most once).
  const mine = h.messages.filter((m) => m.sender === state.me && m.receipt).map((m) => m.msgId);
  if (mine.length) {
    for (const r of await state.client.queryReceipts(conv.conversation, mine)) setReceipt(r);
  }
  return h;
}

function isViewing(key) {
  return state.open === key && document.visibilityState === "visible";
}

let reading = new Map();
/** Marks the open conversation read up to its latest message (conversation.read). */
function markRead(key) {
  const conv = state.convs.get(key);
  if (!conv || conv.lastSeq <= conv.readSeq) return;
  const upTo = conv.lastSeq;
  conv.readSeq = upTo;
  conv.unreadCount = 0;
  conv.reminded = false;
  if (reading.get(key) >= upTo) return;
  reading.set(key, upTo);
  state.client.readConversation(conv.conversation, upTo).catch((err) => console.warn("conversation.read", err));
}

// ---------- actions ----------

async function openConversation(conversation) {
  const key = conversationKey(conversation);
  ensureConv(conversation);
  state.open = key;
  sessionStorage.setItem("seen.open", key);
  document.body.classList.add("chatting");
  render();
  try {
    await loadHistory(key);
  } catch (err) {
    if (err instanceof SeenError && (err.code === 404 || err.code === 403)) {
      state.convs.delete(key);
      closeConversation();
      sideError(err.code === 404 ? `No user or group called "${conversation.id}".` : `You are not a member of ${conversation.id}.`);
      return;
    }
    throw err;
  }
  const conv = state.convs.get(key);
  if (conv) conv.lastSeq = Math.max(conv.lastSeq, ...[...(state.messages.get(key)?.keys() ?? [])], 0);
  if (isViewing(key)) markRead(key);
  render();
  scrollToBottom();
  $("compose").focus();
}

function closeConversation() {
  state.open = null;
  sessionStorage.removeItem("seen.open");
  document.body.classList.remove("chatting");
  render();
}

$("back").addEventListener("click", closeConversation);

function sideError(text) {
  const e = $("side-error");
  e.textContent = text || "";
  e.hidden = !text;
}

$("new-peer-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const name = $("new-peer").value.trim();
  sideError("");
  if (!ID_RE.test(name)) return sideError("A user name is 1-64 letters, digits or _ . @ -");
  if (name === state.me) return sideError("That is you: pick someone else.");
  $("new-peer").value = "";
  openConversation({ type: "peer", id: name });
});

$("new-group-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  sideError("");
  const id = $("new-group-id").value.trim();
  const members = $("new-group-members")
    .value.split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter((s) => s && s !== state.me);
  if (!ID_RE.test(id)) return sideError("A group name is 1-64 letters, digits or _ . @ -");
  if (!members.length || !members.every((m) => ID_RE.test(m))) return sideError("List members by user name, e.g. bob, carol");
  try {
    await state.client.createGroup(id, [...new Set(members)]);
  } catch (err) {
    return sideError(err instanceof SeenError ? `Could not create the group: ${err.serverMessage}` : String(err));
  }
  $("new-group-id").value = "";
  $("new-group-members").value = "";
  $("new-group").open = false;
  openConversation({ type: "group", id });
});

$("composer").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const key = state.open;
  const text = $("compose").value.trim();
  if (!key || !text) return;
  $("compose").value = "";
  const conv = state.convs.get(key);
  const receipt = $("want-receipt").checked;
  await sendMessage(key, { text }, receipt);
});

async function sendMessage(key, body, receipt, clientMsgId) {
  const conv = state.convs.get(key);
  const list = state.pending.get(key) || [];
  state.pending.set(key, list);
  let p = list.find((x) => x.clientMsgId === clientMsgId);
  if (!p) {
    p = { clientMsgId: clientMsgId || crypto.getRandomValues(new Uint32Array(4)).join("-"), body, receipt, failed: false };
    list.push(p);
  }
  p.failed = false;
  render();
  scrollToBottom();
  try {
    const res = await state.client.send(conv.conversation, body, { receipt, clientMsgId: p.clientMsgId });
    const m = {
      msgId: res.msgId,
      seq: res.seq,
      conversation: conv.conversation,
      sender: state.me,
      body,
      sentAt: res.sentAt,
    };
    if (receipt) {
      const unread = conv.conversation.type === "peer" ? 1 : undefined;
      m.receipt = state.receipts.get(res.msgId) || { msgId: res.msgId, status: "pending", readCount: 0, unreadCount: unread ?? 0, deliveredCount: 0 };
    }
    list.splice(list.indexOf(p), 1);
    addMessage(key, m);
    if (res.seq > conv.lastSeq) {
      conv.lastSeq = res.seq;
      conv.lastMessage = m;
    }
    conv.readSeq = Math.max(conv.readSeq, res.seq);
    if (receipt && conv.conversation.type === "group") {
      // The exact counts and window of a fresh group message.
      state.client.queryReceipts(conv.conversation, [res.msgId]).then((rs) => {
        rs.forEach(setReceipt);
        render();
      }, () => {});
    }
  } catch (err) {
    p.failed = true;
    p.error = err instanceof SeenError ? err.serverMessage : "not sent";
  }
  render();
  scrollToBottom();
}

// ---------- receipt panel ----------

async function openPanel(conversation, msgId) {
  state.panel = { conversation, msgId };
  const m = findMessage(msgId);
  $("panel-quote").textContent = m ? bodyText(m.body) : "";
  $("remind-note").textContent = "";
  $("panel-wrap").hidden = false;
  document.body.classList.add("panel-open");
  await refreshPanel();
}

function closePanel() {
  state.panel = null;
  $("panel-wrap").hidden = true;
  document.body.classList.remove("panel-open");
}
$("panel-close").addEventListener("click", closePanel);
$("panel-wrap").addEventListener("click", (ev) => {
  if (ev.target === $("panel-wrap")) closePanel();
});
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && state.panel) closePanel();
});

async function refreshPanel() {
  const p = state.panel;
  if (!p) return;
  const token = (p.token = (p.token || 0) + 1);
  const r = state.receipts.get(p.msgId);
  paintPanelStatus(r);
  const [read, unread] = await Promise.all([
    state.client.receiptMembers(p.conversation, p.msgId, "read", { limit: PAGE }),
    state.client.receiptMembers(p.conversation, p.msgId, "unread", { limit: PAGE }),
  ]).catch((err) => {
    $("panel-status").textContent = err instanceof SeenError ? err.serverMessage : String(err);
    return [null, null];
  });
  if (!read || state.panel !== p || p.token !== token) return;
  fillList("read", read, true);
  fillList("unread", unread, true);
}

function fillList(filter, page, reset) {
  const ul = $(`${filter}-list`);
  if (reset) ul.textContent = "";
  for (const mem of page.members) {
    const li = document.createElement("li");
    li.dataset.testid = "member-item";
    li.dataset.user = mem.userId;
    const av = document.createElement("span");
    av.className = "avatar small";
    paintAvatar(av, mem.userId);
    const name = document.createElement("span");
    name.className = "member-name";
    name.textContent = mem.userId;
    li.append(av, name);
    if (mem.at) {
      const at = document.createElement("span");
      at.className = "muted small";
      at.textContent = clock(mem.at);
      li.append(at);
    }
    ul.append(li);
  }
  if (reset && !page.members.length) {
    const li = document.createElement("li");
    li.className = "muted small none";
    li.textContent = filter === "read" ? "Nobody yet" : "Everyone has read it";
    ul.append(li);
  }
  const more = $(`${filter}-more`);
  state.panel[`${filter}Cursor`] = page.done ? null : page.nextCursor;
  more.hidden = page.done || !page.nextCursor;
}

for (const filter of ["read", "unread"]) {
  $(`${filter}-more`).addEventListener("click", async () => {
    const p = state.panel;
    const cursor = p?.[`${filter}Cursor`];
    if (!cursor) return;
    const page = await state.client.receiptMembers(p.conversation, p.msgId, filter, { limit: PAGE, cursor });
    if (state.panel === p) fillList(filter, page, false);
  });
}

function paintPanelStatus(r) {
  const status = $("panel-status");
  const remind = $("remind");
  if (!r) {
    status.textContent = "";
    return;
  }
  $("read-count").textContent = r.readCount;
  $("unread-count").textContent = r.unreadCount;
  status.dataset.status = r.status;
  status.textContent =
    r.status === "expired"
      ? `Receipt expired${r.expiresAt ? " at " + clock(r.expiresAt) : ""}: counts are frozen. ${r.readCount} read · ${r.unreadCount} unread.`
      : r.status === "done"
        ? `Read by everyone (${r.readCount}).`
        : `${r.readCount} read · ${r.unreadCount} unread · ${r.deliveredCount} delivered${r.expiresAt ? " · expires " + clock(r.expiresAt) : ""}`;
  remind.disabled = r.status !== "pending" || r.unreadCount === 0;
}

$("remind").addEventListener("click", async () => {
  const p = state.panel;
  if (!p) return;
  $("remind").disabled = true;
  try {
    await state.client.requestReceipt(p.conversation, p.msgId);
    $("remind-note").textContent = "Reminder sent to those who have not read it.";
  } catch (err) {
    $("remind-note").textContent = err instanceof SeenError ? `Could not remind: ${err.serverMessage}` : String(err);
    if (err instanceof SeenError && err.code === 410) requery(p.msgId);
  } finally {
    paintPanelStatus(state.receipts.get(p.msgId));
  }
});

// ---------- rendering ----------

function bodyText(body) {
  if (body && typeof body === "object" && typeof body.text === "string") return body.text;
  return typeof body === "string" ? body : JSON.stringify(body);
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function findMessage(msgId) {
  for (const msgs of state.messages.values()) for (const m of msgs.values()) if (m.msgId === msgId) return m;
  return null;
}

const COLORS = ["#5b8def", "#e7864a", "#3fae7a", "#b765d8", "#d6546b", "#2fa6b5", "#c59a2b", "#6c7bd1"];
function paintAvatar(el, name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  el.style.background = COLORS[h % COLORS.length];
  el.textContent = (name[0] || "?").toUpperCase();
}

function render() {
  renderConversations();
  renderChat();
}

function renderConversations() {
  const ul = $("convs");
  const convs = [...state.convs.values()].sort(
    (a, b) => (b.lastMessage?.sentAt || Infinity) - (a.lastMessage?.sentAt || Infinity) || a.conversation.id.localeCompare(b.conversation.id),
  );
  $("convs-empty").hidden = convs.length > 0;
  ul.textContent = "";
  for (const c of convs) {
    const key = conversationKey(c.conversation);
    const li = document.createElement("li");
    li.className = "conv" + (key === state.open ? " active" : "");
    li.dataset.testid = "conv-item";
    li.dataset.conv = key;
    li.tabIndex = 0;
    li.setAttribute("role", "button");
    const av = document.createElement("span");
    av.className = "avatar" + (c.conversation.type === "group" ? " group" : "");
    paintAvatar(av, c.conversation.id);
    if (c.conversation.type === "group") av.textContent = "#";
    const mid = document.createElement("div");
    mid.className = "conv-mid";
    const name = document.createElement("strong");
    name.textContent = c.conversation.id;
    name.dataset.testid = "conv-name";
    const last = document.createElement("span");
    last.className = "muted small last";
    if (c.lastMessage) {
      const who = c.lastMessage.sender === state.me ? "You" : c.conversation.type === "group" ? c.lastMessage.sender : "";
      last.textContent = (who ? who + ": " : "") + bodyText(c.lastMessage.body);
    } else {
      last.textContent = c.conversation.type === "group" ? "group" : "new chat";
    }
    mid.append(name, last);
    li.append(av, mid);
    const right = document.createElement("div");
    right.className = "conv-right";
    if (c.reminded) {
      const b = document.createElement("span");
      b.className = "remind-mark";
      b.dataset.testid = "remind-marker";
      b.title = "Someone asked you to read a message";
      b.textContent = "reminder";
      right.append(b);
    }
    if (c.unreadCount > 0 && key !== state.open) {
      const b = document.createElement("span");
      b.className = "badge";
      b.dataset.testid = "unread-badge";
      b.textContent = c.unreadCount > 99 ? "99+" : String(c.unreadCount);
      right.append(b);
    }
    li.append(right);
    const open = () => openConversation(c.conversation);
    li.addEventListener("click", open);
    li.addEventListener("keydown", (ev) => ev.key === "Enter" && open());
    ul.append(li);
  }
}

/** Peer tick state of my message at seq: sent, delivered or read. */
function peerTick(conv, m) {
  if (conv.peerReadSeq >= m.seq || state.readByPeer.has(m.msgId) || state.receipts.get(m.msgId)?.status === "done") return "read";
  if (conv.peerDeliveredSeq >= m.seq) return "delivered";
  return "sent";
}

function renderChat() {
  const key = state.open;
  const conv = key && state.convs.get(key);
  $("chat-empty").hidden = !!conv;
  $("chat-head").hidden = !conv;
  $("composer").hidden = !conv;
  const ol = $("messages");
  if (!conv) {
    ol.textContent = "";
    return;
  }
  const isGroup = conv.conversation.type === "group";
  $("chat-title").textContent = conv.conversation.id;
  $("chat-sub").textContent = isGroup ? "group" : "direct chat";
  paintAvatar($("chat-avatar"), conv.conversation.id);
  if (isGroup) $("chat-avatar").textContent = "#";
  $("chat-avatar").className = "avatar" + (isGroup ? " group" : "");

  const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
  const prevTop = ol.scrollTop;
  ol.textContent = "";
  if (conv.hasMore) {
    const li = document.createElement("li");
    li.className = "older";
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link small";
    b.dataset.testid = "load-older";
    b.textContent = "earlier messages";
    b.addEventListener("click", async () => {
      const first = msgs[0];
      await loadHistory(key, first ? first.seq : undefined);
      render();
    });
    li.append(b);
    ol.append(li);
  }
  const msgs = [...(state.messages.get(key)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
  if (!msgs.length && !(state.pending.get(key) || []).length) {
    const li = document.createElement("li");
    li.className = "muted small none";
    li.textContent = "No messages yet. Say hello!";
    ol.append(li);
  }
  for (const m of msgs) ol.append(renderMessage(conv, m, isGroup));
  for (const p of state.pending.get(key) || []) ol.append(renderPending(key, p));
  if (atBottom) scrollToBottom();
  else ol.scrollTop = prevTop;
}

function renderMessage(conv, m, isGroup) {
  const mine = m.sender === state.me;
  const li = document.createElement("li");
  li.className = "msg " + (mine ? "mine" : "theirs");
  li.dataset.testid = "message";
  li.dataset.msgid = m.msgId;
  li.dataset.seq = m.seq;
  li.dataset.mine = mine;
  if (isGroup && !mine) {
    const who = document.createElement("span");
    who.className = "sender";
    who.textContent = m.sender;
    li.append(who);
  }
  const text = document.createElement("span");
  text.className = "text";
  text.dataset.testid = "message-text";
  text.textContent = bodyText(m.body);
  li.append(text);
  const meta = document.createElement("span");
  meta.className = "meta";
  const time = document.createElement("span");
  time.textContent = clock(m.sentAt);
  meta.append(time);
  if (mine && !isGroup) {
    const t = peerTick(conv, m);
    const ticks = document.createElement("span");
    ticks.className = `ticks ${t}`;
    ticks.dataset.testid = "ticks";
    ticks.dataset.state = t;
    ticks.title = t;
    ticks.setAttribute("aria-label", t);
    ticks.textContent = t === "sent" ? "✓" : "✓✓";
    meta.append(ticks);
  }
  li.append(meta);
  if (mine && isGroup) {
    const r = state.receipts.get(m.msgId);
    if (r && r.status !== "none") {
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = `receipt-summary ${r.status}`;
      btn.dataset.testid = "receipt-summary";
      btn.dataset.read = r.readCount;
      btn.dataset.unread = r.unreadCount;
      btn.dataset.status = r.status;
      btn.textContent = `${r.readCount} read · ${r.unreadCount} unread`;
      btn.title = "Who has read it";
      btn.addEventListener("click", () => openPanel(conv.conversation, m.msgId));
      li.append(btn);
      if (r.status === "expired" || r.status === "done") {
        const s = document.createElement("span");
        s.className = `receipt-status ${r.status}`;
        s.dataset.testid = "receipt-status";
        s.textContent = r.status === "expired" ? "receipt expired" : "read by all";
        li.append(s);
      }
    } else if (m.receipt === undefined) {
      const ask = document.createElement("button");
      ask.type = "button";
      ask.className = "link small ask";
      ask.dataset.testid = "request-receipt";
      ask.textContent = "ask for read receipts";
      ask.addEventListener("click", async () => {
        try {
          await state.client.requestReceipt(conv.conversation, m.msgId);
          m.receipt = { msgId: m.msgId, status: "pending", readCount: 0, unreadCount: 0, deliveredCount: 0 };
          const [r2] = await state.client.queryReceipts(conv.conversation, [m.msgId]);
          setReceipt(r2);
          render();
        } catch (err) {
          toast(err instanceof SeenError ? err.serverMessage : String(err));
        }
      });
      li.append(ask);
    }
  }
  return li;
}

function renderPending(key, p) {
  const li = document.createElement("li");
  li.className = "msg mine pending" + (p.failed ? " failed" : "");
  li.dataset.testid = "message-pending";
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = bodyText(p.body);
  const meta = document.createElement("span");
  meta.className = "meta";
  if (p.failed) {
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "link small";
    retry.textContent = `${p.error} · retry`;
    retry.addEventListener("click", () => sendMessage(key, p.body, p.receipt, p.clientMsgId));
    meta.append(retry);
  } else {
    meta.textContent = "sending…";
  }
  li.append(text, meta);
  return li;
}

function scrollToBottom() {
  const ol = $("messages");
  ol.scrollTop = ol.scrollHeight;
}

let toastTimer;
function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 4000);
}

// ---------- boot ----------

const saved = sessionStorage.getItem("seen.session");
if (saved) {
  try {
    const tok = JSON.parse(saved);
    if (tok.expiresAt > Date.now() + 60000) {
      start(tok).catch(() => {
        sessionStorage.removeItem("seen.session");
        $("join").hidden = false;
        $("app").hidden = true;
      });
    } else sessionStorage.removeItem("seen.session");
  } catch {
    sessionStorage.removeItem("seen.session");
  }
}
