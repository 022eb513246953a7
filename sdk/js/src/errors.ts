/** JSON-RPC and application error codes of the Seen protocol. */
export const ErrorCode = {
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
  Unavailable: 503,
} as const;

/** WebSocket close codes the server uses besides the standard ones. */
export const CloseCode = {
  /** The connection's token expired before connect.refresh gave it a new one (reason "token expired"). */
  TokenExpired: 4001,
} as const;

/** An error the server answered with: its code, message and data (e.g. data.field). */
export class SeenError extends Error {
  readonly code: number;
  readonly data?: Record<string, unknown>;
  /** The method of the request that failed, when known. */
  readonly method?: string;

  constructor(code: number, message: string, data?: Record<string, unknown>, method?: string) {
    super(method ? `${method}: ${message} (${code})` : `${message} (${code})`);
    this.name = "SeenError";
    this.code = code;
    this.data = data;
    this.method = method;
  }

  /** The server's own message, without the method and code. */
  get serverMessage(): string {
    const m = this.message;
    const start = this.method ? this.method.length + 2 : 0;
    return m.slice(start, m.lastIndexOf(" ("));
  }

  /** data.field of a -32602 (or 404/413) error: the parameter the server refused. */
  get field(): string | undefined {
    const f = this.data?.["field"];
    return typeof f === "string" ? f : undefined;
  }
}

export type ConnectionErrorReason = "disconnected" | "closed" | "timeout";

/**
 * A request that got no answer from the server: the connection dropped
 * (the server may or may not have carried it out), the client was closed,
 * or it timed out.
 */
export class ConnectionError extends Error {
  readonly reason: ConnectionErrorReason;
  constructor(reason: ConnectionErrorReason, message: string) {
    super(message);
    this.name = "ConnectionError";
    this.reason = reason;
  }
}
