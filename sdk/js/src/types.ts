// Wire types of the Seen client protocol v1 (docs/protocol.md).

/** A conversation, seen from the caller's side: a peer chat's id is the other user's id. */
export interface Conversation {
  type: "peer" | "group";
  id: string;
}

/** Receipt status: none (not asked), pending, done (everyone eligible read it), expired. */
export type ReceiptStatus = "none" | "pending" | "done" | "expired";

/** The receipt of one message, as its sender sees it. */
export interface Receipt {
  msgId: string;
  status: ReceiptStatus;
  readCount: number;
  unreadCount: number;
  deliveredCount: number;
  /** When the validity window closes (Unix ms); 0: never (peer receipts, or no SEEN_RECEIPTS_TTL). */
  expiresAt: number;
}

/** The receipt of someone else's message, as the caller sees it: whether the caller has acked it. */
export interface OwnAck {
  read: boolean;
  delivered: boolean;
}

export interface Message<B = unknown> {
  msgId: string;
  seq: number;
  conversation: Conversation;
  sender: string;
  body: B;
  sentAt: number;
  /** Present when the message asks for receipts: a Receipt for the caller's own messages, an OwnAck for others'. */
  receipt?: Receipt | OwnAck;
}

export interface ConnectResult {
  userId: string;
  device: string;
  serverTime: number;
  /** The token's exp (ms since the epoch): the server closes the socket with 4001 after it, unless refreshed. */
  expiresAt: number;
}

/** The result of connect.refresh: the connection now lives until expiresAt (ms since the epoch). */
export interface RefreshResult {
  userId: string;
  expiresAt: number;
}

export interface SendResult {
  msgId: string;
  seq: number;
  sentAt: number;
  /** The clientMsgId the request carried (generated unless given). */
  clientMsgId: string;
}

export interface HistoryResult<B = unknown> {
  /** Newest first. */
  messages: Message<B>[];
  hasMore: boolean;
}

export interface ConversationInfo<B = unknown> {
  conversation: Conversation;
  lastSeq: number;
  lastMessage?: Message<B>;
  unreadCount: number;
  readSeq: number;
  /** Peer conversations only: the peer's read watermark. */
  peerReadSeq?: number;
  /** Peer conversations only: the peer's delivery watermark. */
  peerDeliveredSeq?: number;
}

export interface ConversationList<B = unknown> {
  conversations: ConversationInfo<B>[];
  nextCursor?: string;
}

export type MemberFilter = "read" | "unread" | "delivered" | "undelivered";

export interface ReceiptMember {
  userId: string;
  /** When the covering ack was recorded, where the server knows it. */
  at?: number;
}

export interface ReceiptMembersResult {
  members: ReceiptMember[];
  nextCursor?: string;
  done: boolean;
}

export type GroupRole = "owner" | "admin" | "member" | string;

export interface GroupMember {
  userId: string;
  role: GroupRole;
  joinSeq: number;
}

export interface GroupMembersResult {
  members: GroupMember[];
  nextCursor?: string;
}

// Events (server -> client).

export interface MessageNewEvent<B = unknown> {
  message: Message<B>;
}

export interface ReceiptDeliveredEvent {
  conversation: Conversation;
  userId: string;
  seq: number;
}

export interface ReceiptReadEvent {
  conversation: Conversation;
  userId: string;
  msgIds: string[];
}

export interface ConversationReadEvent {
  conversation: Conversation;
  userId: string;
  seq: number;
}

export interface ChangedReceipt extends Receipt {
  /** At most 20 ids of members who read it since the last event. */
  newReaders: string[];
}

export interface ReceiptChangedEvent {
  conversation: Conversation;
  receipts: ChangedReceipt[];
}

export interface ReceiptRequestedEvent {
  conversation: Conversation;
  msgId: string;
  sender: string;
}

export interface GroupMemberEvent {
  conversation: Conversation;
  userId: string;
  action: "joined" | "left" | "removed" | string;
  by?: string;
}

// Params and results of every method, as they are on the wire
// (protocol/types.go; the golden frames under protocol/testdata/frames are
// checked against both).

export interface ConnectParams {
  token: string;
  device?: string;
}

export interface RefreshParams {
  token: string;
}

export interface SendParams<B = unknown> {
  conversation: Conversation;
  clientMsgId: string;
  body: B;
  receipt?: boolean;
  /** 1 to 2592000000 (30 days); needs receipt. Fires the receipt.unread_after webhook if some member has not read the message by then. */
  remindAfterMs?: number;
}

export interface HistoryParams {
  conversation: Conversation;
  /** Exclusive; omitted or 0: from the newest. */
  beforeSeq?: number;
  limit?: number;
}

export interface DeliveredParams {
  conversation: Conversation;
  seq: number;
}

export interface ReadParams {
  conversation: Conversation;
  msgIds: string[];
  /** Private: clears the reader's own unread state and tells no sender, whatever shareReads says. */
  private?: boolean;
}

export interface ReadResult {
  /** How many were newly recorded. */
  read: number;
}

export interface ConversationReadParams {
  conversation: Conversation;
  /** Omitted or 0: up to the latest message. */
  seq?: number;
  /** Private: as ReadParams.private. */
  private?: boolean;
}

/** A user's receipt sharing switches: settings.get, settings.update, settings.changed. */
export interface Settings {
  /** false: every read of the user is private (senders see it unread). */
  shareReads: boolean;
  /** false: the user's delivery acks are not shown to senders. */
  shareDelivery: boolean;
}

/** settings.update: either switch or both; one left out stays. */
export interface SettingsUpdateParams {
  shareReads?: boolean;
  shareDelivery?: boolean;
}

export interface ConversationReadResult {
  readSeq: number;
}

export interface ConversationListParams {
  limit?: number;
  cursor?: string;
}

export interface ReceiptRequestParams {
  conversation: Conversation;
  msgId: string;
  /** As SendParams.remindAfterMs, counted from the request. */
  remindAfterMs?: number;
}

export interface ReceiptQueryParams {
  conversation: Conversation;
  msgIds: string[];
}

export interface ReceiptQueryResult {
  receipts: Receipt[];
}

export interface ReceiptMembersParams {
  conversation: Conversation;
  msgId: string;
  filter: MemberFilter;
  cursor?: string;
  limit?: number;
}

export interface GroupCreateParams {
  groupId: string;
  type?: string;
  members?: string[];
}

export interface GroupCreateResult {
  groupId: string;
}

export interface GroupMembersChangeParams {
  groupId: string;
  userIds: string[];
}

export interface GroupLeaveParams {
  groupId: string;
}

export interface GroupMembersParams {
  groupId: string;
  cursor?: string;
  limit?: number;
}

/** The result of methods that answer {}. */
export type EmptyResult = Record<string, never>;

/** Params and result of every method by wire name. */
export interface Methods {
  connect: { params: ConnectParams; result: ConnectResult };
  "connect.refresh": { params: RefreshParams; result: RefreshResult };
  /** The SDK's send() adds clientMsgId to the result; the wire result has none. */
  "message.send": { params: SendParams; result: Omit<SendResult, "clientMsgId"> };
  "message.history": { params: HistoryParams; result: HistoryResult };
  "message.delivered": { params: DeliveredParams; result: EmptyResult };
  "message.read": { params: ReadParams; result: ReadResult };
  "conversation.read": { params: ConversationReadParams; result: ConversationReadResult };
  "conversation.list": { params: ConversationListParams; result: ConversationList };
  "receipt.request": { params: ReceiptRequestParams; result: EmptyResult };
  "receipt.query": { params: ReceiptQueryParams; result: ReceiptQueryResult };
  "receipt.members": { params: ReceiptMembersParams; result: ReceiptMembersResult };
  "group.create": { params: GroupCreateParams; result: GroupCreateResult };
  "group.add": { params: GroupMembersChangeParams; result: EmptyResult };
  "group.remove": { params: GroupMembersChangeParams; result: EmptyResult };
  "group.leave": { params: GroupLeaveParams; result: EmptyResult };
  "group.members": { params: GroupMembersParams; result: GroupMembersResult };
  "settings.get": { params: EmptyParams; result: Settings };
  "settings.update": { params: SettingsUpdateParams; result: Settings };
}

/** The params of methods that take none. */
export type EmptyParams = Record<string, never>;

/** The error object of an error answer (SeenError carries it). */
export interface WireError {
  code: number;
  message: string;
  /** E.g. field (the refused parameter), retryAfterMs (429). */
  data?: Record<string, unknown>;
}

/** Server events by wire method name. */
export interface ServerEvents {
  "message.new": MessageNewEvent;
  "receipt.delivered": ReceiptDeliveredEvent;
  "receipt.read": ReceiptReadEvent;
  "conversation.read": ConversationReadEvent;
  "receipt.changed": ReceiptChangedEvent;
  "receipt.requested": ReceiptRequestedEvent;
  "group.member": GroupMemberEvent;
  /** Another device of the user (or the app server) changed its settings. */
  "settings.changed": Settings;
}

/** Everything `on` accepts: server events plus the client's connection events. */
export interface ClientEvents extends ServerEvents {
  /** The connection came back after a drop. The server does not replay: re-sync by state. */
  reconnect: ConnectResult;
  /** A live connection was lost (the client reconnects unless it gives up: then `closed` follows). */
  disconnect: Error;
  /** The client stopped for good: close() was called, or a reconnect was refused (401). */
  closed: Error | undefined;
  /** Any server event, known or not, as it came off the wire. */
  event: { method: string; params: unknown };
}

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";
