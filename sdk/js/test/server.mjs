// Test helper: a real `seen serve` on 127.0.0.1, a random free port and a
// temp data dir. The Go binary is built once per run (or taken from SEEN_BIN).
import { execFileSync, spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** Builds the server binary unless SEEN_BIN names one; returns its path. */
export function seenBinary() {
  if (process.env.SEEN_BIN && existsSync(process.env.SEEN_BIN)) return process.env.SEEN_BIN;
  const dir = mkdtempSync(join(tmpdir(), "seen-bin-"));
  const bin = join(dir, "seen");
  execFileSync("go", ["build", "-o", bin, "./cmd/seen"], { cwd: repoRoot, stdio: "inherit" });
  process.env.SEEN_BIN = bin;
  return bin;
}

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A running server; restart() stops it and starts it again on the same port and data dir. */
export class SeenServer {
  constructor(env = {}) {
    this.bin = seenBinary();
    this.dataDir = mkdtempSync(join(tmpdir(), "seen-data-"));
    this.env = env;
    this.proc = null;
    this.port = 0;
  }

  get http() {
    return `http://127.0.0.1:${this.port}`;
  }
  get wsURL() {
    return `ws://127.0.0.1:${this.port}/v1/ws`;
  }

  async start() {
    if (!this.port) this.port = await freePort();
    this.log = "";
    this.proc = spawn(this.bin, ["serve", "--listen", `127.0.0.1:${this.port}`, "--data", this.dataDir], {
      env: { ...process.env, SEEN_DEMO: "on", SEEN_LOG_LEVEL: "warn", ...this.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc.stdout.on("data", (d) => (this.log += d));
    this.proc.stderr.on("data", (d) => (this.log += d));
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`seen exited (${this.proc.exitCode}):\n${this.log}`);
      try {
        const r = await fetch(`${this.http}/healthz`);
        if (r.ok) return this;
      } catch {
        /* not yet */
      }
      await sleep(50);
    }
    throw new Error(`seen did not become healthy:\n${this.log}`);
  }

  /** Stops the server by its PID (SIGTERM, then SIGKILL) and waits for it to exit. */
  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 10000);
    await exited;
    clearTimeout(t);
    this.proc = null;
  }

  async restart() {
    await this.stop();
    await this.start();
  }

  async destroy() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** A demo token for userId (creates the user). */
  async token(userId) {
    const r = await fetch(`${this.http}/v1/demo/token`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ userId }),
    });
    if (!r.ok) throw new Error(`demo token ${userId}: ${r.status} ${await r.text()}`);
    return (await r.json()).token;
  }

  /**
   * Signs a token for userId that expires in ttlSeconds, with the secret the
   * server was started with (env SEEN_TOKEN_SECRET), as an app server would.
   */
  mintToken(userId, ttlSeconds) {
    const secret = this.env.SEEN_TOKEN_SECRET;
    if (!secret) throw new Error("mintToken: start the server with SEEN_TOKEN_SECRET");
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub: userId, iat: now, exp: now + ttlSeconds })}`;
    return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
  }
}
