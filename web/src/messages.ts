// The open conversation: its header and its message list, keyed by msgId
// (sent messages) and by clientMsgId (sends on their way). A row is built
// once when its message first shows; events then patch only its ticks or
// its receipt summary. Switching conversations starts a fresh list.
import type { Conversation, Message, Receipt } from "../../sdk/js/src/index.js";
import { bodyText, button, byId, clock, h, paintAvatar, placeChildren, setClass, setData, setHidden, setText } from "./dom.js";
import type { ConvState, DemoState, PendingSend, Tick } from "./state.js";

export interface ChatActions {
  openPanel(conversation: Conversation, msgId: string): void;
  askReceipts(conversation: Conversation, msgId: string): void;
  loadOlder(key: string): void;
  retry(key: string, p: PendingSend): void;
}

export class ChatView {
  private readonly ol = byId("messages");
  private readonly empty = byId("chat-empty");
  private readonly head = byId("chat-head");
  private readonly composer = byId("composer");
  private readonly title = byId("chat-title");
  private readonly sub = byId("chat-sub");
  private readonly avatar = byId("chat-avatar");
  private readonly rows = new Map<string, MessageRow>();
  private readonly pendingRows = new Map<string, PendingRow>();
  private readonly older: HTMLLIElement;
  private readonly none = h("li", { className: "muted small none", text: "No messages yet. Say hello!" });
  /** The conversation the rows belong to. */
  private shown: string | null = null;

  constructor(private readonly actions: ChatActions) {
    this.older = h(
      "li",
      { className: "older" },
      button({ className: "link small", testid: "load-older", text: "earlier messages" }, () => this.shown && this.actions.loadOlder(this.shown)),
    );
  }

  update(state: DemoState): void {
    const key = state.open;
    const conv = key ? state.convs.get(key) : undefined;
    setHidden(this.empty, !!conv);
    setHidden(this.head, !conv);
    setHidden(this.composer, !conv);
    if (key !== this.shown) {
      this.rows.clear();
      this.pendingRows.clear();
      this.ol.textContent = "";
      this.shown = key;
    }
    if (!key || !conv) return;

    const group = conv.conversation.type === "group";
    setText(this.title, conv.conversation.id);
    setText(this.sub, group ? "group" : "direct chat");
    paintAvatar(this.avatar, conv.conversation.id, group);

    const atBottom = this.ol.scrollHeight - this.ol.scrollTop - this.ol.clientHeight < 40;
    const nodes: Node[] = [];
    if (conv.hasMore) nodes.push(this.older);
    const msgs = state.sortedMessages(key);
    const pending = state.pending.get(key) ?? [];
    if (!msgs.length && !pending.length) nodes.push(this.none);

    const live = new Set<string>();
    for (const m of msgs) {
      live.add(m.msgId);
      let row = this.rows.get(m.msgId);
      if (!row) this.rows.set(m.msgId, (row = new MessageRow(m, m.sender === state.me, group, this.actions)));
      row.update(rowState(state, conv, m));
      nodes.push(row.li);
    }
    for (const id of this.rows.keys()) if (!live.has(id)) this.rows.delete(id);

    const livePending = new Set<string>();
    for (const p of pending) {
      livePending.add(p.clientMsgId);
      let row = this.pendingRows.get(p.clientMsgId);
      if (!row) this.pendingRows.set(p.clientMsgId, (row = new PendingRow(key, p, this.actions)));
      row.update(p);
      nodes.push(row.li);
    }
    for (const id of this.pendingRows.keys()) if (!livePending.has(id)) this.pendingRows.delete(id);

    placeChildren(this.ol, nodes);
    if (atBottom) this.scrollToBottom();
  }

  scrollToBottom(): void {
    this.ol.scrollTop = this.ol.scrollHeight;
  }
}

/** What of a message can change after it shows. */
interface RowState {
  /** Own peer message: its tick. */
  tick?: Tick;
  /** Own group message: its receipt, if asked for. */
  receipt?: Receipt;
  /** Own group message sent without receipts: it can still ask for them. */
  askable: boolean;
}

function rowState(state: DemoState, conv: ConvState, m: Message): RowState {
  if (m.sender !== state.me) return { askable: false };
  if (conv.conversation.type === "peer") return { tick: state.peerTick(conv, m), askable: false };
  const r = state.receipts.get(m.msgId);
  if (r && r.status !== "none") return { receipt: r, askable: false };
  return { askable: m.receipt === undefined };
}

class MessageRow {
  readonly li: HTMLLIElement;
  private readonly meta: HTMLElement;
  /** Sender, text and meta: the part of the row that never changes. */
  private readonly fixed: Element[];
  private ticks: HTMLElement | null = null;
  private summary: HTMLButtonElement | null = null;
  private status: HTMLElement | null = null;
  private ask: HTMLButtonElement | null = null;

  constructor(
    private readonly m: Message,
    mine: boolean,
    group: boolean,
    private readonly actions: ChatActions,
  ) {
    this.li = h("li", { className: "msg " + (mine ? "mine" : "theirs"), testid: "message" });
    this.li.dataset["msgid"] = m.msgId;
    this.li.dataset["seq"] = String(m.seq);
    this.li.dataset["mine"] = String(mine);
    this.meta = h("span", { className: "meta" }, h("span", { text: clock(m.sentAt) }));
    const text = h("span", { className: "text", testid: "message-text", text: bodyText(m.body) });
    this.fixed = group && !mine ? [h("span", { className: "sender", text: m.sender }), text, this.meta] : [text, this.meta];
    this.li.append(...this.fixed);
  }

  update(s: RowState): void {
    if (s.tick) {
      this.ticks ??= this.meta.appendChild(h("span", { testid: "ticks" }));
      setClass(this.ticks, `ticks ${s.tick}`);
      setData(this.ticks, "state", s.tick);
      this.ticks.title = s.tick;
      this.ticks.setAttribute("aria-label", s.tick);
      setText(this.ticks, s.tick === "sent" ? "✓" : "✓✓");
    }

    const r = s.receipt;
    if (r) {
      this.summary ??= button({ testid: "receipt-summary", title: "Who has read it" }, () => this.actions.openPanel(this.m.conversation, this.m.msgId));
      setClass(this.summary, `receipt-summary ${r.status}`);
      setData(this.summary, "read", String(r.readCount));
      setData(this.summary, "unread", String(r.unreadCount));
      setData(this.summary, "status", r.status);
      setText(this.summary, `${r.readCount} read · ${r.unreadCount} unread`);
    } else {
      this.summary = null;
    }
    if (r && (r.status === "expired" || r.status === "done")) {
      this.status ??= h("span", { testid: "receipt-status" });
      setClass(this.status, `receipt-status ${r.status}`);
      setText(this.status, r.status === "expired" ? "receipt expired" : "read by all");
    } else {
      this.status = null;
    }
    if (s.askable) {
      this.ask ??= button({ className: "link small ask", testid: "request-receipt", text: "ask for read receipts" }, () =>
        this.actions.askReceipts(this.m.conversation, this.m.msgId),
      );
    } else {
      this.ask = null;
    }
    placeChildren(this.li, [...this.fixed, this.summary, this.status, this.ask].filter((n): n is Element => n !== null));
  }
}

class PendingRow {
  readonly li: HTMLLIElement;
  private readonly meta = h("span", { className: "meta" });
  private readonly retry: HTMLButtonElement;
  private readonly sending = document.createTextNode("sending…");

  constructor(key: string, p: PendingSend, actions: ChatActions) {
    this.li = h("li", { testid: "message-pending" }, h("span", { className: "text", text: bodyText(p.body) }), this.meta);
    this.retry = button({ className: "link small" }, () => actions.retry(key, p));
  }

  update(p: PendingSend): void {
    setClass(this.li, "msg mine pending" + (p.failed ? " failed" : ""));
    if (p.failed) setText(this.retry, `${p.error} · retry`);
    placeChildren(this.meta, [p.failed ? this.retry : this.sending]);
  }
}
