/**
 * Logging in to lxtd's web UI: one-time tokens and the sessions they open.
 *
 * A token is asked for by a trusted client (`lxt ui` and `lxt trust
 * ui-token`, over the unix socket); it is good for one login before it
 * expires. A login trades it for a session, named by a random id the
 * browser keeps in an HttpOnly, SameSite=Strict cookie (Secure over
 * HTTPS). Sessions live in the daemon's memory only (a restarted lxtd asks
 * for a new login) and end at an absolute limit or after an idle while.
 * A request with a session is as trusted as the unix socket, so a session
 * is refused when its request comes from another origin (the `Origin` a
 * browser sends on websocket and non-GET requests must be the page's own).
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";

/** The cookie the session id travels in. */
export const SESSION_COOKIE = "lxt_session";
/** How long a token from `lxt ui` is good for. */
export const LOCAL_TOKEN_MS = 10 * 60_000;
/** A session's absolute and idle limits. */
export const SESSION_MS = 12 * 3600_000;
export const SESSION_IDLE_MS = 2 * 3600_000;
/** At most this many live tokens and sessions (the oldest go first). */
export const MAX_ENTRIES = 1000;

interface Session {
  expires: number;
  seen: number;
}

export class UiSessions {
  private readonly tokens = new Map<string, number>();
  private readonly sessions = new Map<string, Session>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A new one-time token, good for `ttlMs`. */
  issueToken(ttlMs = LOCAL_TOKEN_MS): { token: string; expiresAt: number } {
    this.prune();
    const token = randomBytes(32).toString("hex");
    const expiresAt = this.now() + ttlMs;
    this.tokens.set(token, expiresAt);
    bound(this.tokens);
    return { token, expiresAt };
  }

  /** Trades a live token for a new session id (the token is spent); undefined when it is not one. */
  redeem(token: string): string | undefined {
    if (!/^[0-9a-f]{64}$/.test(token)) return undefined;
    const expires = this.tokens.get(token);
    this.tokens.delete(token);
    if (expires === undefined || expires <= this.now()) return undefined;
    const id = randomBytes(32).toString("hex");
    const now = this.now();
    this.sessions.set(id, { expires: now + SESSION_MS, seen: now });
    bound(this.sessions);
    return id;
  }

  /** Ends a session (logout). */
  end(id: string): void {
    this.sessions.delete(id);
  }

  /** Whether `id` names a live session; a use counts as activity. */
  live(id: string): boolean {
    const s = this.sessions.get(id);
    if (!s) return false;
    const now = this.now();
    if (now >= s.expires || now - s.seen >= SESSION_IDLE_MS) {
      this.sessions.delete(id);
      return false;
    }
    s.seen = now;
    return true;
  }

  /** The live session a request carries, if any, and only from the page's own origin. */
  sessionOf(req: IncomingMessage): string | undefined {
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (!id || !sameOrigin(req)) return undefined;
    return this.live(id) ? id : undefined;
  }

  private prune(): void {
    const now = this.now();
    for (const [t, exp] of this.tokens) if (exp <= now) this.tokens.delete(t);
    for (const [id, s] of this.sessions)
      if (now >= s.expires || now - s.seen >= SESSION_IDLE_MS) this.sessions.delete(id);
  }
}

/** Drops the oldest entries of a map past MAX_ENTRIES (maps iterate in insertion order). */
function bound<V>(m: Map<string, V>): void {
  for (const k of m.keys()) {
    if (m.size <= MAX_ENTRIES) return;
    m.delete(k);
  }
}

/** One cookie's value from a `Cookie` header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Whether a request's `Origin` (when the browser sent one) is its own `Host`. */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return false;
  }
  return host === (req.headers.host ?? "");
}

/** The `Set-Cookie` value of a session (Secure over HTTPS). */
export function sessionCookie(id: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MS / 1000}${secure ? "; Secure" : ""}`;
}

/** The `Set-Cookie` value that drops the session cookie. */
export function clearedCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? "; Secure" : ""}`;
}
