// The Seen browser demo, built from web/src by `npm run build` in sdk/js. Do not edit: edit web/src.

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
    const start2 = this.method ? this.method.length + 2 : 0;
    return m.slice(start2, m.lastIndexOf(" ("));
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
  call(method, params2 = {}) {
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
      const frame = () => JSON.stringify({ jsonrpc: "2.0", id, method, params: params2 });
      if (this._state === "open" && this.ws && this.ws.readyState === OPEN) {
        this.ws.send(frame());
      } else {
        this.waiting.push({ id, frame });
      }
    });
  }
  /** A method by wire name, its params and result typed as in Methods (the wire shapes). */
  rpc(method, params2) {
    return this.call(method, params2);
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
    const params2 = { conversation };
    if (seq !== void 0) params2.seq = seq;
    if (options.private) params2.private = true;
    const res = await this.rpc("conversation.read", params2);
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
    const params2 = { groupId, members };
    if (options.type !== void 0) params2.type = options.type;
    const res = await this.rpc("group.create", params2);
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
            const params2 = { token };
            const device = this.opts.device || this._device;
            if (device) params2.device = device;
            ws.send(JSON.stringify({ jsonrpc: "2.0", id: connectId, method: "connect", params: params2 }));
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
  onEvent(method, params2) {
    if (method === "message.new" && this.opts.autoDelivered) {
      const m = params2?.message;
      if (m && m.sender !== this._userId && m.conversation && typeof m.seq === "number") {
        this.noteDelivered(m.conversation, m.seq);
      }
    }
    this.emit("event", { method, params: params2 });
    this.emit(method, params2);
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
    for (const h2 of [...set]) {
      try {
        h2(payload);
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

// ../../web/src/dom.ts
function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el;
}
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  if (props.className) el.className = props.className;
  if (props.testid) el.dataset["testid"] = props.testid;
  if (props.text !== void 0) el.textContent = props.text;
  if (props.title) el.title = props.title;
  el.append(...children);
  return el;
}
function button(props, onClick) {
  const b = h("button", props);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
function setHidden(el, hidden) {
  if (el.hidden !== hidden) el.hidden = hidden;
}
function setClass(el, className) {
  if (el.className !== className) el.className = className;
}
function setData(el, name, value) {
  if (el.dataset[name] !== value) el.dataset[name] = value;
}
function placeChildren(parent, nodes) {
  let cursor = parent.firstChild;
  for (const n of nodes) {
    if (n === cursor) {
      cursor = cursor.nextSibling;
      continue;
    }
    parent.insertBefore(n, cursor);
  }
  while (cursor) {
    const next = cursor.nextSibling;
    parent.removeChild(cursor);
    cursor = next;
  }
}
var COLORS = ["#5b8def", "#e7864a", "#3fae7a", "#b765d8", "#d6546b", "#2fa6b5", "#c59a2b", "#6c7bd1"];
function paintAvatar(el, name, group = false) {
  const of = (group ? "#" : "@") + name;
  if (el.dataset["avatarOf"] === of) return;
  el.dataset["avatarOf"] = of;
  let hash = 0;
  for (const ch of name) hash = hash * 31 + ch.charCodeAt(0) >>> 0;
  el.style.background = COLORS[hash % COLORS.length] ?? COLORS[0];
  setText(el, group ? "#" : (name[0] ?? "?").toUpperCase());
  setClass(el, [...el.classList].filter((c) => c !== "group").concat(group ? ["group"] : []).join(" "));
}
function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}
function bodyText(body) {
  if (body && typeof body === "object" && typeof body.text === "string") {
    return body.text;
  }
  return typeof body === "string" ? body : JSON.stringify(body);
}
var toastTimer;
function toast(text) {
  const t = byId("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.hidden = true, 4e3);
}

// ../../web/src/conversations.ts
var ConversationList = class {
  constructor(ul, empty, onOpen) {
    this.ul = ul;
    this.empty = empty;
    this.onOpen = onOpen;
    this.rows = /* @__PURE__ */ new Map();
  }
  update(state) {
    const convs = state.sortedConvs();
    setHidden(this.empty, convs.length > 0);
    const live = /* @__PURE__ */ new Set();
    const nodes = [];
    for (const c of convs) {
      const key = conversationKey(c.conversation);
      live.add(key);
      let row = this.rows.get(key);
      if (!row) this.rows.set(key, row = new ConversationRow(key, c.conversation, this.onOpen));
      row.update(c, key === state.open, state.me);
      nodes.push(row.li);
    }
    for (const key of this.rows.keys()) if (!live.has(key)) this.rows.delete(key);
    placeChildren(this.ul, nodes);
  }
};
var ConversationRow = class {
  constructor(key, conversation, onOpen) {
    this.remind = null;
    this.badge = null;
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
      this.right
    );
    this.li.dataset["conv"] = key;
    this.li.tabIndex = 0;
    this.li.setAttribute("role", "button");
    this.li.addEventListener("click", () => onOpen(conversation));
    this.li.addEventListener("keydown", (ev) => ev.key === "Enter" && onOpen(conversation));
  }
  update(c, active, me) {
    const group = c.conversation.type === "group";
    setClass(this.li, active ? "conv active" : "conv");
    let preview = group ? "group" : "new chat";
    if (c.lastMessage) {
      const who = c.lastMessage.sender === me ? "You" : group ? c.lastMessage.sender : "";
      preview = (who ? who + ": " : "") + bodyText(c.lastMessage.body);
    }
    setText(this.last, preview);
    if (c.reminded) {
      this.remind ?? (this.remind = h("span", { className: "remind-mark", testid: "remind-marker", text: "reminder", title: "Someone asked you to read a message" }));
    } else {
      this.remind = null;
    }
    if (c.unreadCount > 0 && !active) {
      this.badge ?? (this.badge = h("span", { className: "badge", testid: "unread-badge" }));
      setText(this.badge, c.unreadCount > 99 ? "99+" : String(c.unreadCount));
    } else {
      this.badge = null;
    }
    placeChildren(this.right, [this.remind, this.badge].filter((n) => n !== null));
  }
};

// ../../web/src/join.ts
var ID_RE = /^[A-Za-z0-9_.@-]{1,64}$/;
var SESSION = "seen.session";
async function demoToken(userId) {
  const r = await fetch("/v1/demo/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ userId })
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const msg = body?.error?.message || `HTTP ${r.status}`;
    throw new Error(r.status === 404 ? "Demo mode is off on this server (SEEN_DEMO=off)." : msg);
  }
  return body;
}
function savedSession() {
  const saved2 = sessionStorage.getItem(SESSION);
  if (!saved2) return null;
  try {
    const s = JSON.parse(saved2);
    if (typeof s.token === "string" && typeof s.userId === "string" && s.expiresAt > Date.now() + 6e4) return s;
  } catch {
  }
  sessionStorage.removeItem(SESSION);
  return null;
}
function forgetSession() {
  sessionStorage.removeItem(SESSION);
}
function initJoinForm(start2) {
  const form = byId("join").querySelector("form");
  const submit = form.querySelector("button");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = byId("join-name").value.trim();
    if (!ID_RE.test(name)) return showJoinError("Use 1-64 letters, digits or _ . @ -");
    showJoinError("");
    submit.disabled = true;
    try {
      const s = await demoToken(name);
      sessionStorage.setItem(SESSION, JSON.stringify(s));
      await start2(s);
    } catch (err) {
      showJoinError(err instanceof Error ? err.message : String(err));
    } finally {
      submit.disabled = false;
    }
  });
}
function showJoinError(text) {
  const e = byId("join-error");
  e.textContent = text;
  e.hidden = !text;
}
function showJoin() {
  byId("join").hidden = false;
  byId("app").hidden = true;
}

// ../../web/src/messages.ts
var ChatView = class {
  constructor(actions) {
    this.actions = actions;
    this.ol = byId("messages");
    this.empty = byId("chat-empty");
    this.head = byId("chat-head");
    this.composer = byId("composer");
    this.title = byId("chat-title");
    this.sub = byId("chat-sub");
    this.avatar = byId("chat-avatar");
    this.rows = /* @__PURE__ */ new Map();
    this.pendingRows = /* @__PURE__ */ new Map();
    this.none = h("li", { className: "muted small none", text: "No messages yet. Say hello!" });
    /** The conversation the rows belong to. */
    this.shown = null;
    this.older = h(
      "li",
      { className: "older" },
      button({ className: "link small", testid: "load-older", text: "earlier messages" }, () => this.shown && this.actions.loadOlder(this.shown))
    );
  }
  update(state) {
    const key = state.open;
    const conv = key ? state.convs.get(key) : void 0;
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
    const nodes = [];
    if (conv.hasMore) nodes.push(this.older);
    const msgs = state.sortedMessages(key);
    const pending = state.pending.get(key) ?? [];
    if (!msgs.length && !pending.length) nodes.push(this.none);
    const live = /* @__PURE__ */ new Set();
    for (const m of msgs) {
      live.add(m.msgId);
      let row = this.rows.get(m.msgId);
      if (!row) this.rows.set(m.msgId, row = new MessageRow(m, m.sender === state.me, group, this.actions));
      row.update(rowState(state, conv, m));
      nodes.push(row.li);
    }
    for (const id of this.rows.keys()) if (!live.has(id)) this.rows.delete(id);
    const livePending = /* @__PURE__ */ new Set();
    for (const p of pending) {
      livePending.add(p.clientMsgId);
      let row = this.pendingRows.get(p.clientMsgId);
      if (!row) this.pendingRows.set(p.clientMsgId, row = new PendingRow(key, p, this.actions));
      row.update(p);
      nodes.push(row.li);
    }
    for (const id of this.pendingRows.keys()) if (!livePending.has(id)) this.pendingRows.delete(id);
    placeChildren(this.ol, nodes);
    if (atBottom) this.scrollToBottom();
  }
  scrollToBottom() {
    this.ol.scrollTop = this.ol.scrollHeight;
  }
};
function rowState(state, conv, m) {
  if (m.sender !== state.me) return { askable: false };
  if (conv.conversation.type === "peer") return { tick: state.peerTick(conv, m), askable: false };
  const r = state.receipts.get(m.msgId);
  if (r && r.status !== "none") return { receipt: r, askable: false };
  return { askable: m.receipt === void 0 };
}
var MessageRow = class {
  constructor(m, mine, group, actions) {
    this.m = m;
    this.actions = actions;
    this.ticks = null;
    this.summary = null;
    this.status = null;
    this.ask = null;
    this.li = h("li", { className: "msg " + (mine ? "mine" : "theirs"), testid: "message" });
    this.li.dataset["msgid"] = m.msgId;
    this.li.dataset["seq"] = String(m.seq);
    this.li.dataset["mine"] = String(mine);
    this.meta = h("span", { className: "meta" }, h("span", { text: clock(m.sentAt) }));
    const text = h("span", { className: "text", testid: "message-text", text: bodyText(m.body) });
    this.fixed = group && !mine ? [h("span", { className: "sender", text: m.sender }), text, this.meta] : [text, this.meta];
    this.li.append(...this.fixed);
  }
  update(s) {
    if (s.tick) {
      this.ticks ?? (this.ticks = this.meta.appendChild(h("span", { testid: "ticks" })));
      setClass(this.ticks, `ticks ${s.tick}`);
      setData(this.ticks, "state", s.tick);
      this.ticks.title = s.tick;
      this.ticks.setAttribute("aria-label", s.tick);
      setText(this.ticks, s.tick === "sent" ? "\u2713" : "\u2713\u2713");
    }
    const r = s.receipt;
    if (r) {
      this.summary ?? (this.summary = button({ testid: "receipt-summary", title: "Who has read it" }, () => this.actions.openPanel(this.m.conversation, this.m.msgId)));
      setClass(this.summary, `receipt-summary ${r.status}`);
      setData(this.summary, "read", String(r.readCount));
      setData(this.summary, "unread", String(r.unreadCount));
      setData(this.summary, "status", r.status);
      setText(this.summary, `${r.readCount} read \xB7 ${r.unreadCount} unread`);
    } else {
      this.summary = null;
    }
    if (r && (r.status === "expired" || r.status === "done")) {
      this.status ?? (this.status = h("span", { testid: "receipt-status" }));
      setClass(this.status, `receipt-status ${r.status}`);
      setText(this.status, r.status === "expired" ? "receipt expired" : "read by all");
    } else {
      this.status = null;
    }
    if (s.askable) {
      this.ask ?? (this.ask = button(
        { className: "link small ask", testid: "request-receipt", text: "ask for read receipts" },
        () => this.actions.askReceipts(this.m.conversation, this.m.msgId)
      ));
    } else {
      this.ask = null;
    }
    placeChildren(this.li, [...this.fixed, this.summary, this.status, this.ask].filter((n) => n !== null));
  }
};
var PendingRow = class {
  constructor(key, p, actions) {
    this.meta = h("span", { className: "meta" });
    this.sending = document.createTextNode("sending\u2026");
    this.li = h("li", { testid: "message-pending" }, h("span", { className: "text", text: bodyText(p.body) }), this.meta);
    this.retry = button({ className: "link small" }, () => actions.retry(key, p));
  }
  update(p) {
    setClass(this.li, "msg mine pending" + (p.failed ? " failed" : ""));
    if (p.failed) setText(this.retry, `${p.error} \xB7 retry`);
    placeChildren(this.meta, [p.failed ? this.retry : this.sending]);
  }
};

// ../../web/src/panel.ts
var ReceiptPanel = class {
  constructor(deps) {
    this.deps = deps;
    this.lists = { read: new MemberList("read"), unread: new MemberList("unread") };
    byId("panel-close").addEventListener("click", () => this.close());
    const wrap = byId("panel-wrap");
    wrap.addEventListener("click", (ev) => ev.target === wrap && this.close());
    document.addEventListener("keydown", (ev) => ev.key === "Escape" && deps.state.panel && this.close());
    for (const filter of ["read", "unread"]) byId(`${filter}-more`).addEventListener("click", () => void this.more(filter));
    byId("remind").addEventListener("click", () => void this.remind());
  }
  async open(conversation, msgId) {
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
  close() {
    this.deps.state.panel = null;
    byId("panel-wrap").hidden = true;
    document.body.classList.remove("panel-open");
  }
  /** Shows the receipt's counts at once, then the first page of each list. */
  async refresh() {
    const { client, state, pageSize } = this.deps;
    const p = state.panel;
    if (!p) return;
    const generation = ++p.generation;
    this.paintStatus(state.receipts.get(p.msgId));
    let pages;
    try {
      pages = await Promise.all([
        client.receiptMembers(p.conversation, p.msgId, "read", { limit: pageSize }),
        client.receiptMembers(p.conversation, p.msgId, "unread", { limit: pageSize })
      ]);
    } catch (err) {
      setText(byId("panel-status"), err instanceof SeenError ? err.serverMessage : String(err));
      return;
    }
    if (state.panel !== p || p.generation !== generation) return;
    this.show(p, "read", pages[0], true);
    this.show(p, "unread", pages[1], true);
  }
  async more(filter) {
    const p = this.deps.state.panel;
    const cursor = p?.cursors[filter];
    if (!p || !cursor) return;
    const page = await this.deps.client.receiptMembers(p.conversation, p.msgId, filter, { limit: this.deps.pageSize, cursor });
    if (this.deps.state.panel === p) this.show(p, filter, page, false);
  }
  show(p, filter, page, first) {
    this.lists[filter].show(page.members, first);
    p.cursors[filter] = page.done ? null : page.nextCursor ?? null;
    setHidden(byId(`${filter}-more`), page.done || !page.nextCursor);
  }
  paintStatus(r) {
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
      r.status === "expired" ? `Receipt expired${expires ? " at " + expires : ""}: counts are frozen. ${r.readCount} read \xB7 ${r.unreadCount} unread.` : r.status === "done" ? `Read by everyone (${r.readCount}).` : `${r.readCount} read \xB7 ${r.unreadCount} unread \xB7 ${r.deliveredCount} delivered${expires ? " \xB7 expires " + expires : ""}`
    );
    byId("remind").disabled = r.status !== "pending" || r.unreadCount === 0;
  }
  async remind() {
    const { client, state } = this.deps;
    const p = state.panel;
    if (!p) return;
    const note = byId("remind-note");
    byId("remind").disabled = true;
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
};
var MemberList = class {
  constructor(filter) {
    this.rows = /* @__PURE__ */ new Map();
    this.order = [];
    this.ul = byId(`${filter}-list`);
    this.none = h("li", { className: "muted small none", text: filter === "read" ? "Nobody yet" : "Everyone has read it" });
  }
  clear() {
    this.rows.clear();
    this.order = [];
    placeChildren(this.ul, []);
  }
  show(members, first) {
    const order = first ? [] : [...this.order];
    for (const mem of members) {
      let row = this.rows.get(mem.userId);
      if (!row) this.rows.set(mem.userId, row = memberRow(mem.userId));
      setText(row.at, mem.at ? clock(mem.at) : "");
      setHidden(row.at, !mem.at);
      if (!order.includes(mem.userId)) order.push(mem.userId);
    }
    for (const id of this.rows.keys()) if (!order.includes(id)) this.rows.delete(id);
    this.order = order;
    const nodes = order.map((id) => this.rows.get(id).li);
    placeChildren(this.ul, nodes.length ? nodes : [this.none]);
  }
};
function memberRow(userId) {
  const av = h("span", { className: "avatar small" });
  paintAvatar(av, userId);
  const at = h("span", { className: "muted small" });
  const li = h("li", { testid: "member-item" }, av, h("span", { className: "member-name", text: userId }), at);
  li.dataset["user"] = userId;
  return { li, at };
}

// ../../web/src/sidebar.ts
function sideError(text) {
  const e = byId("side-error");
  e.textContent = text;
  e.hidden = !text;
}
function initSidebar(a) {
  const peer = byId("new-peer");
  byId("new-peer-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = peer.value.trim();
    sideError("");
    if (!ID_RE.test(name)) return sideError("A user name is 1-64 letters, digits or _ . @ -");
    if (name === a.me) return sideError("That is you: pick someone else.");
    peer.value = "";
    a.open({ type: "peer", id: name });
  });
  const groupId = byId("new-group-id");
  const groupMembers = byId("new-group-members");
  byId("new-group-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sideError("");
    const id = groupId.value.trim();
    const members = groupMembers.value.split(/[\s,;]+/).map((s) => s.trim()).filter((s) => s && s !== a.me);
    if (!ID_RE.test(id)) return sideError("A group name is 1-64 letters, digits or _ . @ -");
    if (!members.length || !members.every((m) => ID_RE.test(m))) return sideError("List members by user name, e.g. bob, carol");
    try {
      await a.createGroup(id, [...new Set(members)]);
    } catch (err) {
      return sideError(err instanceof Error ? err.message : String(err));
    }
    groupId.value = "";
    groupMembers.value = "";
    byId("new-group").open = false;
    a.open({ type: "group", id });
  });
}

// ../../web/src/state.ts
var DemoState = class {
  constructor(me) {
    this.convs = /* @__PURE__ */ new Map();
    /** Per conversation key: messages by seq. */
    this.messages = /* @__PURE__ */ new Map();
    /** Per conversation key: sends not yet answered, oldest first. */
    this.pending = /* @__PURE__ */ new Map();
    /** Receipts of this user's own messages, by msgId. */
    this.receipts = /* @__PURE__ */ new Map();
    /** Own peer messages the peer read (receipt.read). */
    this.readByPeer = /* @__PURE__ */ new Set();
    /** Key of the open conversation. */
    this.open = null;
    this.panel = null;
    this.me = me;
  }
  ensureConv(conversation) {
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
        hasMore: false
      };
      this.convs.set(key, c);
    }
    return c;
  }
  addMessage(key, m) {
    let msgs = this.messages.get(key);
    if (!msgs) this.messages.set(key, msgs = /* @__PURE__ */ new Map());
    msgs.set(m.seq, m);
  }
  mergeReceipt(r) {
    const merged = { ...this.receipts.get(r.msgId), ...r };
    this.receipts.set(r.msgId, merged);
    return merged;
  }
  /** Messages of a conversation, oldest first. */
  sortedMessages(key) {
    return [...this.messages.get(key)?.values() ?? []].sort((a, b) => a.seq - b.seq);
  }
  findMessage(msgId) {
    for (const msgs of this.messages.values()) for (const m of msgs.values()) if (m.msgId === msgId) return m;
    return null;
  }
  /** Conversations as the sidebar lists them: latest message first, new empty chats on top. */
  sortedConvs() {
    const at = (c) => c.lastMessage?.sentAt || Infinity;
    return [...this.convs.values()].sort((a, b) => at(b) - at(a) || a.conversation.id.localeCompare(b.conversation.id));
  }
  /** The tick of an own peer message: sent, delivered, or read. */
  peerTick(conv, m) {
    if (conv.peerReadSeq >= m.seq || this.readByPeer.has(m.msgId) || this.receipts.get(m.msgId)?.status === "done") return "read";
    if (conv.peerDeliveredSeq >= m.seq) return "delivered";
    return "sent";
  }
};

// ../../web/src/app.ts
var CONN_TEXT = { open: "online", connecting: "connecting", reconnecting: "reconnecting\u2026", closed: "offline" };
var DemoApp = class {
  constructor(client, me, pageSize) {
    this.client = client;
    this.expiryTimers = /* @__PURE__ */ new Map();
    /** Per conversation: the highest seq a conversation.read was sent for. */
    this.reading = /* @__PURE__ */ new Map();
    this.state = new DemoState(me);
    this.convList = new ConversationList(byId("convs"), byId("convs-empty"), (c) => void this.openConversation(c));
    this.chat = new ChatView({
      openPanel: (c, msgId) => void this.panel.open(c, msgId),
      askReceipts: (c, msgId) => void this.askReceipts(c, msgId),
      loadOlder: (key) => void this.loadOlder(key),
      retry: (key, p) => void this.sendMessage(key, p.body, p.receipt, p.clientMsgId)
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
      }
    });
    byId("back").addEventListener("click", () => this.closeConversation());
    byId("composer").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = byId("compose");
      const text = input.value.trim();
      const key = this.state.open;
      if (!key || !text) return;
      input.value = "";
      void this.sendMessage(key, { text }, byId("want-receipt").checked);
    });
    const priv = byId("read-privately");
    priv.addEventListener("change", () => {
      client.updateSettings({ shareReads: !priv.checked }).then((st) => priv.checked = !st.shareReads).catch((err) => {
        priv.checked = !priv.checked;
        toast(`Could not change the setting: ${err instanceof SeenError ? err.serverMessage : String(err)}`);
      });
    });
    this.wireEvents();
  }
  /** Shows the server's settings (after connecting, and after a reconnect). */
  async loadSettings() {
    const st = await this.client.settings();
    byId("read-privately").checked = !st.shareReads;
  }
  /** Connects, shows the app, loads the conversations and reopens the one this tab had open. */
  async start() {
    this.setConn("connecting");
    await this.client.connect();
    this.setConn("open");
    byId("join").hidden = true;
    byId("app").hidden = false;
    byId("me-name").textContent = this.state.me;
    paintAvatar(byId("me-avatar"), this.state.me);
    document.title = `${this.state.me} \u2014 Seen`;
    const want = sessionStorage.getItem("seen.open");
    await this.loadSettings();
    await this.loadConversations();
    const conv = want && !this.state.open ? this.state.convs.get(want) : void 0;
    if (conv) void this.openConversation(conv.conversation);
    this.render();
  }
  render() {
    this.convList.update(this.state);
    this.chat.update(this.state);
  }
  setConn(s) {
    const el = byId("conn");
    el.dataset["state"] = s;
    el.textContent = CONN_TEXT[s];
  }
  wireEvents() {
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
      if (m.sender === st.me) conv.readSeq = Math.max(conv.readSeq, m.seq);
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
      byId("read-privately").checked = !e.shareReads;
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
  async resync() {
    await this.loadSettings();
    await this.loadConversations();
    if (this.state.open) await this.loadHistory(this.state.open);
    this.render();
  }
  addMessage(key, m) {
    this.state.addMessage(key, m);
    if (m.sender === this.state.me && m.receipt && "status" in m.receipt) this.setReceipt(m.receipt);
  }
  setReceipt(r) {
    const merged = this.state.mergeReceipt(r);
    if (merged.status === "pending" && merged.expiresAt && !this.expiryTimers.has(r.msgId)) {
      const wait = Math.max(0, merged.expiresAt - this.client.serverNow()) + 300;
      this.expiryTimers.set(r.msgId, setTimeout(() => void this.requery(r.msgId), Math.min(wait, 2 ** 31 - 1)));
    }
  }
  async requery(msgId) {
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
  async loadConversations() {
    const st = this.state;
    let cursor;
    const listed = /* @__PURE__ */ new Set();
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
          peerDeliveredSeq: info.peerDeliveredSeq ?? 0
        });
        if (info.lastMessage) this.addMessage(key, info.lastMessage);
        if (info.unreadCount > 0) this.client.markDelivered(info.conversation, info.lastSeq);
      }
      cursor = page.nextCursor;
    } while (cursor);
    for (const key of known) if (!listed.has(key)) st.convs.delete(key);
  }
  async loadHistory(key, beforeSeq) {
    const conv = this.state.convs.get(key);
    if (!conv) return;
    const h2 = await this.client.history(conv.conversation, { limit: 50, beforeSeq });
    for (const m of h2.messages) this.addMessage(key, m);
    conv.hasMore = h2.hasMore;
    const mine = h2.messages.filter((m) => m.sender === this.state.me && m.receipt).map((m) => m.msgId);
    if (mine.length) for (const r of await this.client.queryReceipts(conv.conversation, mine)) this.setReceipt(r);
  }
  async loadOlder(key) {
    const first = this.state.sortedMessages(key)[0];
    await this.loadHistory(key, first?.seq);
    this.render();
  }
  isViewing(key) {
    return this.state.open === key && document.visibilityState === "visible";
  }
  /** Marks a conversation read up to its latest message (conversation.read). */
  markRead(key) {
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
  async openConversation(conversation) {
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
    if (conv) conv.lastSeq = Math.max(conv.lastSeq, ...st.messages.get(key)?.keys() ?? []);
    if (this.isViewing(key)) this.markRead(key);
    this.render();
    if (st.open === key) {
      this.chat.scrollToBottom();
      byId("compose").focus();
    }
  }
  closeConversation() {
    this.state.open = null;
    sessionStorage.removeItem("seen.open");
    document.body.classList.remove("chatting");
    this.render();
  }
  /** Sends (or resends, with the same clientMsgId: the server then answers with the original). */
  async sendMessage(key, body, receipt, clientMsgId) {
    const st = this.state;
    const conv = st.convs.get(key);
    if (!conv) return;
    const list = st.pending.get(key) ?? [];
    st.pending.set(key, list);
    let p = list.find((x) => x.clientMsgId === clientMsgId);
    if (!p) {
      p = { clientMsgId: clientMsgId || crypto.getRandomValues(new Uint32Array(4)).join("-"), body, receipt, failed: false, error: "" };
      list.push(p);
    }
    p.failed = false;
    this.render();
    this.chat.scrollToBottom();
    try {
      const res = await this.client.send(conv.conversation, body, { receipt, clientMsgId: p.clientMsgId });
      const m = { msgId: res.msgId, seq: res.seq, conversation: conv.conversation, sender: st.me, body, sentAt: res.sentAt };
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
        this.client.queryReceipts(conv.conversation, [res.msgId]).then(
          (rs) => {
            rs.forEach((r) => this.setReceipt(r));
            this.render();
          },
          () => {
          }
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
  async askReceipts(conversation, msgId) {
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
};

// ../../web/src/main.ts
var params = new URLSearchParams(location.search);
var PAGE_SIZE = Math.max(1, Math.min(100, Number(params.get("pageSize")) || 20));
async function start(s) {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`;
  const app = new DemoApp(new SeenClient({ url, token: s.token }), s.userId, PAGE_SIZE);
  await app.start();
}
initJoinForm(start);
byId("logout").addEventListener("click", () => {
  forgetSession();
  location.reload();
});
var saved = savedSession();
if (saved) {
  start(saved).catch(() => {
    forgetSession();
    showJoin();
  });
}
