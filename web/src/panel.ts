// The receipt panel of one own group message: its status line, and the read
// and unread member lists, paged ("more") and keyed by user id so a live
// refresh moves and adds rows instead of redrawing the lists.
import { SeenError } from "../../sdk/js/src/index.js";
import type { Conversation, Receipt, ReceiptMember, ReceiptMembersResult, SeenClient } from "../../sdk/js/src/index.js";
import { bodyText, byId, clock, h, paintAvatar, placeChildren, setData, setHidden, setText } from "./dom.js";
import type { DemoState, PanelState } from "./state.js";

type Filter = "read" | "unread";

export interface PanelDeps {
  client: SeenClient;
  state: DemoState;
  /** Member list page size. */
  pageSize: number;
  /** Fetches a receipt afresh (after the server says it expired). */
  requery(msgId: string): void;
}

export class ReceiptPanel {
  private readonly lists: Record<Filter, MemberList> = { read: new MemberList("read"), unread: new MemberList("unread") };

  constructor(private readonly deps: PanelDeps) {
    byId("panel-close").addEventListener("click", () => this.close());
    const wrap = byId("panel-wrap");
    wrap.addEventListener("click", (ev) => ev.target === wrap && this.close());
    document.addEventListener("keydown", (ev) => ev.key === "Escape" && deps.state.panel && this.close());
    for (const filter of ["read", "unread"] as const) byId(`${filter}-more`).addEventListener("click", () => void this.more(filter));
    byId("remind").addEventListener("click", () => void this.remind());
  }

  async open(conversation: Conversation, msgId: string): Promise<void> {
    const { state } = this.deps;
    state.panel = { conversation, msgId, generation: 0, cursors: { read: null, unread: null } };
    const m = state.findMessage(msgId);
    setText(byId("panel-quote"), m ? bodyText(m.body) : "");
    setText(byId("remind-note"), "");
    for (const l of Object.values(this.lists)) l.clear();
    byId("panel-wrap").hidden = false;
    document.body.classList.add("panel-open");
    await this.refresh();
  }

  close(): void {
    this.deps.state.panel = null;
    byId("panel-wrap").hidden = true;
    document.body.classList.remove("panel-open");
  }

  /** Shows the receipt's counts at once, then the first page of each list. */
  async refresh(): Promise<void> {
    const { client, state, pageSize } = this.deps;
    const p = state.panel;
    if (!p) return;
    const generation = ++p.generation;
    this.paintStatus(state.receipts.get(p.msgId));
    let pages: [ReceiptMembersResult, ReceiptMembersResult];
    try {
      pages = await Promise.all([
        client.receiptMembers(p.conversation, p.msgId, "read", { limit: pageSize }),
        client.receiptMembers(p.conversation, p.msgId, "unread", { limit: pageSize }),
      ]);
    } catch (err) {
      setText(byId("panel-status"), err instanceof SeenError ? err.serverMessage : String(err));
      return;
    }
    if (state.panel !== p || p.generation !== generation) return;
    this.show(p, "read", pages[0], true);
    this.show(p, "unread", pages[1], true);
  }

  private async more(filter: Filter): Promise<void> {
    const p = this.deps.state.panel;
    const cursor = p?.cursors[filter];
    if (!p || !cursor) return;
    const page = await this.deps.client.receiptMembers(p.conversation, p.msgId, filter, { limit: this.deps.pageSize, cursor });
    if (this.deps.state.panel === p) this.show(p, filter, page, false);
  }

  private show(p: PanelState, filter: Filter, page: ReceiptMembersResult, first: boolean): void {
    this.lists[filter].show(page.members, first);
    p.cursors[filter] = page.done ? null : page.nextCursor ?? null;
    setHidden(byId(`${filter}-more`), page.done || !page.nextCursor);
  }

  paintStatus(r: Receipt | undefined): void {
    const status = byId("panel-status");
    if (!r) {
      setText(status, "");
      return;
    }
    setText(byId("read-count"), String(r.readCount));
    setText(byId("unread-count"), String(r.unreadCount));
    setData(status, "status", r.status);
    const expires = r.expiresAt ? clock(r.expiresAt) : "";
    setText(
      status,
      r.status === "expired"
        ? `Receipt expired${expires ? " at " + expires : ""}: counts are frozen. ${r.readCount} read · ${r.unreadCount} unread.`
        : r.status === "done"
          ? `Read by everyone (${r.readCount}).`
          : `${r.readCount} read · ${r.unreadCount} unread · ${r.deliveredCount} delivered${expires ? " · expires " + expires : ""}`,
    );
    byId<HTMLButtonElement>("remind").disabled = r.status !== "pending" || r.unreadCount === 0;
  }

  private async remind(): Promise<void> {
    const { client, state } = this.deps;
    const p = state.panel;
    if (!p) return;
    const note = byId("remind-note");
    byId<HTMLButtonElement>("remind").disabled = true;
    try {
      await client.requestReceipt(p.conversation, p.msgId);
      note.textContent = "Reminder sent to those who have not read it.";
    } catch (err) {
      note.textContent = err instanceof SeenError ? `Could not remind: ${err.serverMessage}` : String(err);
      if (err instanceof SeenError && err.code === 410) this.deps.requery(p.msgId);
    } finally {
      this.paintStatus(state.receipts.get(p.msgId));
    }
  }
}

/** One member list: rows by user id; the first page replaces the list, "more" appends. */
class MemberList {
  private readonly ul: HTMLElement;
  private readonly rows = new Map<string, { li: HTMLLIElement; at: HTMLElement }>();
  private order: string[] = [];
  private readonly none: HTMLLIElement;

  constructor(filter: Filter) {
    this.ul = byId(`${filter}-list`);
    this.none = h("li", { className: "muted small none", text: filter === "read" ? "Nobody yet" : "Everyone has read it" });
  }

  clear(): void {
    this.rows.clear();
    this.order = [];
    placeChildren(this.ul, []);
  }

  show(members: ReceiptMember[], first: boolean): void {
    const order = first ? [] : [...this.order];
    for (const mem of members) {
      let row = this.rows.get(mem.userId);
      if (!row) this.rows.set(mem.userId, (row = memberRow(mem.userId)));
      setText(row.at, mem.at ? clock(mem.at) : "");
      setHidden(row.at, !mem.at);
      if (!order.includes(mem.userId)) order.push(mem.userId);
    }
    for (const id of this.rows.keys()) if (!order.includes(id)) this.rows.delete(id);
    this.order = order;
    const nodes: Node[] = order.map((id) => this.rows.get(id)!.li);
    placeChildren(this.ul, nodes.length ? nodes : [this.none]);
  }
}

function memberRow(userId: string): { li: HTMLLIElement; at: HTMLElement } {
  const av = h("span", { className: "avatar small" });
  paintAvatar(av, userId);
  const at = h("span", { className: "muted small" });
  const li = h("li", { testid: "member-item" }, av, h("span", { className: "member-name", text: userId }), at);
  li.dataset["user"] = userId;
  return { li, at };
}
