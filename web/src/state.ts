// The demo's model: what the app knows of conversations, messages and
// receipts. Plain data and pure queries; the server is the truth, app.ts
// fills this from events and re-syncs it by state after a reconnect, and the
// views read it.
import { conversationKey } from "../../sdk/js/src/index.js";
import type { Conversation, Message, Receipt } from "../../sdk/js/src/index.js";

/** What the sidebar and the ticks need of one conversation. */
export interface ConvState {
  conversation: Conversation;
  lastSeq: number;
  lastMessage: Message | null;
  unreadCount: number;
  readSeq: number;
  /** Peer chats: the peer's watermarks. */
  peerReadSeq: number;
  peerDeliveredSeq: number;
  /** Someone asked this user to read a message here (receipt.requested). */
  reminded: boolean;
  /** message.history said there is more before the oldest loaded message. */
  hasMore: boolean;
}

/** A message on its way to the server (or that failed to get there). */
export interface PendingSend {
  clientMsgId: string;
  body: { text: string };
  receipt: boolean;
  failed: boolean;
  error: string;
}

export type Tick = "sent" | "delivered" | "read";

/** The open receipt panel: which message, and where each member list's paging stands. */
export interface PanelState {
  conversation: Conversation;
  msgId: string;
  /** Bumped per refresh, so a slow answer to an older one is dropped. */
  generation: number;
  cursors: Record<"read" | "unread", string | null>;
}

export class DemoState {
  /** The user of this tab. */
  readonly me: string;
  readonly convs = new Map<string, ConvState>();
  /** Per conversation key: messages by seq. */
  readonly messages = new Map<string, Map<number, Message>>();
  /** Per conversation key: sends not yet answered, oldest first. */
  readonly pending = new Map<string, PendingSend[]>();
  /** Receipts of this user's own messages, by msgId. */
  readonly receipts = new Map<string, Receipt>();
  /** Own peer messages the peer read (receipt.read). */
  readonly readByPeer = new Set<string>();
  /** Key of the open conversation. */
  open: string | null = null;
  panel: PanelState | null = null;

  constructor(me: string) {
    this.me = me;
  }

  ensureConv(conversation: Conversation): ConvState {
    const key = conversationKey(conversation);
    let c = this.convs.get(key);
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
        hasMore: false,
      };
      this.convs.set(key, c);
    }
    return c;
  }

  addMessage(key: string, m: Message): void {
    let msgs = this.messages.get(key);
    if (!msgs) this.messages.set(key, (msgs = new Map()));
    msgs.set(m.seq, m);
  }

  mergeReceipt(r: Receipt): Receipt {
    const merged = { ...this.receipts.get(r.msgId), ...r };
    this.receipts.set(r.msgId, merged);
    return merged;
  }

  /** Messages of a conversation, oldest first. */
  sortedMessages(key: string): Message[] {
    return [...(this.messages.get(key)?.values() ?? [])].sort((a, b) => a.seq - b.seq);
  }

  findMessage(msgId: string): Message | null {
    for (const msgs of this.messages.values()) for (const m of msgs.values()) if (m.msgId === msgId) return m;
    return null;
  }

  /** Conversations as the sidebar lists them: latest message first, new empty chats on top. */
  sortedConvs(): ConvState[] {
    const at = (c: ConvState) => c.lastMessage?.sentAt || Infinity;
    return [...this.convs.values()].sort((a, b) => at(b) - at(a) || a.conversation.id.localeCompare(b.conversation.id));
  }

  /** The tick of an own peer message: sent, delivered, or read. */
  peerTick(conv: ConvState, m: Message): Tick {
    if (conv.peerReadSeq >= m.seq || this.readByPeer.has(m.msgId) || this.receipts.get(m.msgId)?.status === "done") return "read";
    if (conv.peerDeliveredSeq >= m.seq) return "delivered";
    return "sent";
  }
}
