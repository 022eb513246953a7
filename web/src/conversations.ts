// The sidebar's conversation list, keyed by conversation: one row per
// conversation, built once, patched when its preview, badge or marker
// changes, and moved only when the order changes.
import { conversationKey } from "../../sdk/js/src/index.js";
import type { Conversation } from "../../sdk/js/src/index.js";
import { bodyText, h, paintAvatar, placeChildren, setClass, setHidden, setText } from "./dom.js";
import type { ConvState, DemoState } from "./state.js";

export class ConversationList {
  private readonly rows = new Map<string, ConversationRow>();

  constructor(
    private readonly ul: HTMLElement,
    private readonly empty: HTMLElement,
    private readonly onOpen: (c: Conversation) => void,
  ) {}

  update(state: DemoState): void {
    const convs = state.sortedConvs();
    setHidden(this.empty, convs.length > 0);
    const live = new Set<string>();
    const nodes: Node[] = [];
    for (const c of convs) {
      const key = conversationKey(c.conversation);
      live.add(key);
      let row = this.rows.get(key);
      if (!row) this.rows.set(key, (row = new ConversationRow(key, c.conversation, this.onOpen)));
      row.update(c, key === state.open, state.me);
      nodes.push(row.li);
    }
    for (const key of this.rows.keys()) if (!live.has(key)) this.rows.delete(key);
    placeChildren(this.ul, nodes);
  }
}

class ConversationRow {
  readonly li: HTMLLIElement;
  private readonly last: HTMLElement;
  private readonly right: HTMLElement;
  private remind: HTMLElement | null = null;
  private badge: HTMLElement | null = null;

  constructor(key: string, conversation: Conversation, onOpen: (c: Conversation) => void) {
    const group = conversation.type === "group";
    const av = h("span", { className: "avatar" });
    paintAvatar(av, conversation.id, group);
    this.last = h("span", { className: "muted small last" });
    this.right = h("div", { className: "conv-right" });
    this.li = h(
      "li",
      { className: "conv", testid: "conv-item" },
      av,
      h("div", { className: "conv-mid" }, h("strong", { testid: "conv-name", text: conversation.id }), this.last),
      this.right,
    );
    this.li.dataset["conv"] = key;
    this.li.tabIndex = 0;
    this.li.setAttribute("role", "button");
    this.li.addEventListener("click", () => onOpen(conversation));
    this.li.addEventListener("keydown", (ev) => ev.key === "Enter" && onOpen(conversation));
  }

  update(c: ConvState, active: boolean, me: string): void {
    const group = c.conversation.type === "group";
    setClass(this.li, active ? "conv active" : "conv");
    let preview = group ? "group" : "new chat";
    if (c.lastMessage) {
      const who = c.lastMessage.sender === me ? "You" : group ? c.lastMessage.sender : "";
      preview = (who ? who + ": " : "") + bodyText(c.lastMessage.body);
    }
    setText(this.last, preview);

    if (c.reminded) {
      this.remind ??= h("span", { className: "remind-mark", testid: "remind-marker", text: "reminder", title: "Someone asked you to read a message" });
    } else {
      this.remind = null;
    }
    if (c.unreadCount > 0 && !active) {
      this.badge ??= h("span", { className: "badge", testid: "unread-badge" });
      setText(this.badge, c.unreadCount > 99 ? "99+" : String(c.unreadCount));
    } else {
      this.badge = null;
    }
    placeChildren(this.right, [this.remind, this.badge].filter((n): n is HTMLElement => n !== null));
  }
}
