// @seen-im/sdk, built from sdk/js by `npm run build`. Do not edit: edit sdk/js/src.

// src/backoff.ts
var Backoff = class {
  constructor(min, max, rand = Math.random) {
    this.min = min;
    this.max = max;
    this.rand = rand;
    this.attempt = 0;
  }
  /** The delay in ms before the next attempt, within [min/2, max]. */
  next() {
    const step = Math.min(this.max, this.min * 2 ** Math.min(this.attempt, 40));
    this.attempt++;
    const half = step / 2;
    return half + this.rand() * (step - half);
  }
  reset() {
    this.attempt = 0;
  }
};

// src/errors.ts
var ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  Expired: 410,
  TooLarge: 413,
  ReceiptsOff: 422,
  RateLimited: 429,
  Internal: 500,
  Unavailable: 503
};
var CloseCode = {
  /** The connection's token expired before connect.refresh gave it a new one (reason "token expired"). */
  TokenExpired: 4001
};
var SeenError = class extends Error {
  constructor(code, message, data, method) {
    super(method ? `${method}: ${message} (${code})` : `${message} (${code})`);
    this.name = "SeenError";
    this.code = code;
    this.data = data;
    this.method = method;
  }
  /** The server's own message, without the method and code. */
  get serverMessage() {
    const m = this.message;
    const start = this.method ? this.method.length + 2 : 0;
    return m.slice(start, m.lastIndexOf(" ("));
  }
  /** data.field of a -32602 (or 404/413) error: the parameter the server refused. */
  get field() {
    const f = this.data?.["field"];
    return typeof f === "string" ? f : void 0;
  }
};
var ConnectionError = class extends Error {
  constructor(reason, message) {
    super(message);
    this.name = "ConnectionError";
    this.reason = reason;
  }
};

// src/client.ts
var MAX_MSG_IDS = 100;
function attributeRead(read, total, own) {
  return read >= total ? own : Math.min(read, own);
}
var OPEN = 1;
function newClientMsgId() {
  const c = globalThis.crypto;
  const b = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") {
    c.getRandomValues(b);
  } else {
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
  }
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
function refreshDelay(leftMs) {
  let d = leftMs * 3 / 4;
  if (leftMs - d < 5e3) d = leftMs - 5e3;
  return Math.max(d, 1e3);
}
function conversationKey(c) {
  return `${c.type}:${c.id}`;
}
function frameText(data) {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    return new TextDecoder().decode(data);
  }
  return String(data);
}
var SeenClient = class {
  constructor(options) {
    this.ws = null;
    this.nextId = 0;
    this.pending = /* @__PURE__ */ new Map();
    /** Requests made while (re)connecting; sent once connected. */
    this.waiting = [];
    this.handlers = /* @__PURE__ */ new Map();
    this._state = "idle";
    this._userId = "";
    this._device = "";
    this.serverOffset = 0;
    this.reconnectTimer = null;
    this.connectPromise = null;
    this.expiresAt = 0;
    this.refreshTimer = null;
    // Delivery acks: highest seq to ack per conversation, and highest the server took.
    this.ackPending = /* @__PURE__ */ new Map();
    this.ackDone = /* @__PURE__ */ new Map();
    this.ackTimer = null;
    // Read acks: per conversation, the read() calls waiting for a request.
    this.readQueues = /* @__PURE__ */ new Map();
    this.lastOrphan = null;
    if (!options.url) throw new TypeError("SeenClient: url is required");
    if (!options.token && !options.getToken) throw new TypeError("SeenClient: token or getToken is required");
    this.opts = {
      autoDelivered: true,
      readBatching: true,
      deliveredDelayMs: 50,
      reconnect: true,
      backoffMinMs: 200,
      backoffMaxMs: 3e4,
      connectTimeoutMs: 15e3,
      requestTimeoutMs: 3e4,
      ...options
    };
    const WS = options.WebSocket ?? globalThis.WebSocket;
    if (!WS) {
      throw new TypeError("SeenClient: no global WebSocket; pass the WebSocket option (e.g. the ws package's)");
    }
    this.WS = WS;
    this.backoff = new Backoff(this.opts.backoffMinMs, this.opts.backoffMaxMs);
    this.refreshBackoff = new Backoff(this.opts.backoffMinMs, this.opts.backoffMaxMs);
  }
  /** The connected user, once connected. */
  get userId() {
    return this._userId;
  }
  /** This device's name (the server's choice when none was given). */
  get device() {
    return this._device;
  }
  get state() {
    return this._state;
  }
  get connected() {
    return this._state === "open";
  }
  /** The server's clock estimate: Date.now() corrected by the offset seen at connect. */
  serverNow() {
    return Date.now() + this.serverOffset;
  }
  /**
   * Opens the socket and sends `connect`. Rejects with a SeenError (401 for a
   * bad token) or a ConnectionError; the first connect is not retried.
   */
  connect() {
    if (this._state === "closed") return Promise.reject(new ConnectionError("closed", "client closed"));
    if (this.connectPromise) return this.connectPromise;
    if (this._state === "open") {
      return Promise.resolve({
        userId: this._userId,
        device: this._device,
        serverTime: this.serverNow(),
        expiresAt: this.expiresAt
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
          this._state = "idle";
          this.failWaiting(err instanceof Error ? err : new Error(String(err)));
        }
        throw err;
      }
    );
    this.connectPromise = p;
    return p;
  }
  /** Closes the connection (status 1000) for good: no reconnect; pending requests fail with ConnectionError("closed"). */
  close() {
    if (this._state === "closed") return;
    this.stop(void 0);
  }
  /**
   * Registers a handler of a server event (message.new, receipt.changed, ...)
   * or of a client event (reconnect, disconnect, closed, event). Returns a
   * function that removes it. Handlers run in arrival order.
   */
  on(event, handler) {
    let set = this.handlers.get(event);
    if (!set) {
      set = /* @__PURE__ */ new Set();
      this.handlers.set(event, set);
    }
    set.add(handler);
    return () => this.off(event, handler);
  }
  off(event, handler) {
    this.handlers.get(event)?.delete(handler);
  }
  /** Registers a handler run after each successful reconnect: re-sync by state there. */
  onReconnect(handler) {
    return this.on("reconnect", handler);
  }
  // ---- methods ----
  /** Any method, by wire name. Resolves with the result; rejects with SeenError or ConnectionError. */
  call(method, params = {}) {
    if (this._state === "closed") return Promise.reject(new ConnectionError("closed", `${method}: client closed`));
    if (this._state === "idle") {
      return Promise.reject(new ConnectionError("disconnected", `${method}: not connected; call connect() first`));
    }
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const p = { method, resolve, reject };
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
  rpc(method, params) {
    return this.call(method, params);
  }
  /** message.send. The body is any JSON value. */
  async send(conversation, body, options = {}) {
    const clientMsgId = options.clientMsgId ?? newClientMsgId();
    const res = await this.rpc("message.send", {
      conversation,
      clientMsgId,
      body,
      receipt: options.receipt ?? false,
      ...options.remindAfterMs === void 0 ? {} : { remindAfterMs: options.remindAfterMs }
    });
    return { ...res, clientMsgId };
  }
  /** message.history: newest first; beforeSeq is exclusive. */
  history(conversation, options = {}) {
    return this.rpc("message.history", { conversation, ...options });
  }
  /** message.delivered: this device has received everything up to seq. Sent by itself with autoDelivered. */
  delivered(conversation, seq) {
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
  read(conversation, msgIds, options = {}) {
    if (options.private) {
      return this.rpc("message.read", { conversation, msgIds, private: true }).then((r) => r.read);
    }
    if (!this.opts.readBatching || msgIds.length === 0 || msgIds.length > MAX_MSG_IDS) {
      return this.readNow(conversation, msgIds);
    }
    return new Promise((resolve, reject) => {
      const key = conversationKey(conversation);
      const w = { ids: [...msgIds], resolve, reject };
      const q = this.readQueues.get(key);
      if (q) {
        q.waiting.push(w);
        return;
      }
      const nq = { conv: conversation, waiting: [w] };
      this.readQueues.set(key, nq);
      queueMicrotask(() => void this.flushReads(key, nq));
    });
  }
  async readNow(conversation, msgIds) {
    const res = await this.rpc("message.read", { conversation, msgIds });
    return res.read;
  }
  /** Sends q's reads, one request in flight at a time, until none wait; then q goes away. */
  async flushReads(key, q) {
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
  async sendReads(conv, batch) {
    const ids = batch.flatMap((w) => w.ids);
    let read;
    try {
      read = await this.readNow(conv, ids);
    } catch (err) {
      if (!(err instanceof SeenError) || batch.length === 1) {
        for (const w of batch) w.reject(err);
        return;
      }
      for (const w of batch) {
        try {
          w.resolve(await this.readNow(conv, w.ids));
        } catch (e) {
          w.reject(e);
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
  async readConversation(conversation, seq, options = {}) {
    const params = { conversation };
    if (seq !== void 0) params.seq = seq;
    if (options.private) params.private = true;
    const res = await this.rpc("conversation.read", params);
    return res.readSeq;
  }
  /** settings.get: the user's receipt sharing switches (both true until changed). */
  settings() {
    return this.rpc("settings.get", {});
  }
  /**
   * settings.update: change either switch or both; resolves with the settings
   * as they now stand. The server applies them to every later ack of the
   * user, whatever device sends it; the user's other devices get
   * "settings.changed".
   */
  updateSettings(update) {
    return this.rpc("settings.update", update);
  }
  /** conversation.list: one page. */
  conversations(options = {}) {
    return this.rpc("conversation.list", { limit: 100, ...options });
  }
  /** receipt.request: ask a group for read receipts of the caller's own message; a repeat reminds those who have not read it. */
  requestReceipt(conversation, msgId, options = {}) {
    return this.rpc("receipt.request", { conversation, msgId, ...options });
  }
  /** receipt.query: one Receipt per msgId (1-100). */
  async queryReceipts(conversation, msgIds) {
    const res = await this.rpc("receipt.query", { conversation, msgIds });
    return res.receipts;
  }
  /** receipt.members: one page of the read / unread / delivered / undelivered members of a message. */
  receiptMembers(conversation, msgId, filter, options = {}) {
    return this.rpc("receipt.members", { conversation, msgId, filter, ...options });
  }
  /** group.create: the caller becomes its owner. Resolves with the groupId. */
  async createGroup(groupId, members, options = {}) {
    const params = { groupId, members };
    if (options.type !== void 0) params.type = options.type;
    const res = await this.rpc("group.create", params);
    return res.groupId;
  }
  /** group.add (owner and admins). */
  addMembers(groupId, userIds) {
    return this.rpc("group.add", { groupId, userIds });
  }
  /** group.remove (owner and admins). */
  removeMembers(groupId, userIds) {
    return this.rpc("group.remove", { groupId, userIds });
  }
  /** group.leave. */
  leaveGroup(groupId) {
    return this.rpc("group.leave", { groupId });
  }
  /**
   * connect.refresh: hands the server a new token for the same user; the
   * connection then lives until its exp. Rejects with SeenError 401 for a
   * bad token or another user's, which changes nothing. With getToken the
   * client does this by itself.
   */
  async refreshToken(token) {
    const res = await this.rpc("connect.refresh", { token });
    this.expiresAt = res.expiresAt;
    return res;
  }
  /** group.members: one page. */
  groupMembers(groupId, options = {}) {
    return this.rpc("group.members", { groupId, ...options });
  }
  // ---- connection ----
  async token() {
    if (this.opts.getToken) return await this.opts.getToken();
    return this.opts.token;
  }
  /**
   * Opens a socket and runs the connect handshake; on success the socket
   * becomes the live one. The server subscribes the socket before it answers
   * connect, so events may come first: they are kept and handled right after
   * the answer (and after `reconnect`), in order.
   */
  dial(reconnecting) {
    return new Promise((resolve, reject) => {
      let settled = false;
      let ws;
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          ws?.close();
        } catch {
        }
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new ConnectionError("timeout", `connect: no answer within ${this.opts.connectTimeoutMs} ms`)),
        this.opts.connectTimeoutMs
      );
      let tokenP;
      try {
        tokenP = this.token();
      } catch (e) {
        fail(e);
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
            fail(e);
            return;
          }
          const connectId = ++this.nextId;
          const early = [];
          ws.onopen = () => {
            const params = { token };
            const device = this.opts.device || this._device;
            if (device) params.device = device;
            ws.send(JSON.stringify({ jsonrpc: "2.0", id: connectId, method: "connect", params }));
          };
          ws.onerror = () => {
          };
          ws.onclose = (ev) => {
            fail(new ConnectionError("disconnected", `connect: socket closed (${ev.code}${ev.reason ? " " + ev.reason : ""})`));
          };
          ws.onmessage = (ev) => {
            const text = frameText(ev.data);
            let f;
            try {
              f = JSON.parse(text);
            } catch {
              return;
            }
            if (f === null || typeof f !== "object") return;
            if (typeof f.method === "string" && f.id === void 0) {
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
              ws.close(1e3);
              reject(new ConnectionError("closed", "client closed"));
              return;
            }
            const res = f.result;
            this.adopt(ws, res);
            if (reconnecting) this.emit("reconnect", res);
            for (const text2 of early) {
              if (this.ws !== ws) break;
              this.onFrame(text2);
            }
            resolve(res);
          };
        },
        (e) => fail(e instanceof Error ? e : new Error(String(e)))
      );
    });
  }
  /** Makes ws the live connection after a successful connect. */
  adopt(ws, res) {
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
    };
    const waiting = this.waiting;
    this.waiting = [];
    for (const w of waiting) {
      if (this.pending.has(w.id)) ws.send(w.frame());
    }
    if (this.ackPending.size > 0) this.scheduleAcks();
  }
  onFrame(text) {
    let f;
    try {
      f = JSON.parse(text);
    } catch {
      return;
    }
    if (f === null || typeof f !== "object") return;
    if (typeof f.method === "string" && f.id === void 0) {
      this.onEvent(f.method, f.params);
      return;
    }
    if (f.id === null || f.id === void 0) {
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
  onEvent(method, params) {
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
  scheduleRefresh(ws, delay) {
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      void this.refreshNow(ws);
    }, delay);
  }
  /** Gets a token and sends connect.refresh on ws; on failure tries again with backoff while ws lives. */
  async refreshNow(ws) {
    try {
      const token = await this.token();
      if (this.ws !== ws) return;
      const res = await this.refreshToken(token);
      if (this.ws !== ws) return;
      this.refreshBackoff.reset();
      this.scheduleRefresh(ws, refreshDelay(res.expiresAt - this.serverNow()));
    } catch {
      if (this.ws !== ws || this._state !== "open") return;
      this.scheduleRefresh(ws, this.refreshBackoff.next());
    }
  }
  onDrop(ws, ev) {
    if (this.ws !== ws) return;
    this.ws = null;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    if (this._state === "closed") return;
    const cause = this.lastOrphan;
    this.lastOrphan = null;
    const err = new ConnectionError(
      "disconnected",
      `connection lost (${ev.code}${ev.reason ? " " + ev.reason : ""})${cause ? ": " + cause.message : ""}`
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
  scheduleReconnect() {
    if (this._state !== "reconnecting") return;
    const delay = this.backoff.next();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this._state !== "reconnecting") return;
      this.dial(true).then(
        () => {
        },
        (err) => {
          if (this._state !== "reconnecting") return;
          if (err instanceof SeenError && err.code === ErrorCode.Unauthorized) {
            this.emit("disconnect", err);
            this.stop(err);
            return;
          }
          this.scheduleReconnect();
        }
      );
    }, delay);
  }
  stop(err) {
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
        ws.close(1e3);
      } catch {
      }
    }
    const e = new ConnectionError("closed", err ? `client stopped: ${err.message}` : "client closed");
    this.failPending(e);
    this.failWaiting(e);
    this.emit("closed", err);
  }
  failPending(err) {
    const waitingIds = new Set(this.waiting.map((w) => w.id));
    for (const [id, p] of this.pending) {
      if (waitingIds.has(id)) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new ConnectionError(err.reason ?? "disconnected", `${p.method}: ${err.message}`));
    }
  }
  failWaiting(err) {
    for (const w of this.waiting) {
      const p = this.pending.get(w.id);
      if (!p) continue;
      this.pending.delete(w.id);
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.waiting = [];
  }
  emit(event, payload) {
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
  markDelivered(conversation, seq) {
    if (seq >= 1) this.noteDelivered(conversation, seq);
  }
  noteDelivered(conv, seq) {
    const key = conversationKey(conv);
    if (seq <= (this.ackDone.get(key) ?? 0) || seq <= (this.ackPending.get(key)?.seq ?? 0)) return;
    this.ackPending.set(key, { conv: { type: conv.type, id: conv.id }, seq });
    this.scheduleAcks();
  }
  scheduleAcks() {
    if (this.ackTimer || this._state === "closed") return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      void this.flushAcks();
    }, this.opts.deliveredDelayMs);
  }
  async flushAcks() {
    if (this._state !== "open") return;
    const batch = this.ackPending;
    this.ackPending = /* @__PURE__ */ new Map();
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
        }
      })
    );
  }
};
async function connect(options) {
  const c = new SeenClient(options);
  await c.connect();
  return c;
}
export {
  Backoff,
  CloseCode,
  ConnectionError,
  ErrorCode,
  SeenClient,
  SeenError,
  connect,
  conversationKey,
  newClientMsgId,
  refreshDelay
};
