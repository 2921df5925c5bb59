/**
 * The web UI's built files (`npm run build:ui` writes them to dist/ui/):
 * read once, on first use, and kept in memory with their gzip twins, so a
 * page load costs the daemon a map lookup per file. Hashed assets
 * (`assets/NAME-HASH.EXT`) never change under their name and are cached
 * for a year; the HTML pages are revalidated on every load (ETag).
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";

export interface UiFile {
  body: Buffer;
  gzip?: Buffer;
  type: string;
  etag: string;
  cache: string;
  /** For a page: its Content-Security-Policy (its own inline scripts allowed by hash, nothing else inline). */
  csp?: string;
}

/** The pages' policy: nothing from elsewhere; scripts only from /ui/ or inline ones whose hash is listed. */
export function pagePolicy(html: string): string {
  const hashes = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map(
    (m) =>
      `'sha256-${createHash("sha256")
        .update(m[1] ?? "")
        .digest("base64")}'`,
  );
  return [
    "default-src 'self'",
    `script-src 'self'${hashes.map((h) => ` ${h}`).join("")}`,
    // xterm.js and preact set styles from script; the pages' own <style> is inline.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
  ].join("; ");
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json",
  ".map": "application/json",
};

const IMMUTABLE = "public, max-age=31536000, immutable";
const REVALIDATE = "no-cache";

/** The files under a built UI directory, by their path below `/ui/` (`index.html`, `assets/x.js`). */
export class UiFiles {
  private files?: Map<string, UiFile>;

  constructor(readonly dir: string | undefined) {}

  /** Whether a built UI is there at all. */
  get built(): boolean {
    return this.dir !== undefined && existsSync(join(this.dir, "index.html"));
  }

  get(path: string): UiFile | undefined {
    this.files ??= this.load();
    return this.files.get(path);
  }

  private load(): Map<string, UiFile> {
    const out = new Map<string, UiFile>();
    if (!this.dir || !existsSync(this.dir)) return out;
    for (const rel of walk(this.dir, "")) {
      if (rel.endsWith(".gz")) continue;
      const body = readFileSync(join(this.dir, rel));
      const gz = join(this.dir, `${rel}.gz`);
      out.set(rel, {
        body,
        gzip: existsSync(gz) ? readFileSync(gz) : undefined,
        type: TYPES[extname(rel)] ?? "application/octet-stream",
        etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
        cache: rel.startsWith("assets/") ? IMMUTABLE : REVALIDATE,
        csp: rel.endsWith(".html") ? pagePolicy(body.toString("utf8")) : undefined,
      });
    }
    return out;
  }
}

function walk(root: string, rel: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(root, p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}
