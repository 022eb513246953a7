// Joining: the join form, the demo's token endpoint, and the session kept in
// sessionStorage (per tab, so two tabs of one browser can be two users).
import { byId } from "./dom.js";

/** The answer of POST /v1/demo/token. */
export interface DemoSession {
  token: string;
  userId: string;
  /** Unix ms. */
  expiresAt: number;
}

export const ID_RE = /^[A-Za-z0-9_.@-]{1,64}$/;
const SESSION = "seen.session";

export async function demoToken(userId: string): Promise<DemoSession> {
  const r = await fetch("/v1/demo/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ userId }),
  });
  const body: unknown = await r.json().catch(() => ({}));
  if (!r.ok) {
    const msg = (body as { error?: { message?: string } } | null)?.error?.message || `HTTP ${r.status}`;
    throw new Error(r.status === 404 ? "Demo mode is off on this server (SEEN_DEMO=off)." : msg);
  }
  return body as DemoSession;
}

/** The session this tab joined with, if it is good for another minute. */
export function savedSession(): DemoSession | null {
  const saved = sessionStorage.getItem(SESSION);
  if (!saved) return null;
  try {
    const s = JSON.parse(saved) as DemoSession;
    if (typeof s.token === "string" && typeof s.userId === "string" && s.expiresAt > Date.now() + 60000) return s;
  } catch {
    // A damaged entry: forget it below.
  }
  sessionStorage.removeItem(SESSION);
  return null;
}

export function forgetSession(): void {
  sessionStorage.removeItem(SESSION);
}

/** Wires the join form: a valid name gets a demo token, which start turns into a running app. */
export function initJoinForm(start: (s: DemoSession) => Promise<void>): void {
  const form = byId("join").querySelector("form")!;
  const submit = form.querySelector("button")!;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = byId<HTMLInputElement>("join-name").value.trim();
    if (!ID_RE.test(name)) return showJoinError("Use 1-64 letters, digits or _ . @ -");
    showJoinError("");
    submit.disabled = true;
    try {
      const s = await demoToken(name);
      sessionStorage.setItem(SESSION, JSON.stringify(s));
      await start(s);
    } catch (err) {
      showJoinError(err instanceof Error ? err.message : String(err));
    } finally {
      submit.disabled = false;
    }
  });
}

function showJoinError(text: string): void {
  const e = byId("join-error");
  e.textContent = text;
  e.hidden = !text;
}

/** Back to the join screen (a saved session that no longer connects). */
export function showJoin(): void {
  byId("join").hidden = false;
  byId("app").hidden = true;
}
