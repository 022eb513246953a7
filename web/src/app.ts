// The demo's controller: it turns server events and user actions into changes
// of the state, and asks the views to show them. The server is the truth:
// after every reconnect the app re-syncs by state (conversation.list,
// message.history, receipt.query), since the server does not replay.
import { SeenClient, SeenError, conversationKey } from "../../sdk/js/src/index.js";
import type { Conversation, Message, Receipt } from "../../sdk/js/src/index.js";
import { ConversationList } from "./conversations.js";
import { byId, paintAvatar, toast } from "./dom.js";
import { forgetSession } from "./join.js";
import { ChatView } from "./messages.js";
import { ReceiptPanel } from "./panel.js";
import { initSidebar, sideError } from "./sidebar.js";
import { DemoState } from "./state.js";
import type { PendingSend } from "./state.js";

type Conn = "open" | "connecting" | "reconnecting" | "closed";
const CONN_TEXT: Record<Conn, string> = { open: "online", connecting: "connecting", reconnecting: "reconnecting…", closed: "offline" };

export class DemoApp {
  readonly state: DemoState;
  private readonly convList: ConversationList;
  private readonly chat: ChatView;
  private readonly panel: ReceiptPanel;
  private readonly expiryTimers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Per conversation: the highest seq a conversation.read was sent for. */
  private readonly reading = new Map<string, number>();

  constructor(
    private readonly client: SeenClient,
    me: string,
    pageSize: number,
  ) {
    this.state = new DemoState(me);
    this.convList = new ConversationList(byId("convs"), byId("convs-empty"), (c) => void this.openConversation(c));
    this.chat = new ChatView({
      openPanel: (c, msgId) => void this.panel.open(c, msgId),
      askReceipts: (c, msgId) => void this.askReceipts(c, msgId),
      loadOlder: (key) => void this.loadOlder(key),
      retry: (key, p) => void this.sendMessage(key, p.body, p.receipt, p.clientMsgId),
    });
    this.panel = new ReceiptPanel({ client, state: this.state, pageSize, requery: (id) => void this.requery(id) });
    initSidebar({
      me,
      open: (c) => void this.openConversation(c),
      createGroup: async (id, members) => {
        try {
          await client.createGroup(id, members);
        } catch (err) {
          throw new Error(err instanceof SeenError ? `Could not create the group: ${err.serverMessage}` : String(err));
        }
      },
    });
    byId("back").addEventListener("click", () => this.closeConversation());
    byId("composer").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = byId<HTMLInputElement>("compose");
      const text = input.value.trim();
      const key = this.state.open;
      if (!key || !text) return;
      input.value = "";
      void this.sendMessage(key, { text }, byId<HTMLInputElement>("want-receipt").checked);
    });
    // "Read privately" is the user's shareReads setting, kept by the server:
    // it holds for every device, and senders' ticks no longer move while
    // this user's own unread badges still clear.
    const priv = byId<HTMLInputElement>("read-privately");
    priv.addEventListener("change", () => {
      client
        .updateSettings({ shareReads: !priv.checked })
        .then((st) => (priv.checked = !st.shareReads))
        .catch((err) => {
          priv.checked = !priv.checked;
          toast(`Could not change the setting: ${err instanceof SeenError ? err.serverMessage : String(err)}`);
        });
    });
    this.wireEvents();
  }

  /** Shows the server's settings (after connecting, and after a reconnect). */
  private async loadSettings(): Promise<void> {
    const st = await this.client.settings();
    byId<HTMLInputElement>("read-privately").checked = !st.shareReads;
  }

  /** Connects, shows the app, loads the conversations and reopens the one this tab had open. */
  async start(): Promise<void> {
    this.setConn("connecting");
    await this.client.connect();
    this.setConn("open");
    byId("join").hidden = true;
    byId("app").hidden = false;
    byId("me-name").textContent = this.state.me;
    paintAvatar(byId("me-avatar"), this.state.me);
    document.title = `${this.state.me} — Seen`;
    // The app is usable from here on: the user may open a conversation
    // before the list has loaded, and that choice wins over the saved one.
    const want = sessionStorage.getItem("seen.open");
    await this.loadSettings();
    await this.loadConversations();
    const conv = want && !this.state.open ? this.state.convs.get(want) : undefined;
    if (conv) void this.openConversation(conv.conversation);
    this.render();
  }

  render(): void {
    this.convList.update(this.state);
    this.chat.update(this.state);
  }

  private setConn(s: Conn): void {
    const el = byId("conn");
    el.dataset["state"] = s;
    el.textContent = CONN_TEXT[s];
  }

  private wireEvents(): void {
    const c = this.client;
    const st = this.state;
    c.on("message.new", ({ message: m }) => {
      const key = conversationKey(m.conversation);
      const conv = st.ensureConv(m.conversation);
      this.addMessage(key, m);
      if (m.seq > conv.lastSeq) {
        conv.lastSeq = m.seq;
        conv.lastMessage = m;
      }
      if (m.sender === st.me) conv.readSeq = Math.max(conv.readSeq, m.seq); // sending marks read
      else if (this.isViewing(key)) this.markRead(key);
      else conv.unreadCount = Math.max(0, conv.lastSeq - conv.readSeq);
      this.render();
    });
    c.on("receipt.delivered", (e) => {
      const conv = st.ensureConv(e.conversation);
      conv.peerDeliveredSeq = Math.max(conv.peerDeliveredSeq, e.seq);
      this.render();
    });
    c.on("conversation.read", (e) => {
      const conv = st.ensureConv(e.conversation);
      if (e.userId === st.me) {
        // Another device of mine read it.
        conv.readSeq = Math.max(conv.readSeq, e.seq);
        conv.unreadCount = Math.max(0, conv.lastSeq - conv.readSeq);
      } else {
        conv.peerReadSeq = Math.max(conv.peerReadSeq, e.seq);
        conv.peerDeliveredSeq = Math.max(conv.peerDeliveredSeq, e.seq);
      }
      this.render();
    });
    c.on("receipt.read", (e) => {
      for (const id of e.msgIds) st.readByPeer.add(id);
      this.render();
    });
    c.on("receipt.changed", (e) => {
      for (const r of e.receipts) this.setReceipt(r);
      this.render();
      if (st.panel && e.receipts.some((r) => r.msgId === st.panel?.msgId)) void this.panel.refresh();
    });
    c.on("receipt.requested", (e) => {
      const key = conversationKey(e.conversation);
      const conv = st.ensureConv(e.conversation);
      if (this.isViewing(key)) {
        this.markRead(key);
      } else {
        conv.reminded = true;
        toast(`${e.sender} asks you to read a message in ${e.conversation.id}`);
      }
      this.render();
    });
    c.on("group.member", (e) => {
      const key = conversationKey(e.conversation);
      st.ensureConv(e.conversation);
      if (e.userId === st.me && (e.action === "left" || e.action === "removed")) {
        st.convs.delete(key);
        if (st.open === key) this.closeConversation();
      } else if (e.userId === st.me && e.action === "joined" && e.by !== st.me) {
        toast(`${e.by} added you to ${e.conversation.id}`);
      }
      this.render();
    });
    c.on("settings.changed", (e) => {
      byId<HTMLInputElement>("read-privately").checked = !e.shareReads;
    });
    c.on("disconnect", () => this.setConn("reconnecting"));
    c.onReconnect(() => {
      this.setConn("open");
      void this.resync();
    });
    c.on("closed", (err) => {
      this.setConn("closed");
      if (err instanceof SeenError && err.code === 401) {
        forgetSession();
        toast("Your demo session expired: join again.");
        setTimeout(() => location.reload(), 1500);
      }
    });
    document.addEventListener("visibilitychange", () => {
      if (st.open && this.isViewing(st.open)) this.markRead(st.open);
      this.render();
    });
  }

  /** After a reconnect: the server does not replay, so fetch the current truth. */
  private async resync(): Promise<void> {
    await this.loadSettings();
    await this.loadConversations();
    if (this.state.open) await this.loadHistory(this.state.open);
    this.render();
  }

  private addMessage(key: string, m: Message): void {
    this.state.addMessage(key, m);
    if (m.sender === this.state.me && m.receipt && "status" in m.receipt) this.setReceipt(m.receipt);
  }

  private setReceipt(r: Receipt): void {
    const merged = this.state.mergeReceipt(r);
    if (merged.status === "pending" && merged.expiresAt && !this.expiryTimers.has(r.msgId)) {
      // Expiry sends no event: ask again once the window has closed.
      const wait = Math.max(0, merged.expiresAt - this.client.serverNow()) + 300;
      this.expiryTimers.set(r.msgId, setTimeout(() => void this.requery(r.msgId), Math.min(wait, 2 ** 31 - 1)));
    }
  }

  private async requery(msgId: string): Promise<void> {
    this.expiryTimers.delete(msgId);
    const m = this.state.findMessage(msgId);
    if (!m) return;
    try {
      const [r] = await this.client.queryReceipts(m.conversation, [msgId]);
      if (r) this.setReceipt(r);
      this.render();
      if (this.state.panel?.msgId === msgId) void this.panel.refresh();
    } catch (err) {
      console.warn("receipt.query", msgId, err);
    }
  }

  private async loadConversations(): Promise<void> {
    const st = this.state;
    let cursor: string | undefined;
    const listed = new Set<string>();
    // Only these can have been left or removed; a chat started while the
    // list loads is not in it yet and stays.
    const known = [...st.convs].filter(([, c]) => c.lastSeq > 0).map(([key]) => key);
    do {
      const page = await this.client.conversations({ limit: 100, cursor });
      for (const info of page.conversations) {
        const key = conversationKey(info.conversation);
        listed.add(key);
        Object.assign(st.ensureConv(info.conversation), {
          lastSeq: info.lastSeq,
          lastMessage: info.lastMessage ?? null,
          unreadCount: info.unreadCount,
          readSeq: info.readSeq,
          peerReadSeq: info.peerReadSeq ?? 0,
          peerDeliveredSeq: info.peerDeliveredSeq ?? 0,
        });
        if (info.lastMessage) this.addMessage(key, info.lastMessage);
        // Messages that came while this device was away arrive with no
        // message.new: ack their delivery now.
        if (info.unreadCount > 0) this.client.markDelivered(info.conversation, info.lastSeq);
      }
      cursor = page.nextCursor;
    } while (cursor);
    // Conversations the server no longer lists (left, removed) go; ones opened locally and still empty stay.
    for (const key of known) if (!listed.has(key)) st.convs.delete(key);
  }

  private async loadHistory(key: string, beforeSeq?: number): Promise<void> {
    const conv = this.state.convs.get(key);
    if (!conv) return;
    const h = await this.client.history(conv.conversation, { limit: 50, beforeSeq });
    for (const m of h.messages) this.addMessage(key, m);
    conv.hasMore = h.hasMore;
    // Fresh counts of my receipt messages (events are at most once).
    const mine = h.messages.filter((m) => m.sender === this.state.me && m.receipt).map((m) => m.msgId);
    if (mine.length) for (const r of await this.client.queryReceipts(conv.conversation, mine)) this.setReceipt(r);
  }

  private async loadOlder(key: string): Promise<void> {
    const first = this.state.sortedMessages(key)[0];
    await this.loadHistory(key, first?.seq);
    this.render();
  }

  private isViewing(key: string): boolean {
    return this.state.open === key && document.visibilityState === "visible";
  }

  /** Marks a conversation read up to its latest message (conversation.read). */
  private markRead(key: string): void {
    const conv = this.state.convs.get(key);
    if (!conv || conv.lastSeq <= conv.readSeq) return;
    const upTo = conv.lastSeq;
    conv.readSeq = upTo;
    conv.unreadCount = 0;
    conv.reminded = false;
    if ((this.reading.get(key) ?? 0) >= upTo) return;
    this.reading.set(key, upTo);
    this.client.readConversation(conv.conversation, upTo).catch((err) => console.warn("conversation.read", err));
  }

  private async openConversation(conversation: Conversation): Promise<void> {
    const st = this.state;
    const key = conversationKey(conversation);
    st.ensureConv(conversation);
    st.open = key;
    sessionStorage.setItem("seen.open", key);
    document.body.classList.add("chatting");
    this.render();
    try {
      await this.loadHistory(key);
    } catch (err) {
      if (err instanceof SeenError && (err.code === 404 || err.code === 403)) {
        st.convs.delete(key);
        this.closeConversation();
        sideError(err.code === 404 ? `No user or group called "${conversation.id}".` : `You are not a member of ${conversation.id}.`);
        return;
      }
      throw err;
    }
    const conv = st.convs.get(key);
    if (conv) conv.lastSeq = Math.max(conv.lastSeq, ...(st.messages.get(key)?.keys() ?? []));
    if (this.isViewing(key)) this.markRead(key);
    this.render();
    if (st.open === key) {
      this.chat.scrollToBottom();
      byId("compose").focus();
    }
  }

  private closeConversation(): void {
    this.state.open = null;
    sessionStorage.removeItem("seen.open");
    document.body.classList.remove("chatting");
    this.render();
  }

  /** Sends (or resends, with the same clientMsgId: the server then answers with the original). */
  private async sendMessage(key: string, body: { text: string }, receipt: boolean, clientMsgId?: string): Promise<void> {
    const st = this.state;
    const conv = st.convs.get(key);
    if (!conv) return;
    const list = st.pending.get(key) ?? [];
    st.pending.set(key, list);
    let p: PendingSend | undefined = list.find((x) => x.clientMsgId === clientMsgId);
    if (!p) {
      p = { clientMsgId: clientMsgId || crypto.getRandomValues(new Uint32Array(4)).join("-"), body, receipt, failed: false, error: "" };
      list.push(p);
    }
    p.failed = false;
    this.render();
    this.chat.scrollToBottom();
    try {
      const res = await this.client.send(conv.conversation, body, { receipt, clientMsgId: p.clientMsgId });
      const m: Message = { msgId: res.msgId, seq: res.seq, conversation: conv.conversation, sender: st.me, body, sentAt: res.sentAt };
      if (receipt) {
        const unread = conv.conversation.type === "peer" ? 1 : 0;
        m.receipt = st.receipts.get(res.msgId) ?? { msgId: res.msgId, status: "pending", readCount: 0, unreadCount: unread, deliveredCount: 0, expiresAt: 0 };
      }
      list.splice(list.indexOf(p), 1);
      this.addMessage(key, m);
      if (res.seq > conv.lastSeq) {
        conv.lastSeq = res.seq;
        conv.lastMessage = m;
      }
      conv.readSeq = Math.max(conv.readSeq, res.seq);
      if (receipt && conv.conversation.type === "group") {
        // The exact counts and window of a fresh group message.
        this.client.queryReceipts(conv.conversation, [res.msgId]).then(
          (rs) => {
            rs.forEach((r) => this.setReceipt(r));
            this.render();
          },
          () => {},
        );
      }
    } catch (err) {
      p.failed = true;
      p.error = err instanceof SeenError ? err.serverMessage : "not sent";
    }
    this.render();
    this.chat.scrollToBottom();
  }

  /** Asks for receipts of an own group message sent without them (receipt.request after the fact). */
  private async askReceipts(conversation: Conversation, msgId: string): Promise<void> {
    try {
      await this.client.requestReceipt(conversation, msgId);
      const m = this.state.findMessage(msgId);
      if (m) m.receipt = { msgId, status: "pending", readCount: 0, unreadCount: 0, deliveredCount: 0, expiresAt: 0 };
      const [r] = await this.client.queryReceipts(conversation, [msgId]);
      if (r) this.setReceipt(r);
      this.render();
    } catch (err) {
      toast(err instanceof SeenError ? err.serverMessage : String(err));
    }
  }
}
