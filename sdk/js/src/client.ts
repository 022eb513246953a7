import { Backoff } from "./backoff.js";
import { ConnectionError, ErrorCode, SeenError } from "./errors.js";
import type {
  ClientEvents,
  ConnectParams,
  ConnectResult,
  ConnectionState,
  Conversation,
  ConversationList,
  ConversationReadParams,
  EmptyResult,
  GroupCreateParams,
  GroupMembersResult,
  HistoryResult,
  MemberFilter,
  Methods,
  Receipt,
  RefreshResult,
  ReceiptMembersResult,
  SendResult,
  ServerEvents,
  Settings,
  SettingsUpdateParams,
} from "./types.js";

/**
 * An event handler property of WebSocketLike. It is checked bivariantly, as
 * a method is: implementations type their handlers with richer events (the
 * DOM's MessageEvent, ws's WebSocket.MessageEvent), which a plain function
 * type would refuse under strictFunctionTypes.
 */
export type WebSocketHandler<E> = { bivarianceHack(ev: E): void }["bivarianceHack"];

/** The part of the WebSocket API the client uses (browsers' WebSocket, the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: WebSocketHandler<unknown> | null;
  onmessage: WebSocketHandler<{ data: unknown }> | null;
  onclose: WebSocketHandler<{ code: number; reason: string }> | null;
  onerror: WebSocketHandler<unknown> | null;
}

/** A WebSocket class: the global one in browsers and Node 22+, `ws`'s WebSocket in Node 20. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  /** WebSocket URL of the server, e.g. ws://127.0.0.1:8080/v1/ws. */
  url: string;
  /** User token. Either this or getToken. */
  token?: string;
  /**
   * Token provider. Called before every connect (the first and each
   * reconnect) and, while connected, before the token expires: at about 3/4
   * of its remaining lifetime (at least 5 s before its exp when the lifetime
   * allows), the new token is handed to the server with connect.refresh on
   * the live socket. A failed call or refused refresh is retried with
   * backoff; if the token runs out first, the server closes the socket
   * (4001) and the client reconnects with a token from getToken.
   */
  getToken?: () => string | Promise<string>;
  /** Device name, 1-64 chars of [A-Za-z0-9_.@-]; the server assigns one when omitted (kept across reconnects). */
  device?: string;
  /** WebSocket constructor; defaults to globalThis.WebSocket (browsers; Node 22+). In Node 20 pass `ws`'s WebSocket. */
  WebSocket?: WebSocketConstructor;
  /** Send message.delivered by itself for every message received (default true). */
  autoDelivered?: boolean;
  /** How long delivered acks gather before one is sent per conversation (default 50 ms). */
  deliveredDelayMs?: number;
  /**
   * Let concurrent read() calls of one conversation share message.read
   * requests (default true): calls made in the same tick go together, and
   * calls made while a read of the conversation is in flight go together
   * in the next request once it is answered (up to 100 ids), so a read
   * waits at most one round trip and a lone read is not delayed. false:
   * every read() is its own request.
   */
  readBatching?: boolean;
  /** Reconnect after a dropped connection (default true). Never after close() or a 401. */
  reconnect?: boolean;
  /** Reconnect backoff: first step and cap, in ms (defaults 200 and 30000). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Time limit of the WebSocket open plus `connect` (default 15000 ms). */
  connectTimeoutMs?: number;
  /** Time limit of one request, including any wait for a reconnect (default 30000 ms). */
  requestTimeoutMs?: number;
  /** Called with errors thrown by event handlers (default: rethrown asynchronously). */
  onHandlerError?: (err: unknown, event: string) => void;
}

export interface SendOptions {
  /** Ask for per-message receipts (default false). */
  receipt?: boolean;
  /** Fire the receipt.unread_after webhook after this many ms (1 to 30 days) if some member has not read it; needs receipt. */
  remindAfterMs?: number;
  /** Idempotency key; a resend with the same one returns the original message. Generated when omitted. */
  clientMsgId?: string;
}

interface Pending {
  method: string;
  resolve: (v: any) => void;
  reject: (e: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
}

interface Waiting {
  frame: () => string;
  id: number;
}

/** One read() call waiting for a message.read request. */
interface ReadWaiter {
  ids: string[];
  resolve: (read: number) => void;
  reject: (e: Error) => void;
}

/** A conversation's read() calls; it exists while its requests are being sent. */
interface ReadQueue {
  conv: Conversation;
  waiting: ReadWaiter[];
}

/** Most ids in one message.read. */
const MAX_MSG_IDS = 100;

/**
 * The part of a shared message.read's count of newly recorded reads that
 * goes to one caller: the server counts the request, not each caller's
 * part. Exact when every id was new; otherwise at most the caller's own
 * number of ids and the request's count.
 */
function attributeRead(read: number, total: number, own: number): number {
  return read >= total ? own : Math.min(read, own);
}

type Handler = (payload: any) => void;

const OPEN = 1;

/** A random id for clientMsgId: 128 bits, hex. */
export function newClientMsgId(): string {
  const c = (globalThis as any).crypto;
  const b = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") {
    c.getRandomValues(b);
  } else {
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
  }
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** How long before a token with leftMs to live it is refreshed: at 3/4 of its life, at least 5 s before its end, never sooner than 1 s. */
export function refreshDelay(leftMs: number): number {
  let d = (leftMs * 3) / 4;
  if (leftMs - d < 5000) d = leftMs - 5000;
  return Math.max(d, 1000);
}

/** The key of a conversation in maps: "peer:bob", "group:team". */
export function conversationKey(c: Conversation): string {
  return `${c.type}:${c.id}`;
}

function frameText(data: unknown): string {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    return new TextDecoder().decode(data as ArrayBuffer);
  }
  return String(data);
}

/**
 * A connection to a Seen server. It matches pipelined responses by id, sends
 * delivery acks by itself (batched per conversation), and reconnects with
 * exponential backoff and jitter after a drop. After a reconnect it emits
 * `reconnect`: the server does not replay missed events, so re-sync by state
 * (conversations(), history(), queryReceipts()).
 */
export class SeenClient {
  private readonly opts: Required<
    Pick<
      ClientOptions,
      | "autoDelivered"
      | "readBatching"
      | "deliveredDelayMs"
      | "reconnect"
      | "backoffMinMs"
      | "backoffMaxMs"
      | "connectTimeoutMs"
      | "requestTimeoutMs"
    >
  > &
    ClientOptions;
  private readonly WS: WebSocketConstructor;
  private ws: WebSocketLike | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  /** Requests made while (re)connecting; sent once connected. */
  private waiting: Waiting[] = [];
  private readonly handlers = new Map<string, Set<Handler>>();
  private _state: ConnectionState = "idle";
  private _userId = "";
  private _device = "";
  private serverOffset = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private backoff: Backoff;
  private connectPromise: Promise<ConnectResult> | null = null;
  private expiresAt = 0;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private refreshBackoff: Backoff;

  // Delivery acks: highest seq to ack per conversation, and highest the server took.
  private ackPending = new Map<string, { conv: Conversation; seq: number }>();
  private readonly ackDone = new Map<string, number>();
  private ackTimer: ReturnType<typeof setTimeout> | null = null;

  // Read acks: per conversation, the read() calls waiting for a request.
  private readonly readQueues = new Map<string, ReadQueue>();

  constructor(options: ClientOptions) {
    if (!options.url) throw new TypeError("SeenClient: url is required");
    if (!options.token && !options.getToken) throw new TypeError("SeenClient: token or getToken is required");
    this.opts = {
      autoDelivered: true,
      readBatching: true,
      deliveredDelayMs: 50,
      reconnect: true,
      backoffMinMs: 200,
      backoffMaxMs: 30000,
      connectTimeoutMs: 15000,
      requestTimeoutMs: 30000,
      ...options,
    };
    const WS = options.WebSocket ?? ((globalThis as any).WebSocket as WebSocketConstructor | undefined);
    if (!WS) {
      throw new TypeError("SeenClient: no global WebSocket; pass the WebSocket option (e.g. the ws package's)");
    }
    this.WS = WS;
    this.backoff = new Backoff(this.opts.backoffMinMs, this.opts.backoffMaxMs);
    this.refreshBackoff = new Backoff(this.opts.backoffMinMs, this.opts.backoffMaxMs);
  }

  /** The connected user, once connected. */
  get userId(): string {
    return this._userId;
  }
  /** This device's name (the server's choice when none was given). */
  get device(): string {
    return this._device;
  }
  get state(): ConnectionState {
    return this._state;
  }
  get connected(): boolean {
    return this._state === "open";
  }
  /** The server's clock estimate: Date.now() corrected by the offset seen at connect. */
  serverNow(): number {
    return Date.now() + this.serverOffset;
  }

  /**
   * Opens the socket and sends `connect`. Rejects with a SeenError (401 for a
   * bad token) or a ConnectionError; the first connect is not retried.
   */
  connect(): Promise<ConnectResult> {
    if (this._state === "closed") return Promise.reject(new ConnectionError("closed", "client closed"));
    if (this.connectPromise) return this.connectPromise;
    if (this._state === "open") {
      return Promise.resolve({
        userId: this._userId,
        device: this._device,
        serverTime: this.serverNow(),
        expiresAt: this.expiresAt,
      });
    }
    this._state = "connecting";
    const p = this.dial(false).then(
      (res) => {
        this.connectPromise = null;
        return res;
      },
      (err) => {
        this.connectPromise = null;
        if (this._state === "connecting") {
          this._state = "idle"; // connect() may be called again
          this.failWaiting(err instanceof Error ? err : new Error(String(err)));
        }
        throw err;
      },
    );
    this.connectPromise = p;
    return p;
  }

  /** Closes the connection (status 1000) for good: no reconnect; pending requests fail with ConnectionError("closed"). */
  close(): void {
    if (this._state === "closed") return;
    this.stop(undefined);
  }

  /**
   * Registers a handler of a server event (message.new, receipt.changed, ...)
   * or of a client event (reconnect, disconnect, closed, event). Returns a
   * function that removes it. Handlers run in arrival order.
   */
  on<K extends keyof ClientEvents>(event: K, handler: (payload: ClientEvents[K]) => void): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(handler as Handler);
    return () => this.off(event, handler);
  }

  off<K extends keyof ClientEvents>(event: K, handler: (payload: ClientEvents[K]) => void): void {
    this.handlers.get(event)?.delete(handler as Handler);
  }

  /** Registers a handler run after each successful reconnect: re-sync by state there. */
  onReconnect(handler: (res: ConnectResult) => void): () => void {
    return this.on("reconnect", handler);
  }

  // ---- methods ----

  /** Any method, by wire name. Resolves with the result; rejects with SeenError or ConnectionError. */
  call<T = unknown>(method: string, params: object = {}): Promise<T> {
    if (this._state === "closed") return Promise.reject(new ConnectionError("closed", `${method}: client closed`));
    if (this._state === "idle") {
      return Promise.reject(new ConnectionError("disconnected", `${method}: not connected; call connect() first`));
    }
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      const p: Pending = { method, resolve, reject };
      p.timer = setTimeout(() => {
        this.pending.delete(id);
        this.waiting = this.waiting.filter((w) => w.id !== id);
        reject(new ConnectionError("timeout", `${method}: no answer within ${this.opts.requestTimeoutMs} ms`));
      }, this.opts.requestTimeoutMs);
      this.pending.set(id, p);
      const frame = () => JSON.stringify({ jsonrpc: "2.0", id, method, params });
      if (this._state === "open" && this.ws && this.ws.readyState === OPEN) {
        this.ws.send(frame());
      } else {
        this.waiting.push({ id, frame });
      }
    });
  }

  /** A method by wire name, its params and result typed as in Methods (the wire shapes). */
  private rpc<M extends keyof Methods>(method: M, params: Methods[M]["params"]): Promise<Methods[M]["result"]> {
    return this.call(method, params);
  }

  /** message.send. The body is any JSON value. */
  async send(conversation: Conversation, body: unknown, options: SendOptions = {}): Promise<SendResult> {
    const clientMsgId = options.clientMsgId ?? newClientMsgId();
    const res = await this.rpc("message.send", {
      conversation,
      clientMsgId,
      body,
      receipt: options.receipt ?? false,
      ...(options.remindAfterMs === undefined ? {} : { remindAfterMs: options.remindAfterMs }),
    });
    return { ...res, clientMsgId };
  }

  /** message.history: newest first; beforeSeq is exclusive. */
  history<B = unknown>(
    conversation: Conversation,
    options: { beforeSeq?: number; limit?: number } = {},
  ): Promise<HistoryResult<B>> {
    return this.rpc("message.history", { conversation, ...options }) as Promise<HistoryResult<B>>;
  }

  /** message.delivered: this device has received everything up to seq. Sent by itself with autoDelivered. */
  delivered(conversation: Conversation, seq: number): Promise<EmptyResult> {
    return this.rpc("message.delivered", { conversation, seq });
  }

  /**
   * message.read: single-message reads; resolves with how many were newly
   * recorded. With readBatching (the default), concurrent calls of one
   * conversation share requests: see ClientOptions.readBatching. Each call
   * still gets its own answer: a shared request the server refuses is sent
   * again caller by caller, so a bad id fails only its own caller. The
   * count of a shared request is exact when every id in it was new;
   * otherwise a caller gets at most its own number of ids. With
   * `{ private: true }` the read is private whatever the user's shareReads
   * (it clears this user's unread state on all its devices and tells no
   * sender) and goes in a request of its own.
   */
  read(conversation: Conversation, msgIds: string[], options: { private?: boolean } = {}): Promise<number> {
    if (options.private) {
      // A private read is never shared with others' (shared) reads.
      return this.rpc("message.read", { conversation, msgIds, private: true }).then((r) => r.read);
    }
    if (!this.opts.readBatching || msgIds.length === 0 || msgIds.length > MAX_MSG_IDS) {
      // Nothing to share, or a request the server refuses whole: alone.
      return this.readNow(conversation, msgIds);
    }
    return new Promise<number>((resolve, reject) => {
      const key = conversationKey(conversation);
      const w: ReadWaiter = { ids: [...msgIds], resolve, reject };
      const q = this.readQueues.get(key);
      if (q) {
        q.waiting.push(w);
        return;
      }
      const nq: ReadQueue = { conv: conversation, waiting: [w] };
      this.readQueues.set(key, nq);
      // In a microtask, not a timer: reads made before it runs (a loop
      // marking a screenful read) join this first request at no delay.
      queueMicrotask(() => void this.flushReads(key, nq));
    });
  }

  private async readNow(conversation: Conversation, msgIds: string[]): Promise<number> {
    const res = await this.rpc("message.read", { conversation, msgIds });
    return res.read;
  }

  /** Sends q's reads, one request in flight at a time, until none wait; then q goes away. */
  private async flushReads(key: string, q: ReadQueue): Promise<void> {
    while (q.waiting.length > 0) {
      let n = 0;
      let ids = 0;
      for (const w of q.waiting) {
        if (n > 0 && ids + w.ids.length > MAX_MSG_IDS) break;
        n++;
        ids += w.ids.length;
      }
      await this.sendReads(q.conv, q.waiting.splice(0, n));
    }
    this.readQueues.delete(key);
  }

  /** Sends one batch of read() calls as one message.read and answers each. */
  private async sendReads(conv: Conversation, batch: ReadWaiter[]): Promise<void> {
    const ids = batch.flatMap((w) => w.ids);
    let read: number;
    try {
      read = await this.readNow(conv, ids);
    } catch (err) {
      if (!(err instanceof SeenError) || batch.length === 1) {
        for (const w of batch) w.reject(err as Error);
        return;
      }
      // Refused for one id (say, a message that is not there): each
      // caller's ids go again alone, so each gets its own answer.
      for (const w of batch) {
        try {
          w.resolve(await this.readNow(conv, w.ids));
        } catch (e) {
          w.reject(e as Error);
        }
      }
      return;
    }
    for (const w of batch) w.resolve(attributeRead(read, ids.length, w.ids.length));
  }

  /**
   * conversation.read: everything up to seq (default: the latest) is read;
   * resolves with this user's own read watermark. `{ private: true }` makes
   * it private, as for read().
   */
  async readConversation(conversation: Conversation, seq?: number, options: { private?: boolean } = {}): Promise<number> {
    const params: ConversationReadParams = { conversation };
    if (seq !== undefined) params.seq = seq;
    if (options.private) params.private = true;
    const res = await this.rpc("conversation.read", params);
    return res.readSeq;
  }

  /** settings.get: the user's receipt sharing switches (both true until changed). */
  settings(): Promise<Settings> {
    return this.rpc("settings.get", {});
  }

  /**
   * settings.update: change either switch or both; resolves with the settings
   * as they now stand. The server applies them to every later ack of the
   * user, whatever device sends it; the user's other devices get
   * "settings.changed".
   */
  updateSettings(update: SettingsUpdateParams): Promise<Settings> {
    return this.rpc("settings.update", update);
  }

  /** conversation.list: one page. */
  conversations<B = unknown>(options: { limit?: number; cursor?: string } = {}): Promise<ConversationList<B>> {
    return this.rpc("conversation.list", { limit: 100, ...options }) as Promise<ConversationList<B>>;
  }

  /** receipt.request: ask a group for read receipts of the caller's own message; a repeat reminds those who have not read it. */
  requestReceipt(conversation: Conversation, msgId: string, options: { remindAfterMs?: number } = {}): Promise<EmptyResult> {
    return this.rpc("receipt.request", { conversation, msgId, ...options });
  }

  /** receipt.query: one Receipt per msgId (1-100). */
  async queryReceipts(conversation: Conversation, msgIds: string[]): Promise<Receipt[]> {
    const res = await this.rpc("receipt.query", { conversation, msgIds });
    return res.receipts;
  }

  /** receipt.members: one page of the read / unread / delivered / undelivered members of a message. */
  receiptMembers(
    conversation: Conversation,
    msgId: string,
    filter: MemberFilter,
    options: { cursor?: string; limit?: number } = {},
  ): Promise<ReceiptMembersResult> {
    return this.rpc("receipt.members", { conversation, msgId, filter, ...options });
  }

  /** group.create: the caller becomes its owner. Resolves with the groupId. */
  async createGroup(groupId: string, members: string[], options: { type?: string } = {}): Promise<string> {
    const params: GroupCreateParams = { groupId, members };
    if (options.type !== undefined) params.type = options.type;
    const res = await this.rpc("group.create", params);
    return res.groupId;
  }

  /** group.add (owner and admins). */
  addMembers(groupId: string, userIds: string[]): Promise<EmptyResult> {
    return this.rpc("group.add", { groupId, userIds });
  }

  /** group.remove (owner and admins). */
  removeMembers(groupId: string, userIds: string[]): Promise<EmptyResult> {
    return this.rpc("group.remove", { groupId, userIds });
  }

  /** group.leave. */
  leaveGroup(groupId: string): Promise<EmptyResult> {
    return this.rpc("group.leave", { groupId });
  }

  /**
   * connect.refresh: hands the server a new token for the same user; the
   * connection then lives until its exp. Rejects with SeenError 401 for a
   * bad token or another user's, which changes nothing. With getToken the
   * client does this by itself.
   */
  async refreshToken(token: string): Promise<RefreshResult> {
    const res = await this.rpc("connect.refresh", { token });
    this.expiresAt = res.expiresAt;
    return res;
  }

  /** group.members: one page. */
  groupMembers(groupId: string, options: { cursor?: string; limit?: number } = {}): Promise<GroupMembersResult> {
    return this.rpc("group.members", { groupId, ...options });
  }

  // ---- connection ----

  private async token(): Promise<string> {
    if (this.opts.getToken) return await this.opts.getToken();
    return this.opts.token as string;
  }

  /**
   * Opens a socket and runs the connect handshake; on success the socket
   * becomes the live one. The server subscribes the socket before it answers
   * connect, so events may come first: they are kept and handled right after
   * the answer (and after `reconnect`), in order.
   */
  private dial(reconnecting: boolean): Promise<ConnectResult> {
    return new Promise<ConnectResult>((resolve, reject) => {
      let settled = false;
      let ws: WebSocketLike;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          ws?.close();
        } catch {
          /* already closing */
        }
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new ConnectionError("timeout", `connect: no answer within ${this.opts.connectTimeoutMs} ms`)),
        this.opts.connectTimeoutMs,
      );
      let tokenP: Promise<string>;
      try {
        tokenP = this.token();
      } catch (e) {
        fail(e as Error);
        return;
      }
      tokenP.then(
        (token) => {
          if (settled) return;
          if (this._state === "closed") {
            fail(new ConnectionError("closed", "client closed"));
            return;
          }
          try {
            ws = new this.WS(this.opts.url);
          } catch (e) {
            fail(e as Error);
            return;
          }
          const connectId = ++this.nextId;
          const early: string[] = [];
          ws.onopen = () => {
            const params: ConnectParams = { token };
            const device = this.opts.device || this._device;
            if (device) params.device = device;
            ws.send(JSON.stringify({ jsonrpc: "2.0", id: connectId, method: "connect", params }));
          };
          ws.onerror = () => {
            /* onclose follows */
          };
          ws.onclose = (ev) => {
            fail(new ConnectionError("disconnected", `connect: socket closed (${ev.code}${ev.reason ? " " + ev.reason : ""})`));
          };
          ws.onmessage = (ev) => {
            const text = frameText(ev.data);
            let f: any;
            try {
              f = JSON.parse(text);
            } catch {
              return;
            }
            if (f === null || typeof f !== "object") return;
            if (typeof f.method === "string" && f.id === undefined) {
              if (!settled) early.push(text);
              return;
            }
            if (f.id !== connectId && f.id !== null) return;
            if (f.error) {
              const e = f.error;
              fail(new SeenError(e.code, e.message ?? "error", e.data, "connect"));
              return;
            }
            if (f.id !== connectId) return;
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            if (this._state === "closed") {
              ws.close(1000);
              reject(new ConnectionError("closed", "client closed"));
              return;
            }
            const res = f.result as ConnectResult;
            this.adopt(ws, res);
            if (reconnecting) this.emit("reconnect", res);
            for (const text of early) {
              if (this.ws !== ws) break; // a handler closed the client
              this.onFrame(text);
            }
            resolve(res);
          };
        },
        (e) => fail(e instanceof Error ? e : new Error(String(e))),
      );
    });
  }

  /** Makes ws the live connection after a successful connect. */
  private adopt(ws: WebSocketLike, res: ConnectResult): void {
    this.ws = ws;
    this._userId = res.userId;
    this._device = res.device;
    this.serverOffset = res.serverTime - Date.now();
    this.expiresAt = res.expiresAt ?? 0;
    this._state = "open";
    this.backoff.reset();
    this.refreshBackoff.reset();
    if (this.opts.getToken && this.expiresAt > 0) this.scheduleRefresh(ws, refreshDelay(this.expiresAt - this.serverNow()));
    ws.onmessage = (ev) => this.onFrame(frameText(ev.data));
    ws.onclose = (ev) => this.onDrop(ws, ev);
    ws.onerror = () => {
      /* onclose follows */
    };
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) {
      if (this.pending.has(w.id)) ws.send(w.frame());
    }
    if (this.ackPending.size > 0) this.scheduleAcks();
  }

  private onFrame(text: string): void {
    let f: any;
    try {
      f = JSON.parse(text);
    } catch {
      return;
    }
    if (f === null || typeof f !== "object") return;
    if (typeof f.method === "string" && f.id === undefined) {
      this.onEvent(f.method, f.params);
      return;
    }
    if (f.id === null || f.id === undefined) {
      // An error for no request (e.g. 413 before the server closes): remembered for the close.
      if (f.error) this.lastOrphan = new SeenError(f.error.code, f.error.message ?? "error", f.error.data);
      return;
    }
    const p = this.pending.get(f.id);
    if (!p) return;
    this.pending.delete(f.id);
    clearTimeout(p.timer);
    if (f.error) {
      p.reject(new SeenError(f.error.code, f.error.message ?? "error", f.error.data, p.method));
    } else {
      p.resolve(f.result ?? {});
    }
  }

  private lastOrphan: SeenError | null = null;

  private onEvent(method: string, params: any): void {
    if (method === "message.new" && this.opts.autoDelivered) {
      const m = params?.message;
      if (m && m.sender !== this._userId && m.conversation && typeof m.seq === "number") {
        this.noteDelivered(m.conversation, m.seq);
      }
    }
    this.emit("event", { method, params });
    this.emit(method, params);
  }

  /** Arms the token refresh of ws after delay ms. */
  private scheduleRefresh(ws: WebSocketLike, delay: number): void {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.refreshNow(ws);
    }, delay);
  }

  /** Gets a token and sends connect.refresh on ws; on failure tries again with backoff while ws lives. */
  private async refreshNow(ws: WebSocketLike): Promise<void> {
    try {
      const token = await this.token();
      if (this.ws !== ws) return;
      const res = await this.refreshToken(token);
      if (this.ws !== ws) return;
      this.refreshBackoff.reset();
      this.scheduleRefresh(ws, refreshDelay(res.expiresAt - this.serverNow()));
    } catch {
      if (this.ws !== ws || this._state !== "open") return; // the connection is gone: the reconnect gets a token
      this.scheduleRefresh(ws, this.refreshBackoff.next());
    }
  }

  private onDrop(ws: WebSocketLike, ev: { code: number; reason: string }): void {
    if (this.ws !== ws) return;
    this.ws = null;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    if (this._state === "closed") return;
    const cause = this.lastOrphan;
    this.lastOrphan = null;
    const err = new ConnectionError(
      "disconnected",
      `connection lost (${ev.code}${ev.reason ? " " + ev.reason : ""})${cause ? ": " + cause.message : ""}`,
    );
    this.failPending(err);
    if (!this.opts.reconnect) {
      this.emit("disconnect", err);
      this.stop(err);
      return;
    }
    this._state = "reconnecting";
    this.emit("disconnect", err);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this._state !== "reconnecting") return;
    const delay = this.backoff.next();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this._state !== "reconnecting") return;
      this.dial(true).then(
        () => {},
        (err) => {
          if (this._state !== "reconnecting") return;
          if (err instanceof SeenError && err.code === ErrorCode.Unauthorized) {
            this.emit("disconnect", err);
            this.stop(err);
            return;
          }
          this.scheduleReconnect();
        },
      );
    }, delay);
  }

  private stop(err: Error | undefined): void {
    this._state = "closed";
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      try {
        ws.close(1000);
      } catch {
        /* ignore */
      }
    }
    const e = new ConnectionError("closed", err ? `client stopped: ${err.message}` : "client closed");
    this.failPending(e);
    this.failWaiting(e);
    this.emit("closed", err);
  }

  private failPending(err: Error): void {
    // Requests still waiting to be sent survive a drop: they go out after the reconnect.
    const waitingIds = new Set(this.waiting.map((w) => w.id));
    for (const [id, p] of this.pending) {
      if (waitingIds.has(id)) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new ConnectionError((err as ConnectionError).reason ?? "disconnected", `${p.method}: ${err.message}`));
    }
  }

  private failWaiting(err: Error): void {
    for (const w of this.waiting) {
      const p = this.pending.get(w.id);
      if (!p) continue;
      this.pending.delete(w.id);
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.waiting = [];
  }

  private emit(event: string, payload: unknown): void {
    const set = this.handlers.get(event);
    if (!set) return;
    for (const h of [...set]) {
      try {
        h(payload);
      } catch (err) {
        if (this.opts.onHandlerError) this.opts.onHandlerError(err, event);
        else
          setTimeout(() => {
            throw err;
          }, 0);
      }
    }
  }

  // ---- automatic delivery acks ----

  /**
   * Queues a batched delivery ack (the path automatic acks take): use it
   * after a re-sync by state, for messages that arrived while this device
   * was away and so came with no message.new.
   */
  markDelivered(conversation: Conversation, seq: number): void {
    if (seq >= 1) this.noteDelivered(conversation, seq);
  }

  private noteDelivered(conv: Conversation, seq: number): void {
    const key = conversationKey(conv);
    if (seq <= (this.ackDone.get(key) ?? 0) || seq <= (this.ackPending.get(key)?.seq ?? 0)) return;
    this.ackPending.set(key, { conv: { type: conv.type, id: conv.id }, seq });
    this.scheduleAcks();
  }

  private scheduleAcks(): void {
    if (this.ackTimer || this._state === "closed") return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      void this.flushAcks();
    }, this.opts.deliveredDelayMs);
  }

  private async flushAcks(): Promise<void> {
    if (this._state !== "open") return; // adopt() reschedules after the reconnect
    const batch = this.ackPending;
    this.ackPending = new Map();
    await Promise.all(
      [...batch].map(async ([key, { conv, seq }]) => {
        try {
          await this.delivered(conv, seq);
          if (seq > (this.ackDone.get(key) ?? 0)) this.ackDone.set(key, seq);
        } catch (err) {
          if (err instanceof ConnectionError && err.reason !== "closed") {
            const cur = this.ackPending.get(key);
            if (!cur || cur.seq < seq) this.ackPending.set(key, { conv, seq });
            if (this._state === "open") this.scheduleAcks();
          }
          // A SeenError would come back again: dropped.
        }
      }),
    );
  }
}

/** Creates a client and connects it. */
export async function connect(options: ClientOptions): Promise<SeenClient> {
  const c = new SeenClient(options);
  await c.connect();
  return c;
}

export type { ServerEvents };
